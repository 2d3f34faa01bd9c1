#include "runtime/json_text.h"

#include <charconv>
#include <nlohmann/json.hpp>

namespace tq::json_text {

void append_string(std::string& out, std::string_view text) {
  // Printable ASCII without quote or backslash is written as it is; anything else (escapes, UTF-8, bytes
  // that are not UTF-8) the way nlohmann writes it, which this must match exactly.
  for (const char c : text) {
    const auto b = static_cast<unsigned char>(c);
    if (b < 0x20 || b >= 0x7f || b == '"' || b == '\\') {
      out += nlohmann::json(std::string(text)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      return;
    }
  }
  out += '"';
  out.append(text);
  out += '"';
}

void append_number(std::string& out, long long value) {
  char digits[24];
  const auto end = std::to_chars(digits, digits + sizeof digits, value).ptr;
  out.append(digits, end);
}

}  // namespace tq::json_text
