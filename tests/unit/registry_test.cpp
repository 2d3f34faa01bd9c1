// The playbook list and routing over it, checked on the sample events without I/O: which jobs an event
// calls for, and why the others were passed over.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include "aws/client.h"
#include "handlers/action.h"
#include "handlers/playbook.h"
#include "handlers/playbooks/attack_sequence.h"
#include "handlers/playbooks/credential_containment.h"
#include "handlers/playbooks/escalation.h"
#include "handlers/playbooks/function_containment.h"
#include "handlers/playbooks/instance_containment.h"
#include "handlers/playbooks/network_block.h"

namespace tq::handlers {
namespace {

using variables = std::map<std::string, std::string, std::less<>>;

decoded_event sample(const std::string& name) {
  std::ifstream in(std::string(TQ_SOURCE_DIR) + "/events/" + name);
  std::stringstream text;
  text << in.rdbuf();
  auto decoded = decode_event(text.str());
  EXPECT_TRUE(decoded.ok()) << name;
  return std::move(*decoded);
}

guardduty_finding finding(const std::string& name) {
  return std::get<guardduty_finding>(sample("guardduty/" + name));
}

routing route(const decoded_event& event, variables env = {}) {
  const auto playbooks = make_playbooks(fixed_environment(std::move(env))).value();
  return route_event(playbooks, event, config{});
}

bool routes_to(const routing& r, std::string_view playbook) {
  return std::any_of(r.jobs.begin(), r.jobs.end(), [&](const job& j) { return j.playbook == playbook; });
}

std::string reasons(const routing& r) {
  std::string all;
  for (const auto& p : r.passed) all += std::string(p.playbook) + ": " + p.reason + "; ";
  return all;
}

TEST(registry, every_playbook_is_listed_once_and_found_by_name) {
  const auto playbooks = make_playbooks(fixed_environment({})).value();
  std::set<std::string_view> names;
  for (const auto& p : playbooks) {
    EXPECT_TRUE(names.insert(p->name()).second) << p->name() << " is listed twice";
    EXPECT_EQ(find_playbook(playbooks, p->name()), p.get());
  }
  for (std::string_view expected : {instance_playbook, credential_playbook, network_block_playbook,
                                    block_expiry_playbook, std::string_view("exposure-fix")}) {
    EXPECT_TRUE(names.contains(expected)) << expected;
  }
  EXPECT_EQ(find_playbook(playbooks, "no-such-playbook"), nullptr);
}

TEST(registry, a_bad_setting_of_any_playbook_is_an_error_naming_its_variable) {
  for (const auto& [name, value] :
       std::vector<std::pair<std::string, std::string>>{{"TOURNIQUET_MIN_SEVERITY", "eleven"},
                                                        {"TOURNIQUET_FORENSICS_CIDRS", "0.0.0.0/0"},
                                                        {"TOURNIQUET_CREDENTIAL_FINDING_TYPES", "Un*known"},
                                                        {"TOURNIQUET_ADMIN_PORTS", "ssh"},
                                                        {"TOURNIQUET_BLOCK_MIN_SEVERITY", "-3"}}) {
    auto made = make_playbooks(fixed_environment({{name, value}}));
    ASSERT_FALSE(made.ok()) << name;
    EXPECT_EQ(made.err().where, name);
  }
}

TEST(registry, only_the_playbook_a_target_belongs_to_releases_it) {
  const auto playbooks = make_playbooks(fixed_environment({})).value();
  std::vector<std::string_view> releasers;
  for (const auto& p : playbooks) {
    if (p->releases("i-0123456789abcdef0")) releasers.push_back(p->name());
    EXPECT_FALSE(p->releases("sg-0123")) << p->name();
  }
  EXPECT_EQ(releasers, std::vector<std::string_view>{instance_playbook});
  // A function by name or ARN: the first playbook in the list that releases it is function containment.
  for (std::string_view function :
       {"orders-webhook", "arn:aws:lambda:us-east-1:123456789012:function:orders-webhook"}) {
    const playbook* first = nullptr;
    for (const auto& p : playbooks)
      if (!first && p->releases(function)) first = p.get();
    ASSERT_NE(first, nullptr) << function;
    EXPECT_EQ(first->name(), function_playbook) << function;
  }
}

TEST(registry, every_declared_action_belongs_to_a_listed_playbook_and_names_iam_actions) {
  const auto playbooks = make_playbooks(fixed_environment({})).value();
  std::set<std::string_view> names;
  for (const auto& p : playbooks) names.insert(p->name());
  std::set<std::string_view> with_actions;
  for (const action_kind* kind : declared_actions()) {
    EXPECT_TRUE(names.contains(kind->playbook) || kind->playbook == "observability" ||
                kind->playbook == "confirmation")
        << kind->name << " is declared for " << kind->playbook << ", which is not in the list";
    EXPECT_FALSE(kind->permissions.empty()) << kind->name << " declares no permission";
    for (std::string_view permission : kind->permissions) {
      const auto colon = permission.find(':');
      EXPECT_TRUE(colon != std::string_view::npos && colon > 0 && colon + 1 < permission.size())
          << kind->name << ": '" << permission << "' is not service:Action";
    }
    with_actions.insert(kind->playbook);
  }
  // Escalation only reports what a person must do: it calls nothing (GetFindings is the confirmation's). The
  // attack-sequence playbook changes nothing itself either: each member of a sequence goes to the playbook of
  // its kind, and its own jobs only escalate.
  for (std::string_view name : names)
    EXPECT_TRUE(with_actions.contains(name) || name == escalation_playbook || name == sequence_playbook)
        << name << " declares nothing";
}

// The engine sends no call its kind does not declare: the generated policy is all the deployed role holds,
// so such a call would fail in production while passing wherever permissions are looser. It fails at once,
// never reaching the network (nothing listens where the client points).
TEST(registry, a_call_its_kind_does_not_declare_is_never_sent) {
  static const action_kind& reads_only =
      declare_action("instance-containment", "test-reads-only", {"ec2:DescribeInstances"});
  auto settings = aws::client_settings_from_environment(
      fixed_environment({{"AWS_REGION", "us-east-1"}, {"AWS_ENDPOINT_URL", "http://127.0.0.1:9"}}));
  const aws::client client(aws::make_curl_transport({}),
                           std::make_shared<aws::client_settings>(std::move(*settings)),
                           aws::credentials{"AKIDEXAMPLE", "secret", "", std::nullopt});
  aws::query_call terminate{aws::service::ec2, "TerminateInstances", {}};
  terminate.params.add("InstanceId.1", "i-0abc");
  const execution run = execute_plan({planned_call{&reads_only, "i-0abc", terminate}}, client,
                                     aws::deadline_in(std::chrono::seconds(5)), false);
  ASSERT_EQ(run.records.size(), 1u);
  EXPECT_EQ(run.records[0].result, outcome::failed);
  ASSERT_TRUE(run.records[0].failure.has_value());
  EXPECT_EQ(run.records[0].failure->code, "UndeclaredAction");
  EXPECT_FALSE(run.records[0].failure->retryable);
  EXPECT_EQ(run.round_trips, 0) << "nothing was sent";
  EXPECT_TRUE(declares(reads_only, aws::query_call{aws::service::ec2, "DescribeInstances", {}}));
  EXPECT_TRUE(declares(reads_only, aws::query_call{aws::service::sts, "GetCallerIdentity", {}}))
      << "AWS answers GetCallerIdentity for anyone";
}

TEST(routing, a_compromised_instance_is_contained_and_its_server_blocked) {
  const auto r = route(finding("backdoor-ec2-cc-activity.json"));
  EXPECT_TRUE(routes_to(r, instance_playbook)) << reasons(r);
  EXPECT_TRUE(routes_to(r, network_block_playbook)) << reasons(r);
  ASSERT_EQ(r.jobs.size(), 2u);
  EXPECT_EQ(r.jobs[0].playbook, instance_playbook) << "isolation goes first";
  EXPECT_EQ(r.jobs[0].target, finding("backdoor-ec2-cc-activity.json").instance->instance_id);
  EXPECT_EQ(r.jobs[0].incident_id,
            incident_id_for(r.jobs[0].account_id, finding("backdoor-ec2-cc-activity.json").id));
  EXPECT_EQ(r.jobs[0].incident_id, r.jobs[1].incident_id) << "one finding, one incident";
}

TEST(routing, sample_and_archived_findings_are_ignored_saying_why) {
  const decoded_event s = finding("sample-backdoor-ec2-denial-of-service-tcp.json");
  const auto sampled = route(s);
  EXPECT_TRUE(sampled.jobs.empty());
  EXPECT_NE(reasons(sampled).find("sample"), std::string::npos);
  EXPECT_EQ(passed_over_report(sampled, s)->status, report_status::ignored);
  const auto a = route(finding("archived-recon-ec2-portscan.json"));
  EXPECT_TRUE(a.jobs.empty());
  EXPECT_NE(reasons(a).find("archived"), std::string::npos);
}

TEST(routing, the_target_of_a_brute_force_is_not_isolated_but_its_attacker_is_blocked) {
  auto f = finding("unauthorizedaccess-ec2-ssh-brute-force.json");
  f.severity = 8;  // even a severe one
  f.resource_role = "TARGET";
  const auto r = route(f);
  EXPECT_FALSE(routes_to(r, instance_playbook));
  EXPECT_NE(reasons(r).find("target"), std::string::npos) << reasons(r);
  EXPECT_TRUE(routes_to(r, network_block_playbook)) << reasons(r);
  EXPECT_FALSE(passed_over_report(r, f).has_value()) << "the finding was taken, by the network block";
}

TEST(routing, an_exemption_counts_only_as_the_finding_saw_the_instance) {
  const auto playbooks = make_playbooks(fixed_environment({})).value();
  config cfg;
  cfg.exempt_tag = aws::tag{"incident-response", "exempt"};
  auto exempt_in_finding = [&](const guardduty_finding& f) {
    const auto r = route_event(playbooks, f, cfg);
    for (const auto& j : r.jobs) {
      if (j.playbook == instance_playbook) return std::any_cast<instance_finding>(j.input).exempt_in_finding;
    }
    ADD_FAILURE() << "not routed to instance containment: " << reasons(r);
    return false;
  };
  auto f = finding("backdoor-ec2-cc-activity.json");
  EXPECT_FALSE(exempt_in_finding(f)) << "a tag the finding did not carry exempts nothing";
  f.instance->tags.emplace_back("incident-response", "exempt");
  EXPECT_TRUE(exempt_in_finding(f));
}

TEST(routing, an_instance_talking_out_is_isolated_even_when_marked_target) {
  auto f = finding("backdoor-ec2-cc-activity.json");
  f.resource_role = "TARGET";  // as GuardDuty's own sample findings mark it
  EXPECT_TRUE(routes_to(route(f), instance_playbook)) << reasons(route(f));
  const auto malware = finding("execution-ec2-malicious-file.json");
  ASSERT_EQ(malware.resource_role, "TARGET");
  EXPECT_TRUE(routes_to(route(malware), instance_playbook)) << reasons(route(malware));
}

TEST(routing, severity_and_type_gates_name_their_variable) {
  auto f = finding("backdoor-ec2-cc-activity.json");
  f.severity = 5;
  auto r = route(f);
  EXPECT_FALSE(routes_to(r, instance_playbook));
  EXPECT_NE(reasons(r).find("TOURNIQUET_MIN_SEVERITY"), std::string::npos);
  r = route(finding("backdoor-ec2-cc-activity.json"),
            {{"TOURNIQUET_INSTANCE_FINDING_TYPES", "CryptoCurrency:EC2/*"}});
  EXPECT_FALSE(routes_to(r, instance_playbook));
  EXPECT_NE(reasons(r).find("TOURNIQUET_INSTANCE_FINDING_TYPES"), std::string::npos);
}

TEST(routing, access_key_findings_are_gated_by_type_and_severity_but_root_always_escalates) {
  EXPECT_TRUE(routes_to(
      route(finding("unauthorizedaccess-iamuser-instance-credential-exfiltration-outside-aws.json")),
      credential_playbook));
  EXPECT_TRUE(routes_to(route(finding("unauthorizedaccess-iamuser-malicious-ip-caller-custom.json")),
                        credential_playbook));
  auto low = finding("unauthorizedaccess-iamuser-malicious-ip-caller-custom.json");
  low.severity = 2;
  const auto r = route(low);
  EXPECT_TRUE(r.jobs.empty());
  EXPECT_NE(reasons(r).find("TOURNIQUET_CREDENTIAL_MIN_SEVERITY"), std::string::npos);
  const auto passed = passed_over_report(r, low);
  ASSERT_TRUE(passed.has_value());
  EXPECT_EQ(passed->playbook, credential_playbook) << "one playbook looked: the report is its own";
  auto discovery = finding("unauthorizedaccess-iamuser-malicious-ip-caller-custom.json");
  discovery.type = "Discovery:IAMUser/AnomalousBehavior";
  EXPECT_TRUE(route(discovery).jobs.empty());
  // Root usage is Low severity and of the Policy family, and still reaches the playbook, which escalates.
  EXPECT_TRUE(routes_to(route(finding("policy-iamuser-root-credential-usage.json")), credential_playbook));
}

TEST(routing, a_resource_type_no_playbook_knows_is_escalated_naming_the_type) {
  auto f = finding("backdoor-ec2-cc-activity.json");
  f.resource_type = "SomeFutureResource";
  const auto r = route(f);
  ASSERT_EQ(r.jobs.size(), 1u) << reasons(r);
  EXPECT_EQ(r.jobs[0].playbook, escalation_playbook);
  EXPECT_EQ(r.jobs[0].target, "SomeFutureResource");
  EXPECT_FALSE(passed_over_report(r, f).has_value()) << "never again 'no playbook handles'";
  f.severity = 2;
  const auto low = route(f);
  EXPECT_TRUE(low.jobs.empty());
  EXPECT_NE(reasons(low).find("TOURNIQUET_ESCALATION_MIN_SEVERITY"), std::string::npos) << reasons(low);
}

TEST(routing, several_playbooks_passing_over_one_finding_each_say_why) {
  auto f = finding("cryptocurrency-ec2-bitcointool-dns.json");
  f.severity = 2;  // under the instance's floor; and a DNS request names no address to block
  const auto r = route(f);
  EXPECT_TRUE(r.jobs.empty());
  const auto passed = passed_over_report(r, f);
  ASSERT_TRUE(passed.has_value());
  EXPECT_EQ(passed->playbook, "router");
  EXPECT_NE(passed->reason.find("instance-containment: severity 2.0"), std::string::npos) << passed->reason;
  EXPECT_NE(passed->reason.find("network-block: "), std::string::npos) << passed->reason;
}

TEST(routing, an_attack_sequence_goes_to_its_members_playbooks_only) {
  const auto f = finding("attacksequence-s3-compromised-data.json");
  const auto r =
      route(f, {{"TOURNIQUET_INSTANCE_FINDING_TYPES", "*"}, {"TOURNIQUET_BLOCK_FINDING_TYPES", "*"}});
  std::multiset<std::string_view> playbooks;
  for (const auto& j : r.jobs) playbooks.insert(j.playbook);
  EXPECT_EQ(playbooks.count(instance_playbook), 1u)
      << "no second job from the instance route: " << reasons(r);
  EXPECT_EQ(playbooks.count(network_block_playbook), 1u);
  EXPECT_EQ(playbooks.count(credential_playbook), 1u);
  EXPECT_EQ(playbooks.count(bucket_playbook), 1u);
  EXPECT_EQ(playbooks.count(sequence_playbook), 0u);
  const auto iam = route(finding("attacksequence-iam-compromised-credentials.json"));
  EXPECT_EQ(iam.jobs.size(), 3u) << reasons(iam);
}

TEST(routing, s3_samples_are_routed_or_passed_over_saying_why) {
  for (const char* name :
       {"policy-s3-bucket-block-public-access-disabled.json",
        "policy-s3-account-block-public-access-disabled.json", "exfiltration-s3-malicious-ip-caller.json"}) {
    const decoded_event f = finding(name);
    const auto r = route(f);
    EXPECT_TRUE(!r.jobs.empty() || passed_over_report(r, f).has_value()) << name;
  }
}

TEST(routing, schedules_sweep_this_account_and_the_listed_ones) {
  const decoded_event schedule = sample("scheduled/expire-blocks.json");
  const auto r = route(schedule, {{"TOURNIQUET_BLOCK_EXPIRY_ACCOUNTS", "210987654321"}});
  ASSERT_EQ(r.jobs.size(), 2u);
  EXPECT_EQ(r.jobs[0].playbook, block_expiry_playbook);
  EXPECT_EQ(r.jobs[1].account_id, "210987654321");
}

TEST(routing, an_event_no_playbook_knows_is_ignored_naming_what_it_was) {
  const decoded_event unknown =
      unknown_event{{"0", "id", "Some Thing", "aws.s3", "123456789012", "us-east-1"}};
  const auto r = route(unknown);
  EXPECT_TRUE(r.jobs.empty());
  const auto passed = passed_over_report(r, unknown);
  ASSERT_TRUE(passed.has_value());
  EXPECT_NE(passed->reason.find("aws.s3 / Some Thing"), std::string::npos) << passed->reason;
}

}  // namespace
}  // namespace tq::handlers

