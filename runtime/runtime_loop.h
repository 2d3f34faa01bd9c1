// The Lambda runtime loop: fetch an invocation, run the handler, post what it answered, and again.
// Two error tiers: a handler failure is posted to /error and the loop goes on; a Runtime API that stays
// unreachable past a bounded back-off ends the process with a non-zero status.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>

#include "runtime/invocation.h"
#include "runtime/result.h"
#include "runtime/runtime_api.h"

namespace tq::runtime {

// Error type of a handler that threw instead of answering.
inline constexpr const char* handler_exception_error = "Function.HandlerException";
// Error type posted to /init/error when the handler cannot be built (configuration error).
inline constexpr const char* init_error = "Runtime.InitError";

struct loop_options {
  std::string endpoint;                             // AWS_LAMBDA_RUNTIME_API (host:port)
  std::chrono::milliseconds retry_budget{10000};    // TOURNIQUET_RUNTIME_API_RETRY_MS
  std::chrono::milliseconds first_retry_delay{50};  // doubled after every failed `next`...
  std::chrono::milliseconds max_retry_delay{1000};  // ...up to this
};

// Reads AWS_LAMBDA_RUNTIME_API and TOURNIQUET_RUNTIME_API_RETRY_MS; an unset endpoint or a budget that is
// not a whole number of milliseconds is an error naming the variable.
result<loop_options> loop_options_from_environment();

// Runs the handler and never lets anything escape: a thrown exception becomes a
// Function.HandlerException failure carrying what() (or "unknown exception").
invocation_response call_handler(const handler_function& handler, std::string_view event,
                                 const invocation_context& context) noexcept;

// Exports the invocation's trace id as _X_AMZN_TRACE_ID, or removes the variable when `trace_id` is empty.
// It rewrites one process-lifetime buffer in place: glibc's setenv never frees the strings it makes, so a
// setenv per invocation would leak for as long as the sandbox lives.
void export_trace_id(std::string_view trace_id);

// Serves invocations until the Runtime API stays unreachable for longer than the retry budget. Returns the
// process exit status (non-zero: it only returns when it gives up).
int run_loop(runtime_api_client& api, const handler_function& handler, const loop_options& options);

// Start-up under Lambda: configures logging from the environment, builds the handler (a failure is posted
// to /init/error and the process exits 1), then runs the loop. Returns the process exit status.
int serve_lambda(const std::function<result<handler_function>()>& build_handler);

}  // namespace tq::runtime
