// Client of the Lambda Runtime API (`$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime/...`): fetch the next
// invocation, post its response or error, report a start-up failure. One kept-alive connection (a small
// HTTP/1.1 client for this API alone, runtime/loopback_http.h); buffers live in the client and are reused
// from one invocation to the next.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "runtime/invocation.h"
#include "runtime/result.h"

namespace tq::runtime {

class loopback_http;

// Header names of a `next` answer and of an error post.
inline constexpr std::string_view request_id_header = "Lambda-Runtime-Aws-Request-Id";
inline constexpr std::string_view deadline_header = "Lambda-Runtime-Deadline-Ms";
inline constexpr std::string_view function_arn_header = "Lambda-Runtime-Invoked-Function-Arn";
inline constexpr std::string_view trace_id_header = "Lambda-Runtime-Trace-Id";
inline constexpr std::string_view client_context_header = "Lambda-Runtime-Client-Context";
inline constexpr std::string_view cognito_identity_header = "Lambda-Runtime-Cognito-Identity";
inline constexpr std::string_view error_type_header = "Lambda-Runtime-Function-Error-Type";

// The Runtime API refuses response bodies above 6 MiB with 413.
inline constexpr std::size_t max_response_bytes = 6 * 1024 * 1024;

// Applies one raw header line of a `next` answer ("Name: value\r\n", names compared case-insensitively)
// to `context`. Returns false for lines that carry no invocation field (status line, Content-Type, ...)
// and for a deadline that is not a number of epoch milliseconds (the deadline is then left as it was).
bool apply_invocation_header(std::string_view line, invocation_context& context);

// True when `type` has the form the Runtime API accepts: (Runtime|Function)\.[A-Z][a-zA-Z]+
bool valid_error_type(std::string_view type);

// Makes any error type acceptable to the Runtime API, keeping what it can: "Function.InvalidEvent" stays,
// "invalid_event" becomes "Function.InvalidEvent", "Runtime.bad type!" becomes "Runtime.BadType", and a
// type with no usable letters becomes "Function.Unknown".
std::string sanitize_error_type(std::string_view type);

// The body of an error post: {"errorMessage":…,"errorType":…,"stackTrace":[]}. Invalid UTF-8 in the
// message is replaced, and a message longer than 64 KiB is cut.
std::string error_body(std::string_view error_type, std::string_view message);

// What a post achieved. `too_large` (413) means the API took the invocation as failed already: it must
// not be followed by an error post.
enum class post_outcome { accepted, too_large, refused };

struct client_options {
  std::string endpoint;  // host:port, from AWS_LAMBDA_RUNTIME_API
  std::chrono::milliseconds connect_timeout{2000};
  std::chrono::milliseconds post_timeout{30000};  // `next` has none: the sandbox freezes inside it
  int post_attempts = 3;                          // for posts that got no answer or a 5xx
};

class runtime_api_client {
 public:
  explicit runtime_api_client(client_options options);
  ~runtime_api_client();
  runtime_api_client(const runtime_api_client&) = delete;
  runtime_api_client& operator=(const runtime_api_client&) = delete;

  // Blocks (no timeout) until the API hands an invocation. On success context() and event() hold it until
  // the next call. An unreachable API, a non-200 answer or an answer without a request id is an error
  // (retryable when the API may come back); the caller decides how long to keep trying.
  status next();
  const invocation_context& context() const { return m_context; }
  std::string_view event() const { return m_event; }

  // Posts the handler's result for the current invocation. Connection failures and 5xx answers are
  // retried a few times; an error means the API could not be reached at all.
  result<post_outcome> post_response(std::string_view request_id, std::string_view payload);
  result<post_outcome> post_error(std::string_view request_id, std::string_view error_type,
                                  std::string_view message);

  // Reports a failure to start (configuration error) before the first `next`.
  result<post_outcome> post_init_error(std::string_view error_type, std::string_view message);

 private:
  result<post_outcome> post(std::string_view path_tail, std::string_view request_id, std::string_view body,
                            std::string_view error_type);
  result<long> perform_post(std::string_view body, bool with_error_type);

  client_options m_options;
  std::unique_ptr<loopback_http> m_http;
  std::string m_base_path;        // /2018-06-01/runtime/
  std::string m_path;             // reused for every request
  std::string m_post_headers;     // Content-Type (and the error type) of a post
  std::string m_event;            // body of the last `next`
  std::string m_answer;           // body of the last post's answer (the API's error message)
  std::string m_error_type_line;  // "Lambda-Runtime-Function-Error-Type: ..."
  invocation_context m_context;
};

}  // namespace tq::runtime
