// The network ACL as read and as written: the block records' tag encoding, the XML readers, which entries
// are Tourniquet's and which deny decides an address, and the EC2 calls that write entries and records.
#include <algorithm>
#include <charconv>
#include <ctime>

#include "handlers/playbooks/network_block.h"
#include "handlers/playbooks/network_block_internal.h"

namespace tq::handlers {
namespace {

using aws::items_of;
using aws::query_call;
using aws::service;
using aws::text_of;
using network_block_internal::parse_int;

// EC2 keeps tag values to 256 characters.
constexpr std::size_t max_tag_value = 255;

}  // namespace

namespace network_block_internal {

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

}  // namespace network_block_internal

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

}  // namespace tq::handlers
