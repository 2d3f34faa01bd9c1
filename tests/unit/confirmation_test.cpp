// The confirmation of a finding with GuardDuty, checked without I/O: the call it plans, the verdict on each
// kind of answer (the finding, none, another instance, archived, an error), and where its call rides.
#include "handlers/confirmation.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "handlers/observability.h"
#include "handlers/playbook.h"
#include "handlers/playbooks/instance_containment.h"
#include "handlers/policy.h"

namespace tq::handlers {
namespace {

const std::string detector = "3ec5a1f2b8d94c6e9f0a7b2c4d6e8f10";
const std::string finding_id = "788413ea1b550f8ce09990354b47be3a";

// A finding's detail, as an EventBridge event and GetFindings both carry it.
nlohmann::json detail(const std::string& instance = "i-0abc", bool archived = false) {
  return {{"id", finding_id},
          {"arn", "arn:aws:guardduty:us-east-1:123456789012:detector/" + detector + "/finding/" + finding_id},
          {"type", "Backdoor:EC2/C&CActivity.B"},
          {"accountId", "123456789012"},
          {"region", "us-east-1"},
          {"severity", 8},
          {"resource", {{"resourceType", "Instance"}, {"instanceDetails", {{"instanceId", instance}}}}},
          {"service",
           {{"detectorId", detector},
            {"archived", archived},
            {"resourceRole", "TARGET"},
            {"action",
             {{"actionType", "NETWORK_CONNECTION"},
              {"networkConnectionAction", {{"connectionDirection", "OUTBOUND"}}}}}}}};
}

guardduty_finding event_of(const nlohmann::json& d) {
  const nlohmann::json event = {
      {"source", "aws.guardduty"}, {"detail-type", "GuardDuty Finding"}, {"detail", d}};
  return std::get<guardduty_finding>(decode_event_json(event).value());
}

nlohmann::json answer(std::vector<nlohmann::json> findings) {
  return {{"findings", std::move(findings)}};
}

TEST(confirmation, asks_getfindings_of_the_detector_and_finding_the_arn_names) {
  const finding_confirmation c(event_of(detail()));
  const auto call = c.pending_call();
  ASSERT_TRUE(call.has_value());
  const auto& rest = std::get<aws::rest_json_call>(call->call);
  EXPECT_EQ(aws::call_name(call->call), "guardduty:GetFindings");
  EXPECT_EQ(rest.method, "POST");
  EXPECT_EQ(rest.path, "/detector/" + detector + "/findings/get");
  EXPECT_EQ(rest.body["findingIds"], nlohmann::json::array({finding_id}));
  EXPECT_TRUE(declares(*call->kind, call->call));
}

TEST(confirmation, the_same_finding_is_confirmed_and_its_copy_is_guarddutys) {
  finding_confirmation c(event_of(detail()));
  nlohmann::json real = detail();
  real["severity"] = 2;  // GuardDuty's word, not the event's, is what the route is run on
  c.absorb(result<nlohmann::json>(answer({real})));
  ASSERT_EQ(c.verdict(), confirmation_verdict::confirmed);
  EXPECT_EQ(c.confirmed()->severity, 2);
  EXPECT_FALSE(c.pending_call().has_value()) << "a verdict is asked for once per invocation";
  EXPECT_FALSE(unconfirmed_report(&c, "instance-containment", "i-0abc").has_value());
  EXPECT_TRUE(instance_routing_refusal(*c.confirmed(), instance_settings{}).has_value());
}

TEST(confirmation, guarddutys_copy_is_read_under_the_events_envelope) {
  const nlohmann::json event = {{"version", "0"},
                                {"id", "event-7"},
                                {"source", "aws.guardduty"},
                                {"detail-type", "GuardDuty Finding"},
                                {"account", "123456789012"},
                                {"region", "us-east-1"},
                                {"time", "2026-12-01T09:30:00Z"},
                                {"detail", detail()}};
  finding_confirmation c(std::get<guardduty_finding>(decode_event_json(event).value()));
  c.absorb(result<nlohmann::json>(answer({detail()})));
  ASSERT_EQ(c.verdict(), confirmation_verdict::confirmed);
  EXPECT_EQ(c.confirmed()->envelope.source, "aws.guardduty");
  EXPECT_EQ(c.confirmed()->envelope.detail_type, "GuardDuty Finding");
  EXPECT_EQ(c.confirmed()->id, finding_id);
  // GetFindings' answer has no envelope: the copy carries the event's (its id and time, not empty ones).
  EXPECT_EQ(c.confirmed()->envelope.id, "event-7");
  EXPECT_EQ(c.confirmed()->envelope.time, "2026-12-01T09:30:00Z");
}

TEST(confirmation, a_copy_that_cannot_be_read_is_no_verdict_and_says_what_it_lacks) {
  finding_confirmation c(event_of(detail()));
  nlohmann::json unreadable = detail();
  unreadable.erase("type");
  c.absorb(result<nlohmann::json>(answer({unreadable})));
  ASSERT_EQ(c.verdict(), confirmation_verdict::unreachable);
  ASSERT_TRUE(c.failure().has_value());
  EXPECT_EQ(c.failure()->code, "UnreadableFinding");
  EXPECT_NE(c.failure()->message.find("$.detail.type"), std::string::npos) << c.failure()->message;
  EXPECT_FALSE(c.failure()->retryable);
}

TEST(confirmation, a_finding_guardduty_does_not_have_is_forged) {
  finding_confirmation c(event_of(detail()));
  c.absorb(result<nlohmann::json>(answer({})));
  ASSERT_EQ(c.verdict(), confirmation_verdict::forged);
  EXPECT_NE(c.why_forged().find("has no finding " + finding_id), std::string::npos) << c.why_forged();
  const auto report = unconfirmed_report(&c, "instance-containment", "i-0abc");
  ASSERT_TRUE(report.has_value());
  EXPECT_EQ(report->status, report_status::ignored);
  EXPECT_TRUE(report->forged);
  EXPECT_TRUE(report->reason.starts_with("not confirmed by GuardDuty: "));
  EXPECT_FALSE(report->incomplete());
  EXPECT_TRUE(worth_notifying(*report)) << "a forged finding is an incident of its own";
}

TEST(confirmation, a_real_finding_id_naming_another_instance_is_forged) {
  finding_confirmation c(event_of(detail("i-0production-db")));
  c.absorb(result<nlohmann::json>(answer({detail("i-0abc")})));
  ASSERT_EQ(c.verdict(), confirmation_verdict::forged);
  EXPECT_NE(c.why_forged().find("instance 'i-0production-db'"), std::string::npos) << c.why_forged();
  EXPECT_NE(c.why_forged().find("'i-0abc'"), std::string::npos) << c.why_forged();
}

TEST(confirmation, a_detector_that_is_not_the_accounts_is_forged) {
  finding_confirmation c(event_of(detail()));
  c.absorb(result<nlohmann::json>(
      error{"BadRequestException", "detectorId is not owned by the current account", "guardduty", false}));
  EXPECT_EQ(c.verdict(), confirmation_verdict::forged);
}

TEST(confirmation, a_finding_without_a_guardduty_arn_is_forged_without_asking) {
  nlohmann::json d = detail();
  d.erase("arn");
  const finding_confirmation c(event_of(d));
  EXPECT_EQ(c.verdict(), confirmation_verdict::forged);
  EXPECT_FALSE(c.pending_call().has_value());
}

TEST(confirmation, archived_in_guardduty_is_confirmed_but_refused_by_the_route) {
  finding_confirmation c(event_of(detail("i-0abc", false)));
  c.absorb(result<nlohmann::json>(answer({detail("i-0abc", true)})));
  ASSERT_EQ(c.verdict(), confirmation_verdict::confirmed);
  EXPECT_EQ(finding_refusal(*c.confirmed()), "the finding is archived");
}

TEST(confirmation, unreachable_fails_the_job_retryably_and_asks_again) {
  finding_confirmation c(event_of(detail()));
  c.absorb(result<nlohmann::json>(error{"ServiceUnavailable", "503", "guardduty:GetFindings", true}));
  ASSERT_EQ(c.verdict(), confirmation_verdict::unreachable);
  EXPECT_TRUE(c.pending_call().has_value()) << "the next pass asks again";
  const auto report = unconfirmed_report(&c, "instance-containment", "i-0abc");
  ASSERT_TRUE(report.has_value());
  EXPECT_EQ(report->status, report_status::failed);
  EXPECT_TRUE(report->incomplete());
  EXPECT_TRUE(report->retryable());
  EXPECT_FALSE(report->forged);
}

TEST(confirmation, getfindings_rides_in_the_first_read_batch_of_instance_containment) {
  const finding_confirmation c(event_of(detail()));
  const instance_finding target = instance_target_of(event_of(detail()), config{});
  std::vector<planned_call> reads = plan_state_reads(target, instance_settings{});
  const size_t before = reads.size();
  const auto at = c.add_to(reads);
  ASSERT_TRUE(at.has_value());
  EXPECT_EQ(*at, before) << "appended: the reads keep their indices";
  for (const auto& r : reads) {
    // Nothing waits for anything: the whole batch is level 0, one round trip, so isolation stays at three.
    EXPECT_TRUE(r.needs.empty() && r.after.empty());
  }
}

TEST(confirmation, the_policy_asks_for_getfindings_only_while_confirmation_is_on) {
  const auto has = [](const std::vector<std::string>& all) {
    return std::find(all.begin(), all.end(), "guardduty:GetFindings") != all.end();
  };
  EXPECT_TRUE(has(declared_permissions(fixed_environment({}))));
  EXPECT_TRUE(has(declared_permissions(fixed_environment({{"TOURNIQUET_CONFIRM_FINDINGS", "true"}}))));
  EXPECT_FALSE(has(declared_permissions(fixed_environment({{"TOURNIQUET_CONFIRM_FINDINGS", "false"}}))));
}

TEST(confirmation, a_forged_report_is_counted_in_the_metrics) {
  playbook_report forged = ignored("instance-containment", "i-0abc", "not confirmed by GuardDuty: …");
  forged.forged = true;
  const auto docs = metric_documents({forged}, {}, std::chrono::system_clock::now());
  ASSERT_EQ(docs.size(), 1u);
  EXPECT_EQ(docs[0]["Forged"], 1);
  const auto plain = metric_documents({ignored("x", "", "why")}, {}, std::chrono::system_clock::now());
  EXPECT_FALSE(plain[0].contains("Forged"));
}

TEST(confirmation, the_setting_is_on_by_default_and_parsed) {
  EXPECT_TRUE(config_from_environment(fixed_environment({})).value().confirm_findings);
  EXPECT_FALSE(config_from_environment(fixed_environment({{"TOURNIQUET_CONFIRM_FINDINGS", "false"}}))
                   .value()
                   .confirm_findings);
  EXPECT_FALSE(config_from_environment(fixed_environment({{"TOURNIQUET_CONFIRM_FINDINGS", "maybe"}})).ok());
}

}  // namespace
}  // namespace tq::handlers
