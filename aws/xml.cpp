#include "aws/xml.h"

#include <algorithm>
#include <array>

namespace tq::aws {
namespace {

constexpr std::array throttling_codes = {"Throttling",
                                         "ThrottlingException",
                                         "ThrottledException",
                                         "RequestThrottledException",
                                         "TooManyRequestsException",
                                         "ProvisionedThroughputExceededException",
                                         "TransactionInProgressException",
                                         "RequestLimitExceeded",
                                         "BandwidthLimitExceeded",
                                         "LimitExceededException",
                                         "RequestThrottled",
                                         "SlowDown",
                                         "PriorRequestNotComplete",
                                         "EC2ThrottledException"};

constexpr std::array transient_codes = {
    "RequestTimeout", "RequestTimeoutException", "PriorRequestNotComplete",
    "InternalError",  "InternalFailure",         "ServiceUnavailable",
    "Unavailable",    "ConnectionError"};

// EC2 answers <Response><Errors><Error>, the query services <ErrorResponse><Error>, and some endpoints
// (moto's auth layer among them) mix the two as <ErrorResponse><Errors><Error>: take the first <Error>
// with a <Code> under an error root, wherever it sits.
pugi::xml_node find_error(const pugi::xml_document& doc) {
  const pugi::xml_node root = doc.document_element();
  const std::string_view name = root.name();
  if (name != "ErrorResponse" && name != "Response" && name != "Error") return {};
  if (name == "Error") return root;
  return root.find_node(
      [](pugi::xml_node n) { return std::string_view(n.name()) == "Error" && n.child("Code"); });
}

std::string request_id_of(const pugi::xml_document& doc) {
  const pugi::xml_node root = doc.document_element();
  for (const char* path : {"requestId", "RequestId", "RequestID", "ResponseMetadata/RequestId"}) {
    std::string id = text_of(root, path);
    if (!id.empty()) return id;
  }
  return {};
}

}  // namespace

bool is_throttling_code(std::string_view code) {
  return std::find(throttling_codes.begin(), throttling_codes.end(), code) != throttling_codes.end();
}

bool is_transient_code(std::string_view code) {
  return std::find(transient_codes.begin(), transient_codes.end(), code) != transient_codes.end();
}

pugi::xml_node xml_response::result() const {
  const pugi::xml_node root = document.document_element();
  std::string_view name = root.name();
  if (name.ends_with("Response")) {
    std::string result_name(name.substr(0, name.size() - std::string_view("Response").size()));
    result_name += "Result";
    if (pugi::xml_node r = root.child(result_name.c_str())) return r;
  }
  return root;
}

result<xml_response> parse_response(const http_response& response, std::string_view where) {
  xml_response parsed;
  const pugi::xml_parse_result ok =
      parsed.document.load_buffer(response.body.data(), response.body.size(), pugi::parse_default);
  const bool http_ok = response.status >= 200 && response.status < 300;
  const bool server_side = response.status >= 500;

  if (!ok) {
    error e{http_ok ? "MalformedResponse" : "HTTP" + std::to_string(response.status),
            std::string(http_ok ? "the response is not XML: " : "an error answer that is not XML: ") +
                ok.description(),
            std::string(where)};
    e.http_status = static_cast<int>(response.status);
    e.retryable = server_side || response.status == 429;
    e.request_id = std::string(response.header("x-amzn-RequestId"));
    return e;
  }
  parsed.request_id = request_id_of(parsed.document);

  const pugi::xml_node error_node = find_error(parsed.document);
  if (error_node || !http_ok) {
    error e;
    e.code = text_of(error_node, "Code");
    e.message = text_of(error_node, "Message");
    if (e.code.empty()) e.code = "HTTP" + std::to_string(response.status);
    e.where = std::string(where);
    e.http_status = static_cast<int>(response.status);
    e.request_id = parsed.request_id;
    e.retryable =
        is_throttling_code(e.code) || is_transient_code(e.code) || server_side || response.status == 429;
    return e;
  }
  return parsed;
}

std::string text_of(pugi::xml_node node, const char* path) {
  if (!node) return {};
  const pugi::xml_node found = node.first_element_by_path(path, '/');
  return found ? std::string(found.text().get()) : std::string();
}

std::vector<pugi::xml_node> items_of(pugi::xml_node list) {
  std::vector<pugi::xml_node> out;
  for (pugi::xml_node child : list.children()) {
    std::string_view name = child.name();
    if (name == "item" || name == "member") out.push_back(child);
  }
  return out;
}

}  // namespace tq::aws
