// Function containment and escalation without I/O: the families' details decoded from the samples, the
// function's reads and the state parsed from Lambda's answers, the containment and release plans, the role
// sharing count, and the escalation notes a person gets for each family.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "handlers/playbooks/escalation.h"
#include "handlers/playbooks/function_containment.h"
#include "runtime/environment.h"

namespace tq::handlers {
namespace {

namespace fs = std::filesystem;
constexpr const char* now = "2026-12-01T09:30:00Z";

guardduty_finding finding(const std::string& name) {
  std::ifstream in(fs::path(TQ_SOURCE_DIR) / "events" / "guardduty" / name, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  auto decoded = decode_event(text.str());
  if (!decoded) {
    ADD_FAILURE() << name << ": " << decoded.err().describe();
    return {};
  }
  return std::get<guardduty_finding>(std::move(*decoded));
}

const aws::rest_json_call& rest(const planned_call& c) {
  return std::get<aws::rest_json_call>(c.call);
}

// An execution whose every call succeeded with these JSON answers.
execution answered(const std::vector<nlohmann::json>& answers) {
  execution run;
  for (const auto& a : answers) {
    run.records.push_back({"read", "", outcome::done});
    // Built in place: GCC 12 warns (maybe-uninitialized) on a temporary api_answer moved into the optional.
    run.answers.emplace_back(std::in_place).value().body = a;
  }
  return run;
}

function_state state_with(std::optional<long> reserved, std::map<std::string, std::string> tags = {}) {
  function_state s;
  s.reserved = reserved;
  s.function_arn = "arn:aws:lambda:us-east-1:123456789012:function:orders-webhook";
  s.role_arn = "arn:aws:iam::123456789012:role/orders-webhook-role";
  s.tags = std::move(tags);
  return s;
}

TEST(family_details, lambda_details_are_decoded_with_vpc_and_tags) {
  const auto f = finding("backdoor-lambda-cc-activity-vpc.json");
  ASSERT_TRUE(f.families.lambda);
  const auto& l = *f.families.lambda;
  EXPECT_EQ(l.function_name, "orders-webhook");
  EXPECT_EQ(l.role, "arn:aws:iam::123456789012:role/orders-webhook-role");
  EXPECT_EQ(l.subnet_ids.size(), 2u);
  EXPECT_EQ(l.security_group_ids, std::vector<std::string>{"sg-0c1d2e3f4a5b6c7d8"});
  EXPECT_EQ(l.vpc_id, "vpc-0fedcba9876543210");
  EXPECT_EQ(l.tags.front(), (std::pair<std::string, std::string>{"team", "payments"}));
  EXPECT_EQ(f.remote_addresses, std::vector<std::string>{"185.220.101.47"});
  EXPECT_TRUE(finding("cryptocurrency-lambda-bitcointool.json").families.lambda->subnet_ids.empty());
}

TEST(family_details, ecs_eks_rds_and_malware_details_are_decoded) {
  const auto ecs = finding("execution-runtime-reverse-shell-ecs-task.json").families;
  ASSERT_TRUE(ecs.ecs);
  EXPECT_EQ(ecs.ecs->cluster_arn, "arn:aws:ecs:us-east-1:123456789012:cluster/shop-prod");
  EXPECT_EQ(ecs.ecs->launch_type, "FARGATE");
  ASSERT_EQ(ecs.ecs->containers.size(), 1u);
  EXPECT_EQ(ecs.ecs->containers[0].runtime, "containerd");
  ASSERT_TRUE(ecs.process);
  EXPECT_EQ(ecs.process->executable_path, "/usr/bin/bash");
  const auto eks = finding("execution-kubernetes-exec-in-kube-system-pod.json").families.eks;
  ASSERT_TRUE(eks);
  EXPECT_EQ(eks->workload_namespace, "payments");
  EXPECT_EQ(eks->workload_type, "deployments");
  EXPECT_EQ(eks->service_account, "ledger-sa");
  const auto rds = finding("credentialaccess-rds-malicious-ip-caller-successful-login.json").families.rds;
  ASSERT_TRUE(rds);
  EXPECT_EQ(rds->instance_id, "orders-db-1");
  EXPECT_EQ(rds->user, "reporting");
  EXPECT_EQ(rds->source_addresses, std::vector<std::string>{"91.240.118.172"});
  const auto snap = finding("execution-ec2-malicious-file-snapshot.json").families.malware;
  ASSERT_TRUE(snap);
  EXPECT_EQ(snap->snapshot_arn, "arn:aws:ec2:us-east-1::snapshot/snap-0d1e2f3a4b5c6d7e8");
  EXPECT_EQ(snap->threats, std::vector<std::string>{"Trojan.Linux.Miner.XMRig"});
  // The EC2 scan's shape: threat names under ebsVolumeScanDetails, volumes under ebsVolumeDetails.
  const auto ec2 = finding("execution-ec2-malicious-file.json").families.malware;
  ASSERT_TRUE(ec2);
  EXPECT_EQ(ec2->threats, std::vector<std::string>{"Trojan.Linux.Miner.XMRig"});
  EXPECT_EQ(ec2->volume_arns.size(), 1u);
}

TEST(family_details, a_mistyped_detail_names_its_path) {
  const std::string text =
      R"({"version":"0","id":"e","detail-type":"GuardDuty Finding","source":"aws.guardduty",
    "account":"1","region":"us-east-1","time":"t","resources":[],"detail":{"id":"f","type":"t","accountId":"1",
    "region":"us-east-1","severity":5,"resource":{"resourceType":"Lambda",
    "lambdaDetails":{"functionName":"f","vpcConfig":{"subnetIds":"subnet-1"}}}}})";
  auto decoded = decode_event(text);
  ASSERT_FALSE(decoded.ok());
  EXPECT_EQ(decoded.err().where, "$.detail.resource.lambdaDetails.vpcConfig.subnetIds");
}

TEST(function_containment, names_are_taken_from_names_and_arns_but_not_other_ids) {
  EXPECT_EQ(function_name_of("orders-webhook"), "orders-webhook");
  EXPECT_EQ(function_name_of("arn:aws:lambda:us-east-1:123456789012:function:orders-webhook"),
            "orders-webhook");
  EXPECT_EQ(function_name_of("arn:aws:lambda:us-east-1:123456789012:function:orders-webhook:PROD"),
            "orders-webhook");
  EXPECT_EQ(function_name_of("arn:aws:iam::123456789012:role/x"), "");
  EXPECT_EQ(function_name_of("sg-0123"), "");
  EXPECT_EQ(function_name_of("has space"), "");
}

TEST(function_containment, reads_use_each_api_date_and_parse_lambdas_answers) {
  const auto reads = plan_function_reads("orders-webhook");
  ASSERT_EQ(reads.size(), 2u);
  EXPECT_EQ(rest(reads[0]).path, "/2019-09-30/functions/orders-webhook/concurrency");
  EXPECT_EQ(rest(reads[1]).path, "/2015-03-31/functions/orders-webhook");
  auto state = function_state_from_reads(
      reads, answered({{{"ReservedConcurrentExecutions", 7}},
                       {{"Configuration",
                         {{"FunctionArn", "arn:aws:lambda:us-east-1:123456789012:function:orders-webhook"},
                          {"Role", "arn:aws:iam::123456789012:role/r"},
                          {"VpcConfig", {{"SubnetIds", {"subnet-1"}}}}}},
                        {"Tags", {{"team", "payments"}}}}}));
  ASSERT_TRUE(state.ok()) << state.err().describe();
  EXPECT_EQ(state->reserved, 7L);
  EXPECT_EQ(state->role_arn, "arn:aws:iam::123456789012:role/r");
  EXPECT_EQ(state->subnet_ids, std::vector<std::string>{"subnet-1"});
  EXPECT_EQ(state->tags.at("team"), "payments");
  auto none = function_state_from_reads(
      reads, answered({nlohmann::json::object(), {{"Configuration", {{"FunctionArn", "arn:x"}}}}}));
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->reserved.has_value());
}

