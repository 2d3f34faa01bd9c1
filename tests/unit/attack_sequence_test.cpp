// Attack sequences: decoding `service.detection.sequence` (error paths name the field), and routing each
// member to the playbook of its kind, deduplicated, under the configured floors, without I/O.
#include "handlers/playbooks/attack_sequence.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "handlers/playbook.h"

namespace tq::handlers {
namespace {

using variables = std::map<std::string, std::string, std::less<>>;

nlohmann::json sample_json(const std::string& name) {
  std::ifstream in(std::string(TQ_SOURCE_DIR) + "/events/guardduty/" + name);
  std::stringstream text;
  text << in.rdbuf();
  return nlohmann::json::parse(text.str());
}

guardduty_finding finding(const nlohmann::json& event) {
  auto decoded = decode_event_json(event);
  EXPECT_TRUE(decoded.ok()) << (decoded ? "" : decoded.err().describe());
  return std::get<guardduty_finding>(*decoded);
}

constexpr const char* s3_sample = "attacksequence-s3-compromised-data.json";
constexpr const char* iam_sample = "attacksequence-iam-compromised-credentials.json";

routing route(const guardduty_finding& f, variables env = {}, config cfg = {}) {
  const auto playbooks = make_playbooks(fixed_environment(std::move(env))).value();
  return route_event(playbooks, f, cfg);
}

std::vector<const job*> jobs_of(const routing& r, std::string_view playbook) {
  std::vector<const job*> out;
  for (const auto& j : r.jobs)
    if (j.playbook == playbook) out.push_back(&j);
  return out;
}

std::string reasons(const routing& r) {
  std::string all;
  for (const auto& p : r.passed) {  // appended piece by piece: GCC 12 warns (-Wrestrict) on "[" + to_string
    all += '[';
    all += std::to_string(p.item);
    all += "] ";
    all += p.reason;
    all += "; ";
  }
  return all;
}

std::string decode_error(const nlohmann::json& event) {
  auto decoded = decode_event_json(event);
  EXPECT_FALSE(decoded.ok());
  return decoded ? "" : decoded.err().where;
}

TEST(sequence_decode, every_part_of_the_s3_sequence) {
  const auto f = finding(sample_json(s3_sample));
  ASSERT_TRUE(f.sequence.has_value());
  const attack_sequence& s = *f.sequence;
  EXPECT_EQ(s.uid, "a3c1f0e2-9b7d-4e5f-8a6b-1c2d3e4f5a60");
  ASSERT_EQ(s.resources.size(), 4u);
  EXPECT_EQ(s.resources[0].resource_type, "EC2_INSTANCE");
  EXPECT_EQ(s.resources[0].interface_ids, std::vector<std::string>{"eni-0a1b2c3d4e5f60719"});
  EXPECT_EQ(s.resources[0].instance_profile_arn.value_or(""),
            "arn:aws:iam::123456789012:instance-profile/build-runner");
  EXPECT_EQ(s.resources[0].tags.front(), (std::pair<std::string, std::string>{"Name", "build-runner-3"}));
  ASSERT_TRUE(s.resources[1].interface.has_value());
  EXPECT_EQ(s.resources[1].interface->subnet_id, "subnet-0b1c2d3e4f5a6b7c8");
  EXPECT_EQ(s.resources[1].interface->security_group_ids, std::vector<std::string>{"sg-0c1d2e3f4a5b6c7d8"});
  ASSERT_TRUE(s.resources[2].access_key.has_value());
  EXPECT_EQ(s.resources[2].access_key->user_name, "deploy-bot");
  EXPECT_EQ(s.resources[3].uid, "acme-customer-exports");
  ASSERT_EQ(s.actors.size(), 1u);
  EXPECT_EQ(s.actors[0].credential_uid, "AKIAQXYZ7EXAMPLEDEV1");
  EXPECT_EQ(s.actors[0].account_id, "123456789012");
  ASSERT_EQ(s.endpoints.size(), 2u);
  EXPECT_EQ(s.endpoints[0].direction, "OUTBOUND");
  EXPECT_EQ(sequence_addresses(s), (std::vector<std::string>{"198.51.100.23", "203.0.113.77"}));
  ASSERT_EQ(s.signals.size(), 2u);
  EXPECT_EQ(s.signals[0].name, "Backdoor:EC2/C&CActivity.B");
  EXPECT_EQ(s.signals[1].actor_ids, std::vector<std::string>{"actor-1"});
  EXPECT_EQ(s.indicators.front().key, "ATTACK_TACTIC");
}

TEST(sequence_decode, a_finding_without_detection_has_no_sequence) {
  auto event = sample_json(s3_sample);
  event["detail"]["service"].erase("detection");
  EXPECT_FALSE(finding(event).sequence.has_value());
}

TEST(sequence_decode, errors_name_the_json_path) {
  const std::string seq = "$.detail.service.detection.sequence";
  auto event = sample_json(s3_sample);
  event["detail"]["service"]["detection"]["sequence"]["resources"][2].erase("uid");
  EXPECT_EQ(decode_error(event), seq + ".resources[2].uid");

  event = sample_json(s3_sample);
  event["detail"]["service"]["detection"]["sequence"]["resources"][0]["data"]["ec2Instance"]
       ["ec2NetworkInterfaceUids"][0] = 7;
  EXPECT_EQ(decode_error(event), seq + ".resources[0].data.ec2Instance.ec2NetworkInterfaceUids[0]");

  event = sample_json(s3_sample);
  event["detail"]["service"]["detection"]["sequence"]["actors"][0]["user"].erase("type");
  EXPECT_EQ(decode_error(event), seq + ".actors[0].user.type");

  event = sample_json(s3_sample);
  event["detail"]["service"]["detection"]["sequence"]["endpoints"] = "198.51.100.23";
  EXPECT_EQ(decode_error(event), seq + ".endpoints");

  event = sample_json(s3_sample);
  event["detail"]["service"]["detection"]["sequence"]["endpoints"][1]["port"] = "443";
  EXPECT_EQ(decode_error(event), seq + ".endpoints[1].port");

  event = sample_json(s3_sample);
  event["detail"]["service"]["detection"]["sequence"].erase("uid");
  EXPECT_EQ(decode_error(event), seq + ".uid");

  event = sample_json(s3_sample);
  event["detail"]["service"]["detection"]["sequence"]["resources"][1] = "eni-0a1b";
  EXPECT_EQ(decode_error(event), seq + ".resources[1]");

  event = sample_json(s3_sample);
  event["detail"]["service"]["detection"]["sequence"]["resources"][3]["uid"] = "";
  EXPECT_EQ(decode_error(event), seq + ".resources[3].uid");
}

TEST(sequence_routing, one_invocation_takes_each_member_to_the_playbook_of_its_kind) {
  const auto f = finding(sample_json(s3_sample));
  const auto r = route(f);
  const auto instances = jobs_of(r, instance_playbook);
  ASSERT_EQ(instances.size(), 1u) << reasons(r);
  EXPECT_EQ(instances[0]->target, "i-0a1b2c3d4e5f60718");
  EXPECT_EQ(instances[0]->account_id, "123456789012");
  EXPECT_EQ(instances[0]->region, "us-east-1");
  const auto& target = std::any_cast<const instance_finding&>(instances[0]->input);
  EXPECT_EQ(target.sequence_member, "i-0a1b2c3d4e5f60718");
  EXPECT_EQ(target.finding_id, f.id);

  const auto blocks = jobs_of(r, network_block_playbook);
  ASSERT_EQ(blocks.size(), 1u);
  const auto& block = std::any_cast<const block_target&>(blocks[0]->input);
  EXPECT_EQ(block.instance_id.value_or(""), "i-0a1b2c3d4e5f60718");
  EXPECT_EQ(block.subnet_ids, std::vector<std::string>{"subnet-0b1c2d3e4f5a6b7c8"});
  EXPECT_EQ(block.addresses, (std::vector<std::string>{"198.51.100.23", "203.0.113.77"}));

  const auto keys = jobs_of(r, credential_playbook);
  ASSERT_EQ(keys.size(), 1u) << "the key and the actor using it are one principal: " << reasons(r);
  const auto& key = std::any_cast<const access_key_target&>(keys[0]->input);
  EXPECT_EQ(key.access_key_id, "AKIAQXYZ7EXAMPLEDEV1");
  EXPECT_EQ(key.user_name, "deploy-bot");

  EXPECT_TRUE(jobs_of(r, sequence_playbook).empty()) << "nothing to escalate: " << reasons(r);
  const auto buckets = jobs_of(r, bucket_playbook);
  ASSERT_EQ(buckets.size(), 1u);
  EXPECT_EQ(buckets[0]->target, "acme-customer-exports");
  const auto& bucket = std::any_cast<const bucket_target&>(buckets[0]->input);
  EXPECT_FALSE(bucket.block_public_access) << "tagged: the sequence's principals are what took the data";
  EXPECT_EQ(bucket.sequence_member, "acme-customer-exports");

  const std::string incident = incident_id_for(f.account_id, f.id);
  for (const auto& j : r.jobs) EXPECT_EQ(j.incident_id, incident) << j.playbook << " " << j.target;
  EXPECT_EQ(r.jobs.front().playbook, instance_playbook) << "isolation goes first";
}

TEST(sequence_routing, passed_over_members_are_listed_with_why_beside_the_jobs) {
  const auto f = finding(sample_json(s3_sample));
  const auto r = route(f);
  const std::string why = reasons(r);
  EXPECT_NE(why.find("interface eni-0a1b2c3d4e5f60719 is contained with its instance i-0a1b2c3d4e5f60718"),
            std::string::npos)
      << why;
  EXPECT_NE(why.find("AKIAQXYZ7EXAMPLEDEV1 is already contained as IAMUser"), std::string::npos) << why;
  const auto passed = passed_over_report(r, f);
  ASSERT_TRUE(passed.has_value()) << "members passed over are listed even though others were taken";
  EXPECT_EQ(passed->playbook, sequence_playbook);
  EXPECT_NE(passed->reason.find("eni-0a1b2c3d4e5f60719"), std::string::npos) << passed->reason;
}

TEST(sequence_routing, the_same_key_named_twice_and_an_interface_of_no_named_instance) {
  auto event = sample_json(s3_sample);
  auto& resources = event["detail"]["service"]["detection"]["sequence"]["resources"];
  resources.push_back(resources[2]);                                                         // the key again
  resources[0]["data"]["ec2Instance"]["ec2NetworkInterfaceUids"] = nlohmann::json::array();  // eni orphaned
  const auto r = route(finding(event));
  EXPECT_EQ(jobs_of(r, credential_playbook).size(), 1u) << reasons(r);
  EXPECT_NE(reasons(r).find("AKIAQXYZ7EXAMPLEDEV1 is named twice"), std::string::npos) << reasons(r);
  const auto escalations = jobs_of(r, sequence_playbook);
  ASSERT_EQ(escalations.size(), 1u);
  EXPECT_EQ(escalations[0]->target, "eni-0a1b2c3d4e5f60719");
  EXPECT_NE(
      std::any_cast<const sequence_escalation&>(escalations[0]->input).what_to_do.find("describe-network-"),
      std::string::npos);
  EXPECT_TRUE(
      std::any_cast<const block_target&>(jobs_of(r, network_block_playbook)[0]->input).subnet_ids.empty())
      << "its subnet is not the instance's as far as the sequence says";
}

TEST(sequence_routing, actors_principals_roles_and_other_kinds) {
  const auto f = finding(sample_json(iam_sample));
  const auto r = route(f);
  const auto keys = jobs_of(r, credential_playbook);
  ASSERT_EQ(keys.size(), 2u) << reasons(r);
  const auto& user = std::any_cast<const access_key_target&>(keys[0]->input);
  EXPECT_EQ(user.user_name, "ops-admin");
  EXPECT_EQ(user.access_key_id, "AKIAQXYZ7EXAMPLEOPS1");
  const auto& role = std::any_cast<const access_key_target&>(keys[1]->input);
  EXPECT_EQ(role.user_type, "AssumedRole");
  EXPECT_EQ(role.role_name, "ci-deploy") << "from the session's issuer";
  EXPECT_EQ(role.sequence_member, "actor-2");
  const auto escalations = jobs_of(r, sequence_playbook);
  ASSERT_EQ(escalations.size(), 1u);
  EXPECT_NE(std::any_cast<const sequence_escalation&>(escalations[0]->input).what_to_do.find("web-asg"),
            std::string::npos);
  EXPECT_TRUE(jobs_of(r, instance_playbook).empty());
  EXPECT_TRUE(jobs_of(r, network_block_playbook).empty());
  EXPECT_NE(reasons(r).find("192.0.2.140"), std::string::npos)
      << "no instance to block them at: " << reasons(r);
  EXPECT_NE(reasons(r).find("[3] AKIAQXYZ7EXAMPLEOPS1 is already contained"), std::string::npos)
      << "the first actor is item 1 + 2 resources: " << reasons(r);
}

TEST(sequence_routing, floors_still_apply_each_naming_its_variable) {
  auto f = finding(sample_json(s3_sample));
  auto r = route(f, {{"TOURNIQUET_MIN_SEVERITY", "9.8"}});
  EXPECT_TRUE(jobs_of(r, instance_playbook).empty());
  EXPECT_TRUE(jobs_of(r, network_block_playbook).empty())
      << "endpoints are blocked where contained instances sit";
  EXPECT_NE(reasons(r).find("instance i-0a1b2c3d4e5f60718: severity 9.5 is under TOURNIQUET_MIN_SEVERITY"),
            std::string::npos)
      << reasons(r);
  EXPECT_EQ(jobs_of(r, credential_playbook).size(), 1u);

  r = route(f, {{"TOURNIQUET_CREDENTIAL_MIN_SEVERITY", "10"}, {"TOURNIQUET_BLOCK_MIN_SEVERITY", "10"}});
  EXPECT_TRUE(jobs_of(r, credential_playbook).empty());
  EXPECT_TRUE(jobs_of(r, network_block_playbook).empty());
  EXPECT_EQ(jobs_of(r, instance_playbook).size(), 1u);
  EXPECT_NE(reasons(r).find("TOURNIQUET_CREDENTIAL_MIN_SEVERITY"), std::string::npos) << reasons(r);
  EXPECT_NE(reasons(r).find("TOURNIQUET_BLOCK_MIN_SEVERITY"), std::string::npos) << reasons(r);
}

TEST(sequence_routing, the_sequence_type_list_and_the_single_finding_lists) {
  const auto f = finding(sample_json(s3_sample));
  auto r = route(f, {{"TOURNIQUET_SEQUENCE_FINDING_TYPES", "AttackSequence:IAM/*"}});
  EXPECT_TRUE(r.jobs.empty());
  const auto passed = passed_over_report(r, f);
  ASSERT_TRUE(passed.has_value());
  EXPECT_NE(passed->reason.find("TOURNIQUET_SEQUENCE_FINDING_TYPES"), std::string::npos) << passed->reason;
  // The single-finding type lists do not apply to a sequence's members, and no other route sees it.
  r = route(f, {{"TOURNIQUET_INSTANCE_FINDING_TYPES", "*"}, {"TOURNIQUET_CREDENTIAL_FINDING_TYPES", "*"}});
  EXPECT_EQ(jobs_of(r, instance_playbook).size(), 1u);
  EXPECT_EQ(jobs_of(r, credential_playbook).size(), 1u);
}

TEST(sequence_routing, the_exemption_tag_counts_as_the_sequence_saw_the_instance) {
  auto event = sample_json(s3_sample);
  config cfg;
  cfg.exempt_tag = aws::tag{"incident-response", "exempt"};
  auto exempt = [&](const nlohmann::json& e) {
    const auto r = route(finding(e), {}, cfg);
    return std::any_cast<const instance_finding&>(jobs_of(r, instance_playbook).at(0)->input)
        .exempt_in_finding;
  };
  EXPECT_FALSE(exempt(event));
  event["detail"]["service"]["detection"]["sequence"]["resources"][0]["tags"].push_back(
      {{"key", "incident-response"}, {"value", "exempt"}});
  EXPECT_TRUE(exempt(event));
}

TEST(sequence_routing, samples_and_archived_sequences_are_refused_before_routing) {
  auto event = sample_json(s3_sample);
  event["detail"]["service"]["archived"] = true;
  const auto r = route(finding(event));
  EXPECT_TRUE(r.jobs.empty());
  EXPECT_NE(reasons(r).find("archived"), std::string::npos);
}

TEST(sequence_confirmation, a_member_must_still_be_in_guardduty_s_copy) {
  auto real = finding(sample_json(s3_sample));
  EXPECT_FALSE(
      sequence_member_refusal(real, "i-0a1b2c3d4e5f60718", 7, "TOURNIQUET_MIN_SEVERITY").has_value());
  EXPECT_FALSE(sequence_member_refusal(real, "actor-1", 5, "X").has_value());
  EXPECT_NE(sequence_member_refusal(real, "i-0ffffffffffffffff", 7, "X").value_or("").find("does not name"),
            std::string::npos);
  real.severity = 6;
  EXPECT_NE(sequence_member_refusal(real, "i-0a1b2c3d4e5f60718", 7, "TOURNIQUET_MIN_SEVERITY").value_or(""),
            "");
  ASSERT_TRUE(confirmed_instance_target(real, "i-0a1b2c3d4e5f60718", config{}).has_value());
  EXPECT_FALSE(confirmed_instance_target(real, "AKIAQXYZ7EXAMPLEDEV1", config{}).has_value())
      << "a key is no instance";
  real.sequence.reset();
  EXPECT_EQ(sequence_member_refusal(real, "i-0a1b2c3d4e5f60718", 0, "").value_or(""),
            "GuardDuty's copy is no attack sequence");
}

}  // namespace
}  // namespace tq::handlers
