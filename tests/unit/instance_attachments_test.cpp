// The instance profile and load balancer steps of instance containment, checked without I/O: what is planned
// for an unshared and a shared profile, for instance and IP targets, for a replay, and for release; and the
// record they leave on the instance.
#include "handlers/playbooks/instance_attachments.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "handlers/incident.h"
#include "handlers/playbooks/credential_containment.h"

namespace tq::handlers {
namespace {

constexpr const char* profile_arn = "arn:aws:iam::123456789012:instance-profile/web/web-profile";
constexpr const char* group_a =
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/50dc6c495c0c9188";
constexpr const char* group_b =
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/api/6d0ecf831eec9f09";

attached_instance instance() {
  return {"i-0abc", {{"Name", "web-1"}}, {"vpc-a"}, {"10.0.1.10", "10.0.1.11"}, profile_arn};
}

// An instance holding its profile, whose role no other instance uses and which carries no revoke yet.
profile_state unshared() {
  profile_state s;
  s.association_id = "iip-assoc-1";
  s.associated_arn = profile_arn;
  s.role_name = "web-role";
  s.role_read = true;
  s.sharing_known = true;
  s.revocation_read = true;
  return s;
}

std::vector<std::string> actions_of(const std::vector<planned_call>& plan) {
  std::vector<std::string> out;
  for (const auto& p : plan) out.push_back(p.query().action);
  return out;
}

TEST(profile_plan, an_unshared_profile_is_detached_and_its_role_revoked_with_the_credential_policy) {
  std::vector<action_record> already;
  const auto planned =
      plan_profile_containment(instance(), unshared(), {}, "tq-1", "2026-12-01T09:30:00Z", already);
  ASSERT_EQ(actions_of(planned.calls),
            (std::vector<std::string>{"TagInstanceProfile", "DisassociateIamInstanceProfile", "PutRolePolicy",
                                      "TagRole"}));
  // The profile says which instance it was detached from, before the detach: release requires it.
  EXPECT_EQ(planned.calls[0].query().params.get("InstanceProfileName"), "web-profile");
  EXPECT_EQ(planned.calls[0].query().params.get("Tags.member.1.Key"), "tourniquet:detached-from:i-0abc");
  EXPECT_EQ(planned.calls[1].needs, std::vector<size_t>{0});
  EXPECT_EQ(planned.calls[1].query().params.get("AssociationId"), "iip-assoc-1");
  EXPECT_TRUE(planned.calls[1].without_dry_run) << "DisassociateIamInstanceProfile takes no DryRun";
  EXPECT_EQ(planned.calls[2].query().params.get("RoleName"), "web-role");
  EXPECT_EQ(planned.calls[2].query().params.get("PolicyName"), revoke_sessions_policy_name);
  EXPECT_EQ(planned.calls[2].query().params.get("PolicyDocument"),
            revoke_sessions_policy("2026-12-01T09:30:00Z"));
  ASSERT_EQ(planned.record.size(), 1u);
  EXPECT_EQ(planned.record[0].key, tag_instance_profile);
  EXPECT_EQ(planned.record[0].value, profile_arn);
  EXPECT_FALSE(planned.escalation);
}

TEST(profile_plan, a_shared_profile_is_detached_but_its_role_kept_and_a_person_told_how_many_and_the_option) {
  profile_state shared = unshared();
  shared.shared_with = 3;
  std::vector<action_record> already;
  const auto planned =
      plan_profile_containment(instance(), shared, {}, "tq-1", "2026-12-01T09:30:00Z", already);
  EXPECT_EQ(actions_of(planned.calls),
            (std::vector<std::string>{"TagInstanceProfile", "DisassociateIamInstanceProfile"}));
  ASSERT_TRUE(planned.escalation);
  EXPECT_NE(planned.escalation->find("3 other instance"), std::string::npos) << *planned.escalation;
  EXPECT_NE(planned.escalation->find("TOURNIQUET_REVOKE_SHARED_INSTANCE_ROLE=true"), std::string::npos);

  attachment_settings anyway;
  anyway.revoke_shared_instance_role = true;
  already.clear();
  const auto forced =
      plan_profile_containment(instance(), shared, anyway, "tq-1", "2026-12-01T09:30:00Z", already);
  EXPECT_EQ(actions_of(forced.calls),
            (std::vector<std::string>{"TagInstanceProfile", "DisassociateIamInstanceProfile", "PutRolePolicy",
                                      "TagRole"}));
  EXPECT_FALSE(forced.escalation);
}

TEST(profile_plan, sharing_that_could_not_be_read_revokes_nothing_and_leaves_the_job_unfinished) {
  profile_state unknown = unshared();
  unknown.sharing_known = false;
  std::vector<action_record> already;
  const auto planned = plan_profile_containment(instance(), unknown, {}, "tq-1", "now", already);
  EXPECT_EQ(actions_of(planned.calls),
            (std::vector<std::string>{"TagInstanceProfile", "DisassociateIamInstanceProfile"}));
  EXPECT_TRUE(
      std::any_of(already.begin(), already.end(), [](const action_record& r) { return r.unfinished; }));
}

TEST(profile_plan, a_replay_after_the_detach_and_the_revoke_plans_nothing) {
  profile_state after;
  after.recorded_arn = profile_arn;
  after.role_name = "web-role";
  after.role_read = after.sharing_known = after.revocation_read = after.revoked = true;
  attached_instance tagged = instance();
  tagged.profile_arn.clear();
  std::vector<action_record> already;
  const auto planned = plan_profile_containment(tagged, after, {}, "tq-1", "now", already);
  EXPECT_TRUE(planned.calls.empty());
  EXPECT_TRUE(planned.record.empty()) << "the record is in place";
  EXPECT_TRUE(std::all_of(already.begin(), already.end(),
                          [](const action_record& r) { return r.result == outcome::already; }));
}

TEST(profile_plan, a_revoke_that_failed_before_is_made_by_the_replay) {
  profile_state after;
  after.recorded_arn = profile_arn;
  after.role_name = "web-role";
  after.role_read = after.sharing_known = after.revocation_read = true;
  std::vector<action_record> already;
  EXPECT_EQ(actions_of(plan_profile_containment(instance(), after, {}, "tq-1", "now", already).calls),
            (std::vector<std::string>{"PutRolePolicy", "TagRole"}));
}

TEST(profile_plan, an_association_that_could_not_be_read_is_never_taken_for_a_detach) {
  profile_state unread = unshared();
  unread.association_read = false;
  unread.association_id.clear();
  unread.associated_arn.clear();
  unread.recorded_arn = profile_arn;
  std::vector<action_record> already;
  EXPECT_TRUE(plan_profile_containment(instance(), unread, {}, "tq-1", "now", already).calls.empty());
  ASSERT_EQ(already.size(), 1u);
  EXPECT_TRUE(already[0].unfinished) << "the job is not done: a retry reads it again";
}

TEST(profile_plan, no_profile_plans_nothing) {
  std::vector<action_record> already;
  EXPECT_TRUE(
      plan_profile_containment(instance(), profile_state{}, {}, "tq-1", "now", already).calls.empty());
  ASSERT_EQ(already.size(), 1u);
  EXPECT_EQ(already[0].result, outcome::already);
}

TEST(profile_release, associates_the_recorded_profile_when_none_is_and_never_replaces_another) {
  profile_state detached;
  detached.recorded_arn = profile_arn;
  std::vector<action_record> already;
  EXPECT_TRUE(plan_profile_release(instance(), detached, already).empty())
      << "a profile that does not say it was detached from the instance is never associated: the "
         "instance's tag naming it may have been rewritten";
  ASSERT_EQ(already.size(), 1u);
  EXPECT_TRUE(already[0].unfinished);
  detached.profile_tags["tourniquet:detached-from:i-0abc"] = "tq-1";
  already.clear();
  const auto plan = plan_profile_release(instance(), detached, already);
  ASSERT_EQ(actions_of(plan), (std::vector<std::string>{"AssociateIamInstanceProfile"}));
  EXPECT_EQ(plan[0].query().params.get("IamInstanceProfile.Arn"), profile_arn);
  EXPECT_EQ(plan[0].query().params.get("InstanceId"), "i-0abc");

  profile_state back = detached;
  back.associated_arn = profile_arn;
  EXPECT_TRUE(plan_profile_release(instance(), back, already).empty()) << "a replayed release";
  profile_state other = detached;
  other.associated_arn = "arn:aws:iam::123456789012:instance-profile/other";
  EXPECT_TRUE(plan_profile_release(instance(), other, already).empty());
}

TEST(profile_name, is_the_last_part_of_the_arn) {
  EXPECT_EQ(profile_name_of(profile_arn), "web-profile");
  EXPECT_EQ(profile_name_of("arn:aws:iam::1:instance-profile/p"), "p");
}

load_balancer_state registered() {
  load_balancer_state s;
  s.registered.targets = {{group_a, "i-0abc", "80", ""}, {group_b, "10.0.1.11", "8443", ""}};
  s.registered.classic = {"legacy-web"};
  s.groups_searched = 2;
  return s;
}

TEST(load_balancer_plan, every_instance_and_ip_target_and_classic_registration_is_deregistered) {
  std::vector<action_record> already;
  const auto plan = plan_deregistration(instance(), registered(), already);
  ASSERT_EQ(actions_of(plan), (std::vector<std::string>{"DeregisterTargets", "DeregisterTargets",
                                                        "DeregisterInstancesFromLoadBalancer"}));
  for (const auto& p : plan) {
    const auto& q = p.query();
    if (q.action != "DeregisterTargets") continue;
    if (q.params.get("TargetGroupArn") == group_a) {
      EXPECT_EQ(q.params.get("Targets.member.1.Id"), "i-0abc");
      EXPECT_EQ(q.params.get("Targets.member.1.Port"), "80");
    } else {
      EXPECT_EQ(q.params.get("TargetGroupArn"), group_b);
      EXPECT_EQ(q.params.get("Targets.member.1.Id"), "10.0.1.11");
      EXPECT_EQ(q.params.get("Targets.member.1.Port"), "8443");
    }
  }
  EXPECT_EQ(plan[2].query().params.get("LoadBalancerName"), "legacy-web");
  EXPECT_EQ(plan[2].query().params.get("Instances.member.1.InstanceId"), "i-0abc");
  EXPECT_EQ(aws::api_version(plan[0].query().target), "2015-12-01");
  EXPECT_EQ(aws::api_version(plan[2].query().target), "2012-06-01");
}

TEST(load_balancer_plan, a_replay_after_the_deregistration_plans_nothing) {
  load_balancer_state none;
  none.groups_searched = 2;
  std::vector<action_record> already;
  EXPECT_TRUE(plan_deregistration(instance(), none, already).empty());
  ASSERT_EQ(already.size(), 1u);
  EXPECT_EQ(already[0].result, outcome::already);
}

TEST(load_balancer_search, asks_only_groups_that_can_hold_the_instance_and_at_most_the_bound) {
  const std::vector<target_group> groups{{"g-inst-here", "instance", "vpc-a"},
                                         {"g-inst-there", "instance", "vpc-z"},
                                         {"g-ip-there", "ip", "vpc-z"},
                                         {"g-lambda", "lambda", ""},
                                         {"g-alb", "alb", "vpc-a"},
                                         {"g-ip-here", "ip", "vpc-a"}};
  const auto all = groups_to_search(groups, instance(), 10);
  EXPECT_EQ(all.search, (std::vector<std::string>{"g-inst-here", "g-ip-there", "g-ip-here"}));
  EXPECT_TRUE(all.not_searched.empty());
  const auto bounded = groups_to_search(groups, instance(), 2);
  EXPECT_EQ(bounded.search, (std::vector<std::string>{"g-inst-here", "g-ip-there"}));
  EXPECT_EQ(bounded.not_searched, (std::vector<std::string>{"g-ip-here"}));
}

TEST(load_balancer_record, round_trips_compactly_and_spills_past_a_tag_value) {
  const load_balancer_record record = registered().registered;
  const auto tags = load_balancer_tags(record, "i-0abc");
  ASSERT_EQ(tags.size(), 1u);
  EXPECT_EQ(tags[0].key, tag_load_balancers);
  EXPECT_EQ(tags[0].value.find("i-0abc"), std::string::npos)
      << "an instance target is recorded without its id";
  EXPECT_LE(tags[0].value.size(), 256u);
  std::map<std::string, std::string> on{{tags[0].key, tags[0].value}};
  EXPECT_EQ(load_balancer_record_from(on, "i-0abc"), record);

  load_balancer_record many;
  for (int i = 0; i < 20; ++i)
    many.targets.push_back({std::string(group_a) + std::to_string(i), "i-0abc", "80", ""});
  const auto spilled = load_balancer_tags(many, "i-0abc");
  EXPECT_GT(spilled.size(), 1u);
  std::map<std::string, std::string> all;
  for (const auto& t : spilled) all[t.key] = t.value;
  EXPECT_EQ(load_balancer_record_from(all, "i-0abc"), many);
  all.erase(spilled.back().key);
  EXPECT_FALSE(load_balancer_record_from(all, "i-0abc")) << "a record cut short is never acted on";
}

TEST(load_balancer_release, registers_again_what_is_missing_and_only_the_instance_itself) {
  load_balancer_record recorded = registered().registered;
  recorded.targets.push_back({group_b, "10.9.9.9", "22", ""});  // written by someone who may tag it
  load_balancer_state now;
  now.registered.targets = {{group_a, "i-0abc", "80", ""}};
  std::vector<action_record> already;
  const auto plan = plan_reregistration(instance(), recorded, now, already);
  ASSERT_EQ(actions_of(plan),
            (std::vector<std::string>{"RegisterTargets", "RegisterInstancesWithLoadBalancer"}));
  EXPECT_EQ(plan[0].query().params.get("TargetGroupArn"), group_b);
  EXPECT_EQ(plan[0].query().params.get("Targets.member.1.Id"), "10.0.1.11");
  EXPECT_TRUE(plan[0].query().params.get("Targets.member.2.Id").empty()) << "not an address of the instance";
  EXPECT_TRUE(
      std::any_of(already.begin(), already.end(), [](const action_record& r) { return r.unfinished; }));

  now.registered = recorded;
  now.registered.targets.pop_back();
  already.clear();
  const auto replay = plan_reregistration(instance(), recorded, now, already);
  EXPECT_TRUE(replay.empty()) << "a replayed release changes nothing more";
}

TEST(load_balancer_record, merges_what_was_recorded_with_what_is_found) {
  load_balancer_record before{{{group_a, "i-0abc", "80", ""}}, {}};
  load_balancer_record found{{{group_b, "10.0.1.10", "80", ""}}, {"legacy-web"}};
  const auto both = merged(before, found);
  EXPECT_EQ(both.targets.size(), 2u);
  EXPECT_EQ(both.classic, (std::vector<std::string>{"legacy-web"}));
  EXPECT_EQ(merged(both, found), both);
}

TEST(attachment_settings, default_on_with_a_bound_and_bad_values_name_their_variable) {
  auto defaults = attachment_settings_from_environment(fixed_environment({}));
  ASSERT_TRUE(defaults.ok());
  EXPECT_TRUE(defaults->detach_instance_profile);
  EXPECT_TRUE(defaults->deregister_from_load_balancers);
  EXPECT_FALSE(defaults->revoke_shared_instance_role);
  EXPECT_EQ(defaults->max_target_groups, 200u);
  auto set = attachment_settings_from_environment(
      fixed_environment({{"TOURNIQUET_DETACH_INSTANCE_PROFILE", "false"},
                         {"TOURNIQUET_REVOKE_SHARED_INSTANCE_ROLE", "true"},
                         {"TOURNIQUET_MAX_TARGET_GROUPS", "50"}}));
  ASSERT_TRUE(set.ok());
  EXPECT_FALSE(set->detach_instance_profile);
  EXPECT_TRUE(set->revoke_shared_instance_role);
  EXPECT_EQ(set->max_target_groups, 50u);
  auto bad =
      attachment_settings_from_environment(fixed_environment({{"TOURNIQUET_MAX_TARGET_GROUPS", "2.5"}}));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.err().describe().find("TOURNIQUET_MAX_TARGET_GROUPS"), std::string::npos);
}

TEST(elastic_load_balancing,
     both_services_sign_as_elasticloadbalancing_with_their_own_versions_and_overrides) {
  const env_reader none = fixed_environment({});
  auto v2 = aws::resolve_endpoint(aws::service::elbv2, "eu-west-1", none);
  auto classic = aws::resolve_endpoint(aws::service::elb, "eu-west-1", none);
  ASSERT_TRUE(v2.ok() && classic.ok());
  EXPECT_EQ(v2->url, "https://elasticloadbalancing.eu-west-1.amazonaws.com");
  EXPECT_EQ(classic->url, v2->url);
  EXPECT_EQ(v2->signing_name, "elasticloadbalancing");
  EXPECT_EQ(aws::api_version(aws::service::elbv2), "2015-12-01");
  EXPECT_EQ(aws::api_version(aws::service::elb), "2012-06-01");
  auto overridden = aws::resolve_endpoint(
      aws::service::elbv2, "eu-west-1",
      fixed_environment({{"AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2", "http://127.0.0.1:5000"}}));
  EXPECT_EQ(overridden->url, "http://127.0.0.1:5000");
  aws::query_call call{aws::service::elbv2, "DescribeTargetHealth", {}};
  EXPECT_EQ(aws::call_name(call), "elasticloadbalancing:DescribeTargetHealth");
}

}  // namespace
}  // namespace tq::handlers
