#include "runtime/json_text.h"

#include <charconv>
#include <nlohmann/json.hpp>

namespace tq::json_text {

std::optional<char> short_escape(char letter) {
  switch (letter) {
    case '"':
    case '\\':
    case '/':
      return letter;
    case 'b':
      return '\b';
    case 'f':
      return '\f';
    case 'n':
      return '\n';
    case 'r':
      return '\r';
    case 't':
      return '\t';
    default:
      return std::nullopt;
  }
}

// The length of the well-formed UTF-8 sequence (RFC 3629, as nlohmann checks it) at the start of `text`,
// whose first byte is 0x80 or above; 0 when there is none.
std::size_t utf8_length(std::string_view text) {
  const auto b = [&text](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  const auto in = [](unsigned char c, unsigned char lo, unsigned char hi) { return c >= lo && c <= hi; };
  const unsigned char c = b(0);
  std::size_t n = 0;
  unsigned char lo = 0x80;
  unsigned char hi = 0xBF;
  if (in(c, 0xC2, 0xDF)) {
    n = 2;
  } else if (in(c, 0xE0, 0xEF)) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (in(c, 0xF0, 0xF4)) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (text.size() < n || !in(b(1), lo, hi)) return 0;
  for (std::size_t i = 2; i < n; ++i) {
    if (!in(b(i), 0x80, 0xBF)) return 0;
  }
  return n;
}

void append_string(std::string& out, std::string_view text) {
  // Escapes and well-formed UTF-8 as nlohmann writes them; text that is not UTF-8 goes to nlohmann itself,
  // whose replacement of bad sequences this need not copy.
  const std::size_t start = out.size();
  const std::string_view whole = text;
  out += '"';
  for (;;) {
    const std::size_t run = plain_run(text);
    out.append(text.data(), run);
    text.remove_prefix(run);
    if (text.empty()) break;
    const auto c = static_cast<unsigned char>(text.front());
    std::size_t used = 1;
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          constexpr char hex[] = "0123456789abcdef";
          out.append("\\u00").append(1, hex[c >> 4]).append(1, hex[c & 0xF]);
        } else if ((used = utf8_length(text)) != 0) {
          out.append(text.data(), used);
        } else {
          out.resize(start);
          out += nlohmann::json(std::string(whole))
                     .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
          return;
        }
    }
    text.remove_prefix(used);
  }
  out += '"';
}

void append_number(std::string& out, long long value) {
  char digits[24];
  const auto end = std::to_chars(digits, digits + sizeof digits, value).ptr;
  out.append(digits, end);
}

}  // namespace tq::json_text
