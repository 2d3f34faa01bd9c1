// tourniquet: the Lambda bootstrap (no command, AWS_LAMBDA_RUNTIME_API set: the runtime loop) and a small
// command line for local use. Commands live in one table; adding one is a function and a row.
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "handlers/entry.h"
#include "runtime/log.h"
#include "runtime/runtime_api.h"
#include "runtime/runtime_loop.h"

namespace {

using arguments = std::span<const std::string_view>;

// Exit statuses of the command line.
constexpr int exit_ok = 0;
constexpr int exit_handler_failed = 1;
constexpr int exit_usage = 2;  // bad usage, unreadable input, malformed event, configuration error

struct command {
  std::string_view name;
  std::string_view synopsis;
  std::string_view summary;
  int (*run)(arguments args);
};

int run_invoke(arguments args);

constexpr command commands[] = {
    {"invoke", "invoke FILE|- [--dry-run]",
     "run the handler once on the event in FILE (- reads standard input) and print its response", run_invoke},
};

void print_help(std::FILE* out) {
  std::fputs(
      "Usage: tourniquet                 (under Lambda: serves AWS_LAMBDA_RUNTIME_API)\n"
      "       tourniquet COMMAND [ARGS]\n"
      "       tourniquet --help | --version\n\nCommands:\n",
      out);
  for (const command& c : commands) {
    std::fprintf(out, "  %-28.*s %.*s\n", static_cast<int>(c.synopsis.size()), c.synopsis.data(),
                 static_cast<int>(c.summary.size()), c.summary.data());
  }
  std::fputs(
      "\nEnvironment: AWS_LAMBDA_LOG_FORMAT (JSON|Text), AWS_LAMBDA_LOG_LEVEL, TOURNIQUET_LOCAL_TIMEOUT_MS\n"
      "(invoke's deadline, default 60000), TOURNIQUET_RUNTIME_API_RETRY_MS (how long the loop retries an\n"
      "unreachable Runtime API, default 10000).\n"
      "Exit status: 0 success, 1 the handler reported a failure, 2 bad usage, unreadable input, malformed\n"
      "event or configuration error.\n",
      out);
}

int usage_error(const std::string& message) {
  std::fprintf(stderr, "tourniquet: %s\nRun 'tourniquet --help' for usage.\n", message.c_str());
  return exit_usage;
}

// Reads the whole event; false with errno set when it cannot (missing file, directory, I/O error).
bool read_input(const std::string& path, std::string& out) {
  std::FILE* in = path == "-" ? stdin : std::fopen(path.c_str(), "rb");
  if (in == nullptr) return false;
  char chunk[65536];
  std::size_t got = 0;
  while ((got = std::fread(chunk, 1, sizeof chunk, in)) > 0) out.append(chunk, got);
  const bool failed = std::ferror(in) != 0;
  const int saved = errno;
  if (in != stdin) std::fclose(in);
  errno = saved;
  return !failed;
}

std::string local_request_id() {
  std::random_device random;
  const unsigned long long bits = (static_cast<unsigned long long>(random()) << 32) ^ random();
  char text[32];
  std::snprintf(text, sizeof text, "local-%016llx", bits);
  return text;
}

int run_invoke(arguments args) {
  std::string path;
  bool dry_run = false;
  for (std::string_view arg : args) {
    if (arg == "--dry-run") {
      dry_run = true;
    } else if (arg == "--help" || arg == "-h") {
      std::puts("Usage: tourniquet invoke FILE|- [--dry-run]");
      return exit_ok;
    } else if (arg.size() > 1 && arg.front() == '-') {
      return usage_error("invoke: unknown option '" + std::string(arg) + "'");
    } else if (!path.empty()) {
      return usage_error("invoke: one event file expected, got '" + path + "' and '" + std::string(arg) + "'");
    } else {
      path = arg;
    }
  }
  if (path.empty()) return usage_error("invoke: missing FILE (an event file, or - for standard input)");
  const std::string name = path == "-" ? "<stdin>" : path;

  long long timeout_ms = 60000;
  if (const char* text = std::getenv("TOURNIQUET_LOCAL_TIMEOUT_MS"); text != nullptr && *text != '\0') {
    const std::string_view value(text);
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), timeout_ms);
    if (ec != std::errc{} || end != value.data() + value.size() || timeout_ms <= 0) {
      return usage_error("TOURNIQUET_LOCAL_TIMEOUT_MS: expected a positive number of milliseconds, got '" +
                         std::string(value) + "'");
    }
  }

  std::string event;
  if (!read_input(path, event)) {
    std::fprintf(stderr, "tourniquet invoke: cannot read %s: %s\n", name.c_str(), std::strerror(errno));
    return exit_usage;
  }

  auto handler = tq::handlers::make_handler({.force_dry_run = dry_run});
  if (!handler.ok()) {
    std::fprintf(stderr, "tourniquet invoke: configuration error: %s\n", handler.err().describe().c_str());
    return exit_usage;
  }

  tq::invocation_context context;
  context.request_id = local_request_id();
  context.deadline = std::chrono::system_clock::now() + std::chrono::milliseconds(timeout_ms);
  tq::log::set_context("requestId", context.request_id);
  if (tq::log::enabled(tq::log::level::debug)) tq::log::debug("invocation received", {{"event", event}});
  const tq::invocation_response response = tq::runtime::call_handler(*handler, event, context);
  tq::log::clear_context();

  if (response.success) {
    std::fwrite(response.payload.data(), 1, response.payload.size(), stdout);
    std::fputc('\n', stdout);
    return std::fflush(stdout) == 0 ? exit_ok : exit_handler_failed;
  }
  // What Lambda would have recorded goes to stdout; a sentence for a person to stderr.
  const std::string type = tq::runtime::sanitize_error_type(response.error_type);
  const std::string body = tq::runtime::error_body(type, response.error_message);
  std::fwrite(body.data(), 1, body.size(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
  if (type == tq::handlers::invalid_event_error) {
    std::fprintf(stderr, "tourniquet invoke: %s: malformed event: %s\n", name.c_str(), response.error_message.c_str());
    return exit_usage;
  }
  std::fprintf(stderr, "tourniquet invoke: %s: handler failed: %s: %s\n", name.c_str(), type.c_str(),
               response.error_message.c_str());
  return exit_handler_failed;
}

}  // namespace

int main(int argc, char** argv) {
  tq::log::configure(tq::log::settings_from_environment());
  const std::vector<std::string_view> args(argv + 1, argv + argc);

  if (args.empty()) {
    const char* endpoint = std::getenv("AWS_LAMBDA_RUNTIME_API");
    if (endpoint == nullptr || *endpoint == '\0') {
      return usage_error("no command given and AWS_LAMBDA_RUNTIME_API is not set (not running under Lambda)");
    }
    return tq::runtime::serve_lambda([] { return tq::handlers::make_handler({}); });
  }

  const std::string_view first = args.front();
  if (first == "--help" || first == "-h" || first == "help") {
    print_help(stdout);
    return exit_ok;
  }
  if (first == "--version") {
    std::printf("tourniquet %s\n", TOURNIQUET_VERSION);
    return exit_ok;
  }
  for (const command& c : commands) {
    if (c.name == first) return c.run(arguments(args).subspan(1));
  }
  return usage_error("unknown command '" + std::string(first) + "'");
}
