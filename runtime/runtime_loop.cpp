#include "runtime/runtime_loop.h"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <thread>

#include "runtime/log.h"

namespace tq::runtime {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

constexpr const char* trace_variable = "_X_AMZN_TRACE_ID";
constexpr std::size_t trace_prefix = std::char_traits<char>::length("_X_AMZN_TRACE_ID=");
// The live environment entry, handed to putenv once and rewritten in place afterwards. X-Ray headers are
// well under 256 bytes; a longer one falls back to setenv.
char g_trace_entry[1024];

std::string millis_text(steady_clock::duration d) {
  return std::to_string(std::chrono::duration_cast<milliseconds>(d).count());
}

const char* env_or_empty(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr ? value : "";
}

void handle_invocation(runtime_api_client& api, const handler_function& handler) {
  const invocation_context& context = api.context();
  const std::string_view event = api.event();
  log::set_context("requestId", context.request_id);
  export_trace_id(context.trace_id);
  if (log::enabled(log::level::debug)) {
    log::debug("invocation received", {{"traceId", env_or_empty(trace_variable)},
                                       {"functionArn", context.function_arn},
                                       {"remainingMs", std::to_string(context.remaining_time().count())},
                                       {"event", std::string(event)}});
  }

  const auto started = steady_clock::now();
  const invocation_response response = call_handler(handler, event, context);
  const auto elapsed = steady_clock::now() - started;

  if (response.success) {
    if (log::enabled(log::level::debug)) {
      log::debug("handler answered", {{"durationMs", millis_text(elapsed)}, {"response", response.payload}});
    }
    const auto posted = api.post_response(context.request_id, response.payload);
    if (!posted.ok()) {
      log::error("could not post the response", {{"error", posted.err().describe()}});
    } else if (*posted == post_outcome::too_large) {
      // Lambda already failed the invocation (Function.ResponseSizeTooLarge); an /error now would get 403.
      log::error("Runtime API refused the response as too large",
                 {{"bytes", std::to_string(response.payload.size())},
                  {"limitBytes", std::to_string(max_response_bytes)}});
    }
  } else {
    const std::string type = sanitize_error_type(response.error_type);
    log::warn("handler failed", {{"errorType", type},
                                 {"errorMessage", response.error_message},
                                 {"durationMs", millis_text(elapsed)}});
    const auto posted = api.post_error(context.request_id, type, response.error_message);
    if (!posted.ok()) log::error("could not post the error", {{"error", posted.err().describe()}});
  }
  log::clear_context();
}

}  // namespace

result<loop_options> loop_options_from_environment() {
  loop_options options;
  const char* endpoint = std::getenv("AWS_LAMBDA_RUNTIME_API");
  if (endpoint == nullptr || *endpoint == '\0') {
    return error{"MissingConfiguration", "AWS_LAMBDA_RUNTIME_API is not set", "AWS_LAMBDA_RUNTIME_API"};
  }
  options.endpoint = endpoint;
  if (const char* budget = std::getenv("TOURNIQUET_RUNTIME_API_RETRY_MS");
      budget != nullptr && *budget != '\0') {
    const std::string_view text(budget);
    long long millis = -1;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), millis);
    if (ec != std::errc{} || end != text.data() + text.size() || millis < 0) {
      return error{"InvalidConfiguration",
                   "expected a whole number of milliseconds, got '" + std::string(text) + "'",
                   "TOURNIQUET_RUNTIME_API_RETRY_MS"};
    }
    options.retry_budget = milliseconds(millis);
  }
  return options;
}

invocation_response call_handler(const handler_function& handler, std::string_view event,
                                 const invocation_context& context) noexcept {
  try {
    return handler(event, context);
  } catch (const std::exception& e) {
    return invocation_response::failure(handler_exception_error, e.what());
  } catch (...) {
    return invocation_response::failure(handler_exception_error, "unknown exception");
  }
}

void export_trace_id(std::string_view trace_id) {
  if (trace_id.empty()) {
    unsetenv(trace_variable);
    return;
  }
  if (trace_prefix + trace_id.size() + 1 > sizeof g_trace_entry) {
    setenv(trace_variable, std::string(trace_id).c_str(), 1);
    return;
  }
  // Still ours unless someone called setenv/unsetenv on the variable since.
  const bool installed = std::getenv(trace_variable) == g_trace_entry + trace_prefix;
  std::memcpy(g_trace_entry, "_X_AMZN_TRACE_ID=", trace_prefix);
  std::memcpy(g_trace_entry + trace_prefix, trace_id.data(), trace_id.size());
  g_trace_entry[trace_prefix + trace_id.size()] = '\0';
  if (!installed) putenv(g_trace_entry);
}

int run_loop(runtime_api_client& api, const handler_function& handler, const loop_options& options) {
  milliseconds delay = options.first_retry_delay;
  bool failing = false;
  steady_clock::time_point failing_since;
  for (;;) {
    const status got = api.next();
    if (got.ok()) {
      failing = false;
      delay = options.first_retry_delay;
      handle_invocation(api, handler);
      continue;
    }
    const auto now = steady_clock::now();
    if (!failing) failing_since = now;
    failing = true;
    const auto failing_for = now - failing_since;
    if (failing_for + delay > options.retry_budget) {
      log::error("Runtime API unreachable; giving up",
                 {{"error", got.err().describe()}, {"failingForMs", millis_text(failing_for)}});
      return 1;
    }
    log::warn("Runtime API next failed; retrying",
              {{"error", got.err().describe()}, {"retryInMs", std::to_string(delay.count())}});
    std::this_thread::sleep_for(delay);
    delay = std::min(delay * 2, options.max_retry_delay);
  }
}

int serve_lambda(const std::function<result<handler_function>()>& build_handler) {
  log::configure(log::settings_from_environment());
  const char* endpoint = std::getenv("AWS_LAMBDA_RUNTIME_API");
  if (endpoint == nullptr || *endpoint == '\0') {
    log::error("AWS_LAMBDA_RUNTIME_API is not set; not running under Lambda");
    return 1;
  }
  runtime_api_client api(client_options{endpoint});

  const auto report_init_failure = [&api](const error& failure) {
    log::error("start-up failed", {{"error", failure.describe()}});
    const auto posted = api.post_init_error(init_error, failure.describe());
    if (!posted.ok())
      log::error("could not report the start-up failure", {{"error", posted.err().describe()}});
    return 1;
  };

  const auto options = loop_options_from_environment();
  if (!options.ok()) return report_init_failure(options.err());
  result<handler_function> handler = error{"InitError", "the handler was not built"};
  try {
    handler = build_handler();
  } catch (const std::exception& e) {
    handler = error{"InitError", e.what(), "make_handler"};
  } catch (...) {
    handler = error{"InitError", "unknown exception", "make_handler"};
  }
  if (!handler.ok()) return report_init_failure(handler.err());
  return run_loop(api, *handler, *options);
}

}  // namespace tq::runtime
