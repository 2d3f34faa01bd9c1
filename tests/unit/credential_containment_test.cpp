// Credential containment without I/O: targets from the sample findings and CloudTrail records, the reads,
// the state parsed from real IAM/STS answer documents, the plan for each principal type, the exemptions,
// and the permissions each action kind declares.
#include "handlers/playbooks/credential_containment.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "aws/xml.h"

namespace tq::handlers {
namespace {

namespace fs = std::filesystem;
const fs::path events_dir = fs::path(TQ_SOURCE_DIR) / "events";
constexpr const char* now = "2025-03-23T02:20:00Z";

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

template <class T>
T sample(const std::string& relative) {
  auto decoded = decode_event(read_text(events_dir / relative));
  if (!decoded) {
    ADD_FAILURE() << relative << ": " << decoded.err().describe();
    return T{};
  }
  if (!std::holds_alternative<T>(*decoded)) {
    ADD_FAILURE() << relative << " decoded as " << kind_name(*decoded);
    return T{};
  }
  return std::get<T>(std::move(*decoded));
}

// An answer as the service would send it, through the real parser.
aws::xml_response answer(const std::string& body) {
  auto parsed = aws::parse_response(aws::http_response{200, {}, body}, "test");
  EXPECT_TRUE(parsed.ok()) << parsed.err().describe();
  return std::move(parsed).value();
}

error failure(const std::string& code) {
  return error{code, "test failure", "test", false, 404};
}

// An execution of `reads` whose answers are given by action name (a missing one fails with NoSuchEntity).
execution run_of(const std::vector<planned_call>& reads, const std::map<std::string, std::string>& bodies) {
  execution run;
  run.records.resize(reads.size());
  run.answers.resize(reads.size());
  for (size_t i = 0; i < reads.size(); ++i) {
    run.records[i].action = std::string(reads[i].kind->name);
    auto body = bodies.find(reads[i].query().action);
    if (body != bodies.end()) {
      run.records[i].result = outcome::done;
      run.answers[i] = aws::api_answer{answer(body->second)};
    } else {
      run.records[i].result = outcome::failed;
      run.records[i].failure = failure("NoSuchEntity");
    }
  }
  return run;
}

std::string caller_identity(const std::string& arn) {
  return "<GetCallerIdentityResponse "
         "xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><GetCallerIdentityResult>"
         "<Arn>" +
         arn +
         "</Arn><UserId>AIDAX</UserId><Account>123456789012</Account></GetCallerIdentityResult>"
         "<ResponseMetadata><RequestId>r1</RequestId></ResponseMetadata></GetCallerIdentityResponse>";
}

std::string get_user(const std::string& name, const std::string& tags = "") {
  return "<GetUserResponse><GetUserResult><User><Path>/ops/</Path><UserName>" + name +
         "</UserName><Arn>arn:aws:iam::123456789012:user/ops/" + name + "</Arn><Tags>" + tags +
         "</Tags></User></GetUserResult><ResponseMetadata><RequestId>r2</RequestId></ResponseMetadata></"
         "GetUserResponse>";
}

std::string list_keys(const std::string& name, const std::vector<std::pair<std::string, std::string>>& keys) {
  std::string members;
  for (const auto& [id, status] : keys) {
    members += "<member><UserName>" + name + "</UserName><AccessKeyId>" + id + "</AccessKeyId><Status>" +
               status + "</Status></member>";
  }
  return "<ListAccessKeysResponse><ListAccessKeysResult><AccessKeyMetadata>" + members +
         "</AccessKeyMetadata><IsTruncated>false</IsTruncated></ListAccessKeysResult></"
         "ListAccessKeysResponse>";
}

std::string get_role(const std::string& name, const std::string& tags = "") {
  return "<GetRoleResponse><GetRoleResult><Role><RoleName>" + name +
         "</RoleName><Arn>arn:aws:iam::123456789012:role/" + name + "</Arn><Tags>" + tags +
         "</Tags></Role></GetRoleResult></GetRoleResponse>";
}

access_key_target user_target() {
  return {"123456789012",
          "finding-1",
          "UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom",
          "IAMUser",
          "AKIAFIRSTKEY00000001",
          "deploy-bot",
          ""};
}

access_key_target role_target() {
  return {"123456789012",
          "finding-2",
          "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS",
          "AssumedRole",
          "ASIATEMPKEY000000001",
          "",
          "web-server-role"};
}

credential_state user_state(const std::string& key_status) {
  credential_state s;
  s.self = identity_from_arn("arn:aws:sts::123456789012:assumed-role/tourniquet-function/tourniquet");
  s.principal_arn = "arn:aws:iam::123456789012:user/ops/deploy-bot";
  s.key_status = {{"AKIAFIRSTKEY00000001", key_status}, {"AKIASECONDKEY0000002", "Active"}};
  return s;
}

const planned_call* find_call(const std::vector<planned_call>& plan, std::string_view action) {
  for (const auto& p : plan) {
    if (p.query().action == action) return &p;
  }
  return nullptr;
}

const action_record* find_record(const std::vector<action_record>& records, std::string_view action) {
  for (const auto& r : records) {
    if (r.action == action) return &r;
  }
  return nullptr;
}

// --- targets ---

TEST(credential_target, iam_user_finding_names_the_user_and_the_key) {
  const auto t = target_from_finding(
      sample<guardduty_finding>("guardduty/unauthorizedaccess-iamuser-malicious-ip-caller-custom.json"));
  EXPECT_EQ(t.user_type, "IAMUser");
  EXPECT_EQ(t.user_name, "deploy-bot");
  EXPECT_EQ(t.access_key_id, "AKIAQXYZ7EXAMPLEDEV1");
  EXPECT_TRUE(t.role_name.empty());
  EXPECT_EQ(t.account_id, "123456789012");
  EXPECT_FALSE(t.source_id.empty());
}

TEST(credential_target, assumed_role_finding_names_the_role) {
  const auto t = target_from_finding(
      sample<guardduty_finding>("guardduty/pentest-iamuser-kali-linux-assumed-role.json"));
  EXPECT_EQ(t.user_type, "AssumedRole");
  EXPECT_EQ(t.role_name, "ci-deploy");
  EXPECT_TRUE(t.user_name.empty());
}

TEST(credential_target, instance_credential_exfiltration_names_the_instance_role) {
  const auto t = target_from_finding(sample<guardduty_finding>(
      "guardduty/unauthorizedaccess-iamuser-instance-credential-exfiltration-outside-aws.json"));
  EXPECT_EQ(t.user_type, "AssumedRole");
  EXPECT_EQ(t.role_name, "web-server-role");
  EXPECT_EQ(t.source_type, "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS");
}

TEST(credential_target, cloudtrail_iam_user_and_assumed_role) {
  const auto user = target_from_cloudtrail(sample<cloudtrail_event>("cloudtrail/stop-logging.json"));
  EXPECT_EQ(user.user_type, "IAMUser");
  EXPECT_EQ(user.user_name, "deploy-bot");
  EXPECT_EQ(user.access_key_id, "AKIAQXYZ7EXAMPLEDEV1");
  EXPECT_EQ(user.source_type, "CloudTrail:StopLogging");
  EXPECT_EQ(user.source_id, "2d3e4f5a-6b7c-4d8e-9f0a-1b2c3d4e5f6a");

  cloudtrail_event assumed = sample<cloudtrail_event>("cloudtrail/stop-logging.json");
  assumed.user = user_identity{"AssumedRole",
                               "arn:aws:sts::123456789012:assumed-role/ci-deploy/session-7",
                               "ASIAQXYZ7EXAMPLESES2",
                               std::nullopt,
                               "AROAX:session-7",
                               "123456789012",
                               "arn:aws:iam::123456789012:role/pipelines/ci-deploy"};
  const auto role = target_from_cloudtrail(assumed);
  EXPECT_EQ(role.user_type, "AssumedRole");
  EXPECT_EQ(role.role_name, "ci-deploy");
}

TEST(credential_target, arns_name_users_roles_sessions_and_root) {
  auto user = identity_from_arn("arn:aws:iam::123456789012:user/ops/deploy-bot");
  EXPECT_EQ(user.kind, "user");
  EXPECT_EQ(user.name, "deploy-bot");
  EXPECT_EQ(user.account_id, "123456789012");
  auto session = identity_from_arn("arn:aws:sts::210987654321:assumed-role/tourniquet-function/i-123");
  EXPECT_EQ(session.kind, "role");
  EXPECT_EQ(session.name, "tourniquet-function");
  EXPECT_EQ(session.account_id, "210987654321");
  EXPECT_EQ(identity_from_arn("arn:aws:iam::123456789012:root").kind, "root");
  EXPECT_EQ(identity_from_arn("not an arn").kind, "");
  EXPECT_EQ(identity_from_arn("arn:aws:s3:::bucket").kind, "");
}

// --- reads and state ---

TEST(credential_reads, iam_user_reads_identity_user_and_keys_and_what_the_options_need) {
  auto reads = plan_credential_reads(user_target(), {});
  ASSERT_EQ(reads.size(), 3u);
  EXPECT_EQ(aws::call_name(reads[0].call), "sts:GetCallerIdentity");
  EXPECT_EQ(aws::call_name(reads[1].call), "iam:GetUser");
  EXPECT_EQ(reads[1].query().params.get("UserName"), "deploy-bot");
  EXPECT_EQ(aws::call_name(reads[2].call), "iam:ListAccessKeys");

  reads = plan_credential_reads(user_target(), {true, "quarantine"});
  ASSERT_EQ(reads.size(), 5u);
  EXPECT_NE(find_call(reads, "GetLoginProfile"), nullptr);
  EXPECT_NE(find_call(reads, "ListGroupsForUser"), nullptr);

  reads = plan_credential_reads(role_target(), {true, "quarantine"});
  ASSERT_EQ(reads.size(), 2u);
  EXPECT_EQ(aws::call_name(reads[1].call), "iam:GetRole");
  EXPECT_EQ(reads[1].query().params.get("RoleName"), "web-server-role");
}

TEST(credential_reads, state_from_real_answer_documents) {
  const credential_settings settings{true, "quarantine"};
  const auto reads = plan_credential_reads(user_target(), settings);
  const auto run = run_of(
      reads,
      {
          {"GetCallerIdentity", caller_identity("arn:aws:iam::123456789012:user/responder")},
          {"GetUser",
           get_user("deploy-bot", "<member><Key>tourniquet:incident-id</Key><Value>tq-1</Value></member>")},
          {"ListAccessKeys", list_keys("deploy-bot", {{"AKIAFIRSTKEY00000001", "Active"},
                                                      {"AKIASECONDKEY0000002", "Inactive"}})},
          {"ListGroupsForUser",
           "<ListGroupsForUserResponse><ListGroupsForUserResult><Groups><member><GroupName>quarantine"
           "</GroupName></member></Groups></ListGroupsForUserResult></ListGroupsForUserResponse>"},
          // no GetLoginProfile answer: NoSuchEntity, the user has no console password
      });
  auto state = credential_state_from_reads(settings, reads, run);
  ASSERT_TRUE(state.ok()) << state.err().describe();
  EXPECT_EQ(state->self.kind, "user");
  EXPECT_EQ(state->self.name, "responder");
  EXPECT_EQ(state->principal_arn, "arn:aws:iam::123456789012:user/ops/deploy-bot");
  EXPECT_EQ(state->tags.at("tourniquet:incident-id"), "tq-1");
  EXPECT_EQ(state->key_status.at("AKIAFIRSTKEY00000001"), "Active");
  EXPECT_EQ(state->key_status.at("AKIASECONDKEY0000002"), "Inactive");
  ASSERT_TRUE(state->has_login_profile.has_value());
  EXPECT_FALSE(*state->has_login_profile);
  EXPECT_TRUE(state->in_quarantine_group.value_or(false));
}

TEST(credential_reads, a_missing_principal_is_a_state_but_a_failed_identity_is_an_error) {
  const auto reads = plan_credential_reads(role_target(), {});
  auto gone = credential_state_from_reads(
      {}, reads,
      run_of(reads, {{"GetCallerIdentity", caller_identity("arn:aws:iam::123456789012:user/responder")}}));
  ASSERT_TRUE(gone.ok());
  EXPECT_FALSE(gone->principal_exists);

  auto unknown =
      credential_state_from_reads({}, reads, run_of(reads, {{"GetRole", get_role("web-server-role")}}));
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.err().code, "NoSuchEntity");
}

// --- exemptions ---

TEST(credential_exemption, never_its_own_user_or_role) {
  config cfg;
  credential_state state = user_state("Active");
  state.self = identity_from_arn("arn:aws:iam::123456789012:user/deploy-bot");
  auto why = exemption_of(user_target(), state, cfg);
  ASSERT_TRUE(why.has_value());
  EXPECT_NE(why->find("runs as"), std::string::npos);

  state.self = identity_from_arn("arn:aws:sts::123456789012:assumed-role/web-server-role/tourniquet");
  EXPECT_TRUE(exemption_of(role_target(), state, cfg).has_value());
  EXPECT_FALSE(
      exemption_of(user_target(), state, cfg).has_value());  // a user of the same name is not the role

  // The same role name in another account is another principal.
  state.self = identity_from_arn("arn:aws:sts::210987654321:assumed-role/web-server-role/tourniquet");
  EXPECT_FALSE(exemption_of(role_target(), state, cfg).has_value());
}

TEST(credential_exemption, exempt_principals_by_name_or_arn) {
  credential_state state = user_state("Active");
  config cfg;
  cfg.exempt_principals = {"deploy-bot"};
  EXPECT_TRUE(exemption_of(user_target(), state, cfg).has_value());
  cfg.exempt_principals = {"arn:aws:iam::123456789012:user/ops/deploy-bot"};
  EXPECT_TRUE(exemption_of(user_target(), state, cfg).has_value());
  cfg.exempt_principals = {"someone-else", "arn:aws:iam::123456789012:user/deploy-bot-2"};
  EXPECT_FALSE(exemption_of(user_target(), state, cfg).has_value());
}

// --- plans ---

TEST(credential_plan, iam_user_deactivates_only_the_named_key_and_denies_older_sessions) {
  std::vector<action_record> already;
  const auto plan =
      plan_credential_containment(user_target(), user_state("Active"), {}, "tq-abc", now, already);
  ASSERT_EQ(plan.size(), 3u);
  const auto* update = find_call(plan, "UpdateAccessKey");
  ASSERT_NE(update, nullptr);
  EXPECT_EQ(update->query().params.get("AccessKeyId"), "AKIAFIRSTKEY00000001");
  EXPECT_EQ(update->query().params.get("UserName"), "deploy-bot");
  EXPECT_EQ(update->query().params.get("Status"), "Inactive");
  for (const auto& p : plan) {
    for (const auto& [name, value] : p.query().params.entries())
      EXPECT_NE(value, "AKIASECONDKEY0000002") << name;
    EXPECT_NE(p.query().action, "DeleteAccessKey");
  }

  const auto* deny = find_call(plan, "PutUserPolicy");
  ASSERT_NE(deny, nullptr);
  EXPECT_EQ(deny->query().params.get("PolicyName"), revoke_sessions_policy_name);
  const auto document = nlohmann::json::parse(deny->query().params.get("PolicyDocument"));
  const auto& statement = document.at("Statement").at(0);
  EXPECT_EQ(statement.at("Effect"), "Deny");
  EXPECT_EQ(statement.at("Action"), "*");
  EXPECT_EQ(statement.at("Resource"), "*");
  EXPECT_EQ(statement.at("Condition").at("DateLessThan").at("aws:TokenIssueTime"), now);

  const auto* tag = find_call(plan, "TagUser");
  ASSERT_NE(tag, nullptr);
  EXPECT_EQ(tag->query().params.get("Tags.member.1.Key"), "tourniquet:incident-id");
  EXPECT_EQ(tag->query().params.get("Tags.member.1.Value"), "tq-abc");
  EXPECT_TRUE(already.empty());
}

TEST(credential_plan, replay_finds_the_key_inactive_and_the_tag_in_place_but_refreshes_the_deny) {
  credential_state state = user_state("Inactive");
  state.tags["tourniquet:incident-id"] = "tq-abc";
  std::vector<action_record> already;
  const auto plan = plan_credential_containment(user_target(), state, {}, "tq-abc", now, already);
  ASSERT_EQ(plan.size(), 1u);
  EXPECT_EQ(plan[0].query().action, "PutUserPolicy");
  const auto* key = find_record(already, "deactivate-key");
  ASSERT_NE(key, nullptr);
  EXPECT_EQ(key->result, outcome::already);
  const auto* tag = find_record(already, "tag-user");
  ASSERT_NE(tag, nullptr);
  EXPECT_EQ(tag->result, outcome::already);
}

TEST(credential_plan, the_record_waits_for_the_key_to_be_off) {
  std::vector<action_record> already;
  const auto plan =
      plan_credential_containment(user_target(), user_state("Active"), {}, "tq-abc", now, already);
  ASSERT_EQ(plan[0].query().action, "UpdateAccessKey");
  const auto* tag = find_call(plan, "TagUser");
  ASSERT_NE(tag, nullptr);
  // Else a failed deactivation under a written record would read as a key set Active by a person.
  EXPECT_EQ(tag->needs, std::vector<size_t>{0});
}

TEST(credential_plan, a_released_principal_is_marked_contained_again) {
  credential_state state = user_state("Active");
  state.tags = {{tag_incident, "tq-abc"}, {tag_status, "released"}, {tag_access_key, "AKIAFIRSTKEY00000001"}};
  std::vector<action_record> already;
  const auto plan = plan_credential_containment(user_target(), state, {}, "tq-abc", now, already);
  const auto* tag = find_call(plan, "TagUser");
  ASSERT_NE(tag, nullptr);
  EXPECT_EQ(tag->query().params.get("Tags.member.5.Key"), tag_status);
  EXPECT_EQ(tag->query().params.get("Tags.member.5.Value"), "contained");
}

TEST(credential_decision, released_or_set_active_by_hand) {
  credential_state state = user_state("Active");
  EXPECT_FALSE(decision_of(user_target(), state).undone_by_hand) << "never contained";
  state.tags = {{tag_incident, "tq-abc"}, {tag_access_key, "AKIAFIRSTKEY00000001"}, {tag_contained_at, now}};
  EXPECT_TRUE(decision_of(user_target(), state).undone_by_hand);
  EXPECT_EQ(decision_of(user_target(), state).contained_at, now);
  EXPECT_FALSE(decision_of(user_target(), user_state("Inactive")).undone_by_hand);
  state.tags[tag_status] = "released";
  state.tags[tag_released_at] = "2025-03-24T00:00:00Z";
  state.tags[tag_released_by] = "arn:aws:iam::123456789012:user/alice";
  const operator_decision released = decision_of(user_target(), state);
  EXPECT_EQ(released.released_at, "2025-03-24T00:00:00Z");
  EXPECT_EQ(released.released_by, "arn:aws:iam::123456789012:user/alice");
}

TEST(credential_release, targets_are_long_term_keys_and_role_arns) {
  EXPECT_EQ(release_target_of("AKIAFIRSTKEY00000001")->access_key_id, "AKIAFIRSTKEY00000001");
  EXPECT_EQ(release_target_of("arn:aws:iam::123456789012:role/ops/web-server-role")->role_name,
            "web-server-role");
  EXPECT_FALSE(release_target_of("ASIATEMPKEY000000001")) << "a temporary key names no principal";
  EXPECT_FALSE(release_target_of("arn:aws:iam::123456789012:user/deploy-bot"));
}

TEST(credential_release, reactivates_only_the_key_tourniquet_turned_off_then_marks_released) {
  credential_state state = user_state("Inactive");
  state.tags = {{tag_incident, "tq-abc"}, {tag_access_key, "AKIAFIRSTKEY00000001"}};
  const release_target key{"AKIAFIRSTKEY00000001", "deploy-bot", ""};
  std::vector<action_record> already;
  const auto plan = plan_credential_release(key, state, now, "arn:aws:iam::1:user/alice", already);
  ASSERT_EQ(plan.size(), 3u);
  EXPECT_EQ(plan[0].query().action, "UpdateAccessKey");
  EXPECT_EQ(plan[0].query().params.get("Status"), "Active");
  EXPECT_EQ(plan[1].query().action, "DeleteUserPolicy");
  EXPECT_EQ(plan[2].query().action, "TagUser");
  EXPECT_EQ(plan[2].needs, (std::vector<size_t>{0, 1}));
  EXPECT_EQ(plan[2].query().params.get("Tags.member.3.Value"), "arn:aws:iam::1:user/alice");

  already.clear();
  const release_target other{"AKIASECONDKEY0000002", "deploy-bot", ""};
  const auto refused = plan_credential_release(other, user_state("Inactive"), now, "", already);
  EXPECT_EQ(find_call(refused, "UpdateAccessKey"), nullptr) << "an operator's own choice is left alone";
  const auto* record = find_record(already, "reactivate-key");
  ASSERT_NE(record, nullptr);
  EXPECT_TRUE(record->unfinished);
}

TEST(credential_plan, temporary_and_unknown_keys_are_not_deactivated) {
  access_key_target t = user_target();
  t.access_key_id = "ASIACONSOLESESSION01";
  std::vector<action_record> already;
  auto plan = plan_credential_containment(t, user_state("Active"), {}, "tq-abc", now, already);
  EXPECT_EQ(find_call(plan, "UpdateAccessKey"), nullptr);
  EXPECT_NE(find_call(plan, "PutUserPolicy"), nullptr);
  ASSERT_NE(find_record(already, "deactivate-key"), nullptr);
  EXPECT_EQ(find_record(already, "deactivate-key")->result, outcome::skipped);

  t.access_key_id = "AKIANOTTHISUSERS0001";
  already.clear();
  plan = plan_credential_containment(t, user_state("Active"), {}, "tq-abc", now, already);
  EXPECT_EQ(find_call(plan, "UpdateAccessKey"), nullptr);
  EXPECT_NE(find_record(already, "deactivate-key")->detail.find("not a key of user deploy-bot"),
            std::string::npos);
}

TEST(credential_plan, assumed_role_gets_the_deny_and_the_tag_on_the_role) {
  credential_state state;
  state.self = identity_from_arn("arn:aws:iam::123456789012:user/responder");
  std::vector<action_record> already;
  const auto plan =
      plan_credential_containment(role_target(), state, {true, "quarantine"}, "tq-r", now, already);
  ASSERT_EQ(plan.size(), 2u);
  EXPECT_EQ(plan[0].query().action, "PutRolePolicy");
  EXPECT_EQ(plan[0].query().params.get("RoleName"), "web-server-role");
  EXPECT_EQ(plan[0].query().params.get("PolicyName"), revoke_sessions_policy_name);
  EXPECT_EQ(plan[1].query().action, "TagRole");
  EXPECT_EQ(find_call(plan, "UpdateAccessKey"), nullptr);     // ASIA keys cannot be deactivated
  EXPECT_EQ(find_call(plan, "DeleteLoginProfile"), nullptr);  // user options do not apply to roles
}

TEST(credential_plan, console_access_and_quarantine_only_when_asked) {
  credential_state state = user_state("Active");
  state.has_login_profile = true;
  state.in_quarantine_group = false;
  std::vector<action_record> already;
  auto plan = plan_credential_containment(user_target(), state, {}, "tq-abc", now, already);
  EXPECT_EQ(find_call(plan, "DeleteLoginProfile"), nullptr);
  EXPECT_EQ(find_call(plan, "AddUserToGroup"), nullptr);

  plan = plan_credential_containment(user_target(), state, {true, "quarantine"}, "tq-abc", now, already);
  ASSERT_NE(find_call(plan, "DeleteLoginProfile"), nullptr);
  ASSERT_NE(find_call(plan, "AddUserToGroup"), nullptr);
  EXPECT_EQ(find_call(plan, "AddUserToGroup")->query().params.get("GroupName"), "quarantine");

  state.has_login_profile = false;
  state.in_quarantine_group = true;
  already.clear();
  plan = plan_credential_containment(user_target(), state, {true, "quarantine"}, "tq-abc", now, already);
  EXPECT_EQ(find_call(plan, "DeleteLoginProfile"), nullptr);
  EXPECT_EQ(find_call(plan, "AddUserToGroup"), nullptr);
  EXPECT_EQ(find_record(already, "remove-console-access")->result, outcome::already);
  EXPECT_EQ(find_record(already, "quarantine-user")->result, outcome::already);
}

// --- permissions ---

// --- settings ---

TEST(credential_settings_test, defaults_off_and_bad_values_name_the_variable) {
  auto defaults = credential_settings_from_environment(fixed_environment({}));
  ASSERT_TRUE(defaults.ok());
  EXPECT_FALSE(defaults->remove_console_access);
  EXPECT_TRUE(defaults->quarantine_group.empty());

  auto on = credential_settings_from_environment(fixed_environment(
      {{"TOURNIQUET_REMOVE_CONSOLE_ACCESS", "true"}, {"TOURNIQUET_QUARANTINE_GROUP", "ir-quarantine"}}));
  ASSERT_TRUE(on.ok());
  EXPECT_TRUE(on->remove_console_access);
  EXPECT_EQ(on->quarantine_group, "ir-quarantine");

  auto bad_bool = credential_settings_from_environment(
      fixed_environment({{"TOURNIQUET_REMOVE_CONSOLE_ACCESS", "maybe"}}));
  ASSERT_FALSE(bad_bool.ok());
  EXPECT_EQ(bad_bool.err().where, "TOURNIQUET_REMOVE_CONSOLE_ACCESS");
  auto bad_group =
      credential_settings_from_environment(fixed_environment({{"TOURNIQUET_QUARANTINE_GROUP", "no spaces"}}));
  ASSERT_FALSE(bad_group.ok());
  EXPECT_EQ(bad_group.err().where, "TOURNIQUET_QUARANTINE_GROUP");
}

// The deny policy's text is what the nlohmann document it replaced dumped.
TEST(revoke_sessions_policy, is_the_document_dumped) {
  for (const std::string now : {"2026-12-01T09:30:00Z", "", "odd \"quote\" \\ \x01"}) {
    nlohmann::ordered_json policy;
    policy["Version"] = "2012-10-17";
    policy["Statement"] = nlohmann::ordered_json::array();
    policy["Statement"].push_back({{"Sid", "TourniquetRevokeOlderSessions"},
                                   {"Effect", "Deny"},
                                   {"Action", "*"},
                                   {"Resource", "*"},
                                   {"Condition", {{"DateLessThan", {{"aws:TokenIssueTime", now}}}}}});
    EXPECT_EQ(revoke_sessions_policy(now), policy.dump()) << now;
  }
}

}  // namespace
}  // namespace tq::handlers
