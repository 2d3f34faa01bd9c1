#include "runtime/local_invoke.h"

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>

#include "runtime/log.h"
#include "runtime/runtime_api.h"
#include "runtime/runtime_loop.h"

namespace tq::runtime {
namespace {

constexpr std::string_view invalid_event_type = "Function.InvalidEvent";

std::string local_request_id() {
  std::random_device random;
  const unsigned long long bits = (static_cast<unsigned long long>(random()) << 32) ^ random();
  char text[32];
  std::snprintf(text, sizeof text, "local-%016llx", bits);
  return text;
}

void print_line(std::string_view text, std::FILE* out) {
  std::fwrite(text.data(), 1, text.size(), out);
  std::fputc('\n', out);
}

}  // namespace

result<local_event> read_local_event(const std::string& path) {
  local_event event{path == "-" ? "<stdin>" : path, {}};
  std::FILE* in = path == "-" ? stdin : std::fopen(path.c_str(), "rb");
  if (in == nullptr) return error{"Unreadable", std::strerror(errno), event.name};
  char chunk[65536];
  std::size_t got = 0;
  while ((got = std::fread(chunk, 1, sizeof chunk, in)) > 0) event.body.append(chunk, got);
  const int saved = errno;
  const bool failed = std::ferror(in) != 0;
  if (in != stdin) std::fclose(in);
  if (failed) return error{"Unreadable", std::strerror(saved), event.name};
  return event;
}

result<invocation_context> local_context() {
  long long timeout_ms = 60000;
  if (const char* text = std::getenv("TOURNIQUET_LOCAL_TIMEOUT_MS"); text != nullptr && *text != '\0') {
    const std::string_view value(text);
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), timeout_ms);
    if (ec != std::errc{} || end != value.data() + value.size() || timeout_ms <= 0) {
      return error{"InvalidConfiguration",
                   "expected a positive whole number of milliseconds, got '" + std::string(value) + "'",
                   "TOURNIQUET_LOCAL_TIMEOUT_MS"};
    }
  }
  invocation_context context;
  context.request_id = local_request_id();
  context.deadline = std::chrono::system_clock::now() + std::chrono::milliseconds(timeout_ms);
  return context;
}

int invoke_local(const handler_function& handler, const local_event& event,
                 const invocation_context& context) {
  log::set_context("requestId", context.request_id);
  if (log::enabled(log::level::debug)) log::debug("invocation received", {{"event", event.body}});
  const invocation_response response = call_handler(handler, event.body, context);
  log::clear_context();

  if (response.success) {
    print_line(response.payload, stdout);
    return std::fflush(stdout) == 0 ? exit_ok : exit_handler_failed;
  }
  const std::string type = sanitize_error_type(response.error_type);
  print_line(error_body(type, response.error_message), stdout);
  std::fflush(stdout);
  if (type == invalid_event_type) {
    std::fprintf(stderr, "tourniquet invoke: %s: malformed event: %s\n", event.name.c_str(),
                 response.error_message.c_str());
    return exit_usage;
  }
  std::fprintf(stderr, "tourniquet invoke: %s: handler failed: %s: %s\n", event.name.c_str(), type.c_str(),
               response.error_message.c_str());
  return exit_handler_failed;
}

int usage_error(std::string_view message) {
  std::fprintf(stderr, "tourniquet: %.*s\nRun 'tourniquet --help' for usage.\n",
               static_cast<int>(message.size()), message.data());
  return exit_usage;
}

int invoke_command(std::span<const std::string_view> args, const handler_builder& build) {
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
      return usage_error("invoke: one event file expected, got '" + path + "' and '" + std::string(arg) +
                         "'");
    } else {
      path = arg;
    }
  }
  if (path.empty()) return usage_error("invoke: missing FILE (an event file, or - for standard input)");

  auto context = local_context();
  if (!context.ok()) return usage_error(context.err().describe());
  const auto event = read_local_event(path);
  if (!event.ok()) {
    std::fprintf(stderr, "tourniquet invoke: cannot read %s: %s\n", event.err().where.c_str(),
                 event.err().message.c_str());
    return exit_usage;
  }
  const auto handler = build(dry_run);
  if (!handler.ok()) {
    std::fprintf(stderr, "tourniquet invoke: configuration error: %s\n", handler.err().describe().c_str());
    return exit_usage;
  }
  return invoke_local(*handler, *event, *context);
}

}  // namespace tq::runtime
