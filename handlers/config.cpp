#include "handlers/config.h"

#include <algorithm>
#include <cctype>
#include <charconv>

#include "aws/regions.h"

namespace tq::handlers {
namespace {

std::string trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

}  // namespace

error invalid_setting(std::string_view name, std::string message) {
  return error{"InvalidConfiguration", std::string(name) + ": " + std::move(message), std::string(name)};
}

bool looks_like_cidr(std::string_view text) {
  const size_t slash = text.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == text.size()) return false;
  return std::all_of(text.begin() + static_cast<long>(slash) + 1, text.end(),
                     [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; });
}

std::vector<std::string> split_list(std::string_view text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string_view::npos) comma = text.size();
    std::string item = trim(text.substr(start, comma - start));
    if (!item.empty()) out.push_back(std::move(item));
    start = comma + 1;
  }
  return out;
}

std::string join_list(const std::vector<std::string>& items, std::string_view separator) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += separator;
    out += item;
  }
  return out;
}

result<bool> parse_bool(const env_reader& env, std::string_view name, bool fallback) {
  auto text = env(name);
  if (!text) return fallback;
  std::string v = *text;
  std::transform(v.begin(), v.end(), v.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (v == "true" || v == "1" || v == "yes" || v == "on") return true;
  if (v == "false" || v == "0" || v == "no" || v == "off") return false;
  return invalid_setting(name, "expected true or false, got '" + *text + "'");
}

result<double> parse_number(const env_reader& env, std::string_view name, double low, double high,
                            double fallback) {
  auto text = env(name);
  if (!text) return fallback;
  double value = 0;
  const auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (ec != std::errc() || end != text->data() + text->size() || value < low || value > high) {
    return invalid_setting(name, "expected a number from " + std::to_string(low).substr(0, 4) + " to " +
                                     std::to_string(high).substr(0, 5) + ", got '" + *text + "'");
  }
  return value;
}

result<std::vector<std::string>> parse_type_patterns(const env_reader& env, std::string_view name,
                                                     std::vector<std::string> fallback) {
  auto text = env(name);
  if (!text) return fallback;
  std::vector<std::string> patterns = split_list(*text);
  for (const auto& t : patterns) {
    if (t.find('*') != std::string::npos && !t.ends_with('*')) {
      return invalid_setting(name, "'*' may only end a pattern: '" + t + "'");
    }
  }
  return patterns;
}

bool type_matches(const std::vector<std::string>& patterns, std::string_view type) {
  for (const auto& pattern : patterns) {
    if (pattern.ends_with('*')) {
      if (type.starts_with(std::string_view(pattern).substr(0, pattern.size() - 1))) return true;
    } else if (pattern == type) {
      return true;
    }
  }
  return false;
}

result<config> config_from_environment(const env_reader& env) {
  config c;
  auto dry = parse_bool(env, "TOURNIQUET_DRY_RUN", false);
  if (!dry) return std::move(dry).err();
  c.dry_run = *dry;

  if (auto exempt = env("TOURNIQUET_EXEMPT_TAG")) {
    const size_t eq = exempt->find('=');
    if (eq == std::string::npos || eq == 0) {
      return invalid_setting("TOURNIQUET_EXEMPT_TAG", "expected key=value, got '" + *exempt + "'");
    }
    c.exempt_tag = aws::tag{exempt->substr(0, eq), exempt->substr(eq + 1)};
  }
  if (auto ids = env("TOURNIQUET_EXEMPT_INSTANCES")) {
    for (auto& id : split_list(*ids)) {
      if (!id.starts_with("i-"))
        return invalid_setting("TOURNIQUET_EXEMPT_INSTANCES", "'" + id + "' is not an instance id");
      c.exempt_instances.insert(id);
    }
  }
  if (auto principals = env("TOURNIQUET_EXEMPT_PRINCIPALS")) {
    for (auto& p : split_list(*principals)) c.exempt_principals.insert(p);
  }
  if (auto role = env("TOURNIQUET_MEMBER_ROLE_NAME")) c.member_role_name = *role;
  if (auto account = env("TOURNIQUET_ACCOUNT_ID")) {
    if (account->size() != 12 || !std::all_of(account->begin(), account->end(), ::isdigit)) {
      return invalid_setting("TOURNIQUET_ACCOUNT_ID", "expected 12 digits, got '" + *account + "'");
    }
    c.account_id = *account;
  }
  auto passes = parse_number(env, "TOURNIQUET_MAX_PASSES", 1, 10, c.max_passes);
  if (!passes) return std::move(passes).err();
  if (*passes != static_cast<int>(*passes)) {
    return invalid_setting("TOURNIQUET_MAX_PASSES",
                           "expected a whole number, got '" + *env("TOURNIQUET_MAX_PASSES") + "'");
  }
  c.max_passes = static_cast<int>(*passes);
  auto confirm = parse_bool(env, "TOURNIQUET_CONFIRM_FINDINGS", c.confirm_findings);
  if (!confirm) return std::move(confirm).err();
  c.confirm_findings = *confirm;
  c.home_region = env("AWS_REGION").value_or(env("AWS_DEFAULT_REGION").value_or(""));
  auto regions = aws::regions_from_environment(env, c.home_region);
  if (!regions) return std::move(regions).err();
  c.regions = std::move(*regions);
  return c;
}

}  // namespace tq::handlers
