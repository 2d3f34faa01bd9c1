#include "handlers/ip_address.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>

namespace tq::handlers {
namespace {

error malformed(std::string_view text, std::string_view why) {
  // Appends rather than operator+ chains: GCC 12 warns falsely (-Wrestrict) on those.
  std::string message;
  message.append("'").append(text).append("' is not an IPv4 or IPv6 address or CIDR block");
  if (!why.empty()) message.append(" (").append(why).append(")");
  return error{"MalformedAddress", std::move(message), std::string(text)};
}

// Clears the bits past `prefix`; answers whether any was set.
bool clear_host_bits(cidr_block& b) {
  bool cleared = false;
  for (int byte = 0; byte < b.width() / 8; ++byte) {
    const int keep = std::clamp(b.prefix - byte * 8, 0, 8);
    const auto mask = static_cast<std::uint8_t>(keep == 0 ? 0 : 0xFF << (8 - keep));
    const auto kept = static_cast<std::uint8_t>(b.bytes[static_cast<size_t>(byte)] & mask);
    cleared |= kept != b.bytes[static_cast<size_t>(byte)];
    b.bytes[static_cast<size_t>(byte)] = kept;
  }
  return cleared;
}

// The first `bits` bits of a and b are equal.
bool same_prefix(const cidr_block& a, const cidr_block& b, int bits) {
  for (int i = 0; i < bits; ++i) {
    const auto byte = static_cast<size_t>(i / 8);
    const int shift = 7 - i % 8;
    if (((a.bytes[byte] >> shift) & 1) != ((b.bytes[byte] >> shift) & 1)) return false;
  }
  return true;
}

}  // namespace

std::string cidr_block::text() const {
  char buffer[INET6_ADDRSTRLEN] = {};
  inet_ntop(v6 ? AF_INET6 : AF_INET, bytes.data(), buffer, sizeof buffer);
  return std::string(buffer) + "/" + std::to_string(prefix);
}

bool cidr_block::contains(const cidr_block& other) const {
  return v6 == other.v6 && prefix <= other.prefix && same_prefix(*this, other, prefix);
}

bool cidr_block::overlaps(const cidr_block& other) const {
  return contains(other) || other.contains(*this);
}

result<parsed_cidr> parse_cidr(std::string_view text) {
  if (text.empty() || text.size() > 64) return malformed(text, text.empty() ? "empty" : "too long");
  const size_t slash = text.find('/');
  const std::string address(text.substr(0, slash));
  parsed_cidr out;
  cidr_block& b = out.block;
  if (inet_pton(AF_INET, address.c_str(), b.bytes.data()) == 1) {
    b.v6 = false;
  } else if (inet_pton(AF_INET6, address.c_str(), b.bytes.data()) == 1) {
    b.v6 = true;
  } else {
    return malformed(text, "");
  }
  b.prefix = b.width();
  if (slash != std::string_view::npos) {
    const std::string_view digits = text.substr(slash + 1);
    int prefix = -1;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
    if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() || prefix < 0 ||
        prefix > b.width()) {
      return malformed(text, "prefix length must be 0 to " + std::to_string(b.width()));
    }
    b.prefix = prefix;
  }
  // ::ffff:a.b.c.d is an IPv4 address in IPv6 clothing; network ACLs match it as IPv4.
  static constexpr std::array<std::uint8_t, 12> mapped{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
  if (b.v6 && b.prefix >= 96 && std::equal(mapped.begin(), mapped.end(), b.bytes.begin())) {
    std::array<std::uint8_t, 16> v4{};
    std::copy(b.bytes.begin() + 12, b.bytes.end(), v4.begin());
    b.bytes = v4;
    b.v6 = false;
    b.prefix -= 96;
  }
  out.host_bits_cleared = clear_host_bits(b);
  return out;
}

}  // namespace tq::handlers
