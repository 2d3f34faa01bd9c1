#include "handlers/report.h"

#include <map>

#include "runtime/json_text.h"

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

namespace {

void append_bool(std::string& out, bool value) {
  out += value ? "true" : "false";
}

// {"code":…,"message":…,"where":…,"retryable":…[,"requestId":…]}; the message only when asked for
std::string error_text(const error& e, bool with_message) {
  std::string out;
  json_text::object o(out);
  o.string("code", e.code);
  if (with_message) o.string("message", e.message);
  o.string("where", e.where);
  std::string flag;
  append_bool(flag, e.retryable);
  o.raw("retryable", flag);
  if (with_message && !e.request_id.empty()) o.string("requestId", e.request_id);
  o.close();
  return out;
}

void append_action(std::string& out, const action_record& r) {
  json_text::object o(out);
  o.string("action", r.action).string("target", r.target).string("outcome", outcome_name(r.result));
  if (!r.detail.empty()) o.string("detail", r.detail);
  if (r.failure) o.raw("error", error_text(*r.failure, true));
  o.number("durationMs", r.duration.count());
  o.close();
}

std::string actions_text(const std::vector<action_record>& actions) {
  std::string out = "[";
  for (size_t i = 0; i < actions.size(); ++i) {
    if (i > 0) out += ',';
    append_action(out, actions[i]);
  }
  out += ']';
  return out;
}

}  // namespace

std::string playbook_report::to_json_text() const {
  std::string out;
  out.reserve(256 + 160 * actions.size());
  json_text::object o(out);
  o.string("playbook", playbook).string("status", status_name(status));
  if (!reason.empty()) o.string("reason", reason);
  if (failure) o.raw("error", error_text(*failure, false));
  if (forged) o.raw("forged", "true");
  if (!target.empty()) o.string("target", target);
  if (!incident_id.empty()) o.string("incidentId", incident_id);
  if (!actions.empty()) {
    std::map<std::string_view, long long> counts;
    for (const auto& a : actions) ++counts[outcome_name(a.result)];
    std::string summary;
    json_text::object s(summary);
    for (const auto& [name, count] : counts) s.number(name, count);
    s.close();
    o.raw("summary", summary).raw("actions", actions_text(actions));
  }
  if (!details.empty()) o.raw("details", details.dump());
  if (round_trips > 0) {
    std::string timing;
    json_text::object t(timing);
    t.number("roundTrips", round_trips).number("totalMs", total_ms);
    if (isolated_after_ms >= 0) t.number("isolatedAfterMs", isolated_after_ms);
    t.close();
    o.raw("timing", timing);
  }
  o.close();
  return out;
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