namespace tq::handlers {
namespace {

const job* job_of(const routing& r, std::string_view playbook) {
  for (const auto& j : r.jobs)
    if (j.playbook == playbook) return &j;
  return nullptr;
}

TEST(family_routing, a_function_in_a_vpc_is_contained_and_its_server_blocked_in_its_subnets) {
  const auto f = finding("backdoor-lambda-cc-activity-vpc.json");
  const auto r = route(f);
  const job* contain = job_of(r, function_playbook);
  ASSERT_NE(contain, nullptr) << reasons(r);
  EXPECT_EQ(contain->target, "orders-webhook");
  const auto& input = *std::any_cast<function_finding>(&contain->input);
  EXPECT_FALSE(input.exempt_in_finding);
  const job* block = job_of(r, network_block_playbook);
  ASSERT_NE(block, nullptr) << reasons(r);
  EXPECT_EQ(block->target, "subnet-0a1b2c3d4e5f60718,subnet-0b2c3d4e5f6071829");
  const auto& target = *std::any_cast<block_target>(&block->input);
  EXPECT_EQ(target.addresses, std::vector<std::string>{"185.220.101.47"});
  EXPECT_FALSE(target.instance_id.has_value());
  EXPECT_FALSE(job_of(r, escalation_playbook)) << "a function has its playbook";
  EXPECT_FALSE(job_of(r, instance_playbook));
}

TEST(family_routing, a_function_outside_a_vpc_is_contained_with_no_block) {
  const auto r = route(finding("cryptocurrency-lambda-bitcointool.json"));
  ASSERT_TRUE(routes_to(r, function_playbook)) << reasons(r);
  EXPECT_FALSE(routes_to(r, network_block_playbook));
  EXPECT_EQ(r.jobs.size(), 1u);
}

TEST(family_routing, a_function_exempt_as_found_is_not_blocked_and_low_severity_is_passed_over_by_name) {
  auto f = finding("backdoor-lambda-cc-activity-vpc.json");
  f.families.lambda->tags.push_back({"tourniquet:exempt", "true"});
  const auto playbooks = make_playbooks(fixed_environment({})).value();
  config cfg;
  cfg.exempt_tag = aws::tag{"tourniquet:exempt", "true"};
  const auto r = route_event(playbooks, f, cfg);
  const job* contain = job_of(r, function_playbook);
  ASSERT_NE(contain, nullptr);
  EXPECT_TRUE(std::any_cast<function_finding>(&contain->input)->exempt_in_finding);
  EXPECT_FALSE(routes_to(r, network_block_playbook));
  f.severity = 3;
  const auto low = route(f);
  EXPECT_TRUE(low.jobs.empty()) << "not escalated either: function containment looked and said why";
  EXPECT_NE(reasons(low).find("TOURNIQUET_FUNCTION_MIN_SEVERITY"), std::string::npos) << reasons(low);
}

TEST(family_routing, runtime_monitoring_on_an_instance_goes_to_instance_containment) {
  const auto f = finding("execution-runtime-new-binary-executed-ec2.json");
  ASSERT_TRUE(f.families.process.has_value());
  const auto at_default = route(f);  // Medium: under the instance's High floor, said so by name
  EXPECT_FALSE(routes_to(at_default, escalation_playbook));
  EXPECT_NE(reasons(at_default).find("TOURNIQUET_MIN_SEVERITY"), std::string::npos) << reasons(at_default);
  EXPECT_TRUE(routes_to(route(f, {{"TOURNIQUET_MIN_SEVERITY", "5"}}), instance_playbook));
  for (const char* type :
       {"Execution:Runtime/NewBinaryExecuted", "Trojan:Runtime/DropPoint",
        "UnauthorizedAccess:Runtime/TorClient", "CredentialAccess:Runtime/MemoryDumpCreated",
        "Persistence:Runtime/SuspiciousCommand", "Execution:EC2/MaliciousFile"}) {
    auto typed = f;
    typed.type = type;
    typed.severity = 8;
    EXPECT_TRUE(routes_to(route(typed), instance_playbook)) << type << ": " << reasons(route(typed));
  }
}

TEST(family_routing, an_ecs_task_is_escalated_and_its_task_role_contained) {
  const auto f = finding("execution-runtime-reverse-shell-ecs-task.json");
  const auto r = route(f);
  const job* escalate = job_of(r, escalation_playbook);
  ASSERT_NE(escalate, nullptr) << reasons(r);
  const std::string task =
      "arn:aws:ecs:us-east-1:123456789012:task/shop-prod/3f2a1b0c9d8e4f7a6b5c4d3e2f1a0b9c";
  EXPECT_EQ(escalate->target, task);
  const job* principal = job_of(r, credential_playbook);
  ASSERT_NE(principal, nullptr) << reasons(r);
  const auto& who = *std::any_cast<access_key_target>(&principal->input);
  EXPECT_EQ(who.role_name, "checkout-task-role");
  EXPECT_TRUE(who.named_by_other_resource);
  EXPECT_FALSE(routes_to(r, instance_playbook));
}

TEST(family_routing, eks_rds_snapshot_and_unknown_types_are_escalated) {
  for (const char* name :
       {"execution-kubernetes-exec-in-kube-system-pod.json",
        "credentialaccess-rds-malicious-ip-caller-successful-login.json",
        "execution-ec2-malicious-file-snapshot.json", "future-unknown-resource-type.json"}) {
    const auto f = finding(name);
    const auto r = route(f);
    EXPECT_TRUE(routes_to(r, escalation_playbook)) << name << ": " << reasons(r);
    EXPECT_FALSE(passed_over_report(r, f).has_value()) << name;
  }
  // The unknown type names a role: contained at credential containment's floor.
  EXPECT_TRUE(routes_to(route(finding("future-unknown-resource-type.json")), credential_playbook));
  EXPECT_FALSE(routes_to(
      route(finding("future-unknown-resource-type.json"), {{"TOURNIQUET_CREDENTIAL_MIN_SEVERITY", "7"}}),
      credential_playbook));
  EXPECT_FALSE(
      routes_to(route(finding("execution-kubernetes-exec-in-kube-system-pod.json")), credential_playbook));
}

TEST(family_routing, every_guardduty_sample_gets_a_deliberate_answer) {
  for (const char* name :
       {"backdoor-lambda-cc-activity-vpc.json", "cryptocurrency-lambda-bitcointool.json",
        "execution-runtime-new-binary-executed-ec2.json", "execution-runtime-reverse-shell-ecs-task.json",
        "execution-kubernetes-exec-in-kube-system-pod.json",
        "credentialaccess-rds-malicious-ip-caller-successful-login.json",
        "execution-ec2-malicious-file-snapshot.json", "future-unknown-resource-type.json"}) {
    const auto f = finding(name);
    const auto r = route(f);
    const auto passed = passed_over_report(r, f);
    if (passed) {
      EXPECT_EQ(passed->reason.find("no playbook handles"), std::string::npos) << name;
    }
  }
}

}  // namespace
}  // namespace tq::handlers

