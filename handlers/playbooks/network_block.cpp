// The network-block playbook: what to block and where, the ACLs of the target read, then rounds of plan,
// execute and re-read until every address is settled.
#include "handlers/playbooks/network_block.h"

#include <algorithm>
#include <set>

#include "handlers/confirmation.h"
#include "handlers/playbooks/attack_sequence.h"
#include "handlers/playbooks/network_block_internal.h"
#include "runtime/log.h"

namespace tq::handlers {
namespace {

using aws::items_of;
using aws::text_of;
using namespace network_block_internal;

// "i-0abc", or the subnets or ACLs given.
std::string target_name(const block_target& target) {
  return target.instance_id
             ? *target.instance_id
             : join_list(target.network_acl_ids.empty() ? target.subnet_ids : target.network_acl_ids);
}

}  // namespace

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
  // A function in a VPC: the subnets its interfaces sit in.
  if (finding.families.lambda && !finding.instance) t.subnet_ids = finding.families.lambda->subnet_ids;
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

// --- Reading the network ACLs --------------------------------------------------------------------------

namespace {

struct resolved_acls {
  std::vector<acl_state> acls;
  std::vector<std::string> notes;
};

// Sends reads; their failures go into the report.
execution send_reads(std::vector<planned_call> calls, const playbook_context& ctx, playbook_report& report) {
  execution run = execute_plan(calls, ctx.client, ctx.until, false);
  report.round_trips += run.round_trips;
  for (const auto& r : run.records) {
    if (r.result == outcome::failed) report.actions.push_back(r);
  }
  return run;
}

// Where the target's addresses are blocked: the subnets, and the VPCs when the instance was read.
struct target_network {
  std::vector<std::string> subnets;
  std::vector<std::string> vpcs;
  std::optional<std::string> note;
};

// The subnets and VPCs of the target's instance as it is now; the subnets the finding named when it is gone.
result<target_network> read_instance_network(const block_target& target, const playbook_context& ctx,
                                             playbook_report& report) {
  target_network out{target.subnet_ids, {}, std::nullopt};
  std::vector<planned_call> reads{read_instance_call(*target.instance_id)};
  // GetFindings rides with the first read, so confirming the finding costs no round trip.
  const auto confirm_at = ctx.confirmation ? ctx.confirmation->add_to(reads) : std::nullopt;
  execution run = execute_plan(reads, ctx.client, ctx.until, false);
  if (confirm_at) ctx.confirmation->absorb(run, *confirm_at);
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
          if (!vpc.empty() && std::find(out.vpcs.begin(), out.vpcs.end(), vpc) == out.vpcs.end())
            out.vpcs.push_back(vpc);
        }
      }
    }
  } else if (!run.records[0].failure->code.starts_with("InvalidInstanceID")) {
    report.actions.push_back(run.records[0]);
    return *run.records[0].failure;
  }
  if (found && !live.empty()) {
    out.subnets = std::move(live);
  } else if (!target.subnet_ids.empty()) {
    // A terminated instance has no interfaces left, but its subnets still hold the attacker's other targets.
    out.note = "instance " + *target.instance_id +
               " is gone or has no interfaces: using the subnets the finding named";
  } else {
    return error{"InstanceNotFound",
                 "instance " + *target.instance_id + " does not exist in account " + target.account_id +
                     " or has no network interfaces",
                 "ec2:DescribeInstances"};
  }
  return out;
}

// An error naming the first ACL asked for (or the first subnet's ACL) that the read did not return.
std::optional<error> missing_acl(const block_target& target, const std::vector<std::string>& subnets,
                                 const std::vector<acl_state>& acls) {
  if (!target.network_acl_ids.empty()) {
    for (const auto& id : target.network_acl_ids) {
      if (std::none_of(acls.begin(), acls.end(), [&](const acl_state& a) { return a.id == id; })) {
        return error{"NetworkAclNotFound", "network ACL " + id + " does not exist",
                     "ec2:DescribeNetworkAcls"};
      }
    }
    return std::nullopt;
  }
  for (const auto& subnet : subnets) {
    const bool found = std::any_of(acls.begin(), acls.end(), [&](const acl_state& a) {
      return std::find(a.subnet_ids.begin(), a.subnet_ids.end(), subnet) != a.subnet_ids.end();
    });
    if (!found)
      return error{"NetworkAclNotFound", "no network ACL is associated with subnet " + subnet,
                   "ec2:DescribeNetworkAcls"};
  }
  return std::nullopt;
}

