#include "aws/regions.h"

#include <algorithm>

namespace tq::aws {
namespace {

constexpr std::size_t max_region_length = 32;

bool is_lower(char c) {
  return c >= 'a' && c <= 'z';
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// ^[a-z]{2}(-[a-z]+)+-\d+$, by hand (std::regex trips GCC 12's warnings in the sanitizer build).
bool has_region_shape(std::string_view r) {
  if (r.size() < 6 || r.size() > max_region_length) return false;
  if (!is_lower(r[0]) || !is_lower(r[1]) || r[2] != '-') return false;
  const std::size_t last_dash = r.rfind('-');
  if (last_dash == 2 || last_dash + 1 == r.size()) return false;  // at least one word, and a number
  if (!std::all_of(r.begin() + static_cast<long>(last_dash) + 1, r.end(), is_digit)) return false;
  // The words between: each one or more lowercase letters.
  std::size_t word = 0;
  for (std::size_t i = 3; i < last_dash; ++i) {
    if (r[i] == '-') {
      if (word == 0) return false;
      word = 0;
    } else if (is_lower(r[i])) {
      ++word;
    } else {
      return false;
    }
  }
  return word > 0;
}

bool in_isolated_partition(std::string_view r) {
  for (std::string_view prefix : {"us-iso-", "us-isob-", "us-isof-", "eu-isoe-"}) {
    if (r.starts_with(prefix)) return true;
  }
  return false;
}

std::string quoted(std::string_view text) {
  // What an event said, shown to a person: printable ASCII only, and not too much of it.
  std::string out;
  for (char c : text.substr(0, 64)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  if (text.size() > 64) out += "...";
  return "'" + out + "'";
}

}  // namespace

bool looks_like_region(std::string_view region) {
  return has_region_shape(region) && !in_isolated_partition(region);
}

status check_region(std::string_view region, std::string_view home, const std::vector<std::string>& allowed) {
  if (!looks_like_region(region)) {
    return error{invalid_region_code,
                 "the event names region " + quoted(region) +
                     ", which is no AWS region name: refused, no request was sent for it",
                 "region"};
  }
  const partition mine = partition_of(home);
  if (const partition theirs = partition_of(region); theirs.name != mine.name) {
    return error{other_partition_code,
                 "region " + std::string(region) + " is in partition " + theirs.name +
                     ", and Tourniquet runs in " + std::string(home) + " (" + mine.name +
                     "): credentials do not cross partitions; deploy Tourniquet in that partition",
                 "region"};
  }
  if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), region) == allowed.end()) {
    std::string list;
    for (const auto& r : allowed) list += (list.empty() ? "" : ",") + r;
    return error{region_not_allowed_code,
                 "region " + std::string(region) + " is outside TOURNIQUET_REGIONS (" + list +
                     "): Tourniquet does not act there",
                 "TOURNIQUET_REGIONS"};
  }
  return {};
}

result<std::vector<std::string>> regions_from_environment(const env_reader& env, std::string_view home) {
  std::vector<std::string> regions;
  const auto text = env("TOURNIQUET_REGIONS");
  if (!text) return regions;
  std::size_t start = 0;
  while (start <= text->size()) {
    std::size_t end = text->find(',', start);
    if (end == std::string::npos) end = text->size();
    std::string item = text->substr(start, end - start);
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    start = end + 1;
    if (item.empty()) continue;
    if (auto ok = check_region(item, home, {}); !ok) {
      return error{"InvalidConfiguration", "TOURNIQUET_REGIONS: " + ok.err().message, "TOURNIQUET_REGIONS"};
    }
    if (std::find(regions.begin(), regions.end(), item) == regions.end()) regions.push_back(std::move(item));
  }
  return regions;
}

result<client_settings> settings_in_region(const client_settings& base, std::string_view region,
                                           const env_reader& env) {
  client_settings s;
  s.region = std::string(region);
  auto endpoints = endpoints_in(region, env);
  if (!endpoints) return std::move(endpoints).err();
  s.endpoints = std::move(*endpoints);
  s.retry = base.retry;
  s.unit_random = base.unit_random;
  return s;
}

result<client> regional_clients::in_region(const client& who, const std::string& region) {
  if (region.empty() || region == who.settings().region) return who;
  std::lock_guard<std::mutex> lock(m_mutex);
  auto cached = m_settings.find(region);
  if (cached == m_settings.end()) {
    auto settings = settings_in_region(who.settings(), region, m_env);
    if (!settings) return std::move(settings).err();
    cached = m_settings.emplace(region, std::make_shared<const client_settings>(std::move(*settings))).first;
  }
  return who.in_settings(cached->second);
}

}  // namespace tq::aws