TEST(function_containment, the_record_and_the_stop_go_together_and_the_status_follows_the_stop) {
  const function_finding f{"fid", "Backdoor:Lambda/C&CActivity.B", "123456789012", "orders-webhook"};
  std::vector<action_record> already;
  const auto plan = plan_function_containment(f, state_with(5), "tq-1", now, already);
  ASSERT_EQ(plan.size(), 3u);
  EXPECT_EQ(rest(plan[0]).operation, "TagResource");
  EXPECT_EQ(rest(plan[0]).path,
            "/2017-03-31/tags/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Aorders-webhook");
  EXPECT_EQ(rest(plan[0]).body["Tags"][tag_prior_concurrency], "5");
  EXPECT_EQ(rest(plan[0]).body["Tags"][tag_incident], "tq-1");
  EXPECT_TRUE(plan[0].needs.empty());
  EXPECT_EQ(rest(plan[1]).operation, "PutFunctionConcurrency");
  EXPECT_EQ(rest(plan[1]).method, "PUT");
  EXPECT_EQ(rest(plan[1]).path, "/2017-10-31/functions/orders-webhook/concurrency");
  EXPECT_EQ(rest(plan[1]).body["ReservedConcurrentExecutions"], 0);
  EXPECT_TRUE(plan[1].needs.empty()) << "the stop waits for nothing: two round trips from the event";
  EXPECT_EQ(rest(plan[2]).body["Tags"][tag_status], "contained");
  EXPECT_EQ(plan[2].needs, std::vector<size_t>{1});
  EXPECT_EQ(rest(plan[2]).body["Tags"][tag_prior_concurrency], "5")
      << "the record again, should the first be lost";
  // No limit before: recorded as "none".
  already.clear();
  EXPECT_EQ(rest(plan_function_containment(f, state_with(std::nullopt), "tq-1", now, already)[0])
                .body["Tags"][tag_prior_concurrency],
            "none");
}

