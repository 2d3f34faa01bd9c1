#include "handlers/playbooks/network_block.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <ctime>
#include <set>

#include "handlers/playbooks/instance_containment.h"
#include "runtime/log.h"

namespace tq::handlers {
namespace {

using aws::items_of;
using aws::query_call;
using aws::service;
using aws::text_of;

const action_kind& read_network =
    declare_action(network_block_playbook, "read-network",
                   {"ec2:DescribeInstances", "ec2:DescribeNetworkAcls", "ec2:DescribeVpcs"});
const action_kind& deny_address =
    declare_action(network_block_playbook, "deny-address", {"ec2:CreateNetworkAclEntry"});
const action_kind& record_block = declare_action(network_block_playbook, "record-block", {"ec2:CreateTags"});
const action_kind& evict_block =
    declare_action(network_block_playbook, "evict-block", {"ec2:DeleteNetworkAclEntry"});
const action_kind& read_blocks =
    declare_action(block_expiry_playbook, "read-blocks", {"ec2:DescribeNetworkAcls"});
const action_kind& remove_deny =
    declare_action(block_expiry_playbook, "remove-deny", {"ec2:DeleteNetworkAclEntry"});
const action_kind& forget_block = declare_action(block_expiry_playbook, "forget-block", {"ec2:DeleteTags"});

// EC2 keeps tag values to 256 characters.
constexpr std::size_t max_tag_value = 255;

never_block_range range(std::string_view text, std::string reason) {
  auto parsed = parse_cidr(text);
  assert(parsed.ok());
  return {parsed->block, std::move(reason)};
}

std::int64_t epoch_now() {
  return static_cast<std::int64_t>(std::time(nullptr));
}

std::optional<std::int64_t> parse_int(std::string_view text) {
  std::int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

std::string direction_name(bool egress) {
  return egress ? "outbound" : "inbound";
}

const acl_entry* entry_at(const acl_state& acl, int rule_number, bool egress) {
  for (const auto& e : acl.entries) {
    if (e.rule_number == rule_number && e.egress == egress) return &e;
  }
  return nullptr;
}

query_call create_entry(const std::string& acl_id, int rule_number, bool egress, const cidr_block& block) {
  query_call call{service::ec2, "CreateNetworkAclEntry", {}};
  call.params.add("NetworkAclId", acl_id)
      .add("RuleNumber", std::to_string(rule_number))
      .add("Protocol", "-1")
      .add("RuleAction", "deny")
      .add("Egress", egress ? "true" : "false")
      .add(block.v6 ? "Ipv6CidrBlock" : "CidrBlock", block.text());
  return call;
}

query_call delete_entry(const std::string& acl_id, int rule_number, bool egress) {
  query_call call{service::ec2, "DeleteNetworkAclEntry", {}};
  call.params.add("NetworkAclId", acl_id)
      .add("RuleNumber", std::to_string(rule_number))
      .add("Egress", egress ? "true" : "false");
  return call;
}

query_call tag_call(std::string action, const std::string& acl_id, const block_record& record) {
  query_call call{service::ec2, std::move(action), {}};
  call.params.add("ResourceId.1", acl_id)
      .add_tags("Tag", {{block_tag_key(record.rule_number), record.tag_value}});
  return call;
}

// The first allow entry (either direction) that would be evaluated before `rule_number` and lets some of
// `block` through: a deny placed at `rule_number` would not stop that traffic.
const acl_entry* allow_before(const acl_state& acl, const cidr_block& block, int rule_number) {
  const acl_entry* first = nullptr;
  for (const auto& e : acl.entries) {
    if (e.deny || !e.block || e.rule_number >= rule_number || !e.block->overlaps(block)) continue;
    if (!first || e.rule_number < first->rule_number) first = &e;
  }
  return first;
}

}  // namespace

// --- Settings -------------------------------------------------------------------------------------------

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

result<network_block_settings> network_block_settings_from_environment(const env_reader& env) {
  network_block_settings s;
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

  if (auto window = env("TOURNIQUET_BLOCK_RULE_RANGE")) {
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
  }

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
  if (auto accounts = env("TOURNIQUET_BLOCK_EXPIRY_ACCOUNTS")) {
    for (const auto& a : split_list(*accounts)) {
      if (a.size() != 12 || !std::all_of(a.begin(), a.end(), ::isdigit)) {
        return invalid_setting("TOURNIQUET_BLOCK_EXPIRY_ACCOUNTS",
                               "expected 12-digit account ids, got '" + a + "'");
      }
      s.expiry_accounts.push_back(a);
    }
  }
  return s;
}

std::optional<std::string> network_block_refusal(const guardduty_finding& finding,
                                                 const network_block_settings& settings) {
  if (finding.resource_type != "Instance")
    return "resource type " + finding.resource_type + " is not an instance";
  if (!type_matches(settings.finding_types, finding.type)) {
    return "type " + finding.type + " is not in TOURNIQUET_BLOCK_FINDING_TYPES";
  }
  if (finding.severity < settings.min_severity) {
    char severity[16];
    std::snprintf(severity, sizeof severity, "%.1f", finding.severity);
    return "severity " + std::string(severity) + " is under TOURNIQUET_BLOCK_MIN_SEVERITY";
  }
  if (finding.action_type == "AWS_API_CALL") {
    return "the remote address called an AWS API, which no network ACL stands between";
  }
  if (finding.action_type != "NETWORK_CONNECTION" && finding.action_type != "PORT_PROBE") {
    return "action type " + (finding.action_type.empty() ? std::string("(none)") : finding.action_type) +
           " names no address a network ACL could deny";
  }
  if (finding.remote_addresses.empty()) return "the finding names no remote address";
  if (!finding.instance) return "the finding names no instance";
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

// --- Tags and the ACL as read ---------------------------------------------------------------------------

std::string block_tag_key(int rule_number) {
  return std::string(tag_block_prefix) + std::to_string(rule_number);
}

std::string block_tag_value(const block_record& r) {
  std::string value =
      r.block.text() + "|" + std::to_string(r.created) + "|" + std::to_string(r.expires) + "|";
  std::string incident = r.incident;
  std::replace(incident.begin(), incident.end(), '|', '_');
  if (value.size() + incident.size() > max_tag_value) incident.resize(max_tag_value - value.size());
  return value + incident;
}

std::optional<result<block_record>> parse_block_tag(std::string_view key, std::string_view value) {
  if (!key.starts_with(tag_block_prefix)) return std::nullopt;
  auto unreadable = [&](std::string why) -> result<block_record> {
    return error{"UnreadableBlockTag", std::string(key) + "=" + std::string(value) + ": " + std::move(why),
                 std::string(key)};
  };
  const auto rule = parse_int(key.substr(tag_block_prefix.size()));
  if (!rule || *rule < 1 || *rule > 32766) return unreadable("no rule number in the key");
  std::vector<std::string_view> fields;
  size_t start = 0;
  for (int i = 0; i < 3; ++i) {
    const size_t bar = value.find('|', start);
    if (bar == std::string_view::npos) return unreadable("expected CIDR|created|expires|incident");
    fields.push_back(value.substr(start, bar - start));
    start = bar + 1;
  }
  block_record r;
  r.rule_number = static_cast<int>(*rule);
  auto block = parse_cidr(fields[0]);
  if (!block) return unreadable(block.err().message);
  r.block = block->block;
  const auto created = parse_int(fields[1]);
  const auto expires = parse_int(fields[2]);
  if (!created || !expires) return unreadable("created and expires must be epoch seconds");
  r.created = *created;
  r.expires = *expires;
  r.incident = std::string(value.substr(start));
  r.tag_value = std::string(value);
  return r;
}

std::vector<acl_state> acls_from_xml(pugi::xml_node result) {
  std::vector<acl_state> acls;
  for (pugi::xml_node a : items_of(result.child("networkAclSet"))) {
    acl_state acl;
    acl.id = text_of(a, "networkAclId");
    acl.vpc_id = text_of(a, "vpcId");
    for (pugi::xml_node assoc : items_of(a.child("associationSet"))) {
      if (auto subnet = text_of(assoc, "subnetId"); !subnet.empty()) acl.subnet_ids.push_back(subnet);
    }
    for (pugi::xml_node e : items_of(a.child("entrySet"))) {
      acl_entry entry;
      entry.rule_number = static_cast<int>(parse_int(text_of(e, "ruleNumber")).value_or(0));
      entry.egress = text_of(e, "egress") == "true";
      entry.deny = text_of(e, "ruleAction") == "deny";
      entry.all_protocols = text_of(e, "protocol") == "-1";
      std::string cidr = text_of(e, "cidrBlock");
      if (cidr.empty()) cidr = text_of(e, "ipv6CidrBlock");
      if (auto parsed = parse_cidr(cidr)) entry.block = parsed->block;
      acl.entries.push_back(entry);
    }
    for (pugi::xml_node t : items_of(a.child("tagSet"))) {
      ++acl.tag_count;
      const std::string key = text_of(t, "key");
      auto record = parse_block_tag(key, text_of(t, "value"));
      if (!record) continue;
      if (record->ok()) {
        acl.blocks.emplace(record->value().rule_number, std::move(record->value()));
      } else {
        acl.unreadable_tags.push_back(key);
      }
    }
    acls.push_back(std::move(acl));
  }
  return acls;
}

std::map<std::string, std::vector<cidr_block>> vpc_cidrs_from_xml(pugi::xml_node result) {
  std::map<std::string, std::vector<cidr_block>> out;
  for (pugi::xml_node v : items_of(result.child("vpcSet"))) {
    auto& cidrs = out[text_of(v, "vpcId")];
    auto add = [&](const std::string& text) {
      auto parsed = parse_cidr(text);
      if (parsed && std::find(cidrs.begin(), cidrs.end(), parsed->block) == cidrs.end())
        cidrs.push_back(parsed->block);
    };
    add(text_of(v, "cidrBlock"));
    for (pugi::xml_node c : items_of(v.child("cidrBlockAssociationSet"))) add(text_of(c, "cidrBlock"));
    for (pugi::xml_node c : items_of(v.child("ipv6CidrBlockAssociationSet")))
      add(text_of(c, "ipv6CidrBlock"));
  }
  return out;
}

bool is_ours(const acl_state& acl, const acl_entry& entry) {
  const auto record = acl.blocks.find(entry.rule_number);
  return record != acl.blocks.end() && entry.deny && entry.all_protocols && entry.block &&
         *entry.block == record->second.block;
}

std::optional<acl_entry> effective_deny(const acl_state& acl, const cidr_block& block, bool egress) {
  std::vector<const acl_entry*> ordered;
  for (const auto& e : acl.entries) {
    if (e.egress == egress && e.block && e.block->v6 == block.v6) ordered.push_back(&e);
  }
  std::sort(ordered.begin(), ordered.end(), [](auto* a, auto* b) { return a->rule_number < b->rule_number; });
  for (const acl_entry* e : ordered) {
    if (e->deny && e->all_protocols && e->block->contains(block)) return *e;
    if (!e->deny && e->block->overlaps(block)) return std::nullopt;
  }
  return std::nullopt;
}

// --- Planning -------------------------------------------------------------------------------------------

planned_call read_instance_call(const std::string& instance_id) {
  query_call call{service::ec2, "DescribeInstances", {}};
  call.params.add("InstanceId.1", instance_id);
  return {&read_network, instance_id, std::move(call)};
}

planned_call read_acls_call(const std::vector<std::string>& subnet_ids,
                            const std::vector<std::string>& acl_ids) {
  query_call call{service::ec2, "DescribeNetworkAcls", {}};
  if (!acl_ids.empty()) call.params.add_list("NetworkAclId", acl_ids);
  if (!subnet_ids.empty()) call.params.add_filter(1, "association.subnet-id", subnet_ids);
  return {&read_network, join_list(acl_ids.empty() ? subnet_ids : acl_ids), std::move(call)};
}

planned_call read_vpcs_call(const std::vector<std::string>& vpc_ids) {
  query_call call{service::ec2, "DescribeVpcs", {}};
  call.params.add_list("VpcId", vpc_ids);
  return {&read_network, join_list(vpc_ids), std::move(call)};
}

planned_call read_tagged_acls_call() {
  query_call call{service::ec2, "DescribeNetworkAcls", {}};
  call.params.add_filter(1, "tag-key", {std::string(tag_block_prefix) + "*"});
  return {&read_blocks, "network ACLs tagged " + std::string(tag_block_prefix) + "*", std::move(call)};
}

int preferred_rule_number(const cidr_block& block, const network_block_settings& settings, int attempt) {
  std::uint32_t hash = 2166136261u;  // FNV-1a
  for (std::uint8_t b : block.bytes) hash = (hash ^ b) * 16777619u;
  hash = (hash ^ static_cast<std::uint32_t>(block.prefix)) * 16777619u;
  for (int i = 0; i < attempt; ++i) hash = (hash ^ 0x9Eu) * 16777619u;
  hash ^= hash >> 15;  // the low bits, which the modulo keeps, then depend on every byte
  const auto size = static_cast<std::uint32_t>(settings.rule_high - settings.rule_low + 1);
  return settings.rule_low + static_cast<int>(hash % size);
}

block_plan plan_blocks(const acl_state& acl, const std::vector<address_to_block>& addresses,
                       const network_block_settings& settings, std::int64_t now, std::string_view incident_id,
                       int attempt) {
  block_plan plan;
  std::set<int> taken;  // numbers this plan uses
  std::size_t tags_added = 0;
  const std::int64_t expires = now + settings.ttl.count();
  // A record is only pushed back once it has lost a quarter of its life: a prompt replay changes nothing.
  const std::int64_t extend_after = std::max<std::int64_t>(settings.ttl.count() / 4, 60);
  const std::string where = " in " + acl.id;

  auto add = [&](const action_kind& kind, std::string target, query_call call, std::string detail,
                 std::vector<size_t> needs = {}) {
    plan.calls.push_back({&kind, std::move(target), std::move(call), std::move(detail), std::move(needs)});
    return plan.calls.size() - 1;
  };
  auto requested = [&](const cidr_block& b) {
    return std::any_of(addresses.begin(), addresses.end(), [&](const auto& a) { return a.block == b; });
  };
  auto is_free = [&](int n) {
    return !taken.contains(n) && !entry_at(acl, n, false) && !entry_at(acl, n, true);
  };

  for (const auto& address : addresses) {
    block_intent intent{address};
    intent.expires = expires;
    const std::string cidr = address.block.text();
    const auto in_deny = effective_deny(acl, address.block, false);
    const auto out_deny = effective_deny(acl, address.block, true);

    // An unrecorded deny of exactly this block in the window is what a create whose answer was
    // lost (EC2 then refuses the retry as a duplicate), or a record that could not be written, leaves behind.
    // It is adopted: completed and recorded, so that it expires like any other, instead of denying forever.
    std::optional<int> orphan;
    for (int n = settings.rule_low; n <= settings.rule_high && !orphan; ++n) {
      if (acl.blocks.contains(n) || taken.contains(n)) continue;
      const acl_entry* in = entry_at(acl, n, false);
      const acl_entry* out = entry_at(acl, n, true);
      auto exact = [&](const acl_entry* e) {
        return e->deny && e->all_protocols && e->block && *e->block == address.block;
      };
      if ((in || out) && (!in || exact(in)) && (!out || exact(out))) orphan = n;
    }
    const bool denied_by_others =
        in_deny && out_deny &&
        !(orphan && in_deny->rule_number == *orphan && out_deny->rule_number == *orphan);
    if (orphan && !denied_by_others && acl.tag_count + tags_added + 1 <= max_tags_per_acl) {
      const int n = *orphan;
      taken.insert(n);
      ++tags_added;
      intent.step = block_step::repair;
      intent.rule_number = n;
      intent.detail =
          "rule " + std::to_string(n) + " denied it without a record (an answer lost before): adopted";
      std::vector<size_t> creates;
      for (bool egress : {false, true}) {
        if (entry_at(acl, n, egress)) continue;
        creates.push_back(add(deny_address, acl.id, create_entry(acl.id, n, egress, address.block),
                              cidr + " " + direction_name(egress) + " rule " + std::to_string(n)));
      }
      if (!creates.empty()) intent.claim_index = creates.front();
      block_record record{n, address.block, now, expires, std::string(incident_id), {}};
      record.tag_value = block_tag_value(record);
      intent.other_indices.push_back(add(record_block, acl.id, tag_call("CreateTags", acl.id, record),
                                         cidr + " rule " + std::to_string(n) + " expires " + rfc3339(expires),
                                         creates));
      plan.intents.push_back(std::move(intent));
      continue;
    }

    if (in_deny && out_deny) {
      intent.step = block_step::already;
      intent.rule_number = in_deny->rule_number;
      const bool ours = is_ours(acl, *in_deny);
      intent.detail = "denied by rule " + std::to_string(in_deny->rule_number) +
                      (in_deny->rule_number != out_deny->rule_number
                           ? " inbound and " + std::to_string(out_deny->rule_number) + " outbound"
                           : "") +
                      (ours ? "" : " (not Tourniquet's)");
      if (ours) {
        block_record record = acl.blocks.at(in_deny->rule_number);
        intent.expires = record.expires;
        if (record.block == address.block && expires - record.expires >= extend_after) {
          record.expires = expires;
          record.tag_value = block_tag_value(record);
          intent.other_indices.push_back(
              add(record_block, acl.id, tag_call("CreateTags", acl.id, record),
                  cidr + " rule " + std::to_string(record.rule_number) + " expires " + rfc3339(expires)));
          intent.expires = expires;
          intent.detail += "; expiry moved to " + rfc3339(expires);
        }
      }
      plan.intents.push_back(std::move(intent));
      continue;
    }

    // Our own record of this very block, missing one direction (a failure or a race last time): complete it.
    bool repaired = false;
    for (const auto& [n, record] : acl.blocks) {
      if (record.block != address.block || taken.contains(n)) continue;
      const acl_entry* in = entry_at(acl, n, false);
      const acl_entry* out = entry_at(acl, n, true);
      const bool in_ours = in && is_ours(acl, *in);
      const bool out_ours = out && is_ours(acl, *out);
      if ((in && !in_ours) || (out && !out_ours) || in_ours == out_ours) continue;
      if (const acl_entry* allow = allow_before(acl, address.block, n)) {
        intent.step = block_step::shadowed;
        intent.rule_number = n;
        intent.detail = "allow rule " + std::to_string(allow->rule_number) + " comes before rule " +
                        std::to_string(n) + where + ": set TOURNIQUET_BLOCK_RULE_RANGE below it";
        repaired = true;
        break;
      }
      const bool egress = in_ours;  // the direction that is missing
      intent.step = block_step::repair;
      intent.rule_number = n;
      intent.expires = record.expires;
      intent.detail = "rule " + std::to_string(n) + " lacked its " + direction_name(egress) + " entry";
      intent.claim_index = add(deny_address, acl.id, create_entry(acl.id, n, egress, address.block),
                               cidr + " " + direction_name(egress) + " rule " + std::to_string(n));
      taken.insert(n);
      repaired = true;
      break;
    }
    if (repaired) {
      plan.intents.push_back(std::move(intent));
      continue;
    }

    // A new pair of entries: a free number if there is one, else the number of our block due to expire first.
    std::optional<int> number;
    const int size = settings.rule_high - settings.rule_low + 1;
    const int start = preferred_rule_number(address.block, settings, attempt) - settings.rule_low;
    for (int i = 0; i < size && !acl.entry_limit_reached && !number; ++i) {
      const int n = settings.rule_low + (start + i) % size;
      if (is_free(n)) number = n;
    }
    if (!number) {
      const block_record* victim = nullptr;
      for (const auto& [n, record] : acl.blocks) {
        if (n < settings.rule_low || n > settings.rule_high || taken.contains(n) || requested(record.block))
          continue;
        const acl_entry* in = entry_at(acl, n, false);
        const acl_entry* out = entry_at(acl, n, true);
        if ((!in && !out) || (in && !is_ours(acl, *in)) || (out && !is_ours(acl, *out))) continue;
        if (!victim ||
            std::tie(record.expires, record.rule_number) < std::tie(victim->expires, victim->rule_number)) {
          victim = &record;
        }
      }
      if (!victim) {
        intent.step = block_step::no_room;
        intent.detail =
            acl.entry_limit_reached
                ? "the network ACL holds as many entries as EC2 allows, none of them Tourniquet's to replace"
                : "rule numbers " + std::to_string(settings.rule_low) + "-" +
                      std::to_string(settings.rule_high) + where +
                      " hold only rules Tourniquet did not create (or this request's own)";
        plan.intents.push_back(std::move(intent));
        continue;
      }
      number = victim->rule_number;
      intent.evicted = *victim;
    }
    const int n = *number;
    intent.rule_number = n;
    if (const acl_entry* allow = allow_before(acl, address.block, n)) {
      intent.step = block_step::shadowed;
      intent.evicted.reset();
      intent.detail = "allow rule " + std::to_string(allow->rule_number) + " comes before rule " +
                      std::to_string(n) + where + ": set TOURNIQUET_BLOCK_RULE_RANGE below it";
      plan.intents.push_back(std::move(intent));
      continue;
    }
    if (!acl.blocks.contains(n) && acl.tag_count + tags_added + 1 > max_tags_per_acl) {
      intent.step = block_step::no_room;
      intent.evicted.reset();
      intent.detail = "the network ACL carries " + std::to_string(acl.tag_count + tags_added) +
                      " tags, EC2's limit: no room to record a block";
      plan.intents.push_back(std::move(intent));
      continue;
    }
    if (!acl.blocks.contains(n)) ++tags_added;
    taken.insert(n);

    std::vector<size_t> evictions;
    if (intent.evicted) {
      intent.step = block_step::evict;
      intent.detail = "replaces " + intent.evicted->block.text() + " (due to expire " +
                      rfc3339(intent.evicted->expires) + ")";
      for (bool egress : {false, true}) {
        if (!entry_at(acl, n, egress)) continue;
        evictions.push_back(
            add(evict_block, acl.id, delete_entry(acl.id, n, egress),
                intent.evicted->block.text() + " " + direction_name(egress) + " rule " + std::to_string(n)));
      }
    } else {
      intent.step = block_step::create;
    }
    const std::string rule = " rule " + std::to_string(n);
    intent.claim_index = add(deny_address, acl.id, create_entry(acl.id, n, false, address.block),
                             cidr + " inbound" + rule, evictions);
    intent.other_indices = evictions;
    intent.other_indices.push_back(add(deny_address, acl.id, create_entry(acl.id, n, true, address.block),
                                       cidr + " outbound" + rule, {*intent.claim_index}));
    block_record record{n, address.block, now, expires, std::string(incident_id), {}};
    record.tag_value = block_tag_value(record);
    intent.other_indices.push_back(add(record_block, acl.id, tag_call("CreateTags", acl.id, record),
                                       cidr + rule + " expires " + rfc3339(expires), {*intent.claim_index}));
    plan.intents.push_back(std::move(intent));
  }
  return plan;
}

expiry_plan plan_expiry(const std::vector<acl_state>& acls, std::int64_t now) {
  expiry_plan plan;
  for (const auto& acl : acls) {
    for (const auto& key : acl.unreadable_tags) {
      plan.left_alone.push_back(
          skipped_record(remove_deny, acl.id, "tag " + key + " cannot be read: left alone"));
    }
    for (const auto& [n, record] : acl.blocks) {
      if (record.expires > now) continue;
      expiry_intent intent{acl.id, record, {}};
      for (bool egress : {false, true}) {
        const acl_entry* entry = entry_at(acl, n, egress);
        if (!entry || !is_ours(acl, *entry)) continue;  // gone already, or another rule took the number
        intent.delete_indices.push_back(plan.calls.size());
        plan.calls.push_back({&remove_deny, acl.id, delete_entry(acl.id, n, egress),
                              record.block.text() + " " + direction_name(egress) + " rule " +
                                  std::to_string(n) + " expired " + rfc3339(record.expires)});
      }
      plan.intents.push_back(std::move(intent));
    }
  }
  return plan;
}

planned_call plan_forget(const std::string& acl_id, const block_record& record) {
  return {&forget_block, acl_id, tag_call("DeleteTags", acl_id, record),
          block_tag_key(record.rule_number) + " (" + record.block.text() + ")"};
}

// --- Targets --------------------------------------------------------------------------------------------

block_target block_target_of(const guardduty_finding& finding) {
  block_target t;
  t.account_id = finding.account_id;
  t.incident_id = incident_id_for(finding.account_id, finding.id);
  t.source = "finding " + finding.type + " " + finding.id;
  t.addresses = finding.remote_addresses;
  if (finding.instance) {
    t.instance_id = finding.instance->instance_id;
    for (const auto& eni : finding.instance->network_interfaces) {
      if (!eni.subnet_id.empty() &&
          std::find(t.subnet_ids.begin(), t.subnet_ids.end(), eni.subnet_id) == t.subnet_ids.end()) {
        t.subnet_ids.push_back(eni.subnet_id);
      }
    }
  }
  return t;
}

block_target block_target_of(const block_request& request) {
  block_target t;
  t.account_id = request.envelope.account;
  t.incident_id = request.incident_id ? *request.incident_id
                                      : incident_id_for(request.envelope.account, request.envelope.id);
  t.source = request.reason;
  t.addresses = request.addresses;
  t.instance_id = request.instance_id;
  if (!request.instance_id) t.subnet_ids = request.subnet_ids;
  t.network_acl_ids = request.network_acl_ids;
  return t;
}

// --- The playbooks --------------------------------------------------------------------------------------

namespace {

// One line of the response per address (and network ACL).
struct address_row {
  std::string given;
  std::string cidr;
  std::string acl_id;
  outcome result = outcome::planned;
  int rule_number = 0;
  std::int64_t expires = 0;
  std::string detail;
  std::optional<error> failure;
};

nlohmann::ordered_json to_json(const address_row& row) {
  nlohmann::ordered_json j;
  j["address"] = row.given;
  if (!row.cidr.empty()) j["cidr"] = row.cidr;
  if (!row.acl_id.empty()) j["networkAclId"] = row.acl_id;
  j["outcome"] = row.result == outcome::done ? "blocked" : outcome_name(row.result);
  if (row.rule_number > 0) j["ruleNumber"] = row.rule_number;
  if (row.expires > 0) j["expiresAt"] = rfc3339(row.expires);
  if (!row.detail.empty()) j["reason"] = row.detail;
  if (row.failure) j["error"] = row.failure->describe();
  return j;
}

// Codes after which the address is planned again on a fresh read of the ACL, within the invocation.
bool worth_another_round(const error& e) {
  return e.code == entry_exists_code || e.code == entry_limit_code ||
         e.code == "InvalidNetworkAclEntry.NotFound";
}

struct resolved_acls {
  std::vector<acl_state> acls;
  std::vector<std::string> notes;
};

// Instance -> subnets -> network ACLs -> their VPCs' CIDR blocks.
result<resolved_acls> resolve_acls(const block_target& target, const playbook_context& ctx,
                                   playbook_report& report) {
  resolved_acls out;
  std::vector<std::string> subnets = target.subnet_ids;
  std::vector<std::string> vpcs;
  auto read = [&](std::vector<planned_call> calls) {
    execution run = execute_plan(calls, ctx.client, ctx.until, false);
    report.round_trips += run.round_trips;
    for (const auto& r : run.records) {
      if (r.result == outcome::failed) report.actions.push_back(r);
    }
    return run;
  };

  if (target.instance_id) {
    execution run = execute_plan({read_instance_call(*target.instance_id)}, ctx.client, ctx.until, false);
    report.round_trips += run.round_trips;
    bool found = false;
    std::vector<std::string> live;
    if (run.answers[0]) {
      for (pugi::xml_node reservation : items_of(run.answers[0]->xml().result().child("reservationSet"))) {
        for (pugi::xml_node i : items_of(reservation.child("instancesSet"))) {
          found |= text_of(i, "instanceId") == *target.instance_id;
          for (pugi::xml_node n : items_of(i.child("networkInterfaceSet"))) {
            const std::string subnet = text_of(n, "subnetId");
            if (!subnet.empty() && std::find(live.begin(), live.end(), subnet) == live.end())
              live.push_back(subnet);
            const std::string vpc = text_of(n, "vpcId");
            if (!vpc.empty() && std::find(vpcs.begin(), vpcs.end(), vpc) == vpcs.end()) vpcs.push_back(vpc);
          }
        }
      }
    } else if (!run.records[0].failure->code.starts_with("InvalidInstanceID")) {
      report.actions.push_back(run.records[0]);
      return *run.records[0].failure;
    }
    if (found && !live.empty()) {
      subnets = std::move(live);
    } else if (!target.subnet_ids.empty()) {
      // A terminated instance has no interfaces left, but its subnets still hold the attacker's other
      // targets.
      out.notes.push_back("instance " + *target.instance_id +
                          " is gone or has no interfaces: using the subnets the finding named");
    } else {
      return error{"InstanceNotFound",
                   "instance " + *target.instance_id + " does not exist in account " + target.account_id +
                       " or has no network interfaces",
                   "ec2:DescribeInstances"};
    }
  }

  std::vector<planned_call> reads{read_acls_call(
      target.network_acl_ids.empty() ? subnets : std::vector<std::string>{}, target.network_acl_ids)};
  if (!vpcs.empty()) reads.push_back(read_vpcs_call(vpcs));
  execution run = read(std::move(reads));
  if (!run.answers[0]) return *run.records[0].failure;
  out.acls = acls_from_xml(run.answers[0]->xml().result());
  if (!target.network_acl_ids.empty()) {
    for (const auto& id : target.network_acl_ids) {
      if (std::none_of(out.acls.begin(), out.acls.end(), [&](const acl_state& a) { return a.id == id; })) {
        return error{"NetworkAclNotFound", "network ACL " + id + " does not exist",
                     "ec2:DescribeNetworkAcls"};
      }
    }
  } else {
    for (const auto& subnet : subnets) {
      const bool found = std::any_of(out.acls.begin(), out.acls.end(), [&](const acl_state& a) {
        return std::find(a.subnet_ids.begin(), a.subnet_ids.end(), subnet) != a.subnet_ids.end();
      });
      if (!found)
        return error{"NetworkAclNotFound", "no network ACL is associated with subnet " + subnet,
                     "ec2:DescribeNetworkAcls"};
    }
  }

  std::map<std::string, std::vector<cidr_block>> cidrs;
  if (run.answers.size() > 1 && run.answers[1]) cidrs = vpc_cidrs_from_xml(run.answers[1]->xml().result());
  std::vector<std::string> missing;
  for (const auto& acl : out.acls) {
    if (!cidrs.contains(acl.vpc_id) &&
        std::find(missing.begin(), missing.end(), acl.vpc_id) == missing.end()) {
      missing.push_back(acl.vpc_id);
    }
  }
  if (!missing.empty()) {
    execution vpc_run = read({read_vpcs_call(missing)});
    // Without the VPC's ranges the never-block check is incomplete: stop rather than risk blocking the VPC.
    if (!vpc_run.answers[0]) return *vpc_run.records[0].failure;
    for (auto& [id, list] : vpc_cidrs_from_xml(vpc_run.answers[0]->xml().result()))
      cidrs[id] = std::move(list);
  }
  for (auto& acl : out.acls) {
    if (!cidrs.contains(acl.vpc_id)) {
      return error{"VpcNotFound", "VPC " + acl.vpc_id + " of " + acl.id + " could not be read",
                   "ec2:DescribeVpcs"};
    }
    acl.vpc_cidrs = cidrs.at(acl.vpc_id);
  }
  return out;
}

// Re-reads the given ACLs, keeping what the first read learnt (VPC ranges, the entry limit).
result<std::vector<acl_state>> reread(const std::vector<acl_state>& previous,
                                      const std::vector<std::string>& ids, const playbook_context& ctx,
                                      playbook_report& report) {
  execution run = execute_plan({read_acls_call({}, ids)}, ctx.client, ctx.until, false);
  report.round_trips += run.round_trips;
  if (!run.answers[0]) {
    report.actions.push_back(run.records[0]);
    return *run.records[0].failure;
  }
  std::vector<acl_state> fresh = acls_from_xml(run.answers[0]->xml().result());
  for (auto& acl : fresh) {
    for (const auto& old : previous) {
      if (old.id != acl.id) continue;
      acl.vpc_cidrs = old.vpc_cidrs;
      acl.entry_limit_reached = old.entry_limit_reached;
    }
  }
  return fresh;
}

}  // namespace

playbook_report block_addresses(const block_target& target, const playbook_context& ctx,
                                const network_block_settings& settings) {
  playbook_report report;
  report.playbook = std::string(network_block_playbook);
  report.target = target.instance_id ? *target.instance_id
                                     : join_list(target.network_acl_ids.empty() ? target.subnet_ids
                                                                                : target.network_acl_ids);
  report.incident_id = target.incident_id;
  report.details["source"] = target.source;
  auto elapsed_ms = [&] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                 ctx.arrived)
        .count();
  };
  std::vector<address_row> rows;
  auto finish = [&](report_status status) {
    report.details["addresses"] = nlohmann::ordered_json::array();
    for (const auto& row : rows) report.details["addresses"].push_back(to_json(row));
    report.status = status;
    report.total_ms = elapsed_ms();
    return report;
  };

