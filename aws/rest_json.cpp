#include "aws/rest_json.h"

#include "aws/json_protocol.h"
#include "aws/query.h"
#include "aws/sigv4.h"

namespace tq::aws {

std::string uri_label(std::string_view value) {
  return sigv4::uri_encode(value, true);
}

std::string uri_greedy_label(std::string_view value) {
  return sigv4::uri_encode(value, false);
}

std::string call_name(const rest_json_call& call) {
  return std::string(service_name(call.target)) + ":" + call.operation;
}

http_request rest_json_request(const rest_json_call& call, const endpoint& e) {
  http_request request;
  request.method = call.method;
  request.url = e.url + call.path;
  for (size_t i = 0; i < call.query.size(); ++i) {
    request.url += i == 0 ? '?' : '&';
    request.url += percent_encode(call.query[i].first) + "=" + percent_encode(call.query[i].second);
  }
  request.headers.push_back({"Host", host_of(e.url)});
  if (!call.body.is_null()) {
    request.headers.push_back({"Content-Type", "application/json"});
    request.body = call.body.dump();
  }
  return request;
}

result<nlohmann::json> parse_rest_json_response(const http_response& response, service target,
                                                std::string_view where) {
  auto answer = parse_json_response(response, where, error_code_source::header_first);
  if (answer.ok()) return answer;
  error e = std::move(answer).err();
  if (target == service::lambda && e.code == "ResourceConflictException") e.retryable = true;
  return e;
}

}  // namespace tq::aws
