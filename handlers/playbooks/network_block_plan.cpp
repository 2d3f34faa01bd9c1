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

// What planning one ACL carries from address to address: the numbers and tags its earlier addresses use.
// Each address gets a step (choose) and then the calls of that step (add_calls).
class block_planner {
 public:
  block_planner(const acl_state& acl, const std::vector<address_to_block>& addresses,
                const network_block_settings& settings, std::int64_t now, std::string_view incident_id,
                int attempt)
      : m_acl(acl),
        m_addresses(addresses),
        m_settings(settings),
        m_now(now),
        m_incident_id(incident_id),
        m_attempt(attempt),
        m_expires(now + settings.ttl.count()),
        // A record is only pushed back once it has lost a quarter of its life: a prompt replay changes
        // nothing.
        m_extend_after(std::max<std::int64_t>(settings.ttl.count() / 4, 60)),
        m_where(" in " + acl.id) {}

  void plan(const address_to_block& address) {
    block_choice choice = choose(address);
    reserve(choice.intent);
    add_calls(choice);
    m_plan.intents.push_back(std::move(choice.intent));
  }

  block_plan take() { return std::move(m_plan); }

 private:
  // An address's step, and the record that step writes (none for a repair of our own record, a plain
  // "already", and the steps that fail).
  struct block_choice {
    block_intent intent;
    std::optional<block_record> record;
  };

  // --- Choosing the step ---

  block_choice choose(const address_to_block& address) const {
    const auto in_deny = effective_deny(m_acl, address.block, false);
    const auto out_deny = effective_deny(m_acl, address.block, true);
    const std::optional<int> orphan = find_orphan(address.block);
    const bool denied_by_others =
        in_deny && out_deny &&
        !(orphan && in_deny->rule_number == *orphan && out_deny->rule_number == *orphan);
    if (orphan && !denied_by_others && room_for_a_tag()) return adopt(address, *orphan);
    if (in_deny && out_deny) return already(address, *in_deny, *out_deny);
    if (auto repair = complete_own(address)) return std::move(*repair);
    return new_pair(address);
  }

  block_choice started(const address_to_block& address) const {
    block_choice c{block_intent{address}, std::nullopt};
    c.intent.expires = m_expires;
    return c;
  }

  block_record new_record(int rule_number, const cidr_block& block) const {
    block_record record{rule_number, block, m_now, m_expires, std::string(m_incident_id), {}};
    record.tag_value = block_tag_value(record);
    return record;
  }

  // An unrecorded deny of exactly this block in the window is what a create whose answer was lost (EC2 then
  // refuses the retry as a duplicate), or a record that could not be written, leaves behind. It is adopted:
  // completed and recorded, so that it expires like any other, instead of denying forever.
  std::optional<int> find_orphan(const cidr_block& block) const {
    auto exact = [&](const acl_entry* e) {
      return e->deny && e->all_protocols && e->block && *e->block == block;
    };
    for (int n = m_settings.rule_low; n <= m_settings.rule_high; ++n) {
      if (m_acl.blocks.contains(n) || m_taken.contains(n)) continue;
      const acl_entry* in = entry_at(m_acl, n, false);
      const acl_entry* out = entry_at(m_acl, n, true);
      if ((in || out) && (!in || exact(in)) && (!out || exact(out))) return n;
    }
    return std::nullopt;
  }

  block_choice adopt(const address_to_block& address, int n) const {
    block_choice c = started(address);
    c.intent.step = block_step::repair;
    c.intent.rule_number = n;
    c.intent.detail =
        "rule " + std::to_string(n) + " denied it without a record (an answer lost before): adopted";
    c.record = new_record(n, address.block);
    return c;
  }

  // Denied both ways already; a record of ours whose expiry is due to be pushed back is rewritten.
  block_choice already(const address_to_block& address, const acl_entry& in_deny,
                       const acl_entry& out_deny) const {
    block_choice c = started(address);
    block_intent& intent = c.intent;
    intent.step = block_step::already;
    intent.rule_number = in_deny.rule_number;
    const bool ours = is_ours(m_acl, in_deny);
    intent.detail = "denied by rule " + std::to_string(in_deny.rule_number) +
                    (in_deny.rule_number != out_deny.rule_number
                         ? " inbound and " + std::to_string(out_deny.rule_number) + " outbound"
                         : "") +
                    (ours ? "" : " (not Tourniquet's)");
    if (!ours) return c;
    block_record record = m_acl.blocks.at(in_deny.rule_number);
    intent.expires = record.expires;
    if (record.block == address.block && m_expires - record.expires >= m_extend_after) {
      record.expires = m_expires;
      record.tag_value = block_tag_value(record);
      c.record = std::move(record);
      intent.expires = m_expires;
      intent.detail += "; expiry moved to " + rfc3339(m_expires);
    }
    return c;
  }

