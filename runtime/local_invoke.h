// `tourniquet invoke FILE|-`: runs the handler once on a local event, the way the runtime loop would
// (same context fields, same exception catching), and turns the outcome into an exit status.
#pragma once

#include <functional>
#include <span>
#include <string>
#include <string_view>

#include "runtime/invocation.h"
#include "runtime/result.h"

namespace tq::runtime {

// Exit statuses of the command line.
inline constexpr int exit_ok = 0;
inline constexpr int exit_handler_failed = 1;
inline constexpr int exit_usage = 2;  // bad usage, unreadable input, malformed event, configuration error

struct local_event {
  std::string name;  // the file name, or "<stdin>" for "-"
  std::string body;
};

// Builds the handler for a local run; `dry_run` is `invoke --dry-run`.
using handler_builder = std::function<result<handler_function>(bool dry_run)>;

// The whole `invoke` command: parses `FILE|- [--dry-run]`, reads the event, builds the handler, runs it.
// Usage errors, an unreadable file and a configuration error print a message and return exit_usage.
int invoke_command(std::span<const std::string_view> args, const handler_builder& build);

// Prints "tourniquet: MESSAGE" and a pointer to --help on stderr; returns exit_usage.
int usage_error(std::string_view message);

// Reads FILE, or standard input for "-". The error names the file and says why (strerror).
result<local_event> read_local_event(const std::string& path);

// The context of a local run: request id "local-<16 hex digits>", deadline now + TOURNIQUET_LOCAL_TIMEOUT_MS
// (default 60000). A value that is not a positive whole number is an error naming the variable.
result<invocation_context> local_context();

// Runs the handler and reports: the response JSON on stdout (exit 0); on failure the error JSON Lambda
// would record on stdout and a sentence naming the file on stderr (exit 2 for Function.InvalidEvent, whose
// message carries the JSON path of the bad field when the handler gives one; exit 1 otherwise).
int invoke_local(const handler_function& handler, const local_event& event,
                 const invocation_context& context);

}  // namespace tq::runtime