  // Addresses first: a malformed one or one that must never be blocked is refused before any call.
  std::vector<address_to_block> candidates;
  for (const auto& given : target.addresses) {
    auto parsed = parse_cidr(given);
    if (!parsed) {
      rows.push_back({given, "", "", outcome::skipped, 0, 0, parsed.err().message, std::nullopt});
      report.actions.push_back(skipped_record(deny_address, given, parsed.err().message));
      continue;
    }
    const std::string note = parsed->host_bits_cleared ? "taken as " + parsed->block.text() : "";
    if (auto why = never_block_reason(parsed->block, settings, {})) {
      rows.push_back(
          {given, parsed->block.text(), "", outcome::skipped, 0, 0, "never blocked: " + *why, std::nullopt});
      report.actions.push_back(skipped_record(deny_address, given, "never blocked: " + *why));
      continue;
    }
    if (std::none_of(candidates.begin(), candidates.end(),
                     [&](const auto& c) { return c.block == parsed->block; })) {
      candidates.push_back({given, parsed->block});
    }
  }
  if (candidates.empty()) {
    report.reason = "no address may be blocked";
    return finish(report_status::ignored);
  }

  auto resolved = resolve_acls(target, ctx, report);
  if (!resolved) {
    report.reason = resolved.err().describe();
    report.failure = resolved.err();
    for (const auto& c : candidates) {
      rows.push_back({c.given, c.block.text(), "", outcome::failed, 0, 0,
                      "the network ACLs could not be read", resolved.err()});
    }
    return finish(report_status::failed);
  }
  if (!resolved->notes.empty()) report.details["notes"] = resolved->notes;
  std::vector<acl_state> acls = std::move(resolved->acls);
  report.details["networkAclIds"] = nlohmann::ordered_json::array();
  for (const auto& acl : acls) report.details["networkAclIds"].push_back(acl.id);