  // Our own record of this very block, missing one direction (a failure or a race last time): complete it.
  std::optional<block_choice> complete_own(const address_to_block& address) const {
    for (const auto& [n, record] : m_acl.blocks) {
      if (record.block != address.block || m_taken.contains(n)) continue;
      const acl_entry* in = entry_at(m_acl, n, false);
      const acl_entry* out = entry_at(m_acl, n, true);
      const bool in_ours = in && is_ours(m_acl, *in);
      const bool out_ours = out && is_ours(m_acl, *out);
      if ((in && !in_ours) || (out && !out_ours) || in_ours == out_ours) continue;
      block_choice c = started(address);
      if (const acl_entry* allow = allow_before(m_acl, address.block, n))
        return shadowed(std::move(c), *allow, n);
      const bool egress = in_ours;  // the direction that is missing
      c.intent.step = block_step::repair;
      c.intent.rule_number = n;
      c.intent.expires = record.expires;
      c.intent.detail = "rule " + std::to_string(n) + " lacked its " + direction_name(egress) + " entry";
      return c;
    }
    return std::nullopt;
  }

  // A new pair of entries: a free number if there is one, else the number of our block due to expire first.
  block_choice new_pair(const address_to_block& address) const {
    block_choice c = started(address);
    block_intent& intent = c.intent;
    std::optional<int> number = free_number(address.block);
    if (!number) {
      const block_record* victim = oldest_evictable();
      if (!victim) return no_room(std::move(c), window_full_detail());
      number = victim->rule_number;
      intent.evicted = *victim;
    }
    const int n = *number;
    intent.rule_number = n;
    if (const acl_entry* allow = allow_before(m_acl, address.block, n))
      return shadowed(std::move(c), *allow, n);
    if (!m_acl.blocks.contains(n) && !room_for_a_tag()) {
      return no_room(std::move(c), "the network ACL carries " +
                                       std::to_string(m_acl.tag_count + m_tags_added) +
                                       " tags, EC2's limit: no room to record a block");
    }
    if (intent.evicted) {
      intent.step = block_step::evict;
      intent.detail = "replaces " + intent.evicted->block.text() + " (due to expire " +
                      rfc3339(intent.evicted->expires) + ")";
    } else {
      intent.step = block_step::create;
    }
    c.record = new_record(n, address.block);
    return c;
  }

  std::optional<int> free_number(const cidr_block& block) const {
    const int size = m_settings.rule_high - m_settings.rule_low + 1;
    const int start = preferred_rule_number(block, m_settings, m_attempt) - m_settings.rule_low;
    for (int i = 0; i < size && !m_acl.entry_limit_reached; ++i) {
      const int n = m_settings.rule_low + (start + i) % size;
      if (is_free(n)) return n;
    }
    return std::nullopt;
  }

  // Our record in the window due to expire first, whose entries are all ours, and which this request does not
  // block itself.
  const block_record* oldest_evictable() const {
    const block_record* victim = nullptr;
    for (const auto& [n, record] : m_acl.blocks) {
      if (n < m_settings.rule_low || n > m_settings.rule_high || m_taken.contains(n) ||
          requested(record.block))
        continue;
      const acl_entry* in = entry_at(m_acl, n, false);
      const acl_entry* out = entry_at(m_acl, n, true);
      if ((!in && !out) || (in && !is_ours(m_acl, *in)) || (out && !is_ours(m_acl, *out))) continue;
      if (!victim ||
          std::tie(record.expires, record.rule_number) < std::tie(victim->expires, victim->rule_number)) {
        victim = &record;
      }
    }
    return victim;
  }

  block_choice shadowed(block_choice c, const acl_entry& allow, int n) const {
    c.intent.step = block_step::shadowed;
    c.intent.rule_number = n;
    c.intent.evicted.reset();
    c.intent.detail = "allow rule " + std::to_string(allow.rule_number) + " comes before rule " +
                      std::to_string(n) + m_where + ": set TOURNIQUET_BLOCK_RULE_RANGE below it";
    return c;
  }

  block_choice no_room(block_choice c, std::string detail) const {
    c.intent.step = block_step::no_room;
    c.intent.evicted.reset();
    c.intent.detail = std::move(detail);
    return c;
  }

  std::string window_full_detail() const {
    return m_acl.entry_limit_reached
               ? "the network ACL holds as many entries as EC2 allows, none of them Tourniquet's to replace"
               : "rule numbers " + std::to_string(m_settings.rule_low) + "-" +
                     std::to_string(m_settings.rule_high) + m_where +
                     " hold only rules Tourniquet did not create (or this request's own)";
  }

