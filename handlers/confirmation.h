// Confirmation of a GuardDuty finding with GuardDuty itself: anyone allowed to invoke the function can hand
// it a finding, so what a playbook acts on comes from GuardDuty's own copy (GetFindings), read beside the
// playbook's first state reads. One per invocation of a finding event, shared by its playbooks.
//
// The playbooks of one event run at once, each on its own thread (aws/joined_transport.h): the first to add
// the call asks for all of them, and the others, when they need the verdict before it has come, wait for it
// (as idle: their batches do not hold the asker's). So GetFindings goes out once per finding.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "handlers/action.h"
#include "handlers/event.h"
#include "handlers/report.h"

namespace tq::handlers {

enum class confirmation_verdict {
  pending,      // no answer yet: the call is still to be sent
  confirmed,    // GuardDuty has the finding, about the same resource: act on its copy
  forged,       // GuardDuty does not have it, or has it about something else: never act
  unreachable,  // GuardDuty could not be asked (the error says why; a retry may do it)
};

class finding_confirmation {
 public:
  explicit finding_confirmation(guardduty_finding event_copy);

  // The GetFindings call, while no verdict is reached (again after an unreachable one, for the next pass).
  std::optional<planned_call> pending_call() const;
  // Appends the pending call to `reads`, returning its index there; nullopt when there is nothing to ask, or
  // when another job is asking already. The caller then asks: it must absorb the answer of that call.
  std::optional<std::size_t> add_to(std::vector<planned_call>& reads) const;
  // Takes the call's answer (or failure) from an execution of a plan that held it at `index`.
  void absorb(const execution& run, std::size_t index);
  // Takes GuardDuty's answer to GetFindings (its JSON body) or the error of the call. A verdict once
  // reached (confirmed, forged) stands: every playbook of the finding acts on the same one.
  void absorb(const result<nlohmann::json>& answer);

  // For a job that stops on an exception: if it was asking, it no longer is, and the jobs waiting for its
  // answer go on (the verdict still pending: the next to need it asks).
  void abandon_if_asking() const;

  // These wait for the answer while another job is asking.
  confirmation_verdict verdict() const;
  // GuardDuty's copy, when confirmed.
  const guardduty_finding* confirmed() const;
  // Why it is forged ("GuardDuty has no finding …", "the event names instance i-1, GuardDuty i-2").
  std::string why_forged() const;
  // Why GuardDuty could not be asked, when unreachable.
  std::optional<error> failure() const;

 private:
  // GetFindings' answer (its JSON body) or the call's failure: exactly one is given.
  void take_answer(const nlohmann::json* answer, const error* failure);
  void absorb_findings(const nlohmann::json& answer);  // with m_mutex held
  void judge(const nlohmann::json& findings);
  std::optional<planned_call> call_to_send() const;  // with m_mutex held
  bool another_asks() const;                         // with m_mutex held
  void wake_waiting() const;                         // with m_mutex held: the asker is done asking
  // Returns once no other job is asking (at once when none is); waits as idle (aws::idle_scope).
  void await_answer() const;

  guardduty_finding m_event;
  std::string m_detector_id;
  std::string m_finding_id;
  confirmation_verdict m_verdict = confirmation_verdict::pending;
  std::optional<guardduty_finding> m_confirmed;
  std::string m_why;
  std::optional<error> m_failure;
  mutable std::mutex m_mutex;
  mutable std::condition_variable m_answered;
  mutable std::optional<std::thread::id> m_asker;  // the job that added the call and awaits its answer
  mutable std::size_t m_waiting = 0;               // jobs waiting for the asker's answer
  mutable std::uint64_t m_answers = 0;             // answers taken in (or abandoned): what a waiter waits for
};

// The detector and finding ids named by a finding's ARN
// (arn:aws:guardduty:REGION:ACCOUNT:detector/DETECTOR/finding/ID); empty strings when it names none.
struct finding_address {
  std::string detector_id;
  std::string finding_id;
};
finding_address address_of_finding(std::string_view arn);

// For a playbook with no read to add the call to: asks GuardDuty on its own (one round trip), when still to
// be asked.
void confirm_alone(finding_confirmation* confirmation, const aws::client& client, aws::deadline until,
                   playbook_report& report);

// The report a playbook hands back instead of acting when the verdict forbids it: `ignored` and marked
// forged, or `failed` with the retryable error when GuardDuty could not be asked. Nullopt when confirmed
// (or when there is no confirmation: it is turned off, or the event is no finding).
std::optional<playbook_report> unconfirmed_report(const finding_confirmation* confirmation,
                                                  std::string playbook, std::string target);

// The report of a finding whose confirmed copy does not lead where the event's did (another type,
// severity, archived): ignored, with the route's reason.
playbook_report not_confirmed_route(std::string playbook, std::string target, const std::string& reason);

}  // namespace tq::handlers
