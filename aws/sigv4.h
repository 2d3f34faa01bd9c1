// AWS Signature Version 4 in pure stages: canonical request -> string to sign -> signature, each a
// function of its inputs so it can be checked against the AWS conformance suite; sign() and presign()
// put the stages together on an http_request. Derived signing keys are cached per day and scope.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "aws/crypto.h"
#include "aws/http.h"

namespace tq::aws::sigv4 {

struct signing_key_material {
  std::string_view access_key_id;
  std::string_view secret_access_key;
  std::string_view session_token;  // empty for long-term credentials
  // The SHA-256 of secret_access_key, when the caller keeps it (the derived-key cache is keyed on it):
  // saves hashing the secret for every signature. Null: hashed here.
  const crypto::digest* secret_digest = nullptr;
};

struct signing_params {
  signing_key_material credentials;
  std::string_view region;   // the signing region: "us-east-1" for IAM's global endpoint
  std::string_view service;  // the signing name: "ec2", "iam", "sts"
  std::chrono::system_clock::time_point time;
  bool normalize_path = true;      // remove dot segments and repeated slashes (every service but S3)
  bool double_encode_path = true;  // encode the already-encoded path again (every service but S3)
  bool sign_body = false;          // add and sign x-amz-content-sha256
  // The session token is sent as X-Amz-Security-Token (a query parameter when presigning) whenever it is
  // non-empty; it is signed unless this is set (a few services, such as IoT, want it added afterwards).
  bool omit_session_token = false;
};

struct canonical_result {
  std::string canonical_request;
  std::string signed_headers;  // "host;x-amz-date"
};

// Stage 1. Reads the request as it will be sent: X-Amz-Date (or the X-Amz-Date query parameter) and the
// other x-amz headers must already be present. The payload hash is x-amz-content-sha256 when the request
// carries that header, else the SHA-256 of the body.
canonical_result canonical_request(const http_request& request, const signing_params& params);

// Stage 2. "AWS4-HMAC-SHA256\n<amz date>\n<scope>\n<hex sha256 of the canonical request>".
std::string string_to_sign(std::string_view canonical_request, const signing_params& params);

// Stage 3. Hex HMAC of the string to sign under the derived (and cached) signing key.
std::string signature(std::string_view string_to_sign, const signing_params& params);

// Signs in headers: adds Host when missing, X-Amz-Security-Token (when there is a token), X-Amz-Date,
// x-amz-content-sha256 (when sign_body) and Authorization. Signing a request again (a retry) replaces
// those headers rather than adding a second copy.
void sign(http_request& request, const signing_params& params);

// Signs in the query string (a presigned URL valid for `expires`): adds Host when missing and appends
// X-Amz-Algorithm, -Credential, -Date, -SignedHeaders, -Expires, -Security-Token and -Signature.
void presign(http_request& request, const signing_params& params, std::chrono::seconds expires);

// RFC 3986 percent-encoding as SigV4 wants it: unreserved characters (A-Z a-z 0-9 - . _ ~) are kept,
// everything else is %XX in upper case; '/' is kept unless encode_slash.
std::string uri_encode(std::string_view text, bool encode_slash);

// "20150830T123600Z", the form of X-Amz-Date.
std::string amz_date(std::chrono::system_clock::time_point time);

// "20150830/us-east-1/service/aws4_request".
std::string credential_scope(const signing_params& params);

}  // namespace tq::aws::sigv4
