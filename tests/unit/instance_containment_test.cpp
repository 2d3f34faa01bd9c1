// The instance containment plans, checked without I/O: what is called, in which order, and what a replay
// (the state after a first run) still asks for.
#include "handlers/playbooks/instance_containment.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "handlers/policy.h"

namespace tq::handlers {
namespace {

const instance_finding finding{"f-1234", "Backdoor:EC2/C&CActivity.B", "123456789012", "i-0abc"};

managed_group untrack_group(std::string vpc) {
  return {"sg-untrack-" + vpc, vpc, untrack_rules()};
}
managed_group isolation_group(std::string vpc) {
  return {"sg-iso-" + vpc, vpc, {}};
}
// A group as CreateSecurityGroup leaves it: all IPv4 egress allowed.
managed_group new_group(std::string id, std::string vpc) {
  return {std::move(id), std::move(vpc), {all_traffic(rule_direction::egress, "0.0.0.0/0")}, true};
}

// An instance as found before any containment: two interfaces in two VPCs, three volumes, in an ASG.
instance_state fresh_state() {
  instance_state s;
  s.instance_id = "i-0abc";
  s.state_name = "running";
  s.interfaces = {{"eni-1", "vpc-a", "subnet-1", {"sg-web", "sg-ssh"}},
                  {"eni-2", "vpc-b", "subnet-2", {"sg-db"}}};
  s.volumes = {{"vol-1", "/dev/xvda", true}, {"vol-2", "/dev/sdf", false}, {"vol-3", "/dev/sdg", true}};
  s.shutdown_behavior = "terminate";
  s.autoscaling_group = "web-asg";
  for (const char* vpc : {"vpc-a", "vpc-b"}) {
    s.untrack_groups[vpc] = untrack_group(vpc);
    s.isolation_groups[vpc] = isolation_group(vpc);
  }
  return s;
}

// The state a completed first run leaves behind.
instance_state contained_state() {
  instance_state s = fresh_state();
  s.interfaces[0].group_ids = {"sg-iso-vpc-a"};
  s.interfaces[1].group_ids = {"sg-iso-vpc-b"};
  for (auto& v : s.volumes) v.delete_on_termination = false;
  s.termination_protected = true;
  s.shutdown_behavior = "stop";
  s.autoscaling_group.clear();
  s.finding_snapshot_ids = {"snap-1", "snap-2", "snap-3"};
  s.tags = {{tag_incident, incident_id_for(finding.account_id, finding.finding_id)},
            {"tourniquet:prior-groups:eni-1", "sg-web,sg-ssh"},
            {"tourniquet:prior-groups:eni-2", "sg-db"},
            {tag_status, "contained"}};
  s.recorded_group_vpcs = {{"sg-web", "vpc-a"}, {"sg-ssh", "vpc-a"}, {"sg-db", "vpc-b"}};
  return s;
}

std::vector<size_t> indices_of(const std::vector<planned_call>& plan, std::string_view kind) {
  std::vector<size_t> out;
  for (size_t i = 0; i < plan.size(); ++i) {
    if (plan[i].kind->name == kind) out.push_back(i);
  }
  return out;
}

// The level of a call in the plan's dependency graph: 1 for a call that waits for nothing. The executor
// sends one batch per level, so the level is the round trip it goes out in.
size_t level_of(const std::vector<planned_call>& plan, size_t i) {
  size_t deepest = 0;
  for (size_t before : plan[i].after) deepest = std::max(deepest, level_of(plan, before));
  for (size_t need : plan[i].needs) deepest = std::max(deepest, level_of(plan, need));
  return deepest + 1;
}

TEST(instance_plan, untracks_then_isolates_every_interface_with_its_vpcs_groups) {
  std::vector<action_record> already;
  const auto plan = plan_containment(finding, fresh_state(), instance_settings{}, already);
  const auto untracks = indices_of(plan, "untrack-interface");
  const auto isolations = indices_of(plan, "isolate-interface");
  ASSERT_EQ(untracks.size(), 2u);
  ASSERT_EQ(isolations.size(), 2u);
  for (size_t k = 0; k < 2; ++k) {
    const auto& untrack = plan[untracks[k]];
    const auto& isolate = plan[isolations[k]];
    EXPECT_EQ(untrack.target, isolate.target);
    EXPECT_EQ(untrack.query().action, "ModifyNetworkInterfaceAttribute");
    const std::string vpc = untrack.target == "eni-1" ? "vpc-a" : "vpc-b";
    EXPECT_EQ(untrack.query().params.get("SecurityGroupId.1"), "sg-untrack-" + vpc);
    EXPECT_EQ(isolate.query().params.get("SecurityGroupId.1"), "sg-iso-" + vpc);
    EXPECT_TRUE(isolate.query().params.get("SecurityGroupId.2").empty())
        << "isolation leaves exactly one group";
    // Isolation waits for the untrack call (so tracked flows are cut) but not for its success.
    EXPECT_NE(std::find(isolate.after.begin(), isolate.after.end(), untracks[k]), isolate.after.end());
    EXPECT_TRUE(isolate.needs.empty());
    EXPECT_LT(level_of(plan, untracks[k]), level_of(plan, isolations[k]));
  }
}

TEST(instance_plan, containment_comes_before_evidence_and_fits_the_round_trip_budget) {
  std::vector<action_record> already;
  const auto plan = plan_containment(finding, fresh_state(), instance_settings{}, already);
  size_t last_isolation = 0;
  for (size_t i : indices_of(plan, "isolate-interface"))
    last_isolation = std::max(last_isolation, level_of(plan, i));
  // After the read (one round trip), isolation lands in the plan's second level: three in all.
  EXPECT_EQ(last_isolation, 2u);
  for (const char* evidence : {"protect-termination", "stop-on-shutdown", "keep-volumes",
                               "detach-from-autoscaling", "snapshot-volumes"}) {
    const auto found = indices_of(plan, evidence);
    ASSERT_EQ(found.size(), 1u) << evidence;
    EXPECT_GT(level_of(plan, found[0]), last_isolation) << evidence << " must follow isolation";
  }
  size_t deepest = 0;
  for (size_t i = 0; i < plan.size(); ++i) deepest = std::max(deepest, level_of(plan, i));
  EXPECT_EQ(deepest, 3u);  // read + 3 levels + the status tag = 5 round trips for the whole playbook
}

TEST(instance_plan, evidence_calls_carry_what_investigators_need) {
  std::vector<action_record> already;
  const auto plan = plan_containment(finding, fresh_state(), instance_settings{}, already);
  const auto& snapshot = plan[indices_of(plan, "snapshot-volumes").at(0)];
  EXPECT_EQ(snapshot.query().action, "CreateSnapshots");
  EXPECT_EQ(snapshot.query().params.get("InstanceSpecification.InstanceId"), "i-0abc");
  EXPECT_EQ(snapshot.query().params.get("TagSpecification.1.Tag.2.Value"), "f-1234");
  const auto& keep = plan[indices_of(plan, "keep-volumes").at(0)];
  EXPECT_EQ(keep.query().params.get("BlockDeviceMapping.1.DeviceName"), "/dev/xvda");
  EXPECT_EQ(keep.query().params.get("BlockDeviceMapping.2.DeviceName"), "/dev/sdg");
  EXPECT_EQ(keep.query().params.get("BlockDeviceMapping.2.Ebs.DeleteOnTermination"), "false");
  const auto& detach = plan[indices_of(plan, "detach-from-autoscaling").at(0)];
  EXPECT_EQ(detach.query().params.get("ShouldDecrementDesiredCapacity"), "false");
  // Each interface carries its own groups; the instance the incident id and one record tag naming them all.
  const auto on_interfaces = indices_of(plan, "record-on-interface");
  ASSERT_EQ(on_interfaces.size(), 2u);
  EXPECT_EQ(plan[on_interfaces[0]].query().params.get("ResourceId.1"), "eni-1");
  EXPECT_EQ(plan[on_interfaces[0]].query().params.get("Tag.1.Key"), tag_prior_groups);
  EXPECT_EQ(plan[on_interfaces[0]].query().params.get("Tag.1.Value"), "sg-web,sg-ssh");
  const auto& record = plan[indices_of(plan, "record-prior-state").at(0)];
  EXPECT_EQ(record.query().params.get("Tag.1.Key"), tag_incident);
  EXPECT_EQ(record.query().params.get("Tag.2.Key"), tag_record);
  EXPECT_EQ(record.query().params.get("Tag.2.Value"),
            "v1;n=1;f=f-1234;t=Backdoor:EC2/C&CActivity.B;i=eni-1:sg-web+sg-ssh,eni-2:sg-db");
  EXPECT_TRUE(record.query().params.get("Tag.3.Key").empty()) << "no more instance tags than needed";
}

TEST(instance_plan, a_replay_plans_nothing_and_reports_everything_in_place) {
  std::vector<action_record> already;
  const auto plan = plan_containment(finding, contained_state(), instance_settings{}, already);
  EXPECT_TRUE(plan.empty()) << plan.size() << " calls planned on a replay, first " << plan.front().kind->name;
  EXPECT_FALSE(already.empty());
  for (const auto& r : already) EXPECT_EQ(r.result, outcome::already) << r.action;
  std::vector<action_record> status_already;
  EXPECT_TRUE(plan_status(contained_state(), true, "2026-11-22T00:00:00Z", status_already).calls.empty());
}

TEST(instance_plan, an_interface_left_in_the_untrack_group_is_isolated_without_recording_that_group) {
  instance_state s = contained_state();
  s.interfaces[0].group_ids = {"sg-untrack-vpc-a"};
  s.tags.erase("tourniquet:prior-groups:eni-1");
  std::vector<action_record> already;
  const auto plan = plan_containment(finding, s, instance_settings{}, already);
  ASSERT_EQ(plan.size(), 1u);
  EXPECT_EQ(plan[0].kind->name, "isolate-interface");
  EXPECT_EQ(plan[0].target, "eni-1");
}

TEST(instance_plan, missing_groups_are_created_per_vpc_and_calls_naming_them_wait) {
  instance_state s = fresh_state();
  s.untrack_groups.erase("vpc-b");
  s.isolation_groups.erase("vpc-b");
  const auto creation = plan_group_creation(s, "tq-1");
  ASSERT_EQ(creation.size(), 2u);
  for (const auto& c : creation) {
    EXPECT_EQ(c.query().action, "CreateSecurityGroup");
    EXPECT_EQ(c.query().params.get("VpcId"), "vpc-b");
    EXPECT_EQ(c.query().params.get("TagSpecification.1.Tag.1.Key"), tag_role);
  }
  std::vector<action_record> already;
  const auto plan = plan_containment(finding, s, instance_settings{}, already);
  for (size_t i : indices_of(plan, "isolate-interface")) {
    EXPECT_EQ(plan[i].blocked_because.empty(), plan[i].target == "eni-1") << plan[i].target;
  }
}

TEST(instance_plan, group_rules_open_the_untrack_group_both_ways_and_close_the_isolation_group) {
  instance_state s = fresh_state();
  s.untrack_groups["vpc-a"] = new_group("sg-u", "vpc-a");
  s.isolation_groups["vpc-a"] = new_group("sg-i", "vpc-a");
  instance_settings cfg;
  cfg.forensics_cidrs = {"10.99.0.0/24", "fd00:99::/64"};
  const auto rules = plan_group_rules(s, cfg);
  // One rule per call: EC2 refuses a whole call for one rule that is there already (or gone), and only a call
  // of one rule can take that answer for "in place already".
  auto find = [&](std::string_view action, std::string_view group,
                  std::string_view cidr) -> const planned_call* {
    for (const auto& r : rules) {
      const auto& p = r.query().params;
      if (r.query().action == action && p.get("GroupId") == group &&
          p.get("IpPermissions.1.IpProtocol") == "-1" &&
          std::string(p.get("IpPermissions.1.IpRanges.1.CidrIp")) +
                  std::string(p.get("IpPermissions.1.Ipv6Ranges.1.CidrIpv6")) ==
              cidr) {
        return &r;
      }
    }
    return nullptr;
  };
  EXPECT_EQ(rules.size(), 8U);  // six in vpc-a, and the two forensics ranges on vpc-b's isolation group
  ASSERT_NE(find("AuthorizeSecurityGroupIngress", "sg-u", "0.0.0.0/0"), nullptr);
  ASSERT_NE(find("AuthorizeSecurityGroupIngress", "sg-u", "::/0"), nullptr);
  EXPECT_EQ(find("AuthorizeSecurityGroupEgress", "sg-u", "0.0.0.0/0"), nullptr)
      << "IPv4 egress exists already";
  ASSERT_NE(find("AuthorizeSecurityGroupEgress", "sg-u", "::/0"), nullptr);
  const auto* revoke = find("RevokeSecurityGroupEgress", "sg-i", "0.0.0.0/0");
  ASSERT_NE(revoke, nullptr);
  EXPECT_EQ(revoke->already_if, std::vector<std::string_view>{"InvalidPermission.NotFound"});
  const auto* forensics = find("AuthorizeSecurityGroupIngress", "sg-i", "10.99.0.0/24");
  ASSERT_NE(forensics, nullptr);
  EXPECT_EQ(forensics->already_if, std::vector<std::string_view>{"InvalidPermission.Duplicate"});
  ASSERT_NE(find("AuthorizeSecurityGroupIngress", "sg-i", "fd00:99::/64"), nullptr);
}

TEST(instance_plan, release_restores_the_recorded_groups) {
  std::vector<action_record> already;
  const auto plan = plan_release(contained_state(), "2026-11-22T00:00:00Z", "", already);
  const auto restores = indices_of(plan, "restore-interface");
  ASSERT_EQ(restores.size(), 2u);
  EXPECT_EQ(plan[restores[0]].query().params.get("SecurityGroupId.1"), "sg-web");
  EXPECT_EQ(plan[restores[0]].query().params.get("SecurityGroupId.2"), "sg-ssh");
  EXPECT_EQ(plan[restores[1]].query().params.get("SecurityGroupId.1"), "sg-db");
  const auto status = indices_of(plan, "record-status");
  ASSERT_EQ(status.size(), 1u);
  EXPECT_GT(level_of(plan, status[0]), level_of(plan, restores[0]));
}

TEST(release_plan, records_who_released_and_when) {
  std::vector<action_record> already;
  const auto plan =
      plan_release(contained_state(), "2026-11-22T00:00:00Z", "arn:aws:iam::1:user/alice", already);
  const auto status = indices_of(plan, "record-status");
  ASSERT_EQ(status.size(), 1u);
  const auto& params = plan[status[0]].query().params;
  EXPECT_EQ(params.get("Tag.2.Key"), tag_released_at);
  EXPECT_EQ(params.get("Tag.2.Value"), "2026-11-22T00:00:00Z");
  EXPECT_EQ(params.get("Tag.3.Key"), tag_released_by);
  EXPECT_EQ(params.get("Tag.3.Value"), "arn:aws:iam::1:user/alice");
}

TEST(operator_decision, read_from_the_release_or_an_undo_by_hand) {
  instance_state s = contained_state();
  s.tags[tag_contained_at] = "2026-11-21T00:00:00Z";
  EXPECT_TRUE(decision_of(s).released_at.empty());
  EXPECT_FALSE(decision_of(s).undone_by_hand) << "still isolated: replays converge as before";

  instance_state by_hand = s;  // someone moved the interfaces back without `release`
  by_hand.interfaces[0].group_ids = {"sg-web", "sg-ssh"};
  by_hand.interfaces[1].group_ids = {"sg-db"};
  EXPECT_TRUE(decision_of(by_hand).undone_by_hand);
  EXPECT_EQ(decision_of(by_hand).contained_at, "2026-11-21T00:00:00Z");

  instance_state released = by_hand;
  released.interfaces[1].tags = {{tag_status, "released"},
                                 {tag_released_at, "2026-11-22T00:00:00Z"},
                                 {tag_released_by, "arn:aws:iam::1:user/alice"}};
  EXPECT_EQ(decision_of(released).released_at, "2026-11-22T00:00:00Z");
  EXPECT_EQ(decision_of(released).released_by, "arn:aws:iam::1:user/alice");
}

TEST(release_plan, refuses_a_recorded_group_that_is_gone_or_in_another_vpc_saying_which) {
  instance_state s = contained_state();
  s.recorded_group_vpcs.erase("sg-ssh");     // deleted since
  s.recorded_group_vpcs["sg-db"] = "vpc-x";  // a group of another VPC, put in the record
  std::vector<action_record> already;
  const auto plan = plan_release(s, "2026-11-22T00:00:00Z", "", already);
  EXPECT_TRUE(plan.empty()) << "nothing is restored, and the incident is not marked released";
  std::string said;
  for (const auto& r : already) {
    if (r.unfinished) said += r.target + ": " + r.detail + "; ";
  }
  EXPECT_NE(said.find("eni-1: not restored: recorded group sg-ssh no longer exists"), std::string::npos)
      << said;
  EXPECT_NE(
      said.find("eni-2: not restored: recorded group sg-db sits in vpc-x, not in the interface's vpc-b"),
      std::string::npos)
      << said;
  EXPECT_NE(said.find("not marked released"), std::string::npos) << said;
}

TEST(release_plan, never_restores_groups_onto_an_interface_of_another_instance) {
  instance_state s = contained_state();
  s.tags["tourniquet:prior-groups:eni-of-another-instance"] = "sg-web";
  std::vector<action_record> already;
  const auto plan = plan_release(s, "2026-11-22T00:00:00Z", "", already);
  for (const auto& call : plan) EXPECT_NE(call.target, "eni-of-another-instance");
  EXPECT_EQ(indices_of(plan, "restore-interface").size(), 2u);
  const bool noted = std::any_of(already.begin(), already.end(), [](const action_record& r) {
    return r.target == "eni-of-another-instance" && r.result == outcome::skipped;
  });
  EXPECT_TRUE(noted);
}

TEST(instance_plan, replays_share_one_incident_id) {
  EXPECT_EQ(incident_id_for("123456789012", "f-1"), incident_id_for("123456789012", "f-1"));
  EXPECT_NE(incident_id_for("123456789012", "f-1"), incident_id_for("123456789012", "f-2"));
  EXPECT_NE(incident_id_for("123456789012", "f-1"), incident_id_for("210987654321", "f-1"));
}

}  // namespace
}  // namespace tq::handlers
