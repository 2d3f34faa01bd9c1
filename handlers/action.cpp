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
                                  std::vector<std::string_view> permissions, std::string_view enabled_by,
                                  bool on_by_default) {
  const action_kind& kind = kind_storage().emplace_back(
      action_kind{playbook, name, std::move(permissions), enabled_by, on_by_default});
  kind_index().push_back(&kind);
  return kind;
}

const action_kind& declare_scoped_action(std::string_view playbook, std::string_view name,
                                         std::vector<std::string_view> permissions,
                                         std::string_view enabled_by,
                                         std::vector<std::string> (*resources)(const env_reader& env)) {
  const action_kind& kind = kind_storage().emplace_back(
      action_kind{playbook, name, std::move(permissions), enabled_by, false, resources});
  kind_index().push_back(&kind);
  return kind;
}

const std::vector<const action_kind*>& declared_actions() {
  return kind_index();
}

bool declares(const action_kind& kind, const aws::api_call& call) {
  const std::string needed = iam_action_of(call);
  // AWS answers sts:GetCallerIdentity for any principal: no policy names it.
  if (needed == "sts:GetCallerIdentity") return true;
  return std::find(kind.permissions.begin(), kind.permissions.end(), needed) != kind.permissions.end();
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

action_record unfinished_record(const action_kind& kind, std::string target, std::string detail) {
  action_record r = skipped_record(kind, std::move(target), std::move(detail));
  r.unfinished = true;
  return r;
}

namespace {

enum class call_state { waiting, succeeded, failed };

// One execution in progress: the plan, where each call stands, and the records so far.
struct plan_run {
  const std::vector<planned_call>& plan;
  bool dry_run;
  std::vector<call_state> states;
  execution out;

  plan_run(const std::vector<planned_call>& p, bool dry) : plan(p), dry_run(dry), states(p.size()) {
    out.records.resize(plan.size());
    out.answers.resize(plan.size());
    for (size_t i = 0; i < plan.size(); ++i) {
      out.records[i].action = std::string(plan[i].kind->name);
      out.records[i].target = plan[i].target;
      out.records[i].detail = plan[i].detail;
    }
  }

  void leave_undone(size_t i, std::string detail) {
    states[i] = call_state::failed;
    out.records[i].result = outcome::skipped;
    out.records[i].unfinished = true;
    out.records[i].detail = std::move(detail);
  }

  // The waiting calls whose prerequisites are met. A call behind a failed one is left undone instead; when
  // that happens, `skipped_any` says so, for the calls behind it are marked on the next look.
  std::vector<size_t> ready(bool& skipped_any) {
    std::vector<size_t> due;
    skipped_any = false;
    for (size_t i = 0; i < plan.size(); ++i) {
      if (states[i] != call_state::waiting) continue;
      std::optional<size_t> failed_need;
      bool met = true;
      for (size_t need : plan[i].needs) {
        if (states[need] == call_state::failed && !failed_need) failed_need = need;
        met &= states[need] == call_state::succeeded;
      }
      for (size_t before : plan[i].after) met &= states[before] != call_state::waiting;
      if (failed_need) {
        const action_record& r = out.records[*failed_need];
        leave_undone(i, "not done: " + r.action + " " + r.target + " did not succeed");
        skipped_any = true;
      } else if (met) {
        due.push_back(i);
      }
    }
    return due;
  }

  // Settles without sending what need not or must not go out: a call its kind does not declare, a call
  // naming something that does not exist yet, and in a dry run a call of a service without DryRun. Returns
  // whether `i` is settled (else it still has to be sent).
  bool settled_locally(size_t i) {
    const planned_call& p = plan[i];
    action_record& record = out.records[i];
    if (!declares(*p.kind, p.call)) {
      // The deployed policy is generated from the declarations: such a call would be denied in production
      // while passing wherever permissions are looser. A planner bug, refused the same everywhere.
      record.result = outcome::failed;
      record.failure = error{"UndeclaredAction",
                             iam_action_of(p.call) + " is not among the permissions action " +
                                 std::string(p.kind->name) + " declares",
                             iam_action_of(p.call) + " " + p.target, false};
      states[i] = call_state::failed;
      return true;
    }
    if (!p.blocked_because.empty()) {
      record.result = dry_run ? outcome::planned : outcome::skipped;
      record.unfinished = !dry_run;
      record.detail += (dry_run ? " (unverified: " : " (not done: ") + p.blocked_because + ")";
      states[i] = dry_run ? call_state::succeeded : call_state::failed;
      return true;
    }
    if (dry_run && (aws::service_of(p.call) != aws::service::ec2 || p.without_dry_run)) {
      record.result = outcome::planned;
      states[i] = call_state::succeeded;
      return true;
    }
    return false;
  }

  void record_answer(size_t i, result<aws::api_answer> answer) {
    action_record& record = out.records[i];
    const auto& already_if = plan[i].already_if;
    if (answer.ok()) {
      record.result = outcome::done;
      states[i] = call_state::succeeded;
      out.answers[i] = std::move(*answer);
    } else if (std::find(already_if.begin(), already_if.end(), answer.err().code) != already_if.end()) {
      // An earlier attempt whose answer was lost did land: the intended state is there.
      record.result = outcome::already;
      record.detail +=
          (record.detail.empty() ? "(in place already: " : " (in place already: ") + answer.err().code + ")";
      states[i] = call_state::succeeded;
    } else if (dry_run && aws::is_dry_run_success(answer.err())) {
      record.result = outcome::planned;
      record.detail +=
          record.detail.empty() ? "permission confirmed by DryRun" : " (permission confirmed by DryRun)";
      states[i] = call_state::succeeded;
    } else {
      record.result = outcome::failed;
      record.failure = std::move(answer).err();
      states[i] = call_state::failed;
      log::warn(
          "action failed",
          {{"action", record.action}, {"target", record.target}, {"error", record.failure->describe()}});
    }
  }

  // What is left waiting waits on itself: a planner bug, reported rather than a hang.
  void leave_cycle_undone() {
    for (size_t i = 0; i < plan.size(); ++i) {
      if (states[i] == call_state::waiting) leave_undone(i, "not done: its prerequisites form a cycle");
    }
  }
};

}  // namespace

namespace {

// `take_calls`: each call is moved into the batch that sends it (it is sent once, and read before that only).
template <bool take_calls, class plan_type>
execution run_plan(plan_type& plan, const aws::client& client, aws::deadline until, bool dry_run) {
  plan_run run(plan, dry_run);
  for (;;) {
    bool skipped_any = false;
    const std::vector<size_t> due = run.ready(skipped_any);
    if (due.empty()) {
      if (skipped_any) continue;
      run.leave_cycle_undone();
      break;
    }
    std::vector<aws::api_call> batch;
    std::vector<size_t> sent;
    batch.reserve(due.size());  // each call is copied once, not again as the vector grows
    sent.reserve(due.size());
    for (size_t i : due) {
      if (run.settled_locally(i)) continue;
      if constexpr (take_calls) {
        batch.push_back(std::move(plan[i].call));
      } else {
        batch.push_back(plan[i].call);
      }
      if (auto* query = std::get_if<aws::query_call>(&batch.back())) query->dry_run = dry_run;
      sent.push_back(i);
    }
    if (batch.empty()) continue;

    const auto started = std::chrono::steady_clock::now();
    auto answers = client.send_all(batch, until);
    ++run.out.round_trips;
    const auto finished = std::chrono::steady_clock::now();
    for (size_t k = 0; k < sent.size(); ++k) {
      action_record& record = run.out.records[sent[k]];
      record.duration = std::chrono::duration_cast<std::chrono::milliseconds>(finished - started);
      record.finished = finished;
      run.record_answer(sent[k], std::move(answers[k]));
    }
  }
  return std::move(run.out);
}

}  // namespace

execution execute_plan(const std::vector<planned_call>& plan, const aws::client& client, aws::deadline until,
                       bool dry_run) {
  return run_plan<false>(plan, client, until, dry_run);
}

execution execute_plan(std::vector<planned_call>&& plan, const aws::client& client, aws::deadline until,
                       bool dry_run) {
  return run_plan<true>(plan, client, until, dry_run);
}

}  // namespace tq::handlers
