#include "runtime/log.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>

#include "runtime/json_text.h"

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
  return rfc3339_millis(std::chrono::system_clock::now());
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

std::string rfc3339_millis(std::chrono::system_clock::time_point t) {
  using namespace std::chrono;
  const auto ms = floor<milliseconds>(t);
  const auto day = floor<days>(ms);
  const year_month_day date{day};
  const int y = static_cast<int>(date.year());
  if (y < 0 || y > 9999) {  // never in practice; as printf writes it
    const auto millis = ms.time_since_epoch().count();
    const std::time_t seconds = static_cast<std::time_t>(millis / 1000);
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    char buffer[96];
    std::snprintf(buffer, sizeof buffer, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900,
                  utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                  static_cast<int>(millis % 1000));
    return buffer;
  }
  const hh_mm_ss time{ms - day};
  char text[] = "0000-00-00T00:00:00.000Z";
  const auto put = [&text](int at, int digits, long value) {
    for (int i = at + digits - 1; i >= at; --i, value /= 10) text[i] = static_cast<char>('0' + value % 10);
  };
  put(0, 4, y);
  put(5, 2, static_cast<int>(static_cast<unsigned>(date.month())));
  put(8, 2, static_cast<int>(static_cast<unsigned>(date.day())));
  put(11, 2, time.hours().count());
  put(14, 2, time.minutes().count());
  put(17, 2, static_cast<long>(time.seconds().count()));
  put(20, 3, static_cast<long>(time.subseconds().count()));
  return std::string(text, sizeof text - 1);
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

void write(level l, std::string_view message, std::initializer_list<field> fields,
           std::initializer_list<json_field> json_fields) {
  if (!enabled(l)) return;
  std::string line;
  std::size_t size = 128 + message.size();  // the line's length, near enough: one allocation for it
  for (const auto& [k, v] : fields) size += k.size() + v.size() + v.size() / 8 + 6;
  for (const auto& [k, v] : json_fields) size += k.size() + v.size() + 4;
  line.reserve(size);
  if (g_settings.json) {
    // As a JSON document would have them: a key given again (a field named like a context value) keeps
    // its first place and takes the later value.
    const std::string timestamp = rfc3339_now();
    std::vector<std::pair<std::string_view, std::string_view>> members;
    members.reserve(3 + g_context.size() + fields.size());
    const auto put = [&members](std::string_view k, std::string_view v) {
      for (auto& m : members) {
        if (m.first == k) {
          m.second = v;
          return;
        }
      }
      members.emplace_back(k, v);
    };
    put("timestamp", timestamp);
    put("level", level_name(l));
    put("message", message);
    for (const auto& [k, v] : g_context) put(k, v);
    for (const auto& [k, v] : fields) put(k, v);
    json_text::object out(line);
    for (const auto& member : members) {
      const std::string_view key = member.first;  // a plain name: clang before 16 captures no binding
      const bool nested = std::any_of(json_fields.begin(), json_fields.end(),
                                      [key](const json_field& j) { return j.key == key; });
      // A JSON field of that name takes its place, as a later key would
      if (!nested) out.string(key, member.second);
    }
    for (const auto& [k, v] : json_fields) out.raw(k, v);
    out.close();
  } else {
    // Appends rather than operator+ chains: GCC 12 warns falsely (-Wrestrict) on those.
    line.append(rfc3339_now()).append(" ").append(level_name(l)).append(" ").append(message);
    for (const auto& [k, v] : g_context) {
      // A field of the same name replaces the context value, as in JSON: no key twice
      bool replaced = false;
      for (const auto& f : fields) replaced |= f.first == k;
      for (const auto& j : json_fields) replaced |= j.key == k;
      if (!replaced) line.append(" ").append(k).append("=").append(v);
    }
    for (const auto& [k, v] : fields) line.append(" ").append(k).append("=").append(v);
    for (const auto& [k, v] : json_fields) line.append(" ").append(k).append("=").append(v);
  }
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace tq::log
