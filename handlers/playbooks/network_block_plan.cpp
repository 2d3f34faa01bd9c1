// The network-block planner: the reads, the rule number an address prefers, and plan_blocks, which turns
// the ACL as read into the calls that deny each address. Pure: no call is sent here.
#include <algorithm>
#include <set>
#include <tuple>

#include "handlers/playbooks/network_block.h"
#include "handlers/playbooks/network_block_internal.h"

namespace tq::handlers {

namespace network_block_internal {

const action_kind& deny_address =
    declare_action(network_block_playbook, "deny-address", {"ec2:CreateNetworkAclEntry"});
const action_kind& record_block = declare_action(network_block_playbook, "record-block", {"ec2:CreateTags"});

}  // namespace network_block_internal

namespace {

using aws::query_call;
using aws::service;
using namespace network_block_internal;

const action_kind& read_network =
    declare_action(network_block_playbook, "read-network",
                   {"ec2:DescribeInstances", "ec2:DescribeNetworkAcls", "ec2:DescribeVpcs"});
const action_kind& evict_block =
    declare_action(network_block_playbook, "evict-block", {"ec2:DeleteNetworkAclEntry"});

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

}  // namespace tq::handlers
