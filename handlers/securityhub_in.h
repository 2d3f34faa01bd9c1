// Security Hub in: an analyst's custom actions (TourniquetContain, TourniquetRelease, TourniquetDryRun) on
// the findings they selected, and imported findings. A custom action hands each resource of each finding to
// the playbook for its type, in the resource's account and region, without the automatic floors (severity,
// type lists): the analyst decided. Exemptions and the never-act-on-myself rules still hold: they are in the
// playbooks' runs. AwsEc2Instance goes to instance containment, IAM keys, users and roles to credential
// containment, AwsLambdaFunction to function containment (concurrency 0), AwsS3Bucket to bucket protection,
// where "contain" means its public access block on, the prior configuration recorded (the reversible action;
// nothing else is done to a bucket). Imported GuardDuty findings are routed as their native events,
// thresholds included.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "handlers/action.h"
#include "handlers/event.h"
#include "handlers/playbook.h"

namespace tq::handlers {

// The action target Ids (at most 20 alphanumeric characters), as the template creates them.
inline constexpr std::string_view action_contain = "TourniquetContain";
inline constexpr std::string_view action_release = "TourniquetRelease";
inline constexpr std::string_view action_dry_run = "TourniquetDryRun";

// The playbook that fans custom actions out, and escalates the resources no playbook here acts on.
inline constexpr std::string_view securityhub_playbook = "security-hub";

// The id an ASFF finding's incident is derived from: GuardDuty's finding id for GuardDuty's findings (so the
// incident is the native delivery's), else the ASFF Id.
std::string source_id_of(const asff_finding& finding);

// The jobs of a custom action (pure): one per resource of each selected finding (item = the finding's index).
void route_custom_action(const securityhub_event& event, const config& cfg, routing& out);

// Each imported finding as the native event it stands for, or why it is not acted on.
using imported_finding = std::variant<guardduty_finding, std::string>;
std::vector<imported_finding> imported_as_native(const securityhub_event& event);

// Confirmation of a custom action's findings with Security Hub (while TOURNIQUET_CONFIRM_FINDINGS is on):
// anyone allowed to invoke the function could hand it a custom action, which acts whatever the severity. Each
// finding must be in Security Hub (GetFindings, in the region of the event: where the analyst clicked, which
// sees the findings it aggregates), from the same product and account, naming the resource. GuardDuty's
// confirmation does not apply: it re-applies the floors the analyst overrode.
std::vector<planned_call> plan_action_confirmation(const securityhub_event& event);

struct action_confirmation {
  std::map<std::size_t, std::string> forged;  // by finding index: why Security Hub does not confirm it
  std::optional<error> unreachable;           // Security Hub could not be asked: nothing is confirmed
};
// From the answers to the plan's calls (in its order).
action_confirmation judge_action_findings(const securityhub_event& event, const execution& run);

// The report that stands for `work` when its finding is not confirmed (ignored and marked forged), or could
// not be (failed, retryable); nullopt when it is.
std::optional<playbook_report> unconfirmed_action(const action_confirmation& confirmation, const job& work);

// Security Hub out's one kind (securityhub:GetFindings, securityhub:BatchUpdateFindings), declared with the
// playbook so that the policy holds it whenever TOURNIQUET_SECURITYHUB_UPDATES is on.
const action_kind& finding_update_action();

result<std::unique_ptr<const playbook>> make_securityhub_actions(const env_reader& env);

}  // namespace tq::handlers
