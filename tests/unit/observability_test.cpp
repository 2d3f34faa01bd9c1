#include "handlers/observability.h"

#include <gtest/gtest.h>

#include <sstream>

#include "handlers/policy.h"

namespace tq::handlers {
namespace {

using nlohmann::ordered_json;

action_record record(std::string action, std::string target, outcome result, std::string detail = "") {
  action_record r;
  r.action = std::move(action);
  r.target = std::move(target);
  r.result = result;
  r.detail = std::move(detail);
  return r;
}

playbook_report contained_report() {
  playbook_report r;
  r.playbook = "instance-containment";
  r.status = report_status::contained;
  r.target = "i-0abc";
  r.incident_id = "tq-0123456789abcdef";
  r.actions = {record("untrack-interface", "eni-1", outcome::done),
               record("isolate-interface", "eni-1", outcome::done),
               record("protect-termination", "i-0abc", outcome::already)};
  r.isolated_after_ms = 850;
  return r;
}

decoded_event finding(std::string type = "Backdoor:EC2/C&CActivity.B") {
  guardduty_finding f;
  f.type = std::move(type);
  f.account_id = "123456789012";
  return f;
}

// Every metric an EMF document declares must be a number at its top level, and every dimension a string.
void expect_valid_emf(const ordered_json& doc) {
  ASSERT_TRUE(doc.contains("_aws"));
  EXPECT_TRUE(doc["_aws"]["Timestamp"].is_number_integer());
  const auto& directives = doc["_aws"]["CloudWatchMetrics"];
  ASSERT_EQ(directives.size(), 1u);
  EXPECT_EQ(directives[0]["Namespace"], "Tourniquet");
  for (const auto& set : directives[0]["Dimensions"]) {
    for (const auto& name : set) EXPECT_TRUE(doc[name.get<std::string>()].is_string()) << name;
  }
  for (const auto& m : directives[0]["Metrics"]) {
    EXPECT_TRUE(doc[m["Name"].get<std::string>()].is_number()) << m["Name"];
  }
  EXPECT_EQ(doc["level"], "INFO");
  EXPECT_TRUE(doc["timestamp"].is_string());
}

std::vector<std::string> metric_names(const ordered_json& doc) {
  std::vector<std::string> names;
  for (const auto& m : doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]) names.push_back(m["Name"]);
  return names;
}

TEST(metric_documents, one_per_report_with_invocation_figures_on_the_first_only) {
  playbook_report failed = contained_report();
  failed.playbook = "credential-containment";
  failed.status = report_status::incomplete;
  failed.isolated_after_ms = -1;
  failed.actions.push_back(record("deactivate-key", "AKIA1", outcome::failed));
  failed.details["passes"] =
      ordered_json::array({{{"pass", 1}}, {{"pass", 2}}});  // two passes before this one
  const invocation_figures figures{"req-1", 3, 2, true, false};
  const auto docs = metric_documents({contained_report(), failed}, figures, std::chrono::system_clock::now());
  ASSERT_EQ(docs.size(), 2u);
  for (const auto& doc : docs) expect_valid_emf(doc);

  EXPECT_EQ(docs[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            ordered_json::parse(R"([["Playbook"],[]])"));
  EXPECT_EQ(docs[0]["Playbook"], "instance-containment");
  EXPECT_EQ(docs[0]["ActionsDone"], 2);
  EXPECT_EQ(docs[0]["ActionsFailed"], 0);
  EXPECT_EQ(docs[0]["ContainmentMs"], 850);
  EXPECT_EQ(docs[0]["Passes"], 1);
  EXPECT_EQ(docs[0]["Retries"], 3);
  EXPECT_EQ(docs[0]["Throttles"], 2);
  EXPECT_EQ(docs[0]["ColdStart"], 1);
  EXPECT_EQ(docs[0]["NotificationsFailed"], 0);
  EXPECT_EQ(docs[0]["requestId"], "req-1");

  EXPECT_EQ(docs[1]["Playbook"], "credential-containment");
  EXPECT_EQ(docs[1]["ActionsFailed"], 1);
  EXPECT_EQ(docs[1]["Passes"], 3);
  EXPECT_EQ(metric_names(docs[1]), (std::vector<std::string>{"ActionsDone", "ActionsFailed", "Passes"}))
      << "no ContainmentMs when none was measured, and the invocation's figures are counted once";
}

TEST(metric_documents, no_notification_metric_when_none_was_attempted) {
  const auto docs = metric_documents({contained_report()}, {"r", 0, 0, false, std::nullopt}, {});
  const auto names = metric_names(docs.at(0));
  EXPECT_EQ(std::count(names.begin(), names.end(), "NotificationsFailed"), 0);
  EXPECT_EQ(docs[0]["ColdStart"], 0);
}

TEST(worth_notifying, only_when_something_was_done_or_failed) {
  EXPECT_TRUE(worth_notifying(contained_report()));
  playbook_report replay = contained_report();
  for (auto& a : replay.actions) a.result = outcome::already;
  EXPECT_FALSE(worth_notifying(replay)) << "a replay that found everything in place is not news";
  EXPECT_FALSE(worth_notifying(ignored("router", "", "sample finding")));
  EXPECT_TRUE(worth_notifying(
      concluded("instance-containment", report_status::failed, "i-0abc", "instance not found")));
  playbook_report dry = contained_report();
  dry.status = report_status::dry_run;
  EXPECT_FALSE(worth_notifying(dry));
}

TEST(notification_subject, says_what_happened_to_what_where) {
  EXPECT_EQ(notification_subject(contained_report(), finding()),
            "Tourniquet contained i-0abc (Backdoor:EC2/C&CActivity.B) in 123456789012");
  playbook_report partial = contained_report();
  partial.status = report_status::incomplete;
  EXPECT_EQ(notification_subject(partial, finding()),
            "Tourniquet partly contained i-0abc (Backdoor:EC2/C&CActivity.B) in 123456789012");
}

TEST(notification_subject, stays_under_100_printable_characters) {
  const std::string long_type =
      "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS" + std::string(80, 'X');
  playbook_report r = contained_report();
  r.target = "i-0abc\n\x01" + std::string(60, 'y');
  const std::string subject = notification_subject(r, finding(long_type));
  EXPECT_LT(subject.size(), 100u);
  EXPECT_TRUE(subject.starts_with("Tourniquet contained i-0abc??")) << subject;
  EXPECT_TRUE(subject.ends_with(" in 123456789012")) << subject;
  for (char c : subject) EXPECT_TRUE(c >= 0x20 && c <= 0x7e) << subject;
}

TEST(notification_call, publishes_the_report_to_the_topic) {
  const std::string topic = "arn:aws:sns:us-east-1:123456789012:incidents";
  const auto call = notification_call(topic, contained_report(), finding());
  EXPECT_EQ(call.target, aws::service::sns);
  EXPECT_EQ(call.action, "Publish");
  EXPECT_EQ(call.params.get("TopicArn"), topic);
  EXPECT_EQ(call.params.get("Subject"), notification_subject(contained_report(), finding()));
  EXPECT_EQ(ordered_json::parse(call.params.get("Message")), contained_report().to_json());
  EXPECT_EQ(iam_action_of(call), "sns:Publish");
  const auto permissions = declared_permissions(fixed_environment({{"TOURNIQUET_SNS_TOPIC_ARN", topic}}));
  EXPECT_NE(std::find(permissions.begin(), permissions.end(), "sns:Publish"), permissions.end())
      << "sns:Publish must be declared, so the generated policy allows the notification";
  const auto without = declared_permissions(fixed_environment({}));
  EXPECT_EQ(std::find(without.begin(), without.end(), "sns:Publish"), without.end())
      << "no topic, no sns:Publish in the policy";
}

TEST(outcome_summary, lists_what_was_and_was_not_done) {
  playbook_report r = contained_report();
  r.status = report_status::incomplete;
  action_record late = record("snapshot-volumes", "i-0abc", outcome::failed);
  late.failure =
      error{"DeadlineExceeded", "no time left before the invocation's deadline", "ec2:CreateSnapshots", true};
  r.actions.push_back(late);
  r.actions.push_back(record("record-status", "i-0abc", outcome::skipped,
                             "not done: snapshot-volumes i-0abc did not succeed"));
  r.actions.back().unfinished = true;  // left undone by the failure, unlike the deliberate skip below
  r.actions.push_back(record("keep-volumes", "i-0abc", outcome::skipped, "snapshots are turned off"));
  EXPECT_EQ(
      outcome_summary(r),
      "instance-containment i-0abc: incomplete; done: untrack-interface eni-1, isolate-interface eni-1; "
      "not done: snapshot-volumes i-0abc (DeadlineExceeded: no time left before the invocation's deadline), "
      "record-status i-0abc (not done: snapshot-volumes i-0abc did not succeed)");
  EXPECT_EQ(outcome_summary(concluded("instance-containment", report_status::failed, "i-0abc", "it is gone")),
            "instance-containment i-0abc: failed (it is gone)");
  playbook_report nothing = r;
  for (auto& a : nothing.actions) {
    if (a.result == outcome::done) a.result = outcome::failed;
  }
  EXPECT_NE(outcome_summary(nothing).find("; done: nothing; not done: untrack-interface eni-1 (failed)"),
            std::string::npos);
}

TEST(observability_settings, a_topic_in_the_functions_region) {
  auto none = observability_settings_from_environment(fixed_environment({{"AWS_REGION", "us-east-1"}}));
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->sns_topic_arn.empty());
  auto good = observability_settings_from_environment(
      fixed_environment({{"AWS_REGION", "us-east-1"},
                         {"TOURNIQUET_SNS_TOPIC_ARN", "arn:aws:sns:us-east-1:123456789012:incidents"}}));
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(good->sns_topic_arn, "arn:aws:sns:us-east-1:123456789012:incidents");
  for (const char* bad :
       {"incidents", "arn:aws:sqs:us-east-1:123456789012:q", "arn:aws:sns:us-east-1:1234:t",
        "arn:aws:sns:us-east-1:123456789012:", "arn:aws:sns:eu-west-1:123456789012:incidents"}) {
    auto refused = observability_settings_from_environment(
        fixed_environment({{"AWS_REGION", "us-east-1"}, {"TOURNIQUET_SNS_TOPIC_ARN", bad}}));
    ASSERT_FALSE(refused.ok()) << bad;
    EXPECT_EQ(refused.err().where, "TOURNIQUET_SNS_TOPIC_ARN");
  }
}

TEST(observer, writes_one_metric_line_per_report_and_counts_the_cold_start_once) {
  auto settings = std::make_shared<aws::client_settings>();
  settings->region = "us-east-1";
  const aws::client own(aws::make_curl_transport({}), settings, aws::credentials{});
  observer o({});
  const invocation_context context{"req-9", std::chrono::system_clock::now() + std::chrono::seconds(5)};
  std::vector<int> cold;
  for (int i = 0; i < 2; ++i) {
    o.invocation_started(own);
    testing::internal::CaptureStderr();
    const auto notified = o.invocation_finished(finding(), {contained_report()}, context, own,
                                                aws::deadline_in(std::chrono::seconds(5)), false);
    const std::string out = testing::internal::GetCapturedStderr();
    EXPECT_TRUE(notified.empty()) << "no topic, no notification";
    std::istringstream lines(out);
    std::string line;
    int count = 0;
    while (std::getline(lines, line)) {
      const auto doc = ordered_json::parse(line);
      expect_valid_emf(doc);
      cold.push_back(doc["ColdStart"].get<int>());
      ++count;
    }
    EXPECT_EQ(count, 1) << out;
  }
  EXPECT_EQ(cold, (std::vector<int>{1, 0}));
}

}  // namespace
}  // namespace tq::handlers
