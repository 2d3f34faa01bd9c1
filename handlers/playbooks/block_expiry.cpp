// The block-expiry playbook: on a schedule, finds the network ACLs that carry Tourniquet's records, removes
// the denies whose time is up, then forgets their records.
#include <algorithm>
#include <cstdint>

#include "handlers/playbooks/network_block.h"
#include "handlers/playbooks/network_block_internal.h"

namespace tq::handlers {
namespace {

using aws::query_call;
using aws::service;
using namespace network_block_internal;

const action_kind& read_blocks =
    declare_action(block_expiry_playbook, "read-blocks", {"ec2:DescribeNetworkAcls"});
const action_kind& remove_deny =
    declare_action(block_expiry_playbook, "remove-deny", {"ec2:DeleteNetworkAclEntry"});
const action_kind& forget_block = declare_action(block_expiry_playbook, "forget-block", {"ec2:DeleteTags"});

}  // namespace

// --- Planning (pure) ------------------------------------------------------------------------------------

planned_call read_tagged_acls_call() {
  query_call call{service::ec2, "DescribeNetworkAcls", {}};
  call.params.add_filter(1, "tag-key", {std::string(tag_block_prefix) + "*"});
  return {&read_blocks, "network ACLs tagged " + std::string(tag_block_prefix) + "*", std::move(call)};
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

// --- The playbook ---------------------------------------------------------------------------------------

namespace {

// A record goes once none of its entries is left: then the number is free and the tag says nothing.
// `of_intent[k]` is the index of intent k's DeleteTags in `calls`, SIZE_MAX when it is kept.
struct forgetting {
  std::vector<planned_call> calls;
  std::vector<size_t> of_intent;
};

forgetting plan_forgetting(const expiry_plan& plan, const execution& removed) {
  forgetting out{{}, std::vector<size_t>(plan.intents.size(), SIZE_MAX)};
  for (size_t k = 0; k < plan.intents.size(); ++k) {
    const auto& intent = plan.intents[k];
    const bool gone = std::all_of(intent.delete_indices.begin(), intent.delete_indices.end(), [&](size_t i) {
      const auto& f = removed.records[i].failure;
      return removed.records[i].result != outcome::failed ||
             (f && f->code == "InvalidNetworkAclEntry.NotFound");
    });
    if (!gone) continue;
    out.of_intent[k] = out.calls.size();
    out.calls.push_back(plan_forget(intent.acl_id, intent.record));
  }
  return out;
}

// One line of the response per expired record; `failed` is set when one of them is still there.
nlohmann::ordered_json expired_rows(const expiry_plan& plan, const forgetting& forget,
                                    const execution& forgotten, bool dry_run, bool& failed) {
  nlohmann::ordered_json expired = nlohmann::ordered_json::array();
  for (size_t k = 0; k < plan.intents.size(); ++k) {
    const auto& intent = plan.intents[k];
    nlohmann::ordered_json j;
    j["networkAclId"] = intent.acl_id;
    j["ruleNumber"] = intent.record.rule_number;
    j["cidr"] = intent.record.block.text();
    j["createdAt"] = rfc3339(intent.record.created);
    j["expiredAt"] = rfc3339(intent.record.expires);
    if (!intent.record.incident.empty()) j["incidentId"] = intent.record.incident;
    const size_t call = forget.of_intent[k];
    const bool ok = call != SIZE_MAX && forgotten.records[call].result != outcome::failed;
    j["outcome"] = dry_run ? "planned" : ok ? "removed" : "failed";
    failed |= !ok;
    expired.push_back(std::move(j));
  }
  return expired;
}

}  // namespace

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
  const forgetting forget = plan_forgetting(plan, removed);
  execution forgotten = execute_plan(forget.calls, ctx.client, ctx.until, ctx.dry_run);
  append(report, forgotten);
  report.actions.insert(report.actions.end(), plan.left_alone.begin(), plan.left_alone.end());

  bool failed = false;
  nlohmann::ordered_json expired = expired_rows(plan, forget, forgotten, ctx.dry_run, failed);
  std::size_t kept = 0;
  for (const auto& acl : acls) {
    for (const auto& [n, record] : acl.blocks) kept += record.expires > now ? 1 : 0;
  }
  report.details["expired"] = std::move(expired);
  report.details["kept"] = kept;
  report.details["networkAcls"] = acls.size();
  report.details["region"] = ctx.client.settings().region;
  report.total_ms = elapsed_ms();
  report.status = ctx.dry_run                       ? report_status::dry_run
                  : (failed || report.incomplete()) ? report_status::incomplete
                                                    : report_status::expired;
  return report;
}

namespace {

// Each value once, in the order first given.
std::vector<std::string> distinct(std::string first, const std::vector<std::string>& more) {
  std::vector<std::string> out;
  if (!first.empty()) out.push_back(std::move(first));
  for (const auto& m : more) {
    if (std::find(out.begin(), out.end(), m) == out.end()) out.push_back(m);
  }
  return out;
}

// The schedule sweeps this account and the member accounts listed for it, in every region blocks may have
// been made: the schedule's own (the function's) and TOURNIQUET_REGIONS. The ACLs and their tags live in
// their region, so each region is read where it is.
class block_expiry final : public playbook {
 public:
  explicit block_expiry(std::vector<std::string> accounts) : m_accounts(std::move(accounts)) {}

  std::string_view name() const override { return block_expiry_playbook; }

  void route(const decoded_event& event, const config& cfg, routing& out) const override {
    const auto* schedule = std::get_if<scheduled_event>(&event);
    if (schedule == nullptr) return;
    const auto accounts = distinct(schedule->envelope.account, m_accounts);
    const auto regions = distinct(schedule->envelope.region, cfg.regions);
    for (const auto& account : accounts) {
      for (const auto& region : regions) {
        const std::string target = regions.size() > 1 ? account + " " + region : account;
        out.jobs.push_back(job{name(), 0, account, region, target, "", "expired blocks", {}});
      }
    }
  }

  // Its route looks at no GuardDuty finding.
  bool may_take(const finding_summary&, const config&, routing&) const override { return false; }

  playbook_report run(const job&, const playbook_context& ctx) const override { return expire_blocks(ctx); }

 private:
  std::vector<std::string> m_accounts;
};

}  // namespace

result<std::unique_ptr<const playbook>> make_block_expiry(const env_reader& env) {
  auto settings = network_block_settings_from_environment(env);
  if (!settings) return std::move(settings).err();
  return std::unique_ptr<const playbook>(new block_expiry(std::move(settings->expiry_accounts)));
}

}  // namespace tq::handlers
