// What the fault runs (tests/integration/test_faults.py) found, pinned down without I/O: a read that failed
// keeps its step from acting blind, a deny left without its record is adopted, and the attempt timeout is
// configurable.
#include <gtest/gtest.h>

#include <algorithm>

#include "aws/retry.h"
#include "handlers/playbooks/instance_containment.h"
#include "handlers/playbooks/network_block.h"

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
  s.untrack_groups["vpc-a"] = {"sg-untrack", "vpc-a", untrack_rules()};
  s.isolation_groups["vpc-a"] = {"sg-iso", "vpc-a", {}};
  return s;
}

bool plans(const std::vector<planned_call>& plan, std::string_view action) {
  return std::any_of(plan.begin(), plan.end(),
                     [&](const planned_call& p) { return p.query().action == action; });
}

const action_record* record_of(const std::vector<action_record>& records, std::string_view action) {
  for (const auto& r : records) {
    if (r.action == action) return &r;
  }
  return nullptr;
}

TEST(fault_tolerance, snapshots_are_not_taken_when_the_existing_ones_could_not_be_read) {
  const auto cfg = instance_settings_from_environment(fixed_environment({})).value();
  instance_state state = fresh_state();
  std::vector<action_record> already;
  const auto first = plan_containment(finding, state, cfg, already);
  const auto create = std::find_if(first.begin(), first.end(), [](const planned_call& p) {
    return p.query().action == "CreateSnapshots";
  });
  ASSERT_NE(create, first.end());
  EXPECT_FALSE(create->query().idempotent) << "CreateSnapshots must never be sent twice blindly";

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
  const auto cfg = instance_settings_from_environment(fixed_environment({})).value();
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

cidr_block cidr(std::string_view text) {
  return parse_cidr(text).value().block;
}

acl_state acl_with(std::vector<acl_entry> extra) {
  acl_state acl;
  acl.id = "acl-1";
  acl.vpc_id = "vpc-1";
  acl.vpc_cidrs = {cidr("10.0.0.0/16")};
  for (bool egress : {false, true}) {
    acl.entries.push_back({100, egress, false, true, cidr("0.0.0.0/0")});
    acl.entries.push_back({32767, egress, true, true, cidr("0.0.0.0/0")});
  }
  for (auto& e : extra) acl.entries.push_back(e);
  return acl;
}

network_block_settings block_window() {
  network_block_settings s;
  s.rule_low = 71;
  s.rule_high = 90;
  return s;
}

// The ingress create went through but its answer was lost; the retry was refused as a duplicate.
TEST(fault_tolerance, an_unrecorded_inbound_deny_of_the_block_is_completed_and_recorded) {
  const acl_state acl = acl_with({{89, false, true, true, cidr("203.0.113.3/32")}});
  const auto plan =
      plan_blocks(acl, {{"203.0.113.3", cidr("203.0.113.3/32")}}, block_window(), 1'750'000'000, "tq-1");
  ASSERT_EQ(plan.intents.size(), 1u);
  EXPECT_EQ(plan.intents[0].step, block_step::repair);
  EXPECT_EQ(plan.intents[0].rule_number, 89);
  ASSERT_EQ(plan.calls.size(), 2u);
  EXPECT_EQ(plan.calls[0].query().action, "CreateNetworkAclEntry");
  EXPECT_EQ(plan.calls[0].query().params.get("RuleNumber"), "89");
  EXPECT_EQ(plan.calls[0].query().params.get("Egress"), "true");
  EXPECT_EQ(plan.calls[1].query().action, "CreateTags");
  EXPECT_EQ(plan.calls[1].needs, std::vector<size_t>{0});
  EXPECT_NE(plan.calls[1].query().params.get("Tag.1.Value").find("203.0.113.3/32|"), std::string_view::npos);
}

// Both entries went through, the record did not: recorded now, so that the deny expires.
TEST(fault_tolerance, an_unrecorded_deny_pair_of_the_block_gets_its_record) {
  const acl_state acl = acl_with(
      {{80, false, true, true, cidr("203.0.113.3/32")}, {80, true, true, true, cidr("203.0.113.3/32")}});
  const auto plan =
      plan_blocks(acl, {{"203.0.113.3", cidr("203.0.113.3/32")}}, block_window(), 1'750'000'000, "tq-1");
  ASSERT_EQ(plan.calls.size(), 1u);
  EXPECT_EQ(plan.calls[0].query().action, "CreateTags");
  EXPECT_EQ(plan.calls[0].query().params.get("Tag.1.Key"), "tourniquet:block:80");
}

// A deny of another block, or of this block with a narrower protocol, is someone else's: left alone.
TEST(fault_tolerance, other_rules_in_the_window_are_not_adopted) {
  const acl_state acl = acl_with(
      {{89, false, true, true, cidr("203.0.113.0/24")}, {88, false, true, false, cidr("203.0.113.3/32")}});
  const auto plan =
      plan_blocks(acl, {{"203.0.113.3", cidr("203.0.113.3/32")}}, block_window(), 1'750'000'000, "tq-1");
  ASSERT_EQ(plan.intents.size(), 1u);
  EXPECT_EQ(plan.intents[0].step, block_step::create);
  EXPECT_NE(plan.intents[0].rule_number, 88);
  EXPECT_NE(plan.intents[0].rule_number, 89);
}

TEST(fault_tolerance, attempt_timeout_comes_from_the_environment) {
  EXPECT_EQ(aws::retry_settings_from_environment(fixed_environment({}))->attempt_timeout,
            std::chrono::milliseconds(10000));
  EXPECT_EQ(
      aws::retry_settings_from_environment(fixed_environment({{"TOURNIQUET_ATTEMPT_TIMEOUT_MS", "750"}}))
          ->attempt_timeout,
      std::chrono::milliseconds(750));
  for (const char* bad : {"0", "99", "60001", "fast"}) {
    auto refused =
        aws::retry_settings_from_environment(fixed_environment({{"TOURNIQUET_ATTEMPT_TIMEOUT_MS", bad}}));
    ASSERT_FALSE(refused.ok()) << bad;
    EXPECT_EQ(refused.err().where, "TOURNIQUET_ATTEMPT_TIMEOUT_MS");
  }
}

}  // namespace
}  // namespace tq::handlers
