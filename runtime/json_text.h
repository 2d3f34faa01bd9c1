// JSON text written straight into a string, byte for byte as nlohmann's
// dump(-1, ' ', /*ensure_ascii=*/false, error_handler_t::replace) writes the same document: for the lines
// written on every invocation (log lines, EMF metrics), where building a document only to dump it cost
// more than the rest of an ignored finding's handling.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace tq::json_text {

// How many bytes at the start of `text` stand for themselves in a JSON string (0x20-0x7F but the quote and
// the backslash). Eight bytes at a time.
std::size_t plain_run(std::string_view text);

// `text` as a JSON string: quotes, escapes and invalid UTF-8 replaced (U+FFFD) as nlohmann does.
void append_string(std::string& out, std::string_view text);

void append_number(std::string& out, long long value);

// Members of one object, in the order written: `{"a":1,"b":"x"}`.
class object {
 public:
  explicit object(std::string& out) : m_out(out) {}
  object& string(std::string_view key, std::string_view value) {
    append_string(start(key), value);
    return *this;
  }
  object& number(std::string_view key, long long value) {
    append_number(start(key), value);
    return *this;
  }
  // `json`: a value already written as JSON text.
  object& raw(std::string_view key, std::string_view json) {
    start(key).append(json);
    return *this;
  }
  void close() {
    if (m_first) m_out += '{';
    m_out += '}';
  }

 private:
  std::string& start(std::string_view key) {
    m_out += m_first ? '{' : ',';
    m_first = false;
    append_string(m_out, key);
    m_out += ':';
    return m_out;
  }
  std::string& m_out;
  bool m_first = true;
};

}  // namespace tq::json_text
