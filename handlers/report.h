// The report a playbook hands back: what it acted on, every action with its outcome, and how long
// containment took. It becomes the response JSON, the log lines and (in summary) the incident tags.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "handlers/action.h"

namespace tq::handlers {

// How a playbook's job ended. The first four mean the job is done, each in its playbook's own word.
enum class report_status {
  contained,   // the resource is cut off (instance, credentials, exposure)
  blocked,     // the addresses are denied (network block)
  expired,     // the expired denies are gone (block expiry)
  released,    // `tourniquet release` put back what containment changed
  ignored,     // nothing to do, and why
  escalate,    // nothing more can be done by API: a person must act (a success for Lambda)
  incomplete,  // some action failed or was left undone: Lambda's retry finishes it
  failed,      // the playbook could not act at all
  dry_run,     // the plan, nothing changed
};

std::string_view status_name(report_status s);  // "dry-run" for dry_run, else the enumerator's name

struct playbook_report {
  std::string playbook;                              // "instance-containment"
  report_status status = report_status::incomplete;  // until the playbook says how it ended
  std::string reason;                                // why it was ignored or failed, for a person
  std::string target;                                // "i-0123…"
  std::string incident_id;
  std::vector<action_record> actions;
  nlohmann::ordered_json details = nlohmann::ordered_json::object();
  long isolated_after_ms = -1;  // from the event's arrival to every interface isolated
  long round_trips = 0;         // sequential batches of AWS calls
  long total_ms = 0;
  std::optional<error> failure;  // why it failed before it could act (no client for the account), when so
  // Set when GuardDuty does not confirm the finding the playbook was handed: someone invoked the function
  // with a false finding, an incident of its own (notified and counted though nothing was done).
  bool forged = false;

  // True when an action failed or was left undone for a failure, or the playbook failed: not finished.
  bool incomplete() const;
  // True when it is incomplete for a reason another try may overcome (throttling, a 5xx, a timeout).
  bool retryable() const;
  nlohmann::ordered_json to_json() const;
  // to_json().dump(), written straight (no document built): for the log line and the response
  std::string to_json_text() const;
};

// Adds the records of an execution to the report, and counts its round trips.
void append(playbook_report& report, const execution& run);

// A report with no actions: a playbook that decided not to act (ignored), or could not start (failed).
playbook_report concluded(std::string playbook, report_status status, std::string target, std::string reason);
// A playbook that could not start for `why`; another pass may start it when `why` is retryable.
playbook_report could_not_start(std::string playbook, std::string target, error why);
inline playbook_report ignored(std::string playbook, std::string target, std::string reason) {
  return concluded(std::move(playbook), report_status::ignored, std::move(target), std::move(reason));
}

}  // namespace tq::handlers
