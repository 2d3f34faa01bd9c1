#include "aws/json_protocol.h"

#include <optional>

#include "aws/xml.h"
#include "runtime/json_read.h"

namespace tq::aws {
namespace {

std::string string_field(const nlohmann::json& doc, std::initializer_list<const char*> names) {
  for (const char* name : names) {
    auto it = doc.find(name);
    if (it != doc.end() && it->is_string()) return it->get<std::string>();
  }
  return {};
}

// "ValidationException:http://internal.amazon.com/..." in the header; "aws.protocoltests#FooError" in either.
std::string error_code_of(const http_response& response, const nlohmann::json& doc,
                          error_code_source source) {
  const std::string_view header = response.header("x-amzn-ErrorType");
  const std::string from_header(header.substr(0, header.find(':')));
  std::string code;
  if (source == error_code_source::header_first) code = from_header;
  if (code.empty()) code = string_field(doc, {"__type", "code", "Code"});
  if (code.empty()) code = from_header;
  return code;
}

}  // namespace

std::string_view json_target_prefix(service s) {
  switch (s) {
    case service::cloudtrail:
      return "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101";
    default:
      return "";
  }
}

std::string call_name(const json_call& call) {
  return std::string(service_name(call.target)) + ":" + call.action;
}

std::string json_call_name(const json_call& call) {
  return call_name(call);
}

http_request json_request(const json_call& call, const endpoint& e) {
  http_request request;
  request.method = "POST";
  request.url = e.url + "/";
  request.headers.push_back({"Host", host_of(e.url)});
  request.headers.push_back({"Content-Type", "application/x-amz-json-1.1"});
  request.headers.push_back(
      {"X-Amz-Target", std::string(json_target_prefix(call.target)) + "." + call.action});
  request.body = call.body.dump();
  return request;
}

result<nlohmann::json> parse_json_response(const http_response& response, std::string_view where,
                                           error_code_source source) {
  const bool http_ok = response.status >= 200 && response.status < 300;
  const bool server_side = response.status >= 500;
  nlohmann::json doc = json_read::parse_or_discarded(response.body);
  if (response.body.empty()) doc = nlohmann::json::object();

  if (http_ok) {
    if (doc.is_discarded() || !doc.is_object()) {
      error e{"MalformedResponse", "the response is not a JSON object", std::string(where)};
      e.http_status = static_cast<int>(response.status);
      e.request_id = std::string(response.header("x-amzn-RequestId"));
      return e;
    }
    return doc;
  }
  const bool code_in_header = !response.header("x-amzn-ErrorType").empty();
  if ((doc.is_discarded() || !doc.is_object()) && !code_in_header) {
    auto as_xml = parse_response(response, where);  // an XML error document, or "HTTP<status>"
    if (!as_xml.ok()) return std::move(as_xml).err();
    return error{"HTTP" + std::to_string(response.status), "an error answer without an error",
                 std::string(where)};
  }
  if (doc.is_discarded() || !doc.is_object()) doc = nlohmann::json::object();  // the header names it
  error e;
  e.code = error_code_of(response, doc, source);
  if (const size_t hash = e.code.rfind('#'); hash != std::string::npos) e.code.erase(0, hash + 1);
  if (e.code.empty()) e.code = "HTTP" + std::to_string(response.status);
  e.message = string_field(doc, {"message", "Message"});
  e.where = std::string(where);
  e.http_status = static_cast<int>(response.status);
  e.request_id = std::string(response.header("x-amzn-RequestId"));
  e.retryable =
      is_throttling_code(e.code) || is_transient_code(e.code) || server_side || response.status == 429;
  return e;
}

}  // namespace tq::aws
