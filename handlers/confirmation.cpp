#include "handlers/confirmation.h"

#include "aws/joined_transport.h"
#include "aws/rest_json.h"

namespace tq::handlers {
namespace {

// An engine-level kind: every playbook acting on a finding sends it with its first reads. On by default;
// the option turns it (and its permission) off.
const action_kind& confirm_finding = declare_action(
    "confirmation", "confirm-finding", {"guardduty:GetFindings"}, "TOURNIQUET_CONFIRM_FINDINGS", true);

// Codes GuardDuty answers when the detector is not the caller's: the finding cannot be there.
bool names_no_detector(const error& e) {
  return e.code == "BadRequestException" || e.code == "InvalidInputException";
}

std::string instance_of(const guardduty_finding& f) {
  return f.instance ? f.instance->instance_id : "";
}

std::string function_of(const guardduty_finding& f) {
  return f.families.lambda ? f.families.lambda->function_arn : "";
}

std::string task_of(const guardduty_finding& f) {
  return f.families.ecs ? f.families.ecs->task_arn : "";
}

std::string sequence_of(const guardduty_finding& f) {
  return f.sequence ? f.sequence->uid : "";
}

std::string key_of(const guardduty_finding& f) {
  return f.access_key ? f.access_key->access_key_id : "";
}

// What the event claims that GuardDuty's copy contradicts, as "the event says …, GuardDuty …"; "" when
// they agree on everything a playbook would act on.
std::string first_difference(const guardduty_finding& event, const guardduty_finding& real) {
  const struct {
    const char* what;
    std::string claimed;
    std::string actual;
  } facts[] = {
      {"account", event.account_id, real.account_id},
      {"type", event.type, real.type},
      {"resource type", event.resource_type, real.resource_type},
      {"instance", instance_of(event), instance_of(real)},
      {"access key", key_of(event), key_of(real)},
      {"function", function_of(event), function_of(real)},
      {"task", task_of(event), task_of(real)},
      {"attack sequence", sequence_of(event), sequence_of(real)},
      {"user", event.access_key ? event.access_key->user_name : "",
       real.access_key ? real.access_key->user_name : ""},
  };
  for (const auto& f : facts) {
    if (f.claimed != f.actual) {
      return "the event names " + std::string(f.what) + " '" + f.claimed + "', GuardDuty's finding '" +
             f.actual + "'";
    }
  }
  return {};
}

}  // namespace

finding_address address_of_finding(std::string_view arn) {
  constexpr std::string_view detector = ":detector/";
  constexpr std::string_view finding = "/finding/";
  const size_t d = arn.find(detector);
  if (!arn.starts_with("arn:") || d == std::string_view::npos) return {};
  const size_t f = arn.find(finding, d + detector.size());
  if (f == std::string_view::npos) return {};
  const std::string_view id = arn.substr(f + finding.size());
  if (id.empty() || id.find('/') != std::string_view::npos) return {};
  return {std::string(arn.substr(d + detector.size(), f - d - detector.size())), std::string(id)};
}

finding_confirmation::finding_confirmation(guardduty_finding event_copy) : m_event(std::move(event_copy)) {
  const finding_address address = address_of_finding(m_event.arn);
  m_detector_id = address.detector_id;
  m_finding_id = address.finding_id;
  // GuardDuty's ARN is the address; an event without one cannot be looked up, so it cannot be believed.
  if (m_detector_id.empty() || m_finding_id.empty()) {
    m_verdict = confirmation_verdict::forged;
    m_why = "the finding's ARN '" + m_event.arn + "' names no detector and finding";
  } else if (m_finding_id != m_event.id) {
    m_verdict = confirmation_verdict::forged;
    m_why = "the finding's ARN names finding " + m_finding_id + " but its id is " + m_event.id;
  }
}

std::optional<planned_call> finding_confirmation::pending_call() const {
  std::lock_guard<std::mutex> lock(m_mutex);
  return call_to_send();
}

std::optional<planned_call> finding_confirmation::call_to_send() const {
  if (m_verdict != confirmation_verdict::pending && m_verdict != confirmation_verdict::unreachable)
    return std::nullopt;
  aws::rest_json_call call{aws::service::guardduty,
                           "GetFindings",
                           "POST",
                           "/detector/" + aws::uri_label(m_detector_id) + "/findings/get",
                           {},
                           {{"findingIds", {m_finding_id}}}};
  return planned_call{&confirm_finding, m_finding_id, std::move(call), "detector " + m_detector_id};
}

std::optional<std::size_t> finding_confirmation::add_to(std::vector<planned_call>& reads) const {
  std::lock_guard<std::mutex> lock(m_mutex);
  if (another_asks()) return std::nullopt;  // its answer will be this job's too
  auto call = call_to_send();
  if (!call) return std::nullopt;
  m_asker = std::this_thread::get_id();
  reads.push_back(std::move(*call));
  return reads.size() - 1;
}

bool finding_confirmation::another_asks() const {
  return m_asker && *m_asker != std::this_thread::get_id();
}

void finding_confirmation::abandon_if_asking() const {
  std::lock_guard<std::mutex> lock(m_mutex);
  if (!m_asker || *m_asker != std::this_thread::get_id()) return;
  wake_waiting();
}

void finding_confirmation::wake_waiting() const {
  m_asker.reset();
  aws::count_woken_busy(m_waiting);  // before they wake: no batch leaves in the moment between
  m_waiting = 0;
  ++m_answers;
  m_answered.notify_all();
}

void finding_confirmation::await_answer() const {
  std::unique_lock<std::mutex> lock(m_mutex);
  if (!another_asks()) return;
  const std::uint64_t awaited = m_answers;
  ++m_waiting;  // counted busy by the asker when it wakes this job, whether or not it is idle by then
  lock.unlock();
  aws::idle_scope waiting;  // the asker's next batch must not wait for this job
  lock.lock();
  m_answered.wait(lock, [&] { return m_answers != awaited; });
  waiting.counted_by_waker();
}

confirmation_verdict finding_confirmation::verdict() const {
  await_answer();
  std::lock_guard<std::mutex> lock(m_mutex);
  return m_verdict;
}

const guardduty_finding* finding_confirmation::confirmed() const {
  await_answer();
  std::lock_guard<std::mutex> lock(m_mutex);
  return m_confirmed ? &*m_confirmed : nullptr;  // set once, never changed after: safe to hand out
}

std::string finding_confirmation::why_forged() const {
  await_answer();
  std::lock_guard<std::mutex> lock(m_mutex);
  return m_why;
}

std::optional<error> finding_confirmation::failure() const {
  await_answer();
  std::lock_guard<std::mutex> lock(m_mutex);
  return m_failure;
}

void finding_confirmation::absorb(const execution& run, std::size_t index) {
  if (run.answers.at(index)) return take_answer(&run.answers[index]->json(), nullptr);  // read where it lies
  const auto& failure = run.records.at(index).failure;
  const error why =
      failure ? *failure : error{"NotSent", "GetFindings was not sent", "guardduty:GetFindings", true};
  take_answer(nullptr, &why);
}

void finding_confirmation::absorb(const result<nlohmann::json>& answer) {
  if (answer) return take_answer(&*answer, nullptr);
  take_answer(nullptr, &answer.err());
}

void finding_confirmation::take_answer(const nlohmann::json* answer, const error* failure) {
  std::lock_guard<std::mutex> lock(m_mutex);
  wake_waiting();
  if (m_verdict == confirmation_verdict::confirmed || m_verdict == confirmation_verdict::forged) return;
  if (answer == nullptr) {
    if (names_no_detector(*failure)) {
      m_verdict = confirmation_verdict::forged;
      m_why = "GuardDuty has no detector " + m_detector_id + " in account " + m_event.account_id + " (" +
              failure->message + ")";
      return;
    }
    m_verdict = confirmation_verdict::unreachable;
    error why = *failure;
    m_failure = std::move(why).within("confirming finding " + m_finding_id + " with GuardDuty");
    return;
  }
  absorb_findings(*answer);
}

void finding_confirmation::absorb_findings(const nlohmann::json& answer) {
  static const nlohmann::json none = nlohmann::json::array();
  const auto findings = answer.find("findings");
  judge(findings != answer.end() ? *findings : none);
}

void finding_confirmation::judge(const nlohmann::json& findings) {
  const nlohmann::json* found = nullptr;
  for (const auto& f : findings) {
    if (f.is_object() && f.value("id", "") == m_finding_id) found = &f;
  }
  if (found == nullptr) {
    m_verdict = confirmation_verdict::forged;
    m_why = "GuardDuty has no finding " + m_finding_id + " in detector " + m_detector_id;
    return;
  }
  // GetFindings answers in the shape of an EventBridge event's detail: decoded by the same decoder, under
  // the event's envelope (not copied into an event of its own: that copy cost more than the decoding).
  event_envelope envelope{.version = m_event.envelope.version,
                          .id = m_event.envelope.id,
                          .detail_type = "GuardDuty Finding",
                          .source = "aws.guardduty",
                          .account = m_event.envelope.account,
                          .region = m_event.envelope.region,
                          .time = m_event.envelope.time};
  auto decoded = decode_guardduty_detail(envelope, *found);
  if (!decoded) {
    m_verdict = confirmation_verdict::unreachable;
    m_failure = error{"UnreadableFinding",
                      "GuardDuty's copy of finding " + m_finding_id + " could not be read" +
                          (decoded ? std::string() : ": " + decoded.err().message),
                      "guardduty:GetFindings", false};
    return;
  }
  guardduty_finding real = std::move(*decoded);
  if (std::string differs = first_difference(m_event, real); !differs.empty()) {
    m_verdict = confirmation_verdict::forged;
    m_why = std::move(differs);
    return;
  }
  m_verdict = confirmation_verdict::confirmed;
  m_failure.reset();
  m_confirmed = std::move(real);
}

void confirm_alone(finding_confirmation* confirmation, const aws::client& client, aws::deadline until,
                   playbook_report& report) {
  if (confirmation == nullptr) return;
  std::vector<planned_call> call;
  const auto at = confirmation->add_to(call);
  if (!at) return;
  const execution run = execute_plan(call, client, until, false);
  report.round_trips += run.round_trips;
  confirmation->absorb(run, *at);
}

std::optional<playbook_report> unconfirmed_report(const finding_confirmation* confirmation,
                                                  std::string playbook, std::string target) {
  if (confirmation == nullptr) return std::nullopt;
  switch (confirmation->verdict()) {
    case confirmation_verdict::confirmed:
      return std::nullopt;
    case confirmation_verdict::forged: {
      playbook_report r = ignored(std::move(playbook), std::move(target),
                                  "not confirmed by GuardDuty: " + confirmation->why_forged());
      r.forged = true;
      return r;
    }
    case confirmation_verdict::unreachable:
    case confirmation_verdict::pending:
      break;
  }
  const error why = confirmation->failure().value_or(
      error{"NotConfirmed", "the finding was not confirmed with GuardDuty", "guardduty:GetFindings", true});
  playbook_report r = could_not_start(std::move(playbook), std::move(target), why);
  r.reason = "not confirmed by GuardDuty: " + why.describe();
  return r;
}

playbook_report not_confirmed_route(std::string playbook, std::string target, const std::string& reason) {
  return ignored(std::move(playbook), std::move(target), "GuardDuty's copy of the finding: " + reason);
}

}  // namespace tq::handlers
