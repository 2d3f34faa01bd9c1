// What the Lambda Runtime API hands a handler, and what a handler hands back. A handler is a function
// of (event, context) returning a response; the runtime loop and `tourniquet invoke` call the same one.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>

namespace tq {

struct invocation_context {
  std::string request_id;                          // Lambda-Runtime-Aws-Request-Id
  std::chrono::system_clock::time_point deadline;  // Lambda-Runtime-Deadline-Ms
  std::string function_arn;                        // Lambda-Runtime-Invoked-Function-Arn
  std::string trace_id;          // Lambda-Runtime-Trace-Id, also exported as _X_AMZN_TRACE_ID
  std::string client_context;    // Lambda-Runtime-Client-Context (JSON, mobile SDK invocations)
  std::string cognito_identity;  // Lambda-Runtime-Cognito-Identity (JSON)

  std::chrono::milliseconds remaining_time() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::system_clock::now());
  }
};

struct invocation_response {
  bool success = true;
  std::string payload;        // the response JSON on success
  std::string error_type;     // "Function.Xxx" on failure
  std::string error_message;  // on failure

  static invocation_response ok(std::string json) { return {true, std::move(json), {}, {}}; }
  static invocation_response failure(std::string type, std::string message) {
    return {false, {}, std::move(type), std::move(message)};
  }
};

using handler_function =
    std::function<invocation_response(std::string_view event, const invocation_context&)>;

}  // namespace tq
