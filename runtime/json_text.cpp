#include "runtime/json_text.h"

#include <bit>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <nlohmann/json.hpp>

namespace tq::json_text {
namespace {

constexpr std::uint64_t ones = 0x0101010101010101ULL;
constexpr std::uint64_t highs = 0x8080808080808080ULL;

// A high bit in the byte of each zero byte of `v`, and maybe in bytes above one: the lowest is exact.
constexpr std::uint64_t zero_bytes(std::uint64_t v) {
  return (v - ones) & ~v & highs;
}

// Non-zero when a byte of `x` is not plain (below 0x20, 0x80 and above, the quote, the backslash); the
// lowest set bit lies in the first such byte (bytes in memory order on a little-endian machine).
constexpr std::uint64_t not_plain(std::uint64_t x) {
  return ((x - ones * 0x20) & ~x & highs) | zero_bytes(x ^ (ones * '"')) | zero_bytes(x ^ (ones * '\\')) |
         (x & highs);
}

bool plain(char c) {
  const auto b = static_cast<unsigned char>(c);
  return b >= 0x20 && b < 0x80 && b != '"' && b != '\\';
}

}  // namespace

std::size_t plain_run(std::string_view text) {
  std::size_t i = 0;
  if constexpr (std::endian::native == std::endian::little) {
    for (; i + 8 <= text.size(); i += 8) {
      std::uint64_t x;
      std::memcpy(&x, text.data() + i, sizeof x);
      if (const std::uint64_t special = not_plain(x); special != 0) {
        return i + static_cast<std::size_t>(std::countr_zero(special)) / 8;
      }
    }
  }
  while (i < text.size() && plain(text[i])) ++i;
  return i;
}

void append_string(std::string& out, std::string_view text) {
  // ASCII from 0x20 without quote or backslash is written as it is; anything else (escapes, UTF-8, bytes
  // that are not UTF-8) the way nlohmann writes it, which this must match exactly.
  if (plain_run(text) != text.size()) {
    out += nlohmann::json(std::string(text)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    return;
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
