// The AWS JSON 1.1 protocol (CloudTrail): a POST of a JSON document whose operation is named by
// X-Amz-Target. Its answers and errors are read here for REST-JSON too (rest_json.h), which differs only
// in where an error's code is looked for first.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "aws/endpoints.h"
#include "aws/http.h"
#include "runtime/result.h"

namespace tq::aws {

struct json_call {
  service target = service::cloudtrail;
  std::string action;                              // "StartLogging"
  nlohmann::json body = nlohmann::json::object();  // {"Name": "trail"}
  // False for a call that must not happen twice: resent only after an answer proving it was not done.
  bool idempotent = true;
};

// "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101" for CloudTrail; empty for the query services.
std::string_view json_target_prefix(service s);

// "cloudtrail:StartLogging", for errors, logs and IAM.
std::string call_name(const json_call& call);
std::string json_call_name(const json_call& call);  // the same

// The unsigned request: POST / with Content-Type application/x-amz-json-1.1 and X-Amz-Target.
http_request json_request(const json_call& call, const endpoint& e);

// Where an error answer's code is looked for first: JSON 1.x services name it in the body's `__type`,
// REST-JSON services in the x-amzn-ErrorType header (botocore's parsers read them in these orders).
enum class error_code_source { body_first, header_first };

// A 2xx answer's JSON (an empty body is {}), or the error: the code from `__type`/`code`/`Code` (after any
// '#') or the x-amzn-ErrorType header (before any ':'), the message from `message`/`Message`, the request
// id from x-amzn-RequestId, retryable by the same codes and statuses as the query calls. An error answer
// in XML (some gateways and moto's auth layer send one) is read as the query protocol's.
result<nlohmann::json> parse_json_response(const http_response& response, std::string_view where,
                                           error_code_source source = error_code_source::body_first);

}  // namespace tq::aws
