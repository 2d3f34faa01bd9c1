// Query-protocol responses: XML parsed with pugixml. Both error shapes — EC2's
// `<Response><Errors><Error>` and the query `<ErrorResponse><Error>` — become one tq::error.
#pragma once

#include <pugixml.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "aws/http.h"
#include "runtime/result.h"

namespace tq::aws {

struct xml_response {
  pugi::xml_document document;
  std::string request_id;
  // Attempts of this call that timed out before this answer came: each may still reach the
  // service later, after whatever the caller did next.
  int unanswered_attempts = 0;

  // The result element: `<XResult>` for IAM/STS/Auto Scaling/SNS, the root element for EC2.
  pugi::xml_node result() const;
};

// Turns an HTTP answer into a parsed document or an error (code, message, status, request id, retryable).
// `where` names the call, e.g. "ec2:DescribeInstances".
result<xml_response> parse_response(const http_response& response, std::string_view where);

// Whether a failed call may succeed if sent again: the SDKs' standard-mode transient and throttling codes.
bool is_throttling_code(std::string_view code);
bool is_transient_code(std::string_view code);

// Small readers that hide pugixml's null-node conventions.
std::string text_of(pugi::xml_node node, const char* path);  // "a/b/c"; empty when absent
// The children of a list element: EC2 uses <item>, the query services <member>.
std::vector<pugi::xml_node> items_of(pugi::xml_node list);

}  // namespace tq::aws
