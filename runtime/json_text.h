// JSON text written straight into a string, byte for byte as nlohmann's
// dump(-1, ' ', /*ensure_ascii=*/false, error_handler_t::replace) writes the same document: for the lines
// written on every invocation (log lines, EMF metrics), where building a document only to dump it cost
// more than the rest of an ignored finding's handling.
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace tq::json_text {

namespace detail {

inline constexpr std::uint64_t ones = 0x0101010101010101ULL;
inline constexpr std::uint64_t highs = 0x8080808080808080ULL;

// A high bit in the byte of each zero byte of `v`, and maybe in bytes above one: the lowest is exact.
constexpr std::uint64_t zero_bytes(std::uint64_t v) {
  return (v - ones) & ~v & highs;
}

// Non-zero when a byte of `x` is not plain (below 0x20, 0x80 and above, the quote, the backslash); the
// lowest set bit lies in the first such byte (in memory order on a little-endian machine).
constexpr std::uint64_t not_plain(std::uint64_t x) {
  return ((x - ones * 0x20) & ~x & highs) | zero_bytes(x ^ (ones * '"')) | zero_bytes(x ^ (ones * '\\')) |
         (x & highs);
}

inline bool plain(char c) {
  const auto b = static_cast<unsigned char>(c);
  return b >= 0x20 && b < 0x80 && b != '"' && b != '\\';
}

}  // namespace detail

// How many bytes at the start of `text` stand for themselves in a JSON string (0x20-0x7F but the quote and
// the backslash). Eight bytes at a time (SWAR).
inline std::size_t plain_run(std::string_view text) {
  std::size_t i = 0;
  if constexpr (std::endian::native == std::endian::little) {
    for (; i + 8 <= text.size(); i += 8) {
      std::uint64_t x;
      std::memcpy(&x, text.data() + i, sizeof x);
      if (const std::uint64_t special = detail::not_plain(x); special != 0) {
        return i + static_cast<std::size_t>(std::countr_zero(special)) / 8;
      }
    }
  }
  while (i < text.size() && detail::plain(text[i])) ++i;
  return i;
}

// The character a one-letter escape stands for (the letters " \ / b f n r t; n is a newline), or nullopt for
// any other letter (`u` included: its four hex digits follow).
std::optional<char> short_escape(char letter);

// The length of the well-formed UTF-8 sequence (RFC 3629, as nlohmann checks it) at the start of `text`,
// whose first byte is 0x80 or above; 0 when there is none.
std::size_t utf8_length(std::string_view text);

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
    const char opening = m_first ? '{' : ',';
    m_first = false;
    if (plain_run(key) == key.size()) {  // a key as keys are (no quote, escape or non-ASCII): in one piece
      const std::size_t at = m_out.size();
      m_out.resize(at + key.size() + 4);
      char* written = m_out.data() + at;
      *written++ = opening;
      *written++ = '"';
      written = std::copy(key.begin(), key.end(), written);
      *written++ = '"';
      *written = ':';
      return m_out;
    }
    m_out += opening;
    append_string(m_out, key);
    m_out += ':';
    return m_out;
  }
  std::string& m_out;
  bool m_first = true;
};

}  // namespace tq::json_text
