// Logging as Lambda's advanced logging controls expect: JSON lines (`timestamp` RFC 3339, `level`,
// `message`, `requestId`, plus context fields) when AWS_LAMBDA_LOG_FORMAT=JSON, readable text otherwise,
// filtered by AWS_LAMBDA_LOG_LEVEL. Written to standard error. Never pass a secret to it.
#pragma once

#include <chrono>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tq::log {

enum class level { trace, debug, info, warn, error, fatal };

using field = std::pair<std::string_view, std::string>;

struct settings {
  bool json = false;
  level minimum = level::info;
};

// Reads AWS_LAMBDA_LOG_FORMAT and AWS_LAMBDA_LOG_LEVEL; unknown values keep the defaults.
settings settings_from_environment();
void configure(const settings& s);
const settings& current();

// A field whose value is JSON text already (a playbook's report): nested as it is in a JSON line, so that a
// query reaches into it (report.status), and written as key=value in text.
struct json_field {
  std::string_view key;
  std::string_view json;
};

bool enabled(level l);
void write(level l, std::string_view message, std::initializer_list<field> fields = {},
           std::initializer_list<json_field> json_fields = {});

inline void trace(std::string_view m, std::initializer_list<field> f = {}) {
  write(level::trace, m, f);
}
inline void debug(std::string_view m, std::initializer_list<field> f = {}) {
  write(level::debug, m, f);
}
inline void info(std::string_view m, std::initializer_list<field> f = {},
                 std::initializer_list<json_field> j = {}) {
  write(level::info, m, f, j);
}
inline void warn(std::string_view m, std::initializer_list<field> f = {}) {
  write(level::warn, m, f);
}
inline void error(std::string_view m, std::initializer_list<field> f = {}) {
  write(level::error, m, f);
}

// Fields added to every line until cleared: requestId for the invocation, then incidentId, findingId,
// playbook as the handler learns them. The runtime loop clears them between invocations. The context is the
// calling thread's own: the jobs of one event run on threads of their own (handlers/responder.cpp), each
// starting from the invocation's context (adopt_context) and naming its own playbook and incident.
void set_context(std::string_view key, std::string value);
void clear_context();

using context_fields = std::vector<std::pair<std::string, std::string>>;
// The calling thread's context, and replacing it (a job's thread takes its parent's).
context_fields current_context();
void adopt_context(context_fields fields);

std::string_view level_name(level l);

// "2026-12-01T16:02:04.123Z": the timestamp of a log line (UTC, milliseconds).
std::string rfc3339_millis(std::chrono::system_clock::time_point t);

}  // namespace tq::log
