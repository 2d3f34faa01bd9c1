#include "aws/json_protocol.h"

#include <thread>

#include "aws/sigv4.h"
#include "aws/xml.h"
#include "runtime/log.h"

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
  nlohmann::json doc = nlohmann::json::parse(response.body, nullptr, false);
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

// One call at a time (CloudTrail calls are rare and never batched), by the rules of call_all: the same
// attempts, backoff, retry quota, statistics and deadline margin.
result<nlohmann::json> client::call_json(const json_call& call, deadline until) const {
  using clock = std::chrono::steady_clock;
  const retry_settings& retry = m_settings->retry;
  const clock::time_point give_up_at = until - retry.deadline_margin;
  const std::string where = json_call_name(call);
  auto gave_up = [](error e, int attempt, std::string_view why) {
    e.message += " (gave up after " + std::to_string(attempt) + (attempt == 1 ? " attempt: " : " attempts: ");
    e.message += std::string(why) + ")";
    return e;
  };
  const auto found = m_settings->endpoints.find(call.target);
  if (found == m_settings->endpoints.end()) {
    return error{"NoEndpoint", "no endpoint is configured for " + std::string(service_name(call.target)),
                 where};
  }

  int spent = 0;
  std::optional<error> previous;
  for (int attempt = 1;; ++attempt) {
    const clock::time_point now = clock::now();
    if (now >= give_up_at) {
      return gave_up(
          previous ? std::move(*previous)
                   : error{"DeadlineExceeded", "no time left before the invocation's deadline", where, true},
          attempt, "the deadline is too close");
    }
    http_request request = json_request(call, found->second);
    sigv4::signing_params params;
    params.credentials = {m_credentials.access_key_id, m_credentials.secret_access_key,
                          m_credentials.session_token};
    params.region = found->second.signing_region;
    params.service = found->second.signing_name;
    params.time = std::chrono::system_clock::now();
    sigv4::sign(request, params);

    const auto budget = std::chrono::duration_cast<std::chrono::milliseconds>(give_up_at - now);
    const bool cut_by_deadline = budget < retry.attempt_timeout;
    auto response = m_transport->send(request, std::min(retry.attempt_timeout, budget));
    ++m_statistics->attempts;
    result<nlohmann::json> answer = response.ok()
                                        ? parse_json_response(*response, where)
                                        : result<nlohmann::json>(std::move(response).err().within(where));
    if (answer.ok()) {
      m_quota->release_after_success(spent);
      return answer;
    }
    error failure = std::move(answer).err();
    if (is_throttling_code(failure.code)) ++m_statistics->throttles;
    if (failure.code == "RequestTimeout") ++m_statistics->unanswered;
    if (failure.code == "RequestTimeout" && cut_by_deadline) {
      return gave_up(previous ? std::move(*previous) : std::move(failure), attempt,
                     "the invocation's deadline came first");
    }
    if (!failure.retryable) return failure;
    if (attempt >= retry.max_attempts)
      return gave_up(std::move(failure), attempt, "the attempts allowed are used up");
    const bool timed_out = failure.code == "RequestTimeout";
    if (!m_quota->acquire(timed_out)) return gave_up(std::move(failure), attempt, "the retry quota is spent");
    const auto delay = backoff_delay(retry, attempt, m_settings->unit_random);
    if (clock::now() + delay >= give_up_at) {
      return gave_up(std::move(failure), attempt, "the invocation's deadline is too close for another");
    }
    log::debug("retrying AWS call", {{"call", where},
                                     {"code", failure.code},
                                     {"attempt", std::to_string(attempt + 1)},
                                     {"delayMs", std::to_string(delay.count())}});
    ++m_statistics->retries;
    spent += timed_out ? retry_quota::timeout_retry_cost : retry_quota::retry_cost;
    previous = std::move(failure);
    std::this_thread::sleep_for(delay);
  }
}

}  // namespace tq::aws
