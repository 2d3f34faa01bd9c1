// The handler Tourniquet runs for every event, built once at start-up from the configuration.
// Both the Lambda runtime loop and `tourniquet invoke` call what make_handler returns.
#pragma once

#include "runtime/invocation.h"
#include "runtime/result.h"

namespace tq::handlers {

struct handler_options {
  bool force_dry_run = false;  // `tourniquet invoke FILE --dry-run`
};

// Error types a handler answers with, in the Runtime API's `Function.Xxx` form.
inline constexpr const char* invalid_event_error = "Function.InvalidEvent";
inline constexpr const char* containment_incomplete_error = "Function.ContainmentIncomplete";

// Reads and checks the configuration (environment variables). A bad value is an error that names the
// variable: Lambda reports it on /init/error, `tourniquet invoke` exits 2.
result<handler_function> make_handler(const handler_options& options);

}  // namespace tq::handlers