  // What is left to do, per ACL; the VPC's own ranges are refused here.
  std::map<std::string, std::vector<address_to_block>> todo;
  for (const auto& acl : acls) {
    for (const auto& c : candidates) {
      if (auto why = never_block_reason(c.block, settings, acl.vpc_cidrs)) {
        rows.push_back({c.given, c.block.text(), acl.id, outcome::skipped, 0, 0, "never blocked: " + *why,
                        std::nullopt});
        report.actions.push_back(
            skipped_record(deny_address, c.given + " in " + acl.id, "never blocked: " + *why));
      } else {
        todo[acl.id].push_back(c);
      }
    }
  }
  // The outcome of each (ACL, address) once settled; `blocked` remembers what this invocation created.
  std::map<std::pair<std::string, std::string>, address_row> settled;
  std::vector<std::pair<std::string, std::string>> order;  // of first settling, for the response
  std::set<std::pair<std::string, std::string>> blocked_here;

  for (int round = 1; !todo.empty(); ++round) {
    if (round > settings.max_rounds) {
      for (const auto& [acl_id, list] : todo) {
        for (const auto& a : list) {
          if (!settled.contains({acl_id, a.given})) order.push_back({acl_id, a.given});
          settled[{acl_id, a.given}] = {
              a.given,
              a.block.text(),
              acl_id,
              outcome::failed,
              0,
              0,
              "the rule numbers kept being taken by concurrent changes; gave up after " +
                  std::to_string(settings.max_rounds) + " attempts",
              std::nullopt};
        }
      }
      break;
    }
    const std::int64_t now = epoch_now();
    std::vector<planned_call> calls;
    std::vector<std::pair<std::string, block_intent>> intents;
    for (const auto& acl : acls) {
      auto pending = todo.find(acl.id);
      if (pending == todo.end()) continue;
      block_plan p = plan_blocks(acl, pending->second, settings, now, target.incident_id, round - 1);
      const size_t offset = calls.size();
      for (auto& call : p.calls) {
        for (auto& i : call.needs) i += offset;
        for (auto& i : call.after) i += offset;
        calls.push_back(std::move(call));
      }
      for (auto& intent : p.intents) {
        if (intent.claim_index) *intent.claim_index += offset;
        for (auto& i : intent.other_indices) i += offset;
        intents.emplace_back(acl.id, std::move(intent));
      }
    }
    execution run = execute_plan(calls, ctx.client, ctx.until, ctx.dry_run);

    std::map<std::string, std::vector<address_to_block>> again;
    std::set<std::string> reread_ids;
    for (auto& [acl_id, intent] : intents) {
      address_row row{intent.address.given,
                      intent.address.block.text(),
                      acl_id,
                      outcome::done,
                      intent.rule_number,
                      intent.expires,
                      intent.detail,
                      std::nullopt};
      const auto key = std::make_pair(acl_id, intent.address.given);
      std::vector<size_t> mine = intent.other_indices;
      if (intent.claim_index) mine.insert(mine.begin(), *intent.claim_index);
      std::optional<error> hard, soft;
      for (size_t i : mine) {
        const auto& f = run.records[i].failure;
        if (!f) continue;
        (worth_another_round(*f) ? soft : hard) = f;
      }
      switch (intent.step) {
        case block_step::no_room:
        case block_step::shadowed:
          row.result = outcome::failed;
          row.rule_number = intent.step == block_step::shadowed ? intent.rule_number : 0;
          row.expires = 0;
          report.actions.push_back({std::string(deny_address.name),
                                    intent.address.given + " in " + acl_id,
                                    outcome::failed,
                                    intent.detail,
                                    error{"BlockNotPossible", intent.detail, acl_id},
                                    {}});
          break;
        case block_step::already:
          row.result = blocked_here.contains(key) ? outcome::done : outcome::already;
          if (!mine.empty() && run.records[mine.front()].result == outcome::failed) {
            row.result = outcome::failed;
            row.failure = run.records[mine.front()].failure;
            row.detail += " (recording the new expiry failed)";
          }
          if (settled.contains(key) && settled[key].result == outcome::done) {
            row = settled[key];
          }
          if (mine.empty() && row.result == outcome::already) {
            report.actions.push_back(
                already_record(deny_address, intent.address.given + " in " + acl_id, intent.detail));
          }
          break;
        default:
          if (ctx.dry_run) {
            row.result = hard ? outcome::failed : outcome::planned;
            row.failure = hard;
            break;
          }
          if (hard) {
            row.result = outcome::failed;
            row.failure = hard;
            const bool claimed =
                intent.claim_index && run.records[*intent.claim_index].result == outcome::done;
            if (claimed && run.records[mine.back()].action == record_block.name &&
                run.records[mine.back()].result == outcome::failed) {
              row.detail =
                  "the deny is in place but its tag could not be written: it will not expire by itself";
            }
          } else if (soft) {
            row.result = outcome::failed;  // until a later round settles it
            row.failure = soft;
            // Someone took the number (or the ACL filled up) between our read and our call: read again.
            again[acl_id].push_back(intent.address);
            if (soft->code == entry_limit_code) {
              for (auto& acl : acls) acl.entry_limit_reached |= acl.id == acl_id;
            }
            for (size_t i : mine) {
              run.records[i].result = outcome::skipped;
              run.records[i].unfinished = false;  // the next round plans it again on a fresh read
              run.records[i].detail =
                  calls[i].detail + " (superseded: " + soft->code + "; planned again on a fresh read)";
              run.records[i].failure.reset();
            }
          } else {
            // Created: checked on the fresh read below, since a concurrent change could have undone it.
            blocked_here.insert(key);
            again[acl_id].push_back(intent.address);
          }
          reread_ids.insert(acl_id);
      }
      if (intent.evicted && row.result == outcome::done) {
        row.detail = "replaced " + intent.evicted->block.text() + " (due to expire " +
                     rfc3339(intent.evicted->expires) + ")";
      }
      if (!settled.contains(key)) order.push_back(key);
      settled[key] = row;
    }
    append(report, run);
    if (ctx.dry_run || reread_ids.empty()) break;

    // The fresh read: what we created and can see denied is settled; the rest is planned again.
    auto fresh = reread(acls, std::vector<std::string>(reread_ids.begin(), reread_ids.end()), ctx, report);
    if (!fresh) {
      for (const auto& [acl_id, list] : again) {
        for (const auto& a : list) {
          auto& row = settled[{acl_id, a.given}];
          if (!blocked_here.contains({acl_id, a.given})) {
            row.result = outcome::failed;
            row.failure = fresh.err();
          }
        }
      }
      break;
    }
    for (auto& acl : *fresh) {
      for (auto& old : acls) {
        if (old.id == acl.id) old = acl;
      }
    }
    todo.clear();
    for (const auto& entry : again) {
      const std::string& acl_id = entry.first;  // not a structured binding: clang 14 cannot capture those
      const auto& list = entry.second;
      const acl_state& acl =
          *std::find_if(acls.begin(), acls.end(), [&](const acl_state& a) { return a.id == acl_id; });
      for (const auto& a : list) {
        const bool denied = effective_deny(acl, a.block, false) && effective_deny(acl, a.block, true);
        if (blocked_here.contains({acl_id, a.given}) && denied) continue;
        if (blocked_here.contains({acl_id, a.given})) {
          settled[{acl_id, a.given}].detail = "undone by a concurrent change; tried again";
        }
        todo[acl_id].push_back(a);
      }
    }
  }
  for (const auto& key : order) rows.push_back(std::move(settled[key]));