// Gives each ACL its VPC's CIDR blocks: those already read in `cidrs`, the rest read now.
std::optional<error> add_vpc_cidrs(std::vector<acl_state>& acls,
                                   std::map<std::string, std::vector<cidr_block>> cidrs,
                                   const playbook_context& ctx, playbook_report& report) {
  std::vector<std::string> missing;
  for (const auto& acl : acls) {
    if (!cidrs.contains(acl.vpc_id) &&
        std::find(missing.begin(), missing.end(), acl.vpc_id) == missing.end()) {
      missing.push_back(acl.vpc_id);
    }
  }
  if (!missing.empty()) {
    execution vpc_run = send_reads({read_vpcs_call(missing)}, ctx, report);
    // Without the VPC's ranges the never-block check is incomplete: stop rather than risk blocking the VPC.
    if (!vpc_run.answers[0]) return *vpc_run.records[0].failure;
    for (auto& [id, list] : vpc_cidrs_from_xml(vpc_run.answers[0]->xml().result()))
      cidrs[id] = std::move(list);
  }
  for (auto& acl : acls) {
    if (!cidrs.contains(acl.vpc_id)) {
      return error{"VpcNotFound", "VPC " + acl.vpc_id + " of " + acl.id + " could not be read",
                   "ec2:DescribeVpcs"};
    }
    acl.vpc_cidrs = cidrs.at(acl.vpc_id);
  }
  return std::nullopt;
}

// Instance -> subnets -> network ACLs -> their VPCs' CIDR blocks.
result<resolved_acls> resolve_acls(const block_target& target, const playbook_context& ctx,
                                   playbook_report& report) {
  resolved_acls out;
  target_network network{target.subnet_ids, {}, std::nullopt};
  if (target.instance_id) {
    auto live = read_instance_network(target, ctx, report);
    if (!live) return std::move(live).err();
    network = std::move(*live);
    if (network.note) out.notes.push_back(*network.note);
  }
  std::vector<planned_call> reads{read_acls_call(
      target.network_acl_ids.empty() ? network.subnets : std::vector<std::string>{}, target.network_acl_ids)};
  std::optional<std::size_t> vpcs_at;  // GetFindings may ride in the batch too: each answer by its index
  if (!network.vpcs.empty()) {
    vpcs_at = reads.size();
    reads.push_back(read_vpcs_call(network.vpcs));
  }
  // Without an instance to read, this is the first batch, and GetFindings rides in it.
  const auto confirm_at =
      ctx.confirmation && !target.instance_id ? ctx.confirmation->add_to(reads) : std::nullopt;
  execution run = send_reads(std::move(reads), ctx, report);
  if (confirm_at) ctx.confirmation->absorb(run, *confirm_at);
  if (!run.answers[0]) return *run.records[0].failure;
  out.acls = acls_from_xml(run.answers[0]->xml().result());
  if (auto missing = missing_acl(target, network.subnets, out.acls)) return *missing;
  std::map<std::string, std::vector<cidr_block>> cidrs;
  if (vpcs_at && run.answers[*vpcs_at]) cidrs = vpc_cidrs_from_xml(run.answers[*vpcs_at]->xml().result());
  if (auto failed = add_vpc_cidrs(out.acls, std::move(cidrs), ctx, report)) return *failed;
  return out;
}