namespace tq::handlers {
namespace {

// A playbook that looks at S3Bucket findings, as the bucket playbook will: it passes over them here.
class bucket_looker final : public playbook {
 public:
  std::string_view name() const override { return "bucket-looker"; }
  void route(const decoded_event& event, const config&, routing& out) const override {
    const auto* f = std::get_if<guardduty_finding>(&event);
    if (f && f->resource_type == "S3Bucket") out.passed.push_back({name(), 0, "not an exposure finding"});
  }
  playbook_report run(const job&, const playbook_context&) const override { return {}; }
};

TEST(family_routing, escalation_takes_a_bucket_only_while_no_playbook_before_it_looks_at_buckets) {
  auto f = finding("backdoor-ec2-cc-activity.json");
  f.resource_type = "S3Bucket";
  f.instance.reset();
  playbook_list alone;
  alone.push_back(make_escalation(fixed_environment({})).value());
  EXPECT_TRUE(routes_to(route_event(alone, f, config{}), escalation_playbook))
      << "no bucket playbook: escalated";
  playbook_list with_buckets;
  with_buckets.push_back(std::make_unique<bucket_looker>());
  with_buckets.push_back(make_escalation(fixed_environment({})).value());
  const auto r = route_event(with_buckets, f, config{});
  EXPECT_TRUE(r.jobs.empty()) << "the bucket playbook's answer stands";
  ASSERT_TRUE(passed_over_report(r, f).has_value());
  EXPECT_EQ(passed_over_report(r, f)->reason, "not an exposure finding");
}

}  // namespace
}  // namespace tq::handlers