  bool failed = false;
  for (const auto& row : rows) failed |= row.result == outcome::failed;
  if (failed) report.reason = "some addresses could not be blocked";
  if (ctx.dry_run) return finish(report_status::dry_run);
  return finish(failed || report.incomplete() ? report_status::incomplete : report_status::blocked);
}

playbook_report expire_blocks(const playbook_context& ctx) {
  playbook_report report;
  report.playbook = std::string(block_expiry_playbook);
  report.target = ctx.account_id;
  auto elapsed_ms = [&] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                 ctx.arrived)
        .count();
  };
  execution read = execute_plan({read_tagged_acls_call()}, ctx.client, ctx.until, false);
  report.round_trips += read.round_trips;
  if (!read.answers[0]) {
    report.actions.push_back(read.records[0]);
    report.status = report_status::failed;
    report.reason = read.records[0].failure->describe();
    report.failure = read.records[0].failure;
    return report;
  }
  const std::vector<acl_state> acls = acls_from_xml(read.answers[0]->xml().result());
  const std::int64_t now = epoch_now();
  expiry_plan plan = plan_expiry(acls, now);
  execution removed = execute_plan(plan.calls, ctx.client, ctx.until, ctx.dry_run);
  append(report, removed);

  // A record goes once none of its entries is left: then the number is free and the tag says nothing.
  std::vector<planned_call> forget;
  std::vector<size_t> forget_of(plan.intents.size(), SIZE_MAX);
  for (size_t k = 0; k < plan.intents.size(); ++k) {
    const auto& intent = plan.intents[k];
    const bool gone = std::all_of(intent.delete_indices.begin(), intent.delete_indices.end(), [&](size_t i) {
      const auto& f = removed.records[i].failure;
      return removed.records[i].result != outcome::failed ||
             (f && f->code == "InvalidNetworkAclEntry.NotFound");
    });
    if (!gone) continue;
    forget_of[k] = forget.size();
    forget.push_back(plan_forget(intent.acl_id, intent.record));
  }
  execution forgotten = execute_plan(forget, ctx.client, ctx.until, ctx.dry_run);
  append(report, forgotten);
  report.actions.insert(report.actions.end(), plan.left_alone.begin(), plan.left_alone.end());

  nlohmann::ordered_json expired = nlohmann::ordered_json::array();
  bool failed = false;
  for (size_t k = 0; k < plan.intents.size(); ++k) {
    const auto& intent = plan.intents[k];
    nlohmann::ordered_json j;
    j["networkAclId"] = intent.acl_id;
    j["ruleNumber"] = intent.record.rule_number;
    j["cidr"] = intent.record.block.text();
    j["createdAt"] = rfc3339(intent.record.created);
    j["expiredAt"] = rfc3339(intent.record.expires);
    if (!intent.record.incident.empty()) j["incidentId"] = intent.record.incident;
    const bool ok = forget_of[k] != SIZE_MAX && forgotten.records[forget_of[k]].result != outcome::failed;
    j["outcome"] = ctx.dry_run ? "planned" : ok ? "removed" : "failed";
    failed |= !ok;
    expired.push_back(std::move(j));
  }
  std::size_t kept = 0;
  for (const auto& acl : acls) {
    for (const auto& [n, record] : acl.blocks) kept += record.expires > now ? 1 : 0;
  }
  report.details["expired"] = std::move(expired);
  report.details["kept"] = kept;
  report.details["networkAcls"] = acls.size();
  report.total_ms = elapsed_ms();
  report.status = ctx.dry_run                       ? report_status::dry_run
                  : (failed || report.incomplete()) ? report_status::incomplete
                                                    : report_status::expired;
  return report;
}

