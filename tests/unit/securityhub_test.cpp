// Security Hub in and out, without I/O: ASFF decoding (and its errors, naming JSON paths), custom actions
// routed without the automatic floors but with the exemptions, imported GuardDuty findings routed as their
// native events (same incident), and the note and workflow status written back.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "handlers/incident.h"
#include "handlers/playbook.h"
#include "handlers/playbooks/bucket_protection.h"
#include "handlers/playbooks/credential_containment.h"
#include "handlers/playbooks/function_containment.h"
#include "handlers/playbooks/instance_containment.h"
#include "handlers/securityhub_in.h"
#include "handlers/securityhub_out.h"

namespace tq::handlers {
namespace {

std::string sample_text(const std::string& name) {
  std::ifstream in(std::string(TQ_SOURCE_DIR) + "/events/" + name);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

nlohmann::json sample_json(const std::string& name) {
  return nlohmann::json::parse(sample_text(name));
}

securityhub_event hub_event(const nlohmann::json& event) {
  auto decoded = decode_event(event.dump());
  EXPECT_TRUE(decoded.ok()) << (decoded ? "" : decoded.err().describe());
  if (!decoded || !std::holds_alternative<securityhub_event>(*decoded)) return {};
  return std::get<securityhub_event>(*decoded);
}

error decode_error(const nlohmann::json& event) {
  auto decoded = decode_event(event.dump());
  EXPECT_FALSE(decoded.ok());
  return decoded ? error{} : decoded.err();
}

routing route(const decoded_event& event, const config& cfg = {}) {
  const auto playbooks = make_playbooks(fixed_environment({})).value();
  return route_event(playbooks, event, cfg);
}

// --- decoding ---

TEST(asff_decode, a_custom_action_names_its_target_and_its_findings) {
  const auto hub = hub_event(sample_json("securityhub/custom-action-contain-instance-medium.json"));
  EXPECT_EQ(hub.kind, securityhub_kind::custom_action);
  EXPECT_EQ(hub.action_id, "TourniquetContain");
  EXPECT_EQ(hub.action_name, "Tourniquet contain");
  ASSERT_EQ(hub.findings.size(), 1u);
  const asff_finding& f = hub.findings[0];
  EXPECT_TRUE(is_guardduty_product(f));
  EXPECT_EQ(f.account_id, "123456789012");
  EXPECT_EQ(f.severity_label, "MEDIUM");
  EXPECT_EQ(f.severity_product, 5.0);
  EXPECT_EQ(f.workflow_status, "NEW");
  EXPECT_EQ(f.record_state, "ACTIVE");
  ASSERT_EQ(f.resources.size(), 1u);
  EXPECT_EQ(f.resources[0].type, "AwsEc2Instance");
  EXPECT_EQ(f.resources[0].region, "us-east-1");
  EXPECT_TRUE(f.resources[0].details.contains("AwsEc2Instance"));
}

TEST(asff_decode, errors_name_the_json_path_of_the_bad_field) {
  auto event = sample_json("securityhub/custom-action-contain-instance-medium.json");
  auto findings = event["detail"]["findings"];
  event["detail"]["findings"] = nlohmann::json::array({findings[0], findings[0], findings[0], findings[0]});
  event["detail"]["findings"][3]["Resources"][0]["Type"] = 7;
  error e = decode_error(event);
  EXPECT_EQ(e.code, invalid_event_code);
  EXPECT_EQ(e.where, "$.detail.findings[3].Resources[0].Type");
  EXPECT_NE(e.message.find("expected a string, got number"), std::string::npos) << e.message;

  event["detail"]["findings"][3]["Resources"][0]["Type"] = "AwsEc2Instance";
  event["detail"]["findings"][1].erase("AwsAccountId");
  EXPECT_EQ(decode_error(event).where, "$.detail.findings[1].AwsAccountId");

  event = sample_json("securityhub/imported-backdoor-ec2-cc-activity.json");
  event["detail"]["findings"][0]["ProductFields"]["aws/guardduty/service/count"] = 3;
  EXPECT_EQ(decode_error(event).where, "$.detail.findings[0].ProductFields.aws/guardduty/service/count");
  event["detail"]["findings"] = nlohmann::json::object();
  EXPECT_EQ(decode_error(event).where, "$.detail.findings");
}

TEST(asff_decode, a_batch_of_more_than_100_findings_is_refused) {
  auto event = sample_json("securityhub/imported-backdoor-ec2-cc-activity.json");
  const auto one = event["detail"]["findings"][0];
  event["detail"]["findings"] = nlohmann::json::array();
  for (int i = 0; i < 100; ++i) event["detail"]["findings"].push_back(one);
  EXPECT_EQ(hub_event(event).findings.size(), 100u);
  event["detail"]["findings"].push_back(one);
  const error e = decode_error(event);
  EXPECT_EQ(e.where, "$.detail.findings");
  EXPECT_NE(e.message.find("101 findings is over the limit of 100"), std::string::npos) << e.message;
}

TEST(asff_decode, security_hub_detail_types_from_any_other_source_are_refused) {
  // PutEvents refuses aws.* sources, so a custom source is what a forger could send through EventBridge.
  auto event = sample_json("securityhub/custom-action-contain-instance-medium.json");
  event["source"] = "my.securityhub";
  const error e = decode_error(event);
  EXPECT_EQ(e.where, "$.source");
  EXPECT_NE(e.message.find("expected aws.securityhub"), std::string::npos);
}

TEST(asff_decode, a_custom_action_without_an_action_target_arn_is_refused) {
  auto event = sample_json("securityhub/custom-action-contain-instance-medium.json");
  event["resources"] = nlohmann::json::array({"arn:aws:securityhub:us-east-1:123456789012:hub/default"});
  EXPECT_EQ(decode_error(event).where, "$.resources[0]");
  event["resources"] = nlohmann::json::array();
  EXPECT_EQ(decode_error(event).where, "$.resources");
}

// --- imported findings ---

TEST(imported, guardduty_finding_maps_to_the_native_event_and_the_same_incident) {
  const auto hub = hub_event(sample_json("securityhub/imported-backdoor-ec2-cc-activity.json"));
  const auto natives = imported_as_native(hub);
  ASSERT_EQ(natives.size(), 1u);
  ASSERT_TRUE(std::holds_alternative<guardduty_finding>(natives[0]));
  const auto& imported = std::get<guardduty_finding>(natives[0]);
  auto native_event = decode_event(sample_text("guardduty/backdoor-ec2-cc-activity.json"));
  const auto& native = std::get<guardduty_finding>(*native_event);
  EXPECT_EQ(imported.id, native.id);
  EXPECT_EQ(imported.arn, native.arn);
  EXPECT_EQ(imported.type, native.type);
  EXPECT_EQ(imported.severity, native.severity);
  EXPECT_EQ(imported.resource_type, "Instance");
  ASSERT_TRUE(imported.instance);
  EXPECT_EQ(imported.instance->instance_id, native.instance->instance_id);
  EXPECT_EQ(imported.action_type, native.action_type);
  EXPECT_EQ(imported.connection_direction, native.connection_direction);
  EXPECT_EQ(imported.remote_addresses, native.remote_addresses);
  EXPECT_EQ(imported.last_seen, native.last_seen);
  EXPECT_EQ(imported.count, 3);

  // Routed as the native event is: the same jobs, the same incident.
  const routing from_hub = route(decoded_event{imported});
  const routing from_guardduty = route(*native_event);
  ASSERT_FALSE(from_guardduty.jobs.empty());
  ASSERT_EQ(from_hub.jobs.size(), from_guardduty.jobs.size());
  for (std::size_t i = 0; i < from_hub.jobs.size(); ++i) {
    EXPECT_EQ(from_hub.jobs[i].playbook, from_guardduty.jobs[i].playbook);
    EXPECT_EQ(from_hub.jobs[i].target, from_guardduty.jobs[i].target);
    EXPECT_EQ(from_hub.jobs[i].incident_id, from_guardduty.jobs[i].incident_id);
  }
  EXPECT_EQ(reference_of(imported).product_arn, hub.findings[0].product_arn);
  EXPECT_EQ(reference_of(native).id, hub.findings[0].id);
}

TEST(imported, thresholds_apply_as_for_the_native_event) {
  auto event = sample_json("securityhub/imported-backdoor-ec2-cc-activity.json");
  event["detail"]["findings"][0]["Severity"]["Product"] = 5;
  const auto natives = imported_as_native(hub_event(event));
  const routing r = route(decoded_event{std::get<guardduty_finding>(natives[0])});
  EXPECT_FALSE(std::any_of(r.jobs.begin(), r.jobs.end(),
                           [](const job& j) { return j.playbook == instance_playbook; }));
}

TEST(imported, other_products_findings_are_ignored_saying_why) {
  auto event = sample_json("securityhub/imported-backdoor-ec2-cc-activity.json");
  event["detail"]["findings"][0]["ProductArn"] = "arn:aws:securityhub:us-east-1::product/aws/inspector";
  const auto natives = imported_as_native(hub_event(event));
  ASSERT_TRUE(std::holds_alternative<std::string>(natives[0]));
  EXPECT_NE(std::get<std::string>(natives[0]).find("only GuardDuty's"), std::string::npos);
  const routing r = route(decoded_event{hub_event(event)});
  EXPECT_TRUE(r.jobs.empty());
  ASSERT_EQ(r.passed.size(), 1u);
}

// --- custom actions ---

TEST(custom_action, contain_bypasses_the_floors_and_acts_in_the_resources_account_and_region) {
  auto event = sample_json("securityhub/custom-action-contain-instance-medium.json");
  event["detail"]["findings"][0]["Resources"][0]["Region"] = "eu-west-1";
  const securityhub_event hub = hub_event(event);
  const routing r = route(decoded_event{hub});
  ASSERT_EQ(r.jobs.size(), 1u) << (r.passed.empty() ? "" : r.passed[0].reason);
  const job& j = r.jobs[0];
  EXPECT_EQ(j.playbook, instance_playbook);
  EXPECT_EQ(j.target, "i-0123456789abcdef0");
  EXPECT_EQ(j.account_id, "123456789012");
  EXPECT_EQ(j.region, "eu-west-1");
  EXPECT_FALSE(j.release);
  EXPECT_FALSE(j.dry_run);
  EXPECT_EQ(j.incident_id, incident_id_for("123456789012", "6ac2f0b4e1d84e29a1c6f3b9d8e7a504"));
  const auto& target = *std::any_cast<instance_finding>(&j.input);
  EXPECT_EQ(target.last_seen, "");  // never taken for a redelivery after a release
  EXPECT_FALSE(target.exempt_in_finding);
  // The same finding delivered by GuardDuty is under the floors: nothing would be done automatically.
  const auto natives =
      imported_as_native(securityhub_event{hub.envelope, securityhub_kind::imported, "", "", hub.findings});
  EXPECT_TRUE(route(decoded_event{std::get<guardduty_finding>(natives[0])}).jobs.empty());
}

TEST(custom_action, the_exemption_tag_the_finding_saw_is_honoured) {
  auto event = sample_json("securityhub/custom-action-contain-instance-medium.json");
  event["detail"]["findings"][0]["Resources"][0]["Tags"]["tourniquet-exempt"] = "true";
  config cfg;
  cfg.exempt_tag = aws::tag{"tourniquet-exempt", "true"};
  const routing r = route(decoded_event{hub_event(event)}, cfg);
  ASSERT_EQ(r.jobs.size(), 1u);
  EXPECT_TRUE(std::any_cast<instance_finding>(&r.jobs[0].input)->exempt_in_finding);
}

TEST(custom_action, an_access_key_goes_to_credential_containment) {
  const routing r =
      route(decoded_event{hub_event(sample_json("securityhub/custom-action-contain-access-key.json"))});
  ASSERT_EQ(r.jobs.size(), 1u);
  EXPECT_EQ(r.jobs[0].playbook, credential_playbook);
  EXPECT_EQ(r.jobs[0].target, "deploy-bot");
  const auto& target = *std::any_cast<access_key_target>(&r.jobs[0].input);
  EXPECT_EQ(target.access_key_id, "AKIAQXYZ7EXAMPLEDEV1");
  EXPECT_EQ(target.user_type, "IAMUser");
  EXPECT_EQ(r.jobs[0].incident_id, incident_id_for("123456789012", "c22121fb05c5feab17c502f5c957e5bf"));
}

TEST(custom_action, release_and_dry_run_are_marked_on_the_job) {
  const routing released =
      route(decoded_event{hub_event(sample_json("securityhub/custom-action-release-instance.json"))});
  ASSERT_EQ(released.jobs.size(), 1u);
  EXPECT_TRUE(released.jobs[0].release);
  EXPECT_EQ(released.jobs[0].target, "i-0123456789abcdef0");
  EXPECT_EQ(released.jobs[0].decided_by,
            "arn:aws:securityhub:us-east-1:123456789012:action/custom/TourniquetRelease");
  const routing dry =
      route(decoded_event{hub_event(sample_json("securityhub/custom-action-dry-run-instance.json"))});
  ASSERT_EQ(dry.jobs.size(), 1u);
  EXPECT_TRUE(dry.jobs[0].dry_run);
  EXPECT_FALSE(dry.jobs[0].release);

  auto key = sample_json("securityhub/custom-action-contain-access-key.json");
  key["resources"][0] = "arn:aws:securityhub:us-east-1:123456789012:action/custom/TourniquetRelease";
  const routing key_release = route(decoded_event{hub_event(key)});
  ASSERT_EQ(key_release.jobs.size(), 1u);
  EXPECT_EQ(key_release.jobs[0].target, "AKIAQXYZ7EXAMPLEDEV1");
  EXPECT_TRUE(key_release.jobs[0].release);
}

TEST(custom_action, roles_users_and_unhandled_types_each_find_their_way) {
  auto event = sample_json("securityhub/custom-action-contain-access-key.json");
  event["detail"]["findings"][0]["Resources"] = {
      {{"Type", "AwsIamRole"}, {"Id", "arn:aws:iam::123456789012:role/app/web-role"}},
      {{"Type", "AwsIamUser"}, {"Id", "arn:aws:iam::123456789012:user/ops/alice"}},
      {{"Type", "AwsEcrContainerImage"}, {"Id", "arn:aws:ecr:us-east-1:123456789012:repository/web"}}};
  const routing r = route(decoded_event{hub_event(event)});
  ASSERT_EQ(r.jobs.size(), 3u);
  EXPECT_EQ(r.jobs[0].playbook, credential_playbook);
  EXPECT_EQ(r.jobs[0].target, "web-role");
  EXPECT_EQ(std::any_cast<access_key_target>(&r.jobs[0].input)->user_type, "AssumedRole");
  EXPECT_EQ(r.jobs[1].target, "alice");
  EXPECT_EQ(r.jobs[2].playbook, securityhub_playbook);
  EXPECT_NE(std::any_cast<std::string>(&r.jobs[2].input)->find("AwsEcrContainerImage"), std::string::npos);
}

// Under every automatic floor: a LOW finding of a type no playbook's list has.
nlohmann::json under_the_floors(nlohmann::json event) {
  auto& finding = event["detail"]["findings"][0];
  finding["Types"] = {"Unusual Behaviors/Application/Custom"};
  finding["Severity"] = {{"Product", 1}, {"Label", "LOW"}, {"Normalized", 10}};
  return event;
}

TEST(custom_action, a_function_goes_to_function_containment_past_the_floors_and_releases_by_name) {
  auto event = under_the_floors(sample_json("securityhub/custom-action-contain-lambda-function.json"));
  event["detail"]["findings"][0]["Resources"][0]["Region"] = "eu-west-1";
  const routing r = route(decoded_event{hub_event(event)});
  ASSERT_EQ(r.jobs.size(), 1u) << (r.passed.empty() ? "" : r.passed[0].reason);
  const job& j = r.jobs[0];
  EXPECT_EQ(j.playbook, function_playbook);
  EXPECT_EQ(j.target, "image-resizer");
  EXPECT_EQ(j.account_id, "123456789012");
  EXPECT_EQ(j.region, "eu-west-1");
  EXPECT_EQ(j.incident_id, incident_id_for("123456789012", "4f7a2c9e1b3d5a6c8e0f2a4b6c8d0e1f"));
  const auto& target = *std::any_cast<function_finding>(&j.input);
  EXPECT_EQ(target.function_name, "image-resizer");
  EXPECT_EQ(target.finding_id, "4f7a2c9e1b3d5a6c8e0f2a4b6c8d0e1f");
  EXPECT_EQ(target.last_seen, "");
  EXPECT_FALSE(target.exempt_in_finding);

  // A release names the function (as `tourniquet release image-resizer` would); a dry run is marked.
  event["resources"][0] = "arn:aws:securityhub:us-east-1:123456789012:action/custom/TourniquetRelease";
  const routing released = route(decoded_event{hub_event(event)});
  ASSERT_EQ(released.jobs.size(), 1u);
  EXPECT_EQ(released.jobs[0].playbook, function_playbook);
  EXPECT_EQ(released.jobs[0].target, "image-resizer");
  EXPECT_TRUE(released.jobs[0].release);
  event["resources"][0] = "arn:aws:securityhub:us-east-1:123456789012:action/custom/TourniquetDryRun";
  const routing dry = route(decoded_event{hub_event(event)});
  ASSERT_EQ(dry.jobs.size(), 1u);
  EXPECT_TRUE(dry.jobs[0].dry_run);
  EXPECT_FALSE(dry.jobs[0].release);
}

TEST(custom_action, a_function_named_only_in_its_details_or_exempt_as_shown_is_handled_so) {
  auto event = sample_json("securityhub/custom-action-contain-lambda-function.json");
  auto& resource = event["detail"]["findings"][0]["Resources"][0];
  resource["Details"]["AwsLambdaFunction"]["FunctionName"] = "thumbnailer";
  resource["Id"] = "arn:aws:lambda:us-east-1:123456789012:function:thumbnailer:PROD";
  resource["Tags"]["tourniquet-exempt"] = "true";
  config cfg;
  cfg.exempt_tag = aws::tag{"tourniquet-exempt", "true"};
  const routing r = route(decoded_event{hub_event(event)}, cfg);
  ASSERT_EQ(r.jobs.size(), 1u);
  EXPECT_EQ(r.jobs[0].target, "thumbnailer");
  EXPECT_TRUE(std::any_cast<function_finding>(&r.jobs[0].input)->exempt_in_finding);

  resource["Id"] = "not a function/at all";
  resource["Details"] = {{"AwsLambdaFunction", {{"FunctionName", "from-details"}}}};
  const routing by_details = route(decoded_event{hub_event(event)});
  ASSERT_EQ(by_details.jobs.size(), 1u);
  EXPECT_EQ(by_details.jobs[0].target, "from-details");

  resource["Details"] = nlohmann::json::object();
  const routing nameless = route(decoded_event{hub_event(event)});
  ASSERT_EQ(nameless.jobs.size(), 1u);
  EXPECT_EQ(nameless.jobs[0].playbook, securityhub_playbook);  // escalated: nothing names a function
}

TEST(custom_action, a_bucket_goes_to_bucket_protection_to_have_its_block_turned_on) {
  auto event = under_the_floors(sample_json("securityhub/custom-action-contain-s3-bucket.json"));
  const routing r = route(decoded_event{hub_event(event)});
  ASSERT_EQ(r.jobs.size(), 1u) << (r.passed.empty() ? "" : r.passed[0].reason);
  const job& j = r.jobs[0];
  EXPECT_EQ(j.playbook, bucket_playbook);
  EXPECT_EQ(j.target, "acme-reports-archive");
  EXPECT_EQ(j.account_id, "123456789012");
  EXPECT_EQ(j.region, "us-east-1");
  EXPECT_EQ(j.incident_id, incident_id_for("123456789012", "8b2d4f6a0c1e3a5b7d9f1b3d5f7a9c2e"));
  const auto& target = *std::any_cast<bucket_target>(&j.input);
  EXPECT_EQ(target.bucket, "acme-reports-archive");
  EXPECT_TRUE(target.block_public_access);  // contain = the public access block on: reversible
  EXPECT_EQ(target.source_id, "8b2d4f6a0c1e3a5b7d9f1b3d5f7a9c2e");
  EXPECT_EQ(target.last_seen, "");
  EXPECT_FALSE(target.exempt_in_finding);
  // The native finding would be refused by bucket protection's lists; the analyst's action is not.
  EXPECT_TRUE(r.passed.empty());

  event["resources"][0] = "arn:aws:securityhub:us-east-1:123456789012:action/custom/TourniquetRelease";
  const routing released = route(decoded_event{hub_event(event)});
  ASSERT_EQ(released.jobs.size(), 1u);
  EXPECT_EQ(released.jobs[0].playbook, bucket_playbook);
  EXPECT_EQ(released.jobs[0].target, "s3://acme-reports-archive");
  EXPECT_TRUE(released.jobs[0].release);
}

TEST(custom_action, a_bucket_exempt_by_tag_or_by_list_is_left_alone) {
  auto event = sample_json("securityhub/custom-action-contain-s3-bucket.json");
  auto& resource = event["detail"]["findings"][0]["Resources"][0];
  resource["Tags"]["tourniquet-exempt"] = "true";
  config cfg;
  cfg.exempt_tag = aws::tag{"tourniquet-exempt", "true"};
  routing r = route(decoded_event{hub_event(event)}, cfg);
  ASSERT_EQ(r.jobs.size(), 1u);
  const auto tagged = *std::any_cast<bucket_target>(&r.jobs[0].input);
  EXPECT_TRUE(tagged.exempt_in_finding);
  EXPECT_TRUE(bucket_exemption(tagged, cfg, bucket_settings{}).has_value());

  resource.erase("Tags");
  r = route(decoded_event{hub_event(event)}, cfg);
  ASSERT_EQ(r.jobs.size(), 1u);
  const auto listed = *std::any_cast<bucket_target>(&r.jobs[0].input);
  EXPECT_FALSE(listed.exempt_in_finding);
  EXPECT_FALSE(bucket_exemption(listed, cfg, bucket_settings{}).has_value());
  bucket_settings settings;
  settings.exempt_buckets = {"acme-reports-archive"};
  const auto why = bucket_exemption(listed, cfg, settings);
  ASSERT_TRUE(why.has_value());
  EXPECT_NE(why->find("TOURNIQUET_EXEMPT_BUCKETS"), std::string::npos);

  resource["Id"] = "acme-public-site";  // a bare name, as some products give it
  resource["Details"] = nlohmann::json::object();
  r = route(decoded_event{hub_event(event)}, cfg);
  ASSERT_EQ(r.jobs.size(), 1u);
  EXPECT_EQ(r.jobs[0].target, "acme-public-site");
}

TEST(custom_action, another_action_id_is_passed_over_naming_tourniquets) {
  auto event = sample_json("securityhub/custom-action-contain-instance-medium.json");
  event["resources"][0] = "arn:aws:securityhub:us-east-1:123456789012:action/custom/SendToJira";
  const routing r = route(decoded_event{hub_event(event)});
  EXPECT_TRUE(r.jobs.empty());
  ASSERT_EQ(r.passed.size(), 1u);
  EXPECT_NE(r.passed[0].reason.find("TourniquetContain"), std::string::npos);
}

// --- confirmation of custom actions ---

execution answered(const nlohmann::json& body) {
  execution run;
  run.records.push_back(action_record{"confirm-action-finding", "", outcome::done, "", std::nullopt, {}, {}});
  run.answers.push_back(aws::api_answer{body});
  return run;
}

TEST(custom_action, findings_are_confirmed_only_as_security_hub_holds_them) {
  const securityhub_event hub =
      hub_event(sample_json("securityhub/custom-action-contain-instance-medium.json"));
  const auto calls = plan_action_confirmation(hub);
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(aws::call_name(calls[0].call), "securityhub:GetFindings");
  const nlohmann::json held =
      sample_json("securityhub/custom-action-contain-instance-medium.json")["detail"]["findings"][0];

  EXPECT_TRUE(judge_action_findings(hub, answered({{"Findings", {held}}})).forged.empty());
  const auto none = judge_action_findings(hub, answered({{"Findings", nlohmann::json::array()}}));
  ASSERT_EQ(none.forged.count(0), 1u);
  EXPECT_NE(none.forged.at(0).find("has no finding"), std::string::npos);
  nlohmann::json other = held;
  other["Resources"][0]["Id"] = "arn:aws:ec2:us-east-1:123456789012:instance/i-0fffffffffffffff0";
  const auto elsewhere = judge_action_findings(hub, answered({{"Findings", {other}}}));
  ASSERT_EQ(elsewhere.forged.count(0), 1u);
  EXPECT_NE(elsewhere.forged.at(0).find("does not name AwsEc2Instance"), std::string::npos);

  const routing r = route(decoded_event{hub});
  const auto stop = unconfirmed_action(elsewhere, r.jobs.at(0));
  ASSERT_TRUE(stop);
  EXPECT_TRUE(stop->forged);
  EXPECT_EQ(stop->status, report_status::ignored);
  EXPECT_FALSE(
      unconfirmed_action(judge_action_findings(hub, answered({{"Findings", {held}}})), r.jobs.at(0)));

  execution failed;
  failed.records.push_back(
      action_record{"confirm-action-finding",
                    "",
                    outcome::failed,
                    "",
                    error{"ThrottlingException", "slow down", "securityhub:GetFindings", true},
                    {},
                    {}});
  failed.answers.push_back(std::nullopt);
  const auto unreachable = unconfirmed_action(judge_action_findings(hub, failed), r.jobs.at(0));
  ASSERT_TRUE(unreachable);
  EXPECT_EQ(unreachable->status, report_status::failed);
  EXPECT_TRUE(unreachable->retryable());
}

// --- Security Hub out ---

playbook_report report_of(report_status status, std::string target, std::string reason = "") {
  playbook_report r = concluded("instance-containment", status, std::move(target), std::move(reason));
  r.incident_id = "tq-0123456789abcdef";
  return r;
}

TEST(securityhub_out, the_note_names_the_incident_and_what_was_done_and_notifies_only_for_action) {
  finding_outcome contained{{"id", "p", "us-east-1", "123456789012"},
                            {report_of(report_status::contained, "i-1")}};
  EXPECT_EQ(note_text(contained), "Tourniquet tq-0123456789abcdef: instance-containment i-1 contained");
  EXPECT_EQ(workflow_status(contained), "NOTIFIED");
  finding_outcome left{{"id", "p", "us-east-1", "1"},
                       {report_of(report_status::ignored, "i-1", "under the floor")}};
  EXPECT_EQ(note_text(left),
            "Tourniquet tq-0123456789abcdef: instance-containment i-1 ignored (under the floor)");
  EXPECT_EQ(workflow_status(left), std::nullopt);
  finding_outcome released{{"id", "p", "us-east-1", "1"}, {report_of(report_status::released, "i-1")}};
  EXPECT_EQ(workflow_status(released), std::nullopt);
  finding_outcome dry{{"id", "p", "us-east-1", "1"}, {report_of(report_status::dry_run, "i-1")}};
  EXPECT_EQ(note_text(dry), "");
  finding_outcome long_one{{"id", "p", "us-east-1", "1"},
                           {report_of(report_status::escalate, "i-1", std::string(2000, 'x'))}};
  EXPECT_EQ(note_text(long_one).size(), max_note_text);
  EXPECT_EQ(workflow_status(long_one), "NOTIFIED");
}

TEST(securityhub_out, a_native_finding_is_known_to_security_hub_by_its_arn_under_guardduty) {
  auto native = decode_event(sample_text("guardduty/backdoor-ec2-cc-activity.json"));
  const finding_reference ref = reference_of(std::get<guardduty_finding>(*native));
  EXPECT_EQ(ref.product_arn, "arn:aws:securityhub:us-east-1::product/aws/guardduty");
  EXPECT_EQ(ref.id, std::get<guardduty_finding>(*native).arn);
  EXPECT_EQ(ref.region, "us-east-1");
}

}  // namespace
}  // namespace tq::handlers