  bool room_for_a_tag() const { return m_acl.tag_count + m_tags_added + 1 <= max_tags_per_acl; }

  bool is_free(int n) const {
    return !m_taken.contains(n) && !entry_at(m_acl, n, false) && !entry_at(m_acl, n, true);
  }

  bool requested(const cidr_block& b) const {
    return std::any_of(m_addresses.begin(), m_addresses.end(), [&](const auto& a) { return a.block == b; });
  }

  // A step that writes at a number keeps it from the later addresses, and its new record takes a tag.
  void reserve(const block_intent& intent) {
    const block_step s = intent.step;
    if (s != block_step::repair && s != block_step::create && s != block_step::evict) return;
    if (!m_acl.blocks.contains(intent.rule_number)) ++m_tags_added;
    m_taken.insert(intent.rule_number);
  }

  // --- The calls of each step ---

  void add_calls(block_choice& c) {
    switch (c.intent.step) {
      case block_step::already:
        if (c.record) c.intent.other_indices.push_back(add_record(*c.record, {}));
        break;
      case block_step::repair:
        add_missing_entries(c);
        break;
      case block_step::create:
      case block_step::evict:
        add_new_pair(c);
        break;
      case block_step::no_room:
      case block_step::shadowed:
        break;
    }
  }

  // The entries the rule lacks, then (for an adopted deny) its record.
  void add_missing_entries(block_choice& c) {
    block_intent& intent = c.intent;
    const int n = intent.rule_number;
    std::vector<size_t> creates;
    for (bool egress : {false, true}) {
      if (entry_at(m_acl, n, egress)) continue;
      creates.push_back(add_entry(deny_address, create_entry(m_acl.id, n, egress, intent.address.block),
                                  intent.address.block.text(), egress, n, {}));
    }
    if (!creates.empty()) intent.claim_index = creates.front();
    if (c.record) intent.other_indices.push_back(add_record(*c.record, creates));
  }

  // Evictions first (the number is reused once it is free), then the inbound entry, which claims the number,
  // then the outbound entry and the record.
  void add_new_pair(block_choice& c) {
    block_intent& intent = c.intent;
    const int n = intent.rule_number;
    const cidr_block& block = intent.address.block;
    std::vector<size_t> evictions;
    if (intent.evicted) {
      for (bool egress : {false, true}) {
        if (!entry_at(m_acl, n, egress)) continue;
        evictions.push_back(add_entry(evict_block, delete_entry(m_acl.id, n, egress),
                                      intent.evicted->block.text(), egress, n, {}));
      }
    }
    intent.claim_index =
        add_entry(deny_address, create_entry(m_acl.id, n, false, block), block.text(), false, n, evictions);
    intent.other_indices = evictions;
    intent.other_indices.push_back(add_entry(deny_address, create_entry(m_acl.id, n, true, block),
                                             block.text(), true, n, {*intent.claim_index}));
    intent.other_indices.push_back(add_record(*c.record, {*intent.claim_index}));
  }

  // "203.0.113.7/32 inbound rule 71"
  size_t add_entry(const action_kind& kind, query_call call, const std::string& cidr, bool egress, int n,
                   std::vector<size_t> needs) {
    return add(kind, std::move(call), cidr + " " + direction_name(egress) + " rule " + std::to_string(n),
               std::move(needs));
  }

  // "203.0.113.7/32 rule 71 expires 2026-…"
  size_t add_record(const block_record& record, std::vector<size_t> needs) {
    return add(record_block, tag_call("CreateTags", m_acl.id, record),
               record.block.text() + " rule " + std::to_string(record.rule_number) + " expires " +
                   rfc3339(record.expires),
               std::move(needs));
  }

  size_t add(const action_kind& kind, query_call call, std::string detail, std::vector<size_t> needs) {
    m_plan.calls.push_back({&kind, m_acl.id, std::move(call), std::move(detail), std::move(needs)});
    return m_plan.calls.size() - 1;
  }

  const acl_state& m_acl;
  const std::vector<address_to_block>& m_addresses;
  const network_block_settings& m_settings;
  const std::int64_t m_now;
  const std::string_view m_incident_id;
  const int m_attempt;
  const std::int64_t m_expires;
  const std::int64_t m_extend_after;
  const std::string m_where;
  block_plan m_plan;
  std::set<int> m_taken;  // numbers this plan uses
  std::size_t m_tags_added = 0;
};

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
  block_planner planner(acl, addresses, settings, now, incident_id, attempt);
  for (const auto& address : addresses) planner.plan(address);
  return planner.take();
}

}  // namespace tq::handlers