// --- The playbooks --------------------------------------------------------------------------------------

namespace {

class network_block final : public playbook {
 public:
  explicit network_block(network_block_settings settings) : m_settings(std::move(settings)) {}

  std::string_view name() const override { return network_block_playbook; }

  // A finding about an instance whose remote addresses attacked it or served it, and a "Block Addresses"
  // request from another detector, in the account it names.
  void route(const decoded_event& event, const config&, routing& out) const override {
    if (const auto* finding = std::get_if<guardduty_finding>(&event)) {
      if (finding->resource_type != "Instance") return;
      if (auto why = network_block_refusal(*finding, m_settings)) {
        out.passed.push_back({name(), 0, std::move(*why)});
      } else {
        add(block_target_of(*finding), finding->region, out);
      }
    }
    if (const auto* request = std::get_if<block_request>(&event)) add(block_target_of(*request), "", out);
  }

  playbook_report run(const job& work, const playbook_context& ctx) const override {
    return block_addresses(*std::any_cast<block_target>(&work.input), ctx, m_settings);
  }

 private:
  void add(block_target target, std::string region, routing& out) const {
    job j{name(), 0, target.account_id, std::move(region), {}, target.incident_id, target.source, {}};
    j.target = target.instance_id
                   ? *target.instance_id
                   : join_list(target.network_acl_ids.empty() ? target.subnet_ids : target.network_acl_ids);
    j.input = std::move(target);
    out.jobs.push_back(std::move(j));
  }

