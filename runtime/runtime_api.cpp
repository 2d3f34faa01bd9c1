#include "runtime/runtime_api.h"

#include <charconv>
#include <nlohmann/json.hpp>
#include <thread>

#include "runtime/log.h"
#include "runtime/loopback_http.h"

namespace tq::runtime {
namespace {

constexpr std::size_t max_error_message_bytes = 64 * 1024;

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto x = static_cast<unsigned char>(a[i]);
    const auto y = static_cast<unsigned char>(b[i]);
    if (x != y && (x | 0x20) != (y | 0x20)) return false;  // header names are ASCII letters and '-'
  }
  return true;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() &&
         (text.back() == ' ' || text.back() == '\t' || text.back() == '\r' || text.back() == '\n')) {
    text.remove_suffix(1);
  }
  return text;
}

bool is_upper(char c) {
  return c >= 'A' && c <= 'Z';
}
bool is_letter(char c) {
  return is_upper(c) || (c >= 'a' && c <= 'z');
}

}  // namespace

bool apply_invocation_header(std::string_view line, invocation_context& context) {
  const auto colon = line.find(':');
  if (colon == std::string_view::npos) return false;
  const std::string_view name = trim(line.substr(0, colon));
  const std::string_view value = trim(line.substr(colon + 1));
  if (iequals(name, request_id_header)) {
    context.request_id.assign(value);
  } else if (iequals(name, deadline_header)) {
    long long millis = 0;
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), millis);
    // Found by fuzz_runtime_headers: a deadline past what system_clock holds (nanoseconds,
    // year 2262) overflowed in the conversion; such a value is refused like any other malformed one.
    constexpr long long latest =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::duration::max())
            .count();
    if (ec != std::errc{} || end != value.data() + value.size() || millis <= 0 || millis > latest)
      return false;
    context.deadline = std::chrono::system_clock::time_point(std::chrono::milliseconds(millis));
  } else if (iequals(name, function_arn_header)) {
    context.function_arn.assign(value);
  } else if (iequals(name, trace_id_header)) {
    context.trace_id.assign(value);
  } else if (iequals(name, client_context_header)) {
    context.client_context.assign(value);
  } else if (iequals(name, cognito_identity_header)) {
    context.cognito_identity.assign(value);
  } else {
    return false;
  }
  return true;
}

bool valid_error_type(std::string_view type) {
  std::string_view name;
  if (type.starts_with("Runtime.")) {
    name = type.substr(8);
  } else if (type.starts_with("Function.")) {
    name = type.substr(9);
  } else {
    return false;
  }
  if (name.size() < 2 || !is_upper(name.front())) return false;
  for (char c : name) {
    if (!is_letter(c)) return false;
  }
  return true;
}

std::string sanitize_error_type(std::string_view type) {
  if (valid_error_type(type)) return std::string(type);
  std::string out = "Function.";
  const auto dot = type.find('.');
  if (dot != std::string_view::npos) {
    const std::string_view prefix = type.substr(0, dot);
    if (iequals(prefix, "runtime") || iequals(prefix, "function")) {
      out = iequals(prefix, "runtime") ? "Runtime." : "Function.";
      type.remove_prefix(dot + 1);
    }
  }
  // Letters are kept; anything else separates words, and each word starts with a capital.
  const std::size_t name_start = out.size();
  bool word_start = true;
  for (char c : type) {
    if (!is_letter(c)) {
      word_start = true;
      continue;
    }
    if (word_start && !is_upper(c)) c = static_cast<char>(c - 'a' + 'A');
    out += c;
    word_start = false;
  }
  if (out.size() - name_start < 2) {
    out.resize(name_start);
    out += "Unknown";
  }
  return out;
}

