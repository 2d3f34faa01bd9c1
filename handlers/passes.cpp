#include "handlers/passes.h"

#include <algorithm>
#include <set>
#include <string>
#include <thread>
#include <utility>

#include "aws/joined_transport.h"
#include "runtime/log.h"

namespace tq::handlers {
namespace {

using std::chrono::milliseconds;

// What an earlier pass left undone, for the record: "isolate-interface eni-1: RequestLimitExceeded".
nlohmann::ordered_json left_by(const playbook_report& r, int pass) {
  nlohmann::ordered_json failed = nlohmann::ordered_json::array();
  for (const auto& a : r.actions) {
    if (a.result != outcome::failed) continue;
    failed.push_back(a.action + " " + a.target + ": " +
                     (a.failure ? a.failure->code : std::string("failed")));
  }
  if (r.failure) failed.push_back("start " + r.target + ": " + r.failure->code);
  return {{"pass", pass}, {"status", status_name(r.status)}, {"failed", std::move(failed)}};
}

milliseconds since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - start);
}

}  // namespace

bool worth_another_pass(const std::vector<playbook_report>& reports) {
  for (const auto& r : reports) {
    if (r.retryable()) return true;
  }
  return false;
}

playbook_report merge_passes(playbook_report earlier, playbook_report later, int later_pass) {
  playbook_report merged = std::move(later);
  std::vector<action_record> actions;
  std::set<std::pair<std::string, std::string>> done_earlier;
  for (auto& a : earlier.actions) {
    if (a.result != outcome::done) continue;  // what it found in place or failed at, the later pass saw again
    done_earlier.emplace(a.action, a.target);
    actions.push_back(std::move(a));
  }
  for (auto& a : merged.actions) {
    if (a.result == outcome::already && done_earlier.contains({a.action, a.target})) continue;
    actions.push_back(std::move(a));
  }
  merged.actions = std::move(actions);

  nlohmann::ordered_json passes =
      earlier.details.contains("passes") ? earlier.details["passes"] : nlohmann::ordered_json::array();
  passes.push_back(left_by(earlier, later_pass - 1));
  for (auto& [key, value] : earlier.details.items()) {
    if (key != "passes" && !merged.details.contains(key)) merged.details[key] = value;
  }
  merged.details["passes"] = std::move(passes);
  if (earlier.isolated_after_ms >= 0) merged.isolated_after_ms = earlier.isolated_after_ms;
  merged.round_trips += earlier.round_trips;
  if (merged.target.empty()) merged.target = std::move(earlier.target);
  if (merged.incident_id.empty()) merged.incident_id = std::move(earlier.incident_id);
  return merged;
}

std::vector<playbook_report> run_in_passes(const std::function<std::vector<playbook_report>()>& pass,
                                           aws::deadline until, const pass_policy& policy) {
  auto started = std::chrono::steady_clock::now();
  long unanswered_before = policy.unanswered();
  std::vector<playbook_report> reports = pass();
  for (int n = 2; n <= policy.max_passes && worth_another_pass(reports); ++n) {
    const bool lost_calls = policy.unanswered() > unanswered_before;
    const milliseconds last = since(started);
    const milliseconds pause =
        lost_calls ? std::max(policy.pause(n), policy.landing_horizon) : policy.pause(n);
    // Room for a pass as long as the last one, twice over, after the pause: a pass cut short by the
    // deadline would only add failures to the report.
    const auto room =
        std::chrono::duration_cast<milliseconds>(until - std::chrono::steady_clock::now()) - pause;
    if (room < 2 * last + milliseconds(500)) {
      log::info("no room for another pass", {{"pass", std::to_string(n)},
                                             {"lastPassMs", std::to_string(last.count())},
                                             {"roomMs", std::to_string(room.count())}});
      break;
    }
    log::info("another pass", {{"pass", std::to_string(n)},
                               {"pauseMs", std::to_string(pause.count())},
                               {"waitsForLostCalls", lost_calls ? "true" : "false"}});
    {
      const aws::idle_scope pausing;  // the other jobs of the event go on meanwhile
      std::this_thread::sleep_for(pause);
    }
    started = std::chrono::steady_clock::now();
    unanswered_before = policy.unanswered();
    std::vector<playbook_report> next = pass();
    // The same event yields the same reports in the same order; should it not, the later pass stands.
    if (next.size() != reports.size()) {
      reports = std::move(next);
      continue;
    }
    for (size_t i = 0; i < reports.size(); ++i) {
      if (reports[i].incomplete()) reports[i] = merge_passes(std::move(reports[i]), std::move(next[i]), n);
    }
  }
  return reports;
}

}  // namespace tq::handlers