  network_block_settings m_settings;
};

// The schedule sweeps this account and the member accounts listed for it.
class block_expiry final : public playbook {
 public:
  explicit block_expiry(std::vector<std::string> accounts) : m_accounts(std::move(accounts)) {}

  std::string_view name() const override { return block_expiry_playbook; }

  void route(const decoded_event& event, const config&, routing& out) const override {
    const auto* schedule = std::get_if<scheduled_event>(&event);
    if (schedule == nullptr) return;
    std::vector<std::string> accounts{schedule->envelope.account};
    for (const auto& a : m_accounts) {
      if (std::find(accounts.begin(), accounts.end(), a) == accounts.end()) accounts.push_back(a);
    }
    for (const auto& account : accounts) {
      out.jobs.push_back(
          job{name(), 0, account, schedule->envelope.region, account, "", "expired blocks", {}});
    }
  }

  playbook_report run(const job&, const playbook_context& ctx) const override { return expire_blocks(ctx); }

 private:
  std::vector<std::string> m_accounts;
};

}  // namespace

result<std::unique_ptr<const playbook>> make_network_block(const env_reader& env) {
  auto settings = network_block_settings_from_environment(env);
  if (!settings) return std::move(settings).err();
  return std::unique_ptr<const playbook>(new network_block(std::move(*settings)));
}

result<std::unique_ptr<const playbook>> make_block_expiry(const env_reader& env) {
  auto settings = network_block_settings_from_environment(env);
  if (!settings) return std::move(settings).err();
  return std::unique_ptr<const playbook>(new block_expiry(std::move(settings->expiry_accounts)));
}

}  // namespace tq::handlers