TEST(function_containment, a_replay_changes_nothing_and_keeps_the_first_record) {
  const function_finding f{"fid", "t", "123456789012", "orders-webhook"};
  std::vector<action_record> already;
  const auto contained = state_with(0, {{tag_incident, "tq-1"},
                                        {tag_prior_concurrency, "none"},
                                        {tag_status, "contained"},
                                        {tag_contained_at, now}});
  EXPECT_TRUE(plan_function_containment(f, contained, "tq-1", now, already).empty());
  EXPECT_EQ(already.size(), 3u);
  // Another incident on a contained function: its record names the new incident, the prior value stays.
  already.clear();
  const auto plan = plan_function_containment(f, contained, "tq-2", now, already);
  ASSERT_EQ(plan.size(), 2u);
  EXPECT_EQ(rest(plan[0]).body["Tags"][tag_prior_concurrency], "none");
  EXPECT_EQ(rest(plan[0]).body["Tags"][tag_incident], "tq-2");
  EXPECT_EQ(rest(plan[1]).operation, "TagResource");
}

TEST(function_containment, a_release_or_a_change_by_hand_is_a_decision) {
  auto released = state_with(std::nullopt, {{tag_status, "released"},
                                            {tag_released_at, "2026-12-01T10:00:00Z"},
                                            {tag_released_by, "arn:aws:iam::123456789012:user/alice"}});
  const auto d = decision_of(released);
  EXPECT_EQ(d.released_by, "arn:aws:iam::123456789012:user/alice");
  EXPECT_EQ(decision_since_release("2026-12-01T09:00:00Z", d).verdict, decision_verdict::redelivery);
  EXPECT_EQ(decision_since_release("2026-12-01T11:00:00Z", d).verdict, decision_verdict::act_again);
  EXPECT_TRUE(
      decision_of(state_with(3, {{tag_status, "contained"}, {tag_contained_at, now}})).undone_by_hand);
  EXPECT_FALSE(
      decision_of(state_with(0, {{tag_status, "contained"}, {tag_contained_at, now}})).undone_by_hand);
}

TEST(function_containment, release_restores_the_recorded_value_or_deletes_the_limit) {
  std::vector<action_record> already;
  const auto back = plan_function_release("orders-webhook", state_with(0, {{tag_prior_concurrency, "5"}}),
                                          now, "arn:aws:iam::123456789012:user/alice", already);
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(rest(back[0]).operation, "PutFunctionConcurrency");
  EXPECT_EQ(rest(back[0]).body["ReservedConcurrentExecutions"], 5);
  EXPECT_EQ(rest(back[1]).body["Tags"][tag_released_by], "arn:aws:iam::123456789012:user/alice");
  EXPECT_EQ(back[1].needs, std::vector<size_t>{0});
  const auto unlimited = plan_function_release(
      "orders-webhook", state_with(0, {{tag_prior_concurrency, "none"}}), now, "", already);
  ASSERT_EQ(unlimited.size(), 2u);
  EXPECT_EQ(rest(unlimited[0]).operation, "DeleteFunctionConcurrency");
  EXPECT_EQ(rest(unlimited[0]).method, "DELETE");
  // No readable record: left at 0, not marked released, and the report says so.
  already.clear();
  EXPECT_TRUE(
      plan_function_release("orders-webhook", state_with(0, {{tag_prior_concurrency, "x"}}), now, "", already)
          .empty());
  ASSERT_EQ(already.size(), 1u);
  EXPECT_TRUE(already[0].unfinished);
}

TEST(function_containment, role_users_are_counted_over_pages_without_the_function_itself) {
  role_usage usage;
  const std::string role = "arn:aws:iam::123456789012:role/shared";
  const std::string self = "arn:aws:lambda:us-east-1:123456789012:function:a";
  count_role_users({{"Functions",
                     {{{"FunctionName", "a"}, {"FunctionArn", self}, {"Role", role}},
                      {{"FunctionName", "b"}, {"FunctionArn", "arn:b"}, {"Role", role}},
                      {{"FunctionName", "c"}, {"FunctionArn", "arn:c"}, {"Role", "arn:other"}}}},
                    {"NextMarker", "m2"}},
                   role, self, usage);
  EXPECT_EQ(usage.next_marker, "m2");
  count_role_users({{"Functions", {{{"FunctionName", "d"}, {"FunctionArn", "arn:d"}, {"Role", role}}}}}, role,
                   self, usage);
  EXPECT_EQ(usage.others, (std::vector<std::string>{"b", "d"}));
  EXPECT_EQ(usage.pages, 2);
  EXPECT_TRUE(usage.next_marker.empty());
  const auto page = list_functions_call("m2");
  EXPECT_EQ(rest(page).query,
            (std::vector<std::pair<std::string, std::string>>{{"MaxItems", "50"}, {"Marker", "m2"}}));
}

