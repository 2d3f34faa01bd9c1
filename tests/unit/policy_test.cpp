// The generated policy, over every action the executable links: the test builds a responder, as
// `tourniquet` does, so every playbook's declarations are registered (a static library drops object files
// nothing refers to, and their declarations with them).
#include "handlers/policy.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "handlers/action.h"
#include "handlers/responder.h"

namespace tq::handlers {
namespace {

class policy : public ::testing::Test {
 protected:
  void SetUp() override {
    auto r = responder::from_environment(fixed_environment({{"AWS_REGION", "us-east-1"},
                                                            {"AWS_ACCESS_KEY_ID", "AKIDPOLICYTEST"},
                                                            {"AWS_SECRET_ACCESS_KEY", "policy-test-secret"}}),
                                         {});
    ASSERT_TRUE(r.ok()) << r.err().describe();
  }
};

bool has(const nlohmann::ordered_json& document, std::string_view action) {
  const auto& actions = document["Statement"][0]["Action"];
  return std::find(actions.begin(), actions.end(), std::string(action)) != actions.end();
}

// The statement `sid`, or null.
nlohmann::ordered_json statement(const nlohmann::ordered_json& document, std::string_view sid) {
  for (const auto& s : document["Statement"]) {
    if (s["Sid"] == sid) return s;
  }
  return nullptr;
}

TEST_F(policy, every_playbook_declares_its_actions_with_permissions) {
  std::vector<std::string_view> playbooks;
  for (const action_kind* kind : declared_actions()) {
    EXPECT_FALSE(kind->permissions.empty()) << kind->name << " declares no permission";
    for (auto p : kind->permissions) EXPECT_NE(p.find(':'), std::string_view::npos) << p;
    if (std::find(playbooks.begin(), playbooks.end(), kind->playbook) == playbooks.end()) {
      playbooks.push_back(kind->playbook);
    }
  }
  EXPECT_GE(playbooks.size(), 5u) << "instance, credential, exposure, network block and expiry at least";
}

TEST_F(policy, holds_every_declared_permission_when_every_option_is_on) {
  const auto everything =
      fixed_environment({{"TOURNIQUET_REMOVE_CONSOLE_ACCESS", "true"},
                         {"TOURNIQUET_QUARANTINE_GROUP", "quarantine"},
                         {"TOURNIQUET_SNS_TOPIC_ARN", "arn:aws:sns:us-east-1:123456789012:x"},
                         {"TOURNIQUET_EVIDENCE_BUCKET", "tq-evidence"},
                         {"TOURNIQUET_SECURITYHUB_UPDATES", "true"}});
  const auto document = policy_document(config{}, everything);
  for (const action_kind* kind : declared_actions()) {
    if (kind->resources != nullptr) continue;  // in a statement of their own (below)
    for (auto p : kind->permissions) {
      if (p == "iam:PassRole") continue;  // in a statement of its own, under a condition (below)
      EXPECT_TRUE(has(document, p)) << p;
    }
  }
  EXPECT_FALSE(statement(document, "TourniquetPassRoleToEc2").is_null()) << document.dump(2);
}

TEST_F(policy, a_role_may_be_passed_to_ec2_alone) {
  const auto document = policy_document(config{}, fixed_environment({}));
  EXPECT_FALSE(has(document, "iam:PassRole")) << "never unconditioned";
  const auto pass = statement(document, "TourniquetPassRoleToEc2");
  ASSERT_FALSE(pass.is_null()) << document.dump(2);
  EXPECT_EQ(pass["Action"], "iam:PassRole");
  EXPECT_EQ(pass["Condition"], nlohmann::ordered_json::parse(
                                   R"({"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}})"));
  for (const auto& s : document["Statement"]) {
    if (s["Sid"] == "TourniquetPassRoleToEc2") continue;
    const auto actions = s["Action"].is_array() ? s["Action"] : nlohmann::ordered_json::array({s["Action"]});
    for (const auto& a : actions) EXPECT_NE(a, "iam:PassRole") << s.dump();
  }
  // Without the profile's detach there is no release that gives it back: no role is passed at all.
  const auto no_detach =
      policy_document(config{}, fixed_environment({{"TOURNIQUET_DETACH_INSTANCE_PROFILE", "false"}}));
  EXPECT_TRUE(statement(no_detach, "TourniquetPassRoleToEc2").is_null()) << no_detach.dump(2);
}

TEST_F(policy, evidence_may_only_be_added_under_its_prefix_and_never_deleted) {
  EXPECT_TRUE(
      statement(policy_document(config{}, fixed_environment({})), "TourniquetWriteEvidence").is_null());
  EXPECT_FALSE(has(policy_document(config{}, fixed_environment({})), "ec2:GetConsoleOutput"));
  const auto document =
      policy_document(config{}, fixed_environment({{"AWS_REGION", "cn-north-1"},
                                                   {"TOURNIQUET_EVIDENCE_BUCKET", "tq-evidence"},
                                                   {"TOURNIQUET_EVIDENCE_PREFIX", "incidents/"}}));
  EXPECT_TRUE(has(document, "ec2:GetConsoleOutput"));
  EXPECT_FALSE(has(document, "s3:PutObject")) << "never on every bucket";
  const auto evidence = statement(document, "TourniquetWriteEvidence");
  ASSERT_FALSE(evidence.is_null()) << document.dump(2);
  EXPECT_EQ(evidence["Action"], nlohmann::ordered_json::array({"s3:PutObject"}));
  EXPECT_EQ(evidence["Resource"], nlohmann::ordered_json::array({"arn:aws-cn:s3:::tq-evidence/incidents/*"}));
  for (const auto& s : document["Statement"]) {
    for (const auto& a :
         s["Action"].is_array() ? s["Action"] : nlohmann::ordered_json::array({s["Action"]})) {
      EXPECT_FALSE(a.get<std::string>().starts_with("s3:Delete")) << a;
    }
  }
}

TEST_F(policy, optional_actions_are_in_it_only_when_turned_on) {
  const auto plain = policy_document(config{}, fixed_environment({}));
  EXPECT_FALSE(has(plain, "iam:DeleteLoginProfile"));
  EXPECT_FALSE(has(plain, "iam:AddUserToGroup"));
  EXPECT_TRUE(has(plain, "iam:UpdateAccessKey"));
  EXPECT_TRUE(has(plain, "ec2:ModifyNetworkInterfaceAttribute"));
  const auto off =
      policy_document(config{}, fixed_environment({{"TOURNIQUET_REMOVE_CONSOLE_ACCESS", "false"}}));
  EXPECT_FALSE(has(off, "iam:DeleteLoginProfile"));
  const auto on =
      policy_document(config{}, fixed_environment({{"TOURNIQUET_REMOVE_CONSOLE_ACCESS", "true"},
                                                   {"TOURNIQUET_QUARANTINE_GROUP", "quarantine"}}));
  EXPECT_TRUE(has(on, "iam:DeleteLoginProfile"));
  EXPECT_TRUE(has(on, "iam:AddUserToGroup"));
}

TEST_F(policy, cross_account_work_adds_assume_role_on_the_member_role_only) {
  config cfg;
  EXPECT_TRUE(statement(policy_document(cfg, fixed_environment({})), "TourniquetMemberAccounts").is_null());
  cfg.member_role_name = "tourniquet-member";
  const auto document = policy_document(cfg, fixed_environment({}));
  const auto member = statement(document, "TourniquetMemberAccounts");
  ASSERT_FALSE(member.is_null()) << document.dump(2);
  EXPECT_EQ(member["Action"], "sts:AssumeRole");
  EXPECT_EQ(member["Resource"], "arn:aws:iam::*:role/tourniquet-member");
}

}  // namespace
}  // namespace tq::handlers
