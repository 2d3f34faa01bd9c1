// The network-block settings: their defaults and environment variables, the ranges never blocked, and why a
// finding is not routed to a block.
#include <algorithm>
#include <cassert>
#include <cstdio>

#include "handlers/playbooks/network_block.h"
#include "handlers/playbooks/network_block_internal.h"

namespace tq::handlers {
namespace {

using network_block_internal::parse_int;

never_block_range range(std::string_view text, std::string reason) {
  auto parsed = parse_cidr(text);
  assert(parsed.ok());
  return {parsed->block, std::move(reason)};
}

}  // namespace

std::vector<std::string> default_block_finding_types() {
  return {
      "UnauthorizedAccess:EC2/SSHBruteForce",  // the remote address guesses passwords
      "UnauthorizedAccess:EC2/RDPBruteForce",
      "Impact:EC2/WinRMBruteForce",
      "Recon:EC2/PortProbeUnprotectedPort",  // the remote address probes an open port
      "Recon:EC2/PortProbeEMRUnprotectedPort",
      "UnauthorizedAccess:EC2/TorIPCaller",         // inbound from a Tor exit node
      "UnauthorizedAccess:EC2/MaliciousIPCaller*",  // on GuardDuty's or your threat list
      "Backdoor:EC2/C&CActivity*",                  // the command-and-control server (the IP variant)
      "CryptoCurrency:EC2/BitcoinTool*",            // the mining pool (the IP variant)
      "Trojan:EC2/BlackholeTraffic",                // a known-bad address the instance talks to
      "Trojan:EC2/DropPoint",                       // where stolen data is sent
      // A function in a VPC talking to the same kinds of address: denied in its subnets' ACLs.
      "Backdoor:Lambda/C&CActivity*",
      "CryptoCurrency:Lambda/BitcoinTool*",
      "Trojan:Lambda/BlackholeTraffic",
      "Trojan:Lambda/DropPoint",
      "UnauthorizedAccess:Lambda/MaliciousIPCaller*",
      "UnauthorizedAccess:Lambda/TorClient",
      "UnauthorizedAccess:Lambda/TorRelay",
  };
}

std::vector<never_block_range> built_in_never_block(bool block_private) {
  std::vector<never_block_range> ranges{
      range("169.254.169.254/32", "the instance metadata service"),
      range("fd00:ec2::/32", "Amazon's IPv6 instance services (metadata, DNS, time)"),
      range("127.0.0.0/8", "loopback"),
      range("::1/128", "loopback"),
      range("0.0.0.0/8", "unspecified (\"this network\")"),
      range("::/128", "unspecified"),
      range("169.254.0.0/16", "link-local (Amazon DNS and time are here too)"),
      range("fe80::/10", "link-local"),
      range("224.0.0.0/4", "multicast"),
      range("ff00::/8", "multicast"),
      range("240.0.0.0/4", "reserved (and broadcast)"),
  };
  if (!block_private) {
    ranges.push_back(range("10.0.0.0/8", "private (RFC 1918)"));
    ranges.push_back(range("172.16.0.0/12", "private (RFC 1918)"));
    ranges.push_back(range("192.168.0.0/16", "private (RFC 1918)"));
    ranges.push_back(range("100.64.0.0/10", "shared address space (RFC 6598)"));
    ranges.push_back(range("fc00::/7", "unique local (RFC 4193)"));
  }
  return ranges;
}

network_block_settings::network_block_settings()
    : finding_types(default_block_finding_types()), never_block(built_in_never_block(false)) {}

namespace {

// Each reads one group of variables into `s`; an error names the variable that is wrong.

std::optional<error> read_finding_filter(const env_reader& env, network_block_settings& s) {
  if (auto types = env("TOURNIQUET_BLOCK_FINDING_TYPES")) {
    s.finding_types = split_list(*types);
    for (const auto& t : s.finding_types) {
      if (t.find('*') != std::string::npos && !t.ends_with('*')) {
        return invalid_setting("TOURNIQUET_BLOCK_FINDING_TYPES", "'*' may only end a pattern: '" + t + "'");
      }
    }
  }
  auto severity = parse_number(env, "TOURNIQUET_BLOCK_MIN_SEVERITY", 0.0, 10.0, s.min_severity);
  if (!severity) return std::move(severity).err();
  s.min_severity = *severity;
  return std::nullopt;
}

std::optional<error> read_rule_window(const env_reader& env, network_block_settings& s) {
  auto window = env("TOURNIQUET_BLOCK_RULE_RANGE");
  if (!window) return std::nullopt;
  const size_t dash = window->find('-');
  auto low = parse_int(std::string_view(*window).substr(0, dash));
  auto high =
      dash == std::string::npos ? std::nullopt : parse_int(std::string_view(*window).substr(dash + 1));
  if (!low || !high || *low < 1 || *high > 32766 || *low > *high) {
    return invalid_setting("TOURNIQUET_BLOCK_RULE_RANGE",
                           "expected LOW-HIGH within 1-32766, got '" + *window + "'");
  }
  if (*high - *low + 1 > max_window_size) {
    return invalid_setting("TOURNIQUET_BLOCK_RULE_RANGE",
                           "at most " + std::to_string(max_window_size) +
                               " rule numbers (one tag each; an ACL holds 50 tags), got '" + *window + "'");
  }
  s.rule_low = static_cast<int>(*low);
  s.rule_high = static_cast<int>(*high);
  return std::nullopt;
}

std::optional<error> read_ttl(const env_reader& env, network_block_settings& s) {
  const bool hours_set = env("TOURNIQUET_BLOCK_TTL_HOURS").has_value();
  const bool seconds_set = env("TOURNIQUET_BLOCK_TTL_SECONDS").has_value();
  if (hours_set && seconds_set) {
    return invalid_setting("TOURNIQUET_BLOCK_TTL_SECONDS",
                           "set TOURNIQUET_BLOCK_TTL_HOURS or _SECONDS, not both");
  }
  if (hours_set) {
    auto hours = parse_number(env, "TOURNIQUET_BLOCK_TTL_HOURS", 0.0, 24.0 * 366, 24.0);
    if (!hours) return std::move(hours).err();
    if (*hours * 3600 < 1) return invalid_setting("TOURNIQUET_BLOCK_TTL_HOURS", "must be more than zero");
    s.ttl = std::chrono::seconds(static_cast<std::int64_t>(*hours * 3600));
  }
  if (seconds_set) {
    auto seconds = parse_number(env, "TOURNIQUET_BLOCK_TTL_SECONDS", 1.0, 366.0 * 24 * 3600, 86400.0);
    if (!seconds) return std::move(seconds).err();
    s.ttl = std::chrono::seconds(static_cast<std::int64_t>(*seconds));
  }
  return std::nullopt;
}

std::optional<error> read_never_block(const env_reader& env, network_block_settings& s) {
  auto allow_private = parse_bool(env, "TOURNIQUET_BLOCK_PRIVATE", false);
  if (!allow_private) return std::move(allow_private).err();
  s.block_private = *allow_private;
  s.never_block = built_in_never_block(s.block_private);
  if (auto extra = env("TOURNIQUET_NEVER_BLOCK")) {
    for (const auto& text : split_list(*extra)) {
      auto parsed = parse_cidr(text);
      if (!parsed) return invalid_setting("TOURNIQUET_NEVER_BLOCK", parsed.err().message);
      s.never_block.push_back({parsed->block, "TOURNIQUET_NEVER_BLOCK"});
    }
  }
  return std::nullopt;
}

std::optional<error> read_expiry_accounts(const env_reader& env, network_block_settings& s) {
  if (auto accounts = env("TOURNIQUET_BLOCK_EXPIRY_ACCOUNTS")) {
    for (const auto& a : split_list(*accounts)) {
      if (a.size() != 12 || !std::all_of(a.begin(), a.end(), ::isdigit)) {
        return invalid_setting("TOURNIQUET_BLOCK_EXPIRY_ACCOUNTS",
                               "expected 12-digit account ids, got '" + a + "'");
      }
      s.expiry_accounts.push_back(a);
    }
  }
  return std::nullopt;
}

}  // namespace

result<network_block_settings> network_block_settings_from_environment(const env_reader& env) {
  network_block_settings s;
  for (auto read :
       {&read_finding_filter, &read_rule_window, &read_ttl, &read_never_block, &read_expiry_accounts}) {
    if (auto wrong = read(env, s)) return std::move(*wrong);
  }
  return s;
}

std::optional<std::string> network_block_gate_refusal(const std::string& type, double severity,
                                                      const network_block_settings& settings) {
  if (!type_matches(settings.finding_types, type)) {
    return "type " + type + " is not in TOURNIQUET_BLOCK_FINDING_TYPES";
  }
  if (severity < settings.min_severity) {
    char text[16];
    std::snprintf(text, sizeof text, "%.1f", severity);
    return "severity " + std::string(text) + " is under TOURNIQUET_BLOCK_MIN_SEVERITY";
  }
  return std::nullopt;
}

std::optional<std::string> network_block_refusal(const guardduty_finding& finding,
                                                 const network_block_settings& settings) {
  const bool function = finding.resource_type == "Lambda";
  if (finding.resource_type != "Instance" && !function)
    return "resource type " + finding.resource_type + " is not an instance or a function";
  if (function && (!finding.families.lambda || finding.families.lambda->subnet_ids.empty()))
    return "the function runs outside a VPC: no network ACL stands between it and the address";
  if (auto why = network_block_gate_refusal(finding.type, finding.severity, settings)) return why;
  if (finding.action_type == "AWS_API_CALL") {
    return "the remote address called an AWS API, which no network ACL stands between";
  }
  if (finding.action_type != "NETWORK_CONNECTION" && finding.action_type != "PORT_PROBE") {
    return "action type " + (finding.action_type.empty() ? std::string("(none)") : finding.action_type) +
           " names no address a network ACL could deny";
  }
  if (finding.remote_addresses.empty()) return "the finding names no remote address";
  if (!finding.instance && !function) return "the finding names no instance";
  return std::nullopt;
}

std::optional<std::string> never_block_reason(const cidr_block& block, const network_block_settings& settings,
                                              const std::vector<cidr_block>& vpc_cidrs) {
  auto describe = [&](const cidr_block& r, const std::string& why) {
    return (r.contains(block) ? "in " : "overlaps ") + r.text() + ": " + why;
  };
  for (const auto& r : settings.never_block) {
    if (r.block.overlaps(block)) return describe(r.block, r.reason);
  }
  for (const auto& vpc : vpc_cidrs) {
    if (vpc.overlaps(block)) return describe(vpc, "the VPC's own range");
  }
  return std::nullopt;
}

}  // namespace tq::handlers
