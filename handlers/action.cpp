#include "handlers/action.h"

#include <algorithm>
#include <deque>

#include "runtime/log.h"

namespace tq::handlers {
namespace {

// A deque keeps the kinds where they are as more are declared, so the references handed out stay valid.
std::deque<action_kind>& kind_storage() {
  static std::deque<action_kind> kinds;
  return kinds;
}

std::vector<const action_kind*>& kind_index() {
  static std::vector<const action_kind*> index;
  return index;
}

}  // namespace

const action_kind& declare_action(std::string_view playbook, std::string_view name,
                                  std::vector<std::string_view> permissions, std::string_view enabled_by) {
  const action_kind& kind =
      kind_storage().emplace_back(action_kind{playbook, name, std::move(permissions), enabled_by});
  kind_index().push_back(&kind);
  return kind;
}

const std::vector<const action_kind*>& declared_actions() {
  return kind_index();
}

std::string iam_action_of(const aws::query_call& call) {
  return std::string(aws::service_name(call.target)) + ":" + call.action;
}

std::string_view outcome_name(outcome o) {
  switch (o) {
    case outcome::done:
      return "done";
    case outcome::already:
      return "already";
    case outcome::planned:
      return "planned";
    case outcome::skipped:
      return "skipped";
    case outcome::failed:
      return "failed";
  }
  return "failed";
}

nlohmann::ordered_json to_json(const action_record& r) {
  nlohmann::ordered_json j;
  j["action"] = r.action;
  j["target"] = r.target;
  j["outcome"] = outcome_name(r.result);
  if (!r.detail.empty()) j["detail"] = r.detail;
  if (r.failure) {
    j["error"] = {{"code", r.failure->code},
                  {"message", r.failure->message},
                  {"where", r.failure->where},
                  {"retryable", r.failure->retryable}};
    if (!r.failure->request_id.empty()) j["error"]["requestId"] = r.failure->request_id;
  }
  j["durationMs"] = r.duration.count();
  return j;
}

bool execution::all_succeeded() const {
  for (const auto& r : records) {
    if (r.result == outcome::failed || r.result == outcome::skipped) return false;
  }
  return true;
}

action_record already_record(const action_kind& kind, std::string target, std::string detail) {
  return {std::string(kind.name), std::move(target), outcome::already, std::move(detail), std::nullopt, {}};
}

action_record skipped_record(const action_kind& kind, std::string target, std::string detail) {
  return {std::string(kind.name), std::move(target), outcome::skipped, std::move(detail), std::nullopt, {}};
}

execution execute_plan(const std::vector<planned_call>& plan, const aws::client& client, aws::deadline until,
                       bool dry_run) {
  enum class state { waiting, succeeded, failed };
  execution run;
  run.records.resize(plan.size());
  run.answers.resize(plan.size());
  std::vector<state> states(plan.size(), state::waiting);
  for (size_t i = 0; i < plan.size(); ++i) {
    run.records[i].action = std::string(plan[i].kind->name);
    run.records[i].target = plan[i].target;
    run.records[i].detail = plan[i].detail;
  }

  for (;;) {
    std::vector<size_t> ready;
    bool newly_skipped = false;
    for (size_t i = 0; i < plan.size(); ++i) {
      if (states[i] != state::waiting) continue;
      bool blocked = false;
      bool all_met = true;
      for (size_t need : plan[i].needs) {
        if (states[need] == state::failed) blocked = true;
        if (states[need] != state::succeeded) all_met = false;
      }
      for (size_t before : plan[i].after) {
        if (states[before] == state::waiting) all_met = false;
      }
      if (blocked) {
        states[i] = state::failed;
        newly_skipped = true;
        run.records[i].result = outcome::skipped;
        for (size_t need : plan[i].needs) {
          if (states[need] == state::failed) {
            run.records[i].detail =
                "not done: " + run.records[need].action + " " + run.records[need].target + " did not succeed";
            break;
          }
        }
      } else if (all_met) {
        ready.push_back(i);
      }
    }
    if (ready.empty()) {
      if (newly_skipped) continue;  // the calls behind a newly skipped one are marked next round
      for (size_t i = 0; i < plan.size(); ++i) {
        if (states[i] != state::waiting) continue;  // what is left waits on itself: a planner bug, not a hang
        run.records[i].result = outcome::skipped;
        run.records[i].detail = "not done: its prerequisites form a cycle";
      }
      break;
    }

    std::vector<aws::query_call> batch;
    std::vector<size_t> sent;
    for (size_t i : ready) {
      const planned_call& p = plan[i];
      if (!p.blocked_because.empty()) {
        run.records[i].result = dry_run ? outcome::planned : outcome::skipped;
        run.records[i].detail += (dry_run ? " (unverified: " : " (not done: ") + p.blocked_because + ")";
        states[i] = dry_run ? state::succeeded : state::failed;
        continue;
      }
      if (dry_run && p.call.target != aws::service::ec2) {
        run.records[i].result = outcome::planned;
        states[i] = state::succeeded;
        continue;
      }
      aws::query_call call = p.call;
      call.dry_run = dry_run;
      batch.push_back(std::move(call));
      sent.push_back(i);
    }
    if (batch.empty()) continue;

    const auto started = std::chrono::steady_clock::now();
    auto answers = client.call_all(batch, until);
    ++run.round_trips;
    const auto finished = std::chrono::steady_clock::now();
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(finished - started);
    for (size_t k = 0; k < sent.size(); ++k) {
      const size_t i = sent[k];
      action_record& record = run.records[i];
      record.duration = took;
      record.finished = finished;
      if (answers[k].ok()) {
        record.result = outcome::done;
        states[i] = state::succeeded;
        run.answers[i] = std::move(*answers[k]);
      } else if (const auto& code = answers[k].err().code;
                 std::find(plan[i].already_if.begin(), plan[i].already_if.end(), code) !=
                 plan[i].already_if.end()) {
        record.result = outcome::already;
        record.detail += (record.detail.empty() ? "" : " ") + ("(in place already: " + code + ")");
        states[i] = state::succeeded;
      } else if (dry_run && aws::is_dry_run_success(answers[k].err())) {
        record.result = outcome::planned;
        record.detail +=
            record.detail.empty() ? "permission confirmed by DryRun" : " (permission confirmed by DryRun)";
        states[i] = state::succeeded;
      } else {
        record.result = outcome::failed;
        record.failure = std::move(answers[k]).err();
        states[i] = state::failed;
        log::warn(
            "action failed",
            {{"action", record.action}, {"target", record.target}, {"error", record.failure->describe()}});
      }
    }
  }
  return run;
}

}  // namespace tq::handlers
