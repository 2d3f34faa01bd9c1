// Another pass within the invocation (handlers/passes.h): when it runs, when it does not, and that the
// merged report keeps every action done and every failure an earlier pass met.
#include "handlers/passes.h"

#include <gtest/gtest.h>

#include "aws/client.h"
#include "handlers/config.h"
#include "runtime/environment.h"

namespace tq::handlers {
namespace {

using std::chrono::milliseconds;

action_record record(std::string action, std::string target, outcome result,
                     std::optional<error> failure = {}) {
  action_record r;
  r.action = std::move(action);
  r.target = std::move(target);
  r.result = result;
  r.failure = std::move(failure);
  return r;
}

const error throttled{"RequestLimitExceeded", "Request limit exceeded.",
                      "ec2:ModifyNetworkInterfaceAttribute", true, 503};
const error denied{"UnauthorizedOperation", "not authorized", "ec2:ModifyNetworkInterfaceAttribute", false,
                   403};

playbook_report report(report_status status, std::vector<action_record> actions) {
  playbook_report r;
  r.playbook = "instance-containment";
  r.target = "i-0abc";
  r.status = status;
  r.actions = std::move(actions);
  r.round_trips = 2;
  return r;
}

playbook_report throttled_pass() {
  return report(report_status::incomplete,
                {record("untrack-interface", "eni-1", outcome::done),
                 record("isolate-interface", "eni-1", outcome::failed, throttled)});
}

playbook_report finishing_pass() {
  return report(report_status::contained, {record("untrack-interface", "eni-1", outcome::already),
                                           record("isolate-interface", "eni-1", outcome::done)});
}

TEST(passes, another_pass_is_worth_it_only_for_a_failure_a_retry_may_help) {
  EXPECT_TRUE(worth_another_pass({throttled_pass()}));
  EXPECT_FALSE(worth_another_pass({finishing_pass()}));
  auto refused =
      report(report_status::incomplete, {record("isolate-interface", "eni-1", outcome::failed, denied)});
  EXPECT_FALSE(worth_another_pass({refused}));
  EXPECT_TRUE(worth_another_pass({finishing_pass(), throttled_pass()}));
}

TEST(passes, the_merged_report_keeps_what_the_first_pass_did_and_what_it_met) {
  auto earlier = throttled_pass();
  earlier.isolated_after_ms = -1;
  earlier.details["priorGroups"] = "sg-web";
  auto later = finishing_pass();
  later.isolated_after_ms = 1400;
  const playbook_report merged = merge_passes(earlier, later, 2);

  EXPECT_EQ(merged.status, report_status::contained);
  EXPECT_FALSE(merged.incomplete());
  ASSERT_EQ(merged.actions.size(), 2U);
  // The untrack done in pass 1 stays on the record; pass 2's "already" for it is not repeated.
  EXPECT_EQ(merged.actions[0].action, "untrack-interface");
  EXPECT_EQ(merged.actions[0].result, outcome::done);
  EXPECT_EQ(merged.actions[1].action, "isolate-interface");
  EXPECT_EQ(merged.actions[1].result, outcome::done);
  EXPECT_EQ(merged.round_trips, 4);
  EXPECT_EQ(merged.isolated_after_ms, 1400);
  EXPECT_EQ(merged.details["priorGroups"], "sg-web");
  ASSERT_EQ(merged.details["passes"].size(), 1U);
  EXPECT_EQ(merged.details["passes"][0]["pass"], 1);
  EXPECT_EQ(merged.details["passes"][0]["failed"][0], "isolate-interface eni-1: RequestLimitExceeded");
}

TEST(passes, three_passes_leave_a_record_of_the_two_before) {
  auto second =
      report(report_status::incomplete, {record("untrack-interface", "eni-1", outcome::already),
                                         record("isolate-interface", "eni-1", outcome::failed, throttled)});
  auto merged = merge_passes(merge_passes(throttled_pass(), second, 2), finishing_pass(), 3);
  EXPECT_FALSE(merged.incomplete());
  ASSERT_EQ(merged.details["passes"].size(), 2U);
  EXPECT_EQ(merged.details["passes"][1]["pass"], 2);
  // untrack was done in pass 1 and found in place in passes 2 and 3: one record, "done".
  EXPECT_EQ(std::count_if(merged.actions.begin(), merged.actions.end(),
                          [](const action_record& a) { return a.action == "untrack-interface"; }),
            1);
}

struct counted_passes {
  int calls = 0;
  int fail_first = 0;  // passes that end throttled before one finishes
  std::vector<playbook_report> operator()() {
    ++calls;
    return {calls <= fail_first ? throttled_pass() : finishing_pass()};
  }
};

TEST(passes, a_throttled_playbook_runs_again_until_it_finishes) {
  counted_passes pass{.fail_first = 2};
  auto reports = run_in_passes(std::ref(pass), aws::deadline_in(milliseconds(60000)), pass_policy{});
  EXPECT_EQ(pass.calls, 3);
  ASSERT_EQ(reports.size(), 1U);
  EXPECT_EQ(reports[0].status, report_status::contained);
  EXPECT_FALSE(reports[0].incomplete());
}

TEST(passes, the_policy_bounds_the_passes) {
  counted_passes pass{.fail_first = 5};
  auto reports =
      run_in_passes(std::ref(pass), aws::deadline_in(milliseconds(60000)), pass_policy{.max_passes = 2});
  EXPECT_EQ(pass.calls, 2);
  EXPECT_TRUE(reports[0].incomplete());
  EXPECT_EQ(reports[0].details["passes"].size(), 1U);

  counted_passes once{.fail_first = 5};
  run_in_passes(std::ref(once), aws::deadline_in(milliseconds(60000)), pass_policy{.max_passes = 1});
  EXPECT_EQ(once.calls, 1);
}

TEST(passes, no_pass_starts_without_room_before_the_deadline) {
  counted_passes pass{.fail_first = 5};
  auto reports = run_in_passes(std::ref(pass), aws::deadline_in(milliseconds(200)), pass_policy{});
  EXPECT_EQ(pass.calls, 1);
  EXPECT_EQ(reports[0].status, report_status::incomplete);
  // Nor when the pause itself would eat the room.
  counted_passes paused{.fail_first = 5};
  pass_policy slow;
  slow.pause = [](int) { return milliseconds(59800); };
  run_in_passes(std::ref(paused), aws::deadline_in(milliseconds(60000)), slow);
  EXPECT_EQ(paused.calls, 1);
}

TEST(passes, a_pass_after_a_lost_call_waits_for_it_to_land) {
  long unanswered = 0;
  int calls = 0;
  std::vector<std::chrono::steady_clock::time_point> starts;
  auto pass = [&] {
    starts.push_back(std::chrono::steady_clock::now());
    if (++calls == 1) {
      unanswered += 1;  // an untrack attempt timed out: it may land after the next pass read the interface
      return std::vector<playbook_report>{throttled_pass()};
    }
    return std::vector<playbook_report>{finishing_pass()};
  };
  pass_policy policy;
  policy.unanswered = [&] { return unanswered; };
  policy.landing_horizon = milliseconds(150);
  auto reports = run_in_passes(pass, aws::deadline_in(milliseconds(60000)), policy);
  ASSERT_EQ(calls, 2);
  EXPECT_GE(starts[1] - starts[0], milliseconds(150)) << "the second pass did not wait for the lost call";
  EXPECT_FALSE(reports[0].incomplete());

  // A pass with every call answered waits only its pause, and timeouts before it (another playbook's) do
  // not count against it.
  starts.clear();
  calls = 0;
  long earlier_timeouts = 4;
  auto answered = [&] {
    starts.push_back(std::chrono::steady_clock::now());
    return std::vector<playbook_report>{++calls == 1 ? throttled_pass() : finishing_pass()};
  };
  policy.unanswered = [&] { return earlier_timeouts; };
  policy.landing_horizon = milliseconds(60000);  // would leave no room, were it waited for
  reports = run_in_passes(answered, aws::deadline_in(milliseconds(60000)), policy);
  EXPECT_EQ(calls, 2);
  EXPECT_FALSE(reports[0].incomplete());
}

TEST(passes, a_refusal_is_not_retried_and_a_finished_report_is_kept) {
  int calls = 0;
  auto refused = [&] {
    ++calls;
    return std::vector<playbook_report>{
        report(report_status::incomplete, {record("isolate-interface", "eni-1", outcome::failed, denied)})};
  };
  run_in_passes(refused, aws::deadline_in(milliseconds(60000)), pass_policy{});
  EXPECT_EQ(calls, 1);

  // Two reports from one pass (a batch of CloudTrail records): the finished one is kept as it was.
  int batch_calls = 0;
  auto batch = [&] {
    ++batch_calls;
    auto first = finishing_pass();
    first.details["pass"] = batch_calls;
    return std::vector<playbook_report>{first, batch_calls == 1 ? throttled_pass() : finishing_pass()};
  };
  auto reports = run_in_passes(batch, aws::deadline_in(milliseconds(60000)), pass_policy{});
  EXPECT_EQ(batch_calls, 2);
  EXPECT_EQ(reports[0].details["pass"], 1);
  EXPECT_FALSE(reports[1].incomplete());
}

TEST(passes, the_number_of_passes_is_configured_and_checked) {
  EXPECT_EQ(config_from_environment(fixed_environment({})).value().max_passes, 3);
  EXPECT_EQ(config_from_environment(fixed_environment({{"TOURNIQUET_MAX_PASSES", "1"}})).value().max_passes,
            1);
  for (const char* bad : {"0", "11", "2.5", "two"}) {
    auto cfg = config_from_environment(fixed_environment({{"TOURNIQUET_MAX_PASSES", bad}}));
    ASSERT_FALSE(cfg) << bad;
    EXPECT_EQ(cfg.err().where, "TOURNIQUET_MAX_PASSES");
    EXPECT_NE(cfg.err().message.find(bad), std::string::npos) << cfg.err().message;
  }
}

}  // namespace
}  // namespace tq::handlers
