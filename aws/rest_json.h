// The AWS REST-JSON protocol (GuardDuty, Lambda, Security Hub): the operation is named by the method and a
// path whose labels are percent-encoded, inputs travel in the path, the query string and a JSON body, and
// errors name their code in the x-amzn-ErrorType header or the body.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "aws/endpoints.h"
#include "aws/http.h"
#include "runtime/result.h"

namespace tq::aws {

struct rest_json_call {
  service target = service::guardduty;
  std::string operation;  // "GetFindings": the IAM action, with the service's prefix
  std::string method;     // "POST"
  std::string path;       // "/detector/" + uri_label(id) + "/findings/get"
  std::vector<std::pair<std::string, std::string>> query;  // unencoded names and values, in order
  nlohmann::json body;                                     // null: no body
  // False for a call that must not happen twice: resent only after an answer proving it was not done.
  bool idempotent = true;
};

// A path label as the SDKs encode it (RFC 3986: all but A-Z a-z 0-9 - _ . ~), '/' included.
std::string uri_label(std::string_view value);
// A greedy label ({Key+}), which may span segments: the same, but '/' is kept.
std::string uri_greedy_label(std::string_view value);

// "guardduty:GetFindings", for errors, logs and IAM.
std::string call_name(const rest_json_call& call);

// The unsigned request: method, endpoint URL + path + "?" + the encoded query, Host, and the body with
// Content-Type application/json when there is one.
http_request rest_json_request(const rest_json_call& call, const endpoint& e);

// Read as the JSON protocol's answers (json_protocol.h), with the code taken from x-amzn-ErrorType before
// the body. Lambda's ResourceConflictException (the function is being updated) is also retryable; other
// services use that code for a lasting conflict.
result<nlohmann::json> parse_rest_json_response(const http_response& response, service target,
                                                std::string_view where);

}  // namespace tq::aws
