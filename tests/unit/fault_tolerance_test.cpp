// What the fault runs (tests/integration/test_faults.py) found, pinned down without I/O: a read that failed
// keeps its step from acting blind, and the attempt timeout is configurable.
#include <gtest/gtest.h>

#include <algorithm>

#include "aws/retry.h"
#include "handlers/instance_containment.h"

namespace tq::handlers {
namespace {

const instance_finding finding{"f-1234", "Backdoor:EC2/C&CActivity.B", "123456789012", "i-0abc"};

instance_state fresh_state() {
  instance_state s;
  s.instance_id = "i-0abc";
  s.state_name = "running";
  s.interfaces = {{"eni-1", "vpc-a", "subnet-1", {"sg-web"}}};
  s.volumes = {{"vol-1", "/dev/xvda", true}};
  s.autoscaling_group = "web-asg";
  s.untrack_groups["vpc-a"] = {"sg-untrack", "vpc-a", true, true, true, true, {"0.0.0.0/0", "::/0"}};
  s.isolation_groups["vpc-a"] = {"sg-iso", "vpc-a", false, false, false, false, {}};
  return s;
}

bool plans(const std::vector<planned_call>& plan, std::string_view action) {
  return std::any_of(plan.begin(), plan.end(), [&](const planned_call& p) { return p.call.action == action; });
}

const action_record* record_of(const std::vector<action_record>& records, std::string_view action) {
  for (const auto& r : records) {
    if (r.action == action) return &r;
  }
  return nullptr;
}

TEST(fault_tolerance, snapshots_are_not_taken_when_the_existing_ones_could_not_be_read) {
  const auto cfg = config_from_environment(fixed_environment({})).value();
  instance_state state = fresh_state();
  std::vector<action_record> already;
  const auto first = plan_containment(finding, state, cfg, already);
  const auto create = std::find_if(first.begin(), first.end(),
                                   [](const planned_call& p) { return p.call.action == "CreateSnapshots"; });
  ASSERT_NE(create, first.end());
  EXPECT_FALSE(create->call.idempotent) << "CreateSnapshots must never be sent twice blindly";

  state.snapshots_read = false;
  already.clear();
  const auto plan = plan_containment(finding, state, cfg, already);
  EXPECT_FALSE(plans(plan, "CreateSnapshots")) << "a second set could be taken";
  EXPECT_TRUE(plans(plan, "ModifyNetworkInterfaceAttribute")) << "isolation never waits for evidence";
  const auto* skipped = record_of(already, "snapshot-volumes");
  ASSERT_NE(skipped, nullptr);
  EXPECT_EQ(skipped->result, outcome::skipped);
  EXPECT_NE(skipped->detail.find("not done"), std::string::npos) << "the invocation must count as incomplete";
}

TEST(fault_tolerance, the_instance_is_not_taken_for_groupless_when_its_group_could_not_be_read) {
  const auto cfg = config_from_environment(fixed_environment({})).value();
  instance_state state = fresh_state();
  state.autoscaling_group.clear();
  state.autoscaling_read = false;
  std::vector<action_record> already;
  const auto plan = plan_containment(finding, state, cfg, already);
  EXPECT_FALSE(plans(plan, "DetachInstances"));
  const auto* skipped = record_of(already, "detach-from-autoscaling");
  ASSERT_NE(skipped, nullptr);
  EXPECT_NE(skipped->detail.find("not done"), std::string::npos);
  playbook_report report;
  report.actions = already;
  EXPECT_TRUE(report.incomplete()) << "Lambda must retry, so that the group is read again";
}

TEST(fault_tolerance, attempt_timeout_comes_from_the_environment) {
  EXPECT_EQ(aws::retry_settings_from_environment(fixed_environment({}))->attempt_timeout,
            std::chrono::milliseconds(10000));
  EXPECT_EQ(aws::retry_settings_from_environment(fixed_environment({{"TOURNIQUET_ATTEMPT_TIMEOUT_MS", "750"}}))
                ->attempt_timeout,
            std::chrono::milliseconds(750));
  for (const char* bad : {"0", "99", "60001", "fast"}) {
    auto refused = aws::retry_settings_from_environment(fixed_environment({{"TOURNIQUET_ATTEMPT_TIMEOUT_MS", bad}}));
    ASSERT_FALSE(refused.ok()) << bad;
    EXPECT_EQ(refused.err().where, "TOURNIQUET_ATTEMPT_TIMEOUT_MS");
  }
}

}  // namespace
}  // namespace tq::handlers
