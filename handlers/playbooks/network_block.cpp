// The network-block playbook: what to block and where, the ACLs of the target read, then rounds of plan,
// execute and re-read until every address is settled.
#include "handlers/playbooks/network_block.h"

#include <algorithm>
#include <set>

#include "handlers/playbooks/network_block_internal.h"
#include "runtime/log.h"

namespace tq::handlers {
namespace {

using aws::items_of;
using aws::text_of;
using namespace network_block_internal;

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

struct resolved_acls {
  std::vector<acl_state> acls;
  std::vector<std::string> notes;
};

// Sends reads; their failures go into the report.
execution read_network(std::vector<planned_call> calls, const playbook_context& ctx,
                       playbook_report& report) {
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
  execution run = execute_plan({read_instance_call(*target.instance_id)}, ctx.client, ctx.until, false);
  report.round_trips += run.round_trips;
  bool found = false;
  std::vector<std::string> live;
  if (run.answers[0]) {
    for (pugi::xml_node reservation : items_of(run.answers[0]->result().child("reservationSet"))) {
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
    execution vpc_run = read_network({read_vpcs_call(missing)}, ctx, report);
    // Without the VPC's ranges the never-block check is incomplete: stop rather than risk blocking the VPC.
    if (!vpc_run.answers[0]) return *vpc_run.records[0].failure;
    for (auto& [id, list] : vpc_cidrs_from_xml(vpc_run.answers[0]->result())) cidrs[id] = std::move(list);
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
  if (!network.vpcs.empty()) reads.push_back(read_vpcs_call(network.vpcs));
  execution run = read_network(std::move(reads), ctx, report);
  if (!run.answers[0]) return *run.records[0].failure;
  out.acls = acls_from_xml(run.answers[0]->result());
  if (auto missing = missing_acl(target, network.subnets, out.acls)) return *missing;
  std::map<std::string, std::vector<cidr_block>> cidrs;
  if (run.answers.size() > 1 && run.answers[1]) cidrs = vpc_cidrs_from_xml(run.answers[1]->result());
  if (auto failed = add_vpc_cidrs(out.acls, std::move(cidrs), ctx, report)) return *failed;
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
  std::vector<acl_state> fresh = acls_from_xml(run.answers[0]->result());
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

}  // namespace

result<std::unique_ptr<const playbook>> make_network_block(const env_reader& env) {
  auto settings = network_block_settings_from_environment(env);
  if (!settings) return std::move(settings).err();
  return std::unique_ptr<const playbook>(new network_block(std::move(*settings)));
}

}  // namespace tq::handlers
