#include "handlers/report.h"

#include <map>

namespace tq::handlers {

std::string_view status_name(report_status s) {
  switch (s) {
    case report_status::contained:
      return "contained";
    case report_status::blocked:
      return "blocked";
    case report_status::expired:
      return "expired";
    case report_status::released:
      return "released";
    case report_status::ignored:
      return "ignored";
    case report_status::escalate:
      return "escalate";
    case report_status::incomplete:
      return "incomplete";
    case report_status::failed:
      return "failed";
    case report_status::dry_run:
      return "dry-run";
  }
  return "failed";
}

bool playbook_report::incomplete() const {
  for (const auto& a : actions) {
    if (a.result == outcome::failed || a.unfinished) return true;
  }
  return status == report_status::failed;
}

bool playbook_report::retryable() const {
  if (!incomplete()) return false;
  if (failure && failure->retryable) return true;
  for (const auto& a : actions) {
    if (a.result == outcome::failed && a.failure && a.failure->retryable) return true;
  }
  return false;
}

nlohmann::ordered_json playbook_report::to_json() const {
  nlohmann::ordered_json j;
  j["playbook"] = playbook;
  j["status"] = status_name(status);
  if (!reason.empty()) j["reason"] = reason;
  if (failure)
    j["error"] = {{"code", failure->code}, {"where", failure->where}, {"retryable", failure->retryable}};
  if (forged) j["forged"] = true;
  if (!target.empty()) j["target"] = target;
  if (!incident_id.empty()) j["incidentId"] = incident_id;
  std::map<std::string, int> counts;
  nlohmann::ordered_json actions_json = nlohmann::ordered_json::array();
  for (const auto& a : actions) {
    ++counts[std::string(outcome_name(a.result))];
    actions_json.push_back(handlers::to_json(a));
  }
  if (!actions.empty()) {
    j["summary"] = counts;
    j["actions"] = std::move(actions_json);
  }
  if (!details.empty()) j["details"] = details;
  if (round_trips > 0) {
    j["timing"] = {{"roundTrips", round_trips}, {"totalMs", total_ms}};
    if (isolated_after_ms >= 0) j["timing"]["isolatedAfterMs"] = isolated_after_ms;
  }
  return j;
}

playbook_report could_not_start(std::string playbook, std::string target, error why) {
  playbook_report r =
      concluded(std::move(playbook), report_status::failed, std::move(target), why.describe());
  r.failure = std::move(why);
  return r;
}

void append(playbook_report& report, const execution& run) {
  report.actions.insert(report.actions.end(), run.records.begin(), run.records.end());
  report.round_trips += run.round_trips;
}

playbook_report concluded(std::string playbook, report_status status, std::string target,
                          std::string reason) {
  playbook_report r;
  r.playbook = std::move(playbook);
  r.status = status;
  r.target = std::move(target);
  r.reason = std::move(reason);
  return r;
}

}  // namespace tq::handlers
