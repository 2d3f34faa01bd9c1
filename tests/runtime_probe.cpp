// Test-only executable: the real runtime loop and `invoke` command (tq_runtime) around a handler that
// misbehaves on request, for what Tourniquet's own handler never does: throw, fail with an arbitrary
// error type, answer more than 6 MiB, or fail to start. Driven by tests/integration/test_runtime_loop.py.
//
// Events are JSON objects with a "probe" member:
//   {"probe":"throw","message":M}        throws std::runtime_error(M)
//   {"probe":"throw-unknown"}            throws an int
//   {"probe":"big","bytes":N}            answers a JSON string of exactly N bytes
//   {"probe":"fail","type":T,"message":M} answers failure(T, M)
//   {"probe":"empty"}                    answers an empty body
//   {"probe":"env"}                      answers the context and _X_AMZN_TRACE_ID as it sees them
//   anything else                        answers {"echo": event}
// TQ_PROBE_INIT_ERROR=MESSAGE makes building the handler fail (the /init/error path).
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/local_invoke.h"
#include "runtime/log.h"
#include "runtime/runtime_loop.h"

namespace {

tq::invocation_response probe(std::string_view event, const tq::invocation_context& context) {
  const nlohmann::json j = nlohmann::json::parse(event, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return tq::invocation_response::failure("Function.InvalidEvent", "$: probe events are JSON objects");
  }
  const std::string kind = j.value("probe", "");
  if (kind == "throw") throw std::runtime_error(j.value("message", "probe exploded"));
  if (kind == "throw-unknown") throw 42;
  if (kind == "big") {
    const auto bytes = j.value("bytes", std::size_t{2});
    std::string payload(bytes < 2 ? 2 : bytes, 'x');
    payload.front() = '"';
    payload.back() = '"';
    return tq::invocation_response::ok(std::move(payload));
  }
  if (kind == "empty") return tq::invocation_response::ok({});
  if (kind == "fail") {
    return tq::invocation_response::failure(j.value("type", ""), j.value("message", "probe failure"));
  }
  if (kind == "env") {
    const char* trace = std::getenv("_X_AMZN_TRACE_ID");
    const nlohmann::json out = {{"requestId", context.request_id},
                                {"traceEnv", trace != nullptr ? nlohmann::json(trace) : nlohmann::json()},
                                {"traceId", context.trace_id},
                                {"functionArn", context.function_arn},
                                {"clientContext", context.client_context},
                                {"cognitoIdentity", context.cognito_identity},
                                {"remainingMs", context.remaining_time().count()}};
    return tq::invocation_response::ok(out.dump());
  }
  return tq::invocation_response::ok(nlohmann::json{{"echo", j}}.dump());
}

tq::result<tq::handler_function> build_probe() {
  if (const char* message = std::getenv("TQ_PROBE_INIT_ERROR"); message != nullptr && *message != '\0') {
    return tq::error{"InvalidConfiguration", message, "TQ_PROBE_INIT_ERROR"};
  }
  return tq::handler_function(probe);
}

}  // namespace

int main(int argc, char** argv) {
  tq::log::configure(tq::log::settings_from_environment());
  const std::vector<std::string_view> args(argv + 1, argv + argc);
  if (!args.empty() && args.front() == "invoke") {
    return tq::runtime::invoke_command(std::span(args).subspan(1), [](bool) { return build_probe(); });
  }
  if (!args.empty()) return tq::runtime::usage_error("runtime_probe: expected no arguments or 'invoke FILE'");
  return tq::runtime::serve_lambda(build_probe);
}