std::string error_body(std::string_view error_type, std::string_view message) {
  if (message.size() > max_error_message_bytes) message = message.substr(0, max_error_message_bytes);
  nlohmann::ordered_json body;
  body["errorMessage"] = message;
  body["errorType"] = error_type;
  body["stackTrace"] = nlohmann::ordered_json::array();
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

namespace {

void on_invocation_header(std::string_view line, void* context) {
  apply_invocation_header(line, *static_cast<invocation_context*>(context));
}

}  // namespace

runtime_api_client::runtime_api_client(client_options options)
    : m_options(std::move(options)),
      m_http(std::make_unique<loopback_http>(m_options.endpoint, m_options.connect_timeout)) {
  m_base_path = "/2018-06-01/runtime/";
  m_path.reserve(m_base_path.size() + 96);
  m_answer.reserve(256);
}

runtime_api_client::~runtime_api_client() = default;

status runtime_api_client::next() {
  m_path.assign(m_base_path).append("invocation/next");
  m_context.request_id.clear();
  m_context.function_arn.clear();
  m_context.trace_id.clear();
  m_context.client_context.clear();
  m_context.cognito_identity.clear();
  m_context.deadline = {};  // stays so unless a valid deadline header arrives

  // No timeout: Lambda freezes the sandbox inside this call.
  auto answered = m_http->exchange({"GET", m_path, {}, {}}, m_event, &on_invocation_header, &m_context, {});
  if (!answered.ok()) {
    m_event.clear();
    error e = std::move(answered).err();
    e.where = "runtime-api:next";
    return e;
  }
  const int http_status = *answered;
  if (http_status != 200) {
    error e{"HttpError", m_event.substr(0, 512), "runtime-api:next", http_status >= 500, http_status};
    m_event.clear();
    return e;
  }
  if (m_context.request_id.empty()) {
    return error{"MissingRequestId", "the answer has no Lambda-Runtime-Aws-Request-Id header",
                 "runtime-api:next", false, 200};
  }
  if (m_context.deadline == std::chrono::system_clock::time_point{}) {
    // Never seen in practice; a sane default keeps remaining_time() meaningful.
    m_context.deadline = std::chrono::system_clock::now() + std::chrono::seconds(60);
    log::warn("invocation has no valid deadline header; assuming 60 s",
              {{"requestId", m_context.request_id}});
  }
  return {};
}

result<long> runtime_api_client::perform_post(std::string_view body, bool with_error_type) {
  m_post_headers.assign("Content-Type: application/json\r\n");
  if (with_error_type) m_post_headers.append(m_error_type_line).append("\r\n");
  auto answered = m_http->exchange({"POST", m_path, m_post_headers, body}, m_answer, nullptr, nullptr,
                                   m_options.post_timeout);
  if (!answered.ok()) return std::move(answered).err();
  return static_cast<long>(*answered);
}

result<post_outcome> runtime_api_client::post(std::string_view path_tail, std::string_view request_id,
                                              std::string_view body, std::string_view error_type) {
  // Built only on failure: the happy path of a loop turn allocates nothing here.
  const auto where = [&] { return "runtime-api:" + std::string(path_tail); };
  if (request_id.empty()) {
    m_path.assign(m_base_path).append(path_tail);
  } else {
    m_path.assign(m_base_path).append("invocation/").append(request_id).append("/").append(path_tail);
  }
  if (!error_type.empty()) m_error_type_line.assign(error_type_header).append(": ").append(error_type);

  error last;
  const int attempts = m_options.post_attempts < 1 ? 1 : m_options.post_attempts;
  for (int attempt = 1; attempt <= attempts; ++attempt) {
    if (attempt > 1) std::this_thread::sleep_for(std::chrono::milliseconds(25) * (1 << (attempt - 2)));
    auto status = perform_post(body, !error_type.empty());
    if (!status.ok()) {
      last = std::move(status).err();
      last.where = where();
      log::warn(
          "Runtime API post failed",
          {{"path", std::string(path_tail)}, {"attempt", std::to_string(attempt)}, {"error", last.message}});
      continue;
    }
    const long code = *status;
    if (code >= 200 && code < 300) return post_outcome::accepted;
    if (code == 413) return post_outcome::too_large;
    if (code < 500) {
      log::error("Runtime API refused the post", {{"path", std::string(path_tail)},
                                                  {"status", std::to_string(code)},
                                                  {"answer", m_answer.substr(0, 512)}});
      return post_outcome::refused;
    }
    last = error{"HttpError", m_answer.substr(0, 512), where(), true, static_cast<int>(code)};
    log::warn("Runtime API post failed", {{"path", std::string(path_tail)},
                                          {"attempt", std::to_string(attempt)},
                                          {"status", std::to_string(code)}});
  }
  return last;
}

result<post_outcome> runtime_api_client::post_response(std::string_view request_id,
                                                       std::string_view payload) {
  return post("response", request_id, payload, {});
}

result<post_outcome> runtime_api_client::post_error(std::string_view request_id, std::string_view error_type,
                                                    std::string_view message) {
  const std::string type = sanitize_error_type(error_type);
  return post("error", request_id, error_body(type, message), type);
}

result<post_outcome> runtime_api_client::post_init_error(std::string_view error_type,
                                                         std::string_view message) {
  const std::string type = sanitize_error_type(error_type);
  return post("init/error", {}, error_body(type, message), type);
}

}  // namespace tq::runtime
