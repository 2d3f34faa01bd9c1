#include "runtime/log.h"

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tq::log {
namespace {

settings g_settings;
thread_local context_fields g_context;  // per thread: each job's lines name its own playbook

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string rfc3339_now() {
  const auto now = std::chrono::system_clock::now();
  const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  const std::time_t seconds = static_cast<std::time_t>(millis / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char buffer[96];  // roomy: the compiler cannot see that every field fits its width
  std::snprintf(buffer, sizeof buffer, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900,
                utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                static_cast<int>(millis % 1000));
  return buffer;
}

// A JSON string as nlohmann's dump(-1, ' ', false, replace) writes it. ASCII text is escaped here, in two
// tight passes (a report in a log line is kilobytes of it); any other byte, UTF-8 or not, sends the whole
// string to nlohmann, which checks it and replaces what is invalid.
void append_json_string(std::string& out, std::string_view text) {
  // Characters each byte adds beyond itself: 1 for \" \\ \b \f \n \r \t, 5 for \u00XX, 0 for the rest of
  // ASCII; non-ASCII bytes are marked apart.
  static constexpr auto extra = [] {
    std::array<unsigned char, 128> t{};
    for (unsigned c = 0; c < 0x20; ++c) t[c] = 5;
    for (unsigned char c : {'"', '\\', '\b', '\f', '\n', '\r', '\t'}) t[c] = 1;
    return t;
  }();
  size_t added = 0;
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c >= 0x80) {
      out += nlohmann::ordered_json(text).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      return;
    }
    added += extra[c];
  }
  static constexpr char hex[] = "0123456789abcdef";
  const size_t at = out.size();
  out.resize(at + text.size() + added + 2);
  char* p = out.data() + at;
  *p++ = '"';
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (extra[c] == 0) {
      *p++ = ch;
      continue;
    }
    *p++ = '\\';
    switch (c) {
      case '"':
      case '\\':
        *p++ = ch;
        break;
      case '\b':
        *p++ = 'b';
        break;
      case '\f':
        *p++ = 'f';
        break;
      case '\n':
        *p++ = 'n';
        break;
      case '\r':
        *p++ = 'r';
        break;
      case '\t':
        *p++ = 't';
        break;
      default:
        *p++ = 'u';
        *p++ = '0';
        *p++ = '0';
        *p++ = hex[c >> 4];
        *p++ = hex[c & 0x0f];
    }
  }
  *p = '"';
}

// {"timestamp":…,"level":…,"message":…,context…,fields…} as an nlohmann::ordered_json object of those
// members would be written: a name given again replaces the value where the name first came.
std::string json_line(level l, std::string_view message, std::initializer_list<field> fields) {
  const std::string timestamp = rfc3339_now();
  std::vector<std::pair<std::string_view, std::string_view>> members{
      {"timestamp", timestamp}, {"level", level_name(l)}, {"message", message}};
  members.reserve(3 + g_context.size() + fields.size());
  const auto set = [&members](std::string_view name, std::string_view value) {
    for (auto& member : members) {
      if (member.first == name) {
        member.second = value;
        return;
      }
    }
    members.emplace_back(name, value);
  };
  size_t size = 2;
  for (const auto& [k, v] : g_context) set(k, v);
  for (const auto& [k, v] : fields) set(k, v);
  for (const auto& [k, v] : members) size += k.size() + v.size() + 6;
  std::string line;
  line.reserve(size + size / 8);
  line.push_back('{');
  for (const auto& [k, v] : members) {
    if (line.size() > 1) line.push_back(',');
    append_json_string(line, k);
    line.push_back(':');
    append_json_string(line, v);
  }
  line.push_back('}');
  return line;
}

}  // namespace

std::string_view level_name(level l) {
  switch (l) {
    case level::trace:
      return "TRACE";
    case level::debug:
      return "DEBUG";
    case level::info:
      return "INFO";
    case level::warn:
      return "WARN";
    case level::error:
      return "ERROR";
    case level::fatal:
      return "FATAL";
  }
  return "INFO";
}

settings settings_from_environment() {
  settings s;
  if (const char* format = std::getenv("AWS_LAMBDA_LOG_FORMAT")) s.json = lower(format) == "json";
  if (const char* name = std::getenv("AWS_LAMBDA_LOG_LEVEL")) {
    const std::string wanted = lower(name);
    for (level l : {level::trace, level::debug, level::info, level::warn, level::error, level::fatal}) {
      if (lower(level_name(l)) == wanted) s.minimum = l;
    }
  }
  return s;
}

void configure(const settings& s) {
  g_settings = s;
}
const settings& current() {
  return g_settings;
}
bool enabled(level l) {
  return l >= g_settings.minimum;
}

void set_context(std::string_view key, std::string value) {
  for (auto& [k, v] : g_context) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  g_context.emplace_back(std::string(key), std::move(value));
}

void clear_context() {
  g_context.clear();
}

context_fields current_context() {
  return g_context;
}

void adopt_context(context_fields fields) {
  g_context = std::move(fields);
}

void write(level l, std::string_view message, std::initializer_list<field> fields) {
  if (!enabled(l)) return;
  std::string line;
  if (g_settings.json) {
    line = json_line(l, message, fields);  // a field replaces a context value of its name
  } else {
    // Appends rather than operator+ chains: GCC 12 warns falsely (-Wrestrict) on those.
    line.append(rfc3339_now()).append(" ").append(level_name(l)).append(" ").append(message);
    for (const auto& [k, v] : g_context) {
      // A field of the same name replaces the context value, as in JSON: no key twice
      bool replaced = false;
      for (const auto& f : fields) replaced |= f.first == k;
      if (!replaced) line.append(" ").append(k).append("=").append(v);
    }
    for (const auto& [k, v] : fields) line.append(" ").append(k).append("=").append(v);
  }
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace tq::log