// Re-reads the given ACLs, keeping what the first read learnt (VPC ranges, the entry limit).
result<std::vector<acl_state>> reread_acls(const std::vector<acl_state>& previous,
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

// --- Blocking -------------------------------------------------------------------------------------------

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

// Addresses first: a malformed one or one that must never be blocked is refused before any call.
std::vector<address_to_block> refuse_bad_addresses(const block_target& target,
                                                   const network_block_settings& settings,
                                                   std::vector<address_row>& rows, playbook_report& report) {
  std::vector<address_to_block> candidates;
  for (const auto& given : target.addresses) {
    auto parsed = parse_cidr(given);
    if (!parsed) {
      rows.push_back({given, "", "", outcome::skipped, 0, 0, parsed.err().message, std::nullopt});
      report.actions.push_back(skipped_record(deny_address, given, parsed.err().message));
      continue;
    }
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
  return candidates;
}

// Addresses to block, by network ACL id.
using addresses_by_acl = std::map<std::string, std::vector<address_to_block>>;

// What is left to do, per ACL; the VPC's own ranges are refused here.
addresses_by_acl refuse_vpc_ranges(const std::vector<acl_state>& acls,
                                   const std::vector<address_to_block>& candidates,
                                   const network_block_settings& settings, std::vector<address_row>& rows,
                                   playbook_report& report) {
  addresses_by_acl todo;
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
  return todo;
}

// One round over every ACL with addresses left: its calls, each address's intent (with its ACL), what the
// calls did, and what the next round re-reads and plans again.
struct block_round {
  std::vector<planned_call> calls;
  std::vector<std::pair<std::string, block_intent>> intents;
  execution run;
  addresses_by_acl again;
  std::set<std::string> reread_ids;
};

// (network ACL id, address as given)
using acl_address = std::pair<std::string, std::string>;

// Rounds of plan -> execute -> settle -> re-read, until every address is settled in every ACL: a rule
// number taken by a concurrent invocation between our read and our call sends the address to another round.
class block_rounds {
 public:
  block_rounds(const block_target& target, const playbook_context& ctx,
               const network_block_settings& settings, playbook_report& report, std::vector<acl_state> acls,
               addresses_by_acl todo)
      : m_target(target),
        m_ctx(ctx),
        m_settings(settings),
        m_report(report),
        m_acls(std::move(acls)),
        m_todo(std::move(todo)) {}

  void run() {
    for (int round = 1; !m_todo.empty(); ++round) {
      if (round > m_settings.max_rounds) {
        give_up();
        break;
      }
      block_round r = plan_round(round - 1);
      r.run = execute_plan(r.calls, m_ctx.client, m_ctx.until, m_ctx.dry_run);
      for (const auto& [acl_id, intent] : r.intents) settle(acl_id, intent, r);
      append(m_report, r.run);
      if (m_ctx.dry_run || r.reread_ids.empty()) break;
      if (!reread(r)) break;
    }
  }

  // One row per (ACL, address), in the order they were first settled.
  void take_rows(std::vector<address_row>& rows) {
    for (const auto& key : m_order) rows.push_back(std::move(m_settled[key]));
  }

 private:
  block_round plan_round(int attempt) const {
    block_round r;
    const std::int64_t now = epoch_now();
    for (const auto& acl : m_acls) {
      auto pending = m_todo.find(acl.id);
      if (pending == m_todo.end()) continue;
      block_plan p = plan_blocks(acl, pending->second, m_settings, now, m_target.incident_id, attempt);
      const size_t offset = r.calls.size();
      for (auto& call : p.calls) {
        for (auto& i : call.needs) i += offset;
        for (auto& i : call.after) i += offset;
        r.calls.push_back(std::move(call));
      }
      for (auto& intent : p.intents) {
        if (intent.claim_index) *intent.claim_index += offset;
        for (auto& i : intent.other_indices) i += offset;
        r.intents.emplace_back(acl.id, std::move(intent));
      }
    }
    return r;
  }

  void give_up() {
    for (const auto& [acl_id, list] : m_todo) {
      for (const auto& a : list) {
        const acl_address key{acl_id, a.given};
        if (!m_settled.contains(key)) m_order.push_back(key);
        m_settled[key] = {a.given,
                          a.block.text(),
                          acl_id,
                          outcome::failed,
                          0,
                          0,
                          "the rule numbers kept being taken by concurrent changes; gave up after " +
                              std::to_string(m_settings.max_rounds) + " attempts",
                          std::nullopt};
      }
    }
  }

  // The outcome of one address in one ACL once the round's calls ran.
  void settle(const std::string& acl_id, const block_intent& intent, block_round& r) {
    address_row row{intent.address.given,
                    intent.address.block.text(),
                    acl_id,
                    outcome::done,
                    intent.rule_number,
                    intent.expires,
                    intent.detail,
                    std::nullopt};
    const acl_address key{acl_id, intent.address.given};
    std::vector<size_t> mine = intent.other_indices;
    if (intent.claim_index) mine.insert(mine.begin(), *intent.claim_index);
    switch (intent.step) {
      case block_step::no_room:
      case block_step::shadowed:
        settle_refused(row, intent);
        break;
      case block_step::already:
        settle_already(row, key, intent, mine, r.run);
        break;
      default:
        settle_written(row, key, intent, mine, r);
    }
    if (intent.evicted && row.result == outcome::done) {
      row.detail = "replaced " + intent.evicted->block.text() + " (due to expire " +
                   rfc3339(intent.evicted->expires) + ")";
    }
    if (!m_settled.contains(key)) m_order.push_back(key);
    m_settled[key] = row;
  }

  // No room in the window, or an allow before it: nothing was sent for this address.
  void settle_refused(address_row& row, const block_intent& intent) {
    row.result = outcome::failed;
    row.rule_number = intent.step == block_step::shadowed ? intent.rule_number : 0;
    row.expires = 0;
    m_report.actions.push_back({std::string(deny_address.name),
                                intent.address.given + " in " + row.acl_id,
                                outcome::failed,
                                intent.detail,
                                error{"BlockNotPossible", intent.detail, row.acl_id},
                                {}});
  }

  // Denied already: by an earlier round of this invocation (blocked), or before it (already).
  void settle_already(address_row& row, const acl_address& key, const block_intent& intent,
                      const std::vector<size_t>& mine, const execution& run) {
    row.result = m_blocked_here.contains(key) ? outcome::done : outcome::already;
    if (!mine.empty() && run.records[mine.front()].result == outcome::failed) {
      row.result = outcome::failed;
      row.failure = run.records[mine.front()].failure;
      row.detail += " (recording the new expiry failed)";
    }
    if (m_settled.contains(key) && m_settled[key].result == outcome::done) {
      row = m_settled[key];
    }
    if (mine.empty() && row.result == outcome::already) {
      m_report.actions.push_back(
          already_record(deny_address, intent.address.given + " in " + row.acl_id, intent.detail));
    }
  }

  // A create, repair or eviction was sent: failed for good (hard), lost a race (soft: another round), or
  // done, which the re-read then checks.
  void settle_written(address_row& row, const acl_address& key, const block_intent& intent,
                      const std::vector<size_t>& mine, block_round& r) {
    std::optional<error> hard, soft;
    for (size_t i : mine) {
      const auto& f = r.run.records[i].failure;
      if (!f) continue;
      (worth_another_round(*f) ? soft : hard) = f;
    }
    if (m_ctx.dry_run) {
      row.result = hard ? outcome::failed : outcome::planned;
      row.failure = hard;
      return;
    }
    if (hard) {
      row.result = outcome::failed;
      row.failure = hard;
      const bool claimed = intent.claim_index && r.run.records[*intent.claim_index].result == outcome::done;
      if (claimed && r.run.records[mine.back()].action == record_block.name &&
          r.run.records[mine.back()].result == outcome::failed) {
        row.detail = "the deny is in place but its tag could not be written: it will not expire by itself";
      }
    } else if (soft) {
      row.result = outcome::failed;  // until a later round settles it
      row.failure = soft;
      supersede(row.acl_id, intent, mine, *soft, r);
    } else {
      // Created: checked on the fresh read below, since a concurrent change could have undone it.
      m_blocked_here.insert(key);
      r.again[row.acl_id].push_back(intent.address);
    }
    r.reread_ids.insert(row.acl_id);
  }

  // Someone took the number (or the ACL filled up) between our read and our call: read again, plan again.
  void supersede(const std::string& acl_id, const block_intent& intent, const std::vector<size_t>& mine,
                 const error& soft, block_round& r) {
    r.again[acl_id].push_back(intent.address);
    if (soft.code == entry_limit_code) {
      for (auto& acl : m_acls) acl.entry_limit_reached |= acl.id == acl_id;
    }
    for (size_t i : mine) {
      r.run.records[i].result = outcome::skipped;
      r.run.records[i].unfinished = false;  // the next round plans it again on a fresh read
      r.run.records[i].detail =
          r.calls[i].detail + " (superseded: " + soft.code + "; planned again on a fresh read)";
      r.run.records[i].failure.reset();
    }
  }

  // The fresh read: what we created and can see denied is settled; the rest is planned again. False when
  // the read failed (what it would have checked is then failed, unless this invocation created it).
  bool reread(const block_round& r) {
    auto fresh = reread_acls(m_acls, std::vector<std::string>(r.reread_ids.begin(), r.reread_ids.end()),
                             m_ctx, m_report);
    if (!fresh) {
      for (const auto& [acl_id, list] : r.again) {
        for (const auto& a : list) {
          auto& row = m_settled[{acl_id, a.given}];
          if (!m_blocked_here.contains({acl_id, a.given})) {
            row.result = outcome::failed;
            row.failure = fresh.err();
          }
        }
      }
      return false;
    }
    for (auto& acl : *fresh) {
      for (auto& old : m_acls) {
        if (old.id == acl.id) old = acl;
      }
    }
    requeue(r.again);
    return true;
  }

  void requeue(const addresses_by_acl& again) {
    m_todo.clear();
    for (const auto& entry : again) {
      const std::string& acl_id = entry.first;  // not a structured binding: clang 14 cannot capture those
      const auto& list = entry.second;
      const acl_state& acl =
          *std::find_if(m_acls.begin(), m_acls.end(), [&](const acl_state& a) { return a.id == acl_id; });
      for (const auto& a : list) {
        const bool denied = effective_deny(acl, a.block, false) && effective_deny(acl, a.block, true);
        if (m_blocked_here.contains({acl_id, a.given}) && denied) continue;
        if (m_blocked_here.contains({acl_id, a.given})) {
          m_settled[{acl_id, a.given}].detail = "undone by a concurrent change; tried again";
        }
        m_todo[acl_id].push_back(a);
      }
    }
  }

  const block_target& m_target;
  const playbook_context& m_ctx;
  const network_block_settings& m_settings;
  playbook_report& m_report;
  std::vector<acl_state> m_acls;
  addresses_by_acl m_todo;  // what is left to do, per ACL
  // The outcome of each (ACL, address) once settled, and the order of first settling, for the response.
  std::map<acl_address, address_row> m_settled;
  std::vector<acl_address> m_order;
  std::set<acl_address> m_blocked_here;  // what this invocation created
};

long elapsed_ms(const playbook_context& ctx) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - ctx.arrived)
      .count();
}

