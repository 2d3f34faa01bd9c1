// The list of playbooks, and routing over it.
#include <map>
#include <set>

#include "handlers/playbook.h"
#include "handlers/playbooks/attack_sequence.h"
#include "handlers/playbooks/bucket_protection.h"
#include "handlers/playbooks/credential_containment.h"
#include "handlers/playbooks/escalation.h"
#include "handlers/playbooks/exposure_fix.h"
#include "handlers/playbooks/function_containment.h"
#include "handlers/playbooks/instance_containment.h"
#include "handlers/playbooks/network_block.h"
#include "handlers/securityhub_in.h"

namespace tq::handlers {
namespace {

using playbook_factory = result<std::unique_ptr<const playbook>> (*)(const env_reader& env);

// Every playbook, in the order their jobs run for one event. An explicit list rather than self-registration:
// a static library drops the object files nothing refers to, and with them their registrations. Escalation
// stays last: it answers the findings no playbook before it took or looked at.
constexpr playbook_factory all_playbooks[] = {
    &make_instance_containment, &make_network_block, &make_credential_containment, &make_function_containment,
    &make_exposure_fix,         &make_block_expiry,  &make_securityhub_actions,    &make_attack_sequence,
    &make_bucket_protection,    &make_escalation,
};

constexpr std::string_view router_name = "router";

std::optional<playbook_report> report_passed_over(const routing& routed, const std::string& unhandled);

// "resource type S3Bucket", "cloudtrail_event (aws.s3 / AWS API Call via CloudTrail)": what no playbook took.
std::string unhandled(const decoded_event& event) {
  if (const auto* finding = std::get_if<guardduty_finding>(&event)) {
    return "resource type " + finding->resource_type;
  }
  std::string what(kind_name(event));
  if (const auto* unknown = std::get_if<unknown_event>(&event)) {
    what += " (" + unknown->envelope.source + " / " + unknown->envelope.detail_type + ")";
  }
  return what;
}

std::optional<std::string> finding_refusal(bool sample, bool archived) {
  if (sample) return "a sample finding (made by CreateSampleFindings), not a real one";
  if (archived) return "the finding is archived";
  return std::nullopt;
}

}  // namespace

playbook_report playbook::release(std::string_view target, const playbook_context&) const {
  return concluded(std::string(name()), report_status::failed, std::string(target),
                   std::string(name()) + " changes nothing that a release could put back");
}

result<playbook_list> make_playbooks(const env_reader& env) {
  playbook_list playbooks;
  for (playbook_factory make : all_playbooks) {
    auto made = make(env);
    if (!made) return std::move(made).err();
    playbooks.push_back(std::move(*made));
  }
  return playbooks;
}

const playbook* find_playbook(const playbook_list& playbooks, std::string_view name) {
  for (const auto& p : playbooks) {
    if (p->name() == name) return p.get();
  }
  return nullptr;
}

std::optional<std::string> finding_refusal(const guardduty_finding& finding) {
  return finding_refusal(finding.sample, finding.archived);
}

routing route_event(const playbook_list& playbooks, const decoded_event& event, const config& cfg) {
  routing out;
  if (const auto* finding = std::get_if<guardduty_finding>(&event)) {
    if (auto why = finding_refusal(*finding)) {
      out.passed.push_back({router_name, 0, std::move(*why)});
      return out;
    }
    // An attack sequence names many resources: its playbook hands each to the playbook for its kind, and no
    // other route sees the whole (its top-level resource is one member among many).
    if (finding->sequence) {
      if (const playbook* p = find_playbook(playbooks, sequence_playbook)) p->route(event, cfg, out);
      return out;
    }
  }
  for (const auto& p : playbooks) p->route(event, cfg, out);
  return out;
}

std::optional<routing> route_summary(const playbook_list& playbooks, const finding_summary& finding,
                                     const config& cfg) {
  routing out;
  if (auto why = finding_refusal(finding.sample, finding.archived)) {
    out.passed.push_back({router_name, 0, std::move(*why)});
    return out;
  }
  if (finding.sequence) return std::nullopt;  // its members are routed from the decoded sequence
  for (const auto& p : playbooks) {
    if (p->may_take(finding, cfg, out)) return std::nullopt;
  }
  return out;
}

std::optional<playbook_report> passed_over_report(const routing& routed, const finding_summary& finding) {
  return report_passed_over(routed, "resource type " + finding.resource_type);
}

std::optional<playbook_report> passed_over_report(const routing& routed, const decoded_event& event) {
  return report_passed_over(routed, unhandled(event));
}

namespace {

std::optional<playbook_report> report_passed_over(const routing& routed, const std::string& unhandled) {
  std::set<std::size_t> taken;
  for (const auto& j : routed.jobs) taken.insert(j.item);
  std::set<std::string_view> who;
  for (const auto& p : routed.passed) {
    if (!taken.contains(p.item)) who.insert(p.playbook);
  }
  if (who.empty()) {
    if (!routed.jobs.empty()) return std::nullopt;
    return ignored(std::string(router_name), "", "no playbook handles " + unhandled);
  }
  // One reason per line of thought, with how many records gave it when a batch repeats one.
  const bool several = who.size() > 1;
  std::map<std::string, int> count;
  std::vector<std::string> order;
  for (const auto& p : routed.passed) {
    if (taken.contains(p.item)) continue;
    std::string reason = several ? std::string(p.playbook) + ": " + p.reason : p.reason;
    if (count[reason]++ == 0) order.push_back(std::move(reason));
  }
  std::vector<std::string> reasons;
  for (const auto& r : order)
    reasons.push_back(count[r] == 1 ? r : std::to_string(count[r]) + " records: " + r);
  const std::string name(several ? router_name : *who.begin());
  return ignored(name, "", join_list(reasons, "; "));
}

}  // namespace

}  // namespace tq::handlers
