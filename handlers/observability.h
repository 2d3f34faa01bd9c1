// What an operator sees of each invocation beyond its response: CloudWatch Embedded Metric Format lines
// (namespace Tourniquet, by playbook) written with the logs, an incident notification to an SNS topic, and
// a one-line account of what was and was not done for the error Lambda records when containment is
// incomplete.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "aws/client.h"
#include "handlers/action.h"
#include "handlers/event.h"
#include "handlers/report.h"
#include "runtime/environment.h"
#include "runtime/invocation.h"

namespace tq::handlers {

inline constexpr const char* metrics_namespace = "Tourniquet";

struct observability_settings {
  std::string sns_topic_arn;  // TOURNIQUET_SNS_TOPIC_ARN: where incidents are announced; empty: nowhere
};

// TOURNIQUET_SNS_TOPIC_ARN must be an SNS topic ARN in the function's region (AWS_REGION): the client
// reaches SNS there only.
result<observability_settings> observability_settings_from_environment(const env_reader& env);

// The figures of one invocation that are not in its reports.
struct invocation_figures {
  std::string request_id;
  long retries = 0;    // AWS calls sent again (aws::call_statistics, this invocation only)
  long throttles = 0;  // throttling answers seen
  bool cold_start = false;
  std::optional<bool> notification_failed;  // set when a notification was attempted
};

// One EMF document per report, each its own log line: dimension sets [Playbook] and [] (all playbooks).
// Metrics ActionsDone, ActionsFailed, Forged (a finding GuardDuty did not confirm), ContainmentMs (when
// measured); the invocation's Retries, Throttles, ColdStart and NotificationsFailed ride on the first
// report's document only, so that sums stay true.
// metric_lines writes them, each ending in a newline, as nlohmann would dump each document (the key order
// above, no spaces); metric_documents reads them back.
std::string metric_lines(const std::vector<playbook_report>& reports, const invocation_figures& figures,
                         std::chrono::system_clock::time_point now);
std::vector<nlohmann::ordered_json> metric_documents(const std::vector<playbook_report>& reports,
                                                     const invocation_figures& figures,
                                                     std::chrono::system_clock::time_point now);

// Whether a report is news for a person: something was done or failed, or the finding was forged. Replays
// that found everything in place, other ignored events and dry runs are not.
bool worth_notifying(const playbook_report& report);

// "Tourniquet contained i-0abc (Backdoor:EC2/C&CActivity.B) in 123456789012": printable ASCII, at most 100
// characters (SNS's limit for e-mail subjects), shortening the finding type and then the target if need be.
std::string notification_subject(const playbook_report& report, const decoded_event& event);

// The SNS Publish call for a report: Subject as above, Message the report's JSON.
aws::query_call notification_call(const std::string& topic_arn, const playbook_report& report,
                                  const decoded_event& event);

// "instance-containment i-0abc: incomplete; done: untrack-interface eni-1, ...; not done: snapshot-volumes
// i-0abc (DeadlineExceeded: ...)": what the error message of an incomplete invocation says.
std::string outcome_summary(const playbook_report& report);

// Kept for the life of the process (one per responder): knows whether an invocation is the first.
class observer {
 public:
  explicit observer(observability_settings settings) : m_settings(std::move(settings)) {}

  // Call at the start of each invocation: remembers the client's counters, to report this invocation's share.
  void invocation_started(const aws::client& own);

  // After the playbooks ran: sends the notifications (with `own`, the function's own account's client,
  // within `until`), then writes the metric lines. Returns one record per notification attempted; a failed
  // one is logged and reported but never makes the invocation fail.
  std::vector<action_record> invocation_finished(const decoded_event& event,
                                                 const std::vector<playbook_report>& reports,
                                                 const invocation_context& context, const aws::client& own,
                                                 aws::deadline until, bool dry_run);

 private:
  observability_settings m_settings;
  aws::call_statistics m_before;
  bool m_first = true;       // no invocation has started in this process yet
  bool m_this_cold = false;  // the current invocation is the process's first
};

}  // namespace tq::handlers