playbook_report finished(playbook_report& report, const std::vector<address_row>& rows,
                         const playbook_context& ctx, report_status status) {
  report.details["addresses"] = nlohmann::ordered_json::array();
  for (const auto& row : rows) report.details["addresses"].push_back(to_json(row));
  report.status = status;
  report.total_ms = elapsed_ms(ctx);
  return report;
}

// Checks the event's addresses against GuardDuty's own copy of the finding: a report when nothing may be
// blocked (forged, unreachable, or the copy routes elsewhere), else the candidates GuardDuty also names.
std::optional<playbook_report> confirm_candidates(const playbook_context& ctx, const block_target& target,
                                                  const network_block_settings& settings,
                                                  std::vector<address_to_block>& candidates,
                                                  playbook_report& report) {
  const std::string name(network_block_playbook);
  if (auto stop = unconfirmed_report(ctx.confirmation, name, report.target)) return stop;
  if (ctx.confirmation == nullptr) return std::nullopt;
  const guardduty_finding& real = *ctx.confirmation->confirmed();
  auto why = finding_refusal(real);
  const std::string& member = target.sequence_member;  // a sequence's endpoints: its own route's rules
  if (!why && !member.empty()) {
    why = sequence_member_refusal(real, member, settings.min_severity, "TOURNIQUET_BLOCK_MIN_SEVERITY");
  } else if (!why) {
    why = network_block_refusal(real, settings);
    if (!why && target_name(block_target_of(real)) != report.target) why = "it names another target";
  }
  if (why) return not_confirmed_route(name, report.target, *why);
  const auto named = member.empty() ? real.remote_addresses : sequence_addresses(*real.sequence);
  std::vector<std::string> dropped;
  std::erase_if(candidates, [&](const address_to_block& c) {
    const bool unconfirmed = std::find(named.begin(), named.end(), c.given) == named.end();
    if (unconfirmed) dropped.push_back(c.given);
    return unconfirmed;
  });
  if (!dropped.empty()) report.details["notInGuardDutysCopy"] = dropped;
  if (candidates.empty()) return not_confirmed_route(name, report.target, "it names none of these addresses");
  return std::nullopt;
}

}  // namespace