TEST(function_containment, settings_have_documented_defaults_and_name_bad_values) {
  auto s = function_settings_from_environment(fixed_environment({{"AWS_LAMBDA_FUNCTION_NAME", "tq-prod"}}));
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->min_severity, 4.0);
  EXPECT_FALSE(s->revoke_shared_role);
  EXPECT_NE(std::find(s->own_function_names.begin(), s->own_function_names.end(), "tq-prod"),
            s->own_function_names.end());
  auto bad = function_settings_from_environment(
      fixed_environment({{"TOURNIQUET_REVOKE_SHARED_FUNCTION_ROLE", "x"}}));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.err().message.find("TOURNIQUET_REVOKE_SHARED_FUNCTION_ROLE"), std::string::npos);
}

std::string all_of(const escalation_note& n) {
  std::string text = n.summary;
  for (const auto& s : n.steps) text += "\n" + s;
  return text;
}

TEST(escalation, an_ecs_task_gets_its_arn_the_stop_command_and_its_task_role) {
  const auto n = escalation_for(finding("execution-runtime-reverse-shell-ecs-task.json"), "tq-1");
  EXPECT_EQ(n.family, "ecs-task");
  const std::string text = all_of(n);
  EXPECT_NE(
      text.find("aws ecs stop-task --cluster arn:aws:ecs:us-east-1:123456789012:cluster/shop-prod --task "
                "arn:aws:ecs:us-east-1:123456789012:task/shop-prod/3f2a1b0c9d8e4f7a6b5c4d3e2f1a0b9c"),
      std::string::npos)
      << text;
  EXPECT_NE(text.find("checkout-task-role"), std::string::npos) << text;
  EXPECT_NE(text.find("--family checkout"), std::string::npos) << text;
  EXPECT_NE(text.find("--service checkout --desired-count 0"), std::string::npos) << text;
}

TEST(escalation, an_eks_workload_gets_its_cluster_namespace_and_a_deny_all_network_policy) {
  const auto n = escalation_for(finding("execution-kubernetes-exec-in-kube-system-pod.json"), "tq-7");
  EXPECT_EQ(n.family, "eks-workload");
  EXPECT_EQ(n.resource, "platform-prod/payments/ledger-api");
  const std::string text = all_of(n);
  EXPECT_NE(text.find("\"kind\":\"NetworkPolicy\""), std::string::npos) << text;
  EXPECT_NE(text.find("\"policyTypes\":[\"Ingress\",\"Egress\"]"), std::string::npos) << text;
  EXPECT_NE(text.find("kubectl -n payments get deployments ledger-api"), std::string::npos) << text;
  EXPECT_NE(text.find("tourniquet/quarantine=tq-7"), std::string::npos) << text;
  EXPECT_NE(text.find("payments/ledger-sa"), std::string::npos) << text;
}

TEST(escalation, a_database_gets_its_user_database_and_source_address) {
  const auto n =
      escalation_for(finding("credentialaccess-rds-malicious-ip-caller-successful-login.json"), "tq");
  EXPECT_EQ(n.family, "rds");
  const std::string text = all_of(n);
  for (const char* fact : {"orders-db-1", "cluster orders-db", "user reporting", "database orders",
                           "91.240.118.172", "ALTER ROLE \"reporting\"", "pg_terminate_backend"})
    EXPECT_NE(text.find(fact), std::string::npos) << fact << "\n" << text;
}

TEST(escalation, malware_in_a_snapshot_and_an_unknown_type_are_named) {
  const auto snap = escalation_for(finding("execution-ec2-malicious-file-snapshot.json"), "tq");
  EXPECT_EQ(snap.family, "backup-malware");
  EXPECT_NE(all_of(snap).find("--snapshot-id snap-0d1e2f3a4b5c6d7e8"), std::string::npos) << all_of(snap);
  EXPECT_NE(all_of(snap).find("Trojan.Linux.Miner.XMRig"), std::string::npos);
  const auto unknown = escalation_for(finding("future-unknown-resource-type.json"), "tq");
  EXPECT_EQ(unknown.family, "unknown");
  EXPECT_EQ(unknown.resource, "BedrockAgent");
  EXPECT_NE(unknown.summary.find("resource type BedrockAgent"), std::string::npos);
}

}  // namespace
}  // namespace tq::handlers
