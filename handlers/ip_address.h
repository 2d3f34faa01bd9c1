// IPv4 and IPv6 addresses and CIDR blocks, parsed once and compared as bits: what the network block needs
// to tell whether an address is already denied by a wider rule, or falls in a range it must never block.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "runtime/result.h"

namespace tq::handlers {

struct cidr_block {
  bool v6 = false;
  std::array<std::uint8_t, 16> bytes{};  // IPv4 uses the first 4; bits past the prefix are zero
  int prefix = 0;                        // 0..32 or 0..128

  int width() const { return v6 ? 128 : 32; }
  bool is_host() const { return prefix == width(); }
  // Canonical text: "203.0.113.7/32", "2001:db8::1/128" (inet_ntop's compressed form).
  std::string text() const;
  // Every address of `other` is in this block.
  bool contains(const cidr_block& other) const;
  bool overlaps(const cidr_block& other) const;
  bool operator==(const cidr_block& other) const = default;
};

struct parsed_cidr {
  cidr_block block;
  bool host_bits_cleared = false;  // "198.51.100.7/24" was taken as 198.51.100.0/24
};

// "203.0.113.7" (-> /32), "2001:db8::1" (-> /128), "198.51.100.0/24", "2001:db8::/32". An IPv4-mapped IPv6
// address (::ffff:203.0.113.7) is taken as the IPv4 address it carries. The error names the text.
result<parsed_cidr> parse_cidr(std::string_view text);

}  // namespace tq::handlers