playbook_report block_addresses(const block_target& target, const playbook_context& ctx,
                                const network_block_settings& settings) {
  playbook_report report;
  report.playbook = std::string(network_block_playbook);
  report.target = target_name(target);
  report.incident_id = target.incident_id;
  report.details["source"] = target.source;
  std::vector<address_row> rows;
  std::vector<address_to_block> candidates = refuse_bad_addresses(target, settings, rows, report);
  if (candidates.empty()) {
    report.reason = "no address may be blocked";
    return finished(report, rows, ctx, report_status::ignored);
  }

  auto resolved = resolve_acls(target, ctx, report);
  if (auto stop = confirm_candidates(ctx, target, settings, candidates, report)) return *stop;
  if (!resolved) {
    report.reason = resolved.err().describe();
    report.failure = resolved.err();
    for (const auto& c : candidates) {
      rows.push_back({c.given, c.block.text(), "", outcome::failed, 0, 0,
                      "the network ACLs could not be read", resolved.err()});
    }
    return finished(report, rows, ctx, report_status::failed);
  }
  if (!resolved->notes.empty()) report.details["notes"] = resolved->notes;
  report.details["networkAclIds"] = nlohmann::ordered_json::array();
  for (const auto& acl : resolved->acls) report.details["networkAclIds"].push_back(acl.id);

  addresses_by_acl todo = refuse_vpc_ranges(resolved->acls, candidates, settings, rows, report);
  block_rounds rounds(target, ctx, settings, report, std::move(resolved->acls), std::move(todo));
  rounds.run();
  rounds.take_rows(rows);

  bool failed = false;
  for (const auto& row : rows) failed |= row.result == outcome::failed;
  if (failed) report.reason = "some addresses could not be blocked";
  if (ctx.dry_run) return finished(report, rows, ctx, report_status::dry_run);
  return finished(report, rows, ctx,
                  failed || report.incomplete() ? report_status::incomplete : report_status::blocked);
}

