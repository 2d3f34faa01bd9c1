// The AWS REST-XML protocol as S3 and S3 Control speak it: the operation is named by the method, the bucket
// (in the host on AWS, in the path when the endpoint is overridden), the key and a sub-resource in the query;
// bodies are XML or an object's bytes; errors are <Error><Code/><Message/><RequestId/></Error>, or only a
// status for a HEAD. Requests are signed without path normalisation and with the payload's SHA-256.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "aws/endpoints.h"
#include "aws/http.h"
#include "aws/xml.h"
#include "runtime/result.h"

namespace tq::aws {

// What a successful answer is read as: an XML document (an empty body is an empty document), or the HTTP
// answer as it came (an object's bytes, the ETag and x-amz-version-id headers of a PutObject, a HEAD).
enum class rest_xml_answer { xml, raw };

struct rest_xml_call {
  service target = service::s3;
  std::string
      operation;  // the IAM action without its "s3:" prefix: "PutObject", "GetAccountPublicAccessBlock"
  std::string method = "GET";
  std::string bucket;       // "" for an operation on no bucket (S3 Control, ListBuckets)
  std::string key;          // the object key, unencoded; "" for a bucket operation
  std::string path;         // S3 Control: the operation's path, "/v20180820/configuration/publicAccessBlock"
  std::string subresource;  // "publicAccessBlock", "versioning": the query's first, value-less parameter
  std::vector<std::pair<std::string, std::string>> query;  // unencoded names and values, in order
  std::vector<http_header> headers;                        // "If-None-Match: *", "Content-Type", ...
  std::string body;
  std::string account_id;  // S3 Control: sent as x-amz-account-id, and the host's first label on AWS
  // Adds x-amz-sdk-checksum-algorithm SHA256 and x-amz-checksum-sha256 (base64): what S3 wants on the PUTs
  // that require a checksum (PutPublicAccessBlock, PutObject into an Object Lock bucket). S3 checks the
  // body against it and keeps it with the object.
  bool checksum = false;
  rest_xml_answer answer = rest_xml_answer::xml;
  // False for a call that must not happen twice: resent only after an answer proving it was not done.
  bool idempotent = true;
};

// The XML namespaces on the root element of request bodies: S3's, and S3 Control's own.
inline constexpr std::string_view s3_xml_namespace = "http://s3.amazonaws.com/doc/2006-03-01/";
inline constexpr std::string_view s3control_xml_namespace =
    "http://awss3control.amazonaws.com/doc/2018-08-20/";

// "s3:PutObject", "s3:GetAccountPublicAccessBlock": for errors, logs and IAM (S3 Control's actions are s3's).
std::string call_name(const rest_xml_call& call);

// Whether `bucket` can be the first label of a TLS host name: 3 to 63 lower-case letters, digits and hyphens
// (no dots, which the wildcard certificate does not cover). Others are addressed in the path.
bool virtual_hostable(std::string_view bucket);

// The unsigned request: the bucket in the host (on AWS) or the path (an overridden endpoint, or a bucket
// that cannot be a host label), the key encoded as a greedy label, the sub-resource and query, the call's
// headers, x-amz-account-id for S3 Control, and the checksum headers when asked.
http_request rest_xml_request(const rest_xml_call& call, const endpoint& e);

// An error answer as a tq::error: the code, message and request id of S3's error XML (x-amz-request-id when
// the body has none), or, for a bodiless answer (a HEAD), a code from the status ("NotFound" for 404,
// "PreconditionFailed" for 412, "Forbidden" for 403, "HTTP<status>" else). Retryable as botocore's standard
// mode says (SlowDown, RequestTimeout, InternalError, 500, 503, ...) and ConditionalRequestConflict (409),
// which S3 answers to a conditional write racing another and asks to be retried. nullopt for a 2xx answer.
std::optional<error> rest_xml_error(const http_response& response, std::string_view where);

// A successful answer's XML (an empty body: an empty document).
result<xml_response> parse_rest_xml_document(const http_response& response, std::string_view where);

// Builders for the calls the playbooks use.
struct public_access_block {
  bool block_public_acls = true;
  bool ignore_public_acls = true;
  bool block_public_policy = true;
  bool restrict_public_buckets = true;
};

// <PublicAccessBlockConfiguration xmlns="..."><BlockPublicAcls>true</BlockPublicAcls>...: as botocore
// serializes it, so that the bytes (and their checksum) are the SDK's.
std::string public_access_block_xml(const public_access_block& config,
                                    std::string_view xml_namespace = s3_xml_namespace);
// Reads a GetPublicAccessBlock answer (either service's); absent elements are false.
public_access_block public_access_block_of(const xml_response& answer);

rest_xml_call s3_put_object(std::string bucket, std::string key, std::string body, std::string content_type);
rest_xml_call s3_put_public_access_block(std::string bucket, const public_access_block& config);
rest_xml_call s3_get_public_access_block(std::string bucket);
// S3 Control's PutPublicAccessBlock requires no checksum (its model says none; botocore sends none).
rest_xml_call s3control_put_public_access_block(std::string account_id, const public_access_block& config);
rest_xml_call s3control_get_public_access_block(std::string account_id);
rest_xml_call s3control_delete_public_access_block(std::string account_id);

}  // namespace tq::aws
