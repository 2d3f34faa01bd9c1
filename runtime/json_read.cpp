#include "runtime/json_read.h"

#include <charconv>
#include <cstdint>
#include <string>
#include <utility>

#include "runtime/json_text.h"

namespace tq::json_read {
namespace {

using json = nlohmann::json;

constexpr int max_depth = 64;  // nlohmann's parser keeps its own stack; this one recurses

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

class reader {
 public:
  explicit reader(std::string_view text) : m_text(text) {}

  bool document(json& out) {
    skip_blanks();
    if (!value(out, 0)) return false;
    skip_blanks();
    return m_at == m_text.size();
  }

 private:
  char peek() const { return m_at < m_text.size() ? m_text[m_at] : '\0'; }

  void skip_blanks() {
    while (m_at < m_text.size()) {
      const char c = m_text[m_at];
      if (c != ' ' && c != '\t' && c != '\n' && c != '\r') return;
      ++m_at;
    }
  }

  bool value(json& out, int depth) {
    switch (peek()) {
      case '{':
        return object(out, depth + 1);
      case '[':
        return array(out, depth + 1);
      case '"': {
        std::string text;
        if (!string(text)) return false;
        out = std::move(text);
        return true;
      }
      case 't':
        return literal("true", json(true), out);
      case 'f':
        return literal("false", json(false), out);
      case 'n':
        return literal("null", json(nullptr), out);
      default:
        return number(out);
    }
  }

  bool literal(std::string_view word, json literal_value, json& out) {
    if (m_text.substr(m_at, word.size()) != word) return false;
    m_at += word.size();
    out = std::move(literal_value);
    return true;
  }

  bool object(json& out, int depth) {
    if (depth > max_depth) return false;
    ++m_at;
    out = json::object();
    auto& members = out.get_ref<json::object_t&>();
    skip_blanks();
    if (peek() == '}') {
      ++m_at;
      return true;
    }
    for (;;) {
      skip_blanks();
      std::string key;
      if (peek() != '"' || !string(key)) return false;
      skip_blanks();
      if (peek() != ':') return false;
      ++m_at;
      skip_blanks();
      json member;
      if (!value(member, depth)) return false;
      members.insert_or_assign(std::move(key), std::move(member));  // a repeated name: the last, as nlohmann
      skip_blanks();
      const char next = peek();
      ++m_at;
      if (next == '}') return true;
      if (next != ',') return false;
    }
  }

  bool array(json& out, int depth) {
    if (depth > max_depth) return false;
    ++m_at;
    out = json::array();
    auto& items = out.get_ref<json::array_t&>();
    skip_blanks();
    if (peek() == ']') {
      ++m_at;
      return true;
    }
    for (;;) {
      skip_blanks();
      if (!value(items.emplace_back(), depth)) return false;
      skip_blanks();
      const char next = peek();
      ++m_at;
      if (next == ']') return true;
      if (next != ',') return false;
    }
  }

  // After the opening quote: runs of plain bytes appended whole, the one-character escapes decoded.
  bool string(std::string& out) {
    ++m_at;
    for (;;) {
      const size_t run = json_text::plain_run(m_text.substr(m_at));
      out.append(m_text.data() + m_at, run);
      m_at += run;
      if (m_at >= m_text.size()) return false;
      const char c = m_text[m_at++];
      if (c == '"') return true;
      if (c != '\\' || m_at >= m_text.size()) return false;  // a control byte, or 0x80 and above: nlohmann's
      const std::optional<char> escaped = json_text::short_escape(m_text[m_at++]);
      if (!escaped) return false;  // \u (surrogates and all) and anything invalid: nlohmann's
      out += *escaped;
    }
  }

  // JSON's grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?. Integers as nlohmann keeps them
  // (unsigned when not negative), up to 18 digits; others through from_chars, rounded as strtod rounds.
  bool number(json& out) {
    const size_t start = m_at;
    const bool negative = peek() == '-';
    if (negative) ++m_at;
    const size_t digits_start = m_at;
    if (peek() == '0') {
      ++m_at;
    } else if (is_digit(peek())) {
      while (is_digit(peek())) ++m_at;
    } else {
      return false;
    }
    const size_t digits = m_at - digits_start;
    bool integral = true;
    if (peek() == '.') {
      integral = false;
      ++m_at;
      if (!is_digit(peek())) return false;
      while (is_digit(peek())) ++m_at;
    }
    if (peek() == 'e' || peek() == 'E') {
      integral = false;
      ++m_at;
      if (peek() == '+' || peek() == '-') ++m_at;
      if (!is_digit(peek())) return false;
      while (is_digit(peek())) ++m_at;
    }
    const char* first = m_text.data() + start;
    const char* last = m_text.data() + m_at;
    if (integral) {
      if (digits > 18) return false;
      if (negative) {
        std::int64_t n = 0;
        if (std::from_chars(first, last, n).ec != std::errc{}) return false;
        out = json(static_cast<json::number_integer_t>(n));
      } else {
        std::uint64_t n = 0;
        if (std::from_chars(first, last, n).ec != std::errc{}) return false;
        out = json(static_cast<json::number_unsigned_t>(n));
      }
      return true;
    }
    double d = 0;
    const auto [end, ec] = std::from_chars(first, last, d);
    if (ec != std::errc{} || end != last) return false;  // out of range: nlohmann's
    out = json(d);
    return true;
  }

  std::string_view m_text;
  size_t m_at = 0;
};

}  // namespace

std::optional<nlohmann::json> read_plain(std::string_view text) {
  json out;
  if (!reader(text).document(out)) return std::nullopt;
  return out;
}

nlohmann::json parse(std::string_view text) {
  if (auto plain = read_plain(text)) return std::move(*plain);
  return json::parse(text.begin(), text.end());
}

json parse_or_discarded(std::string_view text) {
  if (auto plain = read_plain(text)) return std::move(*plain);
  return json::parse(text.begin(), text.end(), nullptr, false);
}

}  // namespace tq::json_read