// --- The playbook ---------------------------------------------------------------------------------------

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
    if (const auto* request = std::get_if<block_request>(&event))
      add(block_target_of(*request), request->envelope.region, out);  // the request's region: its ACLs'
  }

  bool may_take(const finding_summary& finding, const config&, routing& out) const override {
    if (finding.resource_type == "Lambda") return true;  // whether it runs in a VPC is in the details
    if (finding.resource_type != "Instance") return false;
    auto why = network_block_gate_refusal(finding.type, finding.severity, m_settings);
    if (why) out.passed.push_back({name(), 0, std::move(*why)});
    return !why;
  }

  playbook_report run(const job& work, const playbook_context& ctx) const override {
    return block_addresses(*std::any_cast<block_target>(&work.input), ctx, m_settings);
  }

 private:
  void add(block_target target, std::string region, routing& out) const {
    job j{name(), 0, target.account_id, std::move(region), {}, target.incident_id, target.source, {}};
    j.target = target_name(target);
    j.input = std::move(target);
    out.jobs.push_back(std::move(j));
  }

  network_block_settings m_settings;
};

}  // namespace

result<std::unique_ptr<const playbook>> make_network_block(const env_reader& env) {
  return playbook_from<network_block>(network_block_settings_from_environment(env));
}

}  // namespace tq::handlers
