// Security Hub out: with TOURNIQUET_SECURITYHUB_UPDATES=true, after the playbooks ran, each finding acted on
// is updated with BatchUpdateFindings: a Note (UpdatedBy "tourniquet") with the incident id and one line of
// what was done or why not, and Workflow.Status NOTIFIED when something was contained or a person is needed.
// The finding's current Note is read first (GetFindings): an identical note is not added again (replays), and
// a finding Security Hub does not know is reported, never failing the invocation.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "aws/client.h"
#include "handlers/action.h"
#include "handlers/event.h"
#include "handlers/report.h"
#include "runtime/environment.h"

namespace tq::handlers {

inline constexpr std::size_t max_note_text = 512;  // BatchUpdateFindings' Note.Text limit
inline constexpr const char* note_author = "tourniquet";

// TOURNIQUET_SECURITYHUB_UPDATES (default false).
result<bool> securityhub_updates_from_environment(const env_reader& env);

// A finding as Security Hub knows it.
struct finding_reference {
  std::string id;           // a GuardDuty finding's ARN for GuardDuty's findings
  std::string product_arn;  // arn:<partition>:securityhub:<region>::product/aws/guardduty for GuardDuty's
  std::string region;
  std::string account_id;
};

finding_reference reference_of(const guardduty_finding& finding);
finding_reference reference_of(const asff_finding& finding);

// A finding and the reports of the playbooks that handled it.
struct finding_outcome {
  finding_reference finding;
  std::vector<playbook_report> reports;
};

// The findings of an event and the reports of each: `items[i]` is the event item report i came from (reports
// past the end of `items` are the router's). Empty for events that carry no finding.
std::vector<finding_outcome> outcomes_of(const decoded_event& event,
                                         const std::vector<playbook_report>& reports,
                                         const std::vector<std::size_t>& items);

// "Tourniquet tq-…: instance-containment i-0abc contained; …" (at most max_note_text characters); "" when no
// report is worth a note (dry runs).
std::string note_text(const finding_outcome& outcome);
// "NOTIFIED" when something was contained or blocked, or a person must act; nullopt to leave it as it is.
std::optional<std::string> workflow_status(const finding_outcome& outcome);

// The client for a region (the finding's).
using region_client = std::function<result<aws::client>(const std::string& region)>;

// Reads each finding's current note, then updates those whose note differs. One record per finding; none of
// them is a failure of the invocation.
std::vector<action_record> update_findings(const std::vector<finding_outcome>& outcomes,
                                           const region_client& client, aws::deadline until);

}  // namespace tq::handlers
