// The responder's dispatch over the real playbook list, without a network: events no playbook takes, a
// malformed event, and a job it cannot start (an account with no member role configured) are answered
// before any AWS call; the endpoint points where nothing listens, so a call would show as a connection error.
#include "handlers/responder.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace tq::handlers {
namespace {

std::string sample(const std::string& relative) {
  std::ifstream in(std::string(TQ_SOURCE_DIR) + "/events/" + relative);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::shared_ptr<responder> make(std::map<std::string, std::string, std::less<>> extra = {}) {
  std::map<std::string, std::string, std::less<>> env{{"AWS_REGION", "us-east-1"},
                                                      {"AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"},
                                                      {"AWS_SECRET_ACCESS_KEY", "secret"},
                                                      {"AWS_ENDPOINT_URL", "http://127.0.0.1:9"},
                                                      {"AWS_MAX_ATTEMPTS", "1"}};
  env.insert(extra.begin(), extra.end());
  auto made = responder::from_environment(fixed_environment(std::move(env)), {});
  EXPECT_TRUE(made.ok()) << (made.ok() ? "" : made.err().describe());
  return *made;
}

invocation_context context() {
  invocation_context c;
  c.request_id = "test-request";
  c.deadline = std::chrono::system_clock::now() + std::chrono::seconds(5);
  c.function_arn = "arn:aws:lambda:us-east-1:123456789012:function:tourniquet";
  return c;
}

nlohmann::json answer_of(const invocation_response& response) {
  EXPECT_TRUE(response.success) << response.error_type << " " << response.error_message;
  // Written as nlohmann::ordered_json writes it (the reports are put in as the log's text)
  if (response.success) {
    EXPECT_EQ(nlohmann::ordered_json::parse(response.payload).dump(), response.payload);
  }
  return nlohmann::json::parse(response.success ? response.payload : "{}");
}

TEST(responder, a_sample_finding_gets_one_ignored_report_and_no_call) {
  const auto r = make();
  const auto response =
      answer_of(r->handle(sample("guardduty/sample-backdoor-ec2-denial-of-service-tcp.json"), context()));
  ASSERT_EQ(response["reports"].size(), 1u);
  EXPECT_EQ(response["status"], "ignored");
  EXPECT_EQ(response["reports"][0]["playbook"], "router");
  EXPECT_NE(response["reports"][0]["reason"].get<std::string>().find("sample"), std::string::npos);
}

TEST(responder, an_event_no_playbook_knows_is_a_success_saying_so) {
  const auto r = make();
  const auto response = answer_of(r->handle(
      R"({"version":"0","id":"e","detail-type":"Object Created","source":"aws.s3","account":"123456789012",)"
      R"("time":"2026-12-01T00:00:00Z","region":"us-east-1","resources":[],"detail":{}})",
      context()));
  EXPECT_EQ(response["status"], "ignored");
  EXPECT_NE(response["reports"][0]["reason"].get<std::string>().find("aws.s3 / Object Created"),
            std::string::npos);
}

TEST(responder, a_malformed_event_is_refused_naming_the_field) {
  const auto r = make();
  std::string event = sample("guardduty/backdoor-ec2-cc-activity.json");
  event.replace(event.find("\"severity\": "), 12, "\"severity\": \"high\", \"x\": ");
  const auto response = r->handle(event, context());
  EXPECT_FALSE(response.success);
  EXPECT_EQ(response.error_type, invalid_event_error);
  EXPECT_NE(response.error_message.find("$.detail.severity"), std::string::npos) << response.error_message;
}

// A finding no playbook may take is answered from its summary, without decoding it whole: the same ignored
// report as route_event gives, whatever the fields routing does not read hold; a mistyped routing field
// still has the event refused naming it.
TEST(responder, a_finding_passed_over_early_says_why_as_routing_does) {
  const auto r = make();
  std::string event = sample("guardduty/archived-recon-ec2-portscan.json");
  auto response = answer_of(r->handle(event, context()));
  ASSERT_EQ(response["reports"].size(), 1u);
  EXPECT_EQ(response["reports"][0]["playbook"], "router");
  EXPECT_EQ(response["reports"][0]["reason"], "the finding is archived");
  event.replace(event.find("\"instanceId\": "), 14, "\"instanceId\": 7, \"x\": ");
  ASSERT_FALSE(decode_event(event).ok());
  response = answer_of(r->handle(event, context()));
  EXPECT_EQ(response["reports"][0]["reason"], "the finding is archived") << "the instance is never read";
  std::string low = sample("guardduty/backdoor-ec2-cc-activity.json");
  low.replace(low.find("\"severity\": "), 12, "\"severity\": 1, \"x\": ");
  response = answer_of(r->handle(low, context()));
  EXPECT_EQ(response["status"], "ignored");
  EXPECT_EQ(
      response["reports"][0]["reason"],
      "instance-containment: severity 1.0 is under TOURNIQUET_MIN_SEVERITY; network-block: severity 1.0 "
      "is under TOURNIQUET_BLOCK_MIN_SEVERITY");
  std::string mistyped = sample("guardduty/archived-recon-ec2-portscan.json");
  mistyped.replace(mistyped.find("\"severity\": "), 12, "\"severity\": \"2\", \"x\": ");
  const auto refused = r->handle(mistyped, context());
  EXPECT_FALSE(refused.success);
  EXPECT_NE(refused.error_message.find("$.detail.severity"), std::string::npos) << refused.error_message;
}

// Both jobs of a C&C finding in a member account are tried, in list order, and each fails to start for the
// same reason, which a retry cannot help: the invocation fails with ContainmentIncomplete, naming both.
TEST(responder, jobs_in_an_account_without_a_member_role_fail_to_start_each_saying_why) {
  const auto r = make();
  std::string event = sample("guardduty/backdoor-ec2-cc-activity.json");
  for (size_t at = event.find("123456789012"); at != std::string::npos; at = event.find("123456789012", at)) {
    event.replace(at, 12, "210987654321");
  }
  const auto response = r->handle(event, context());
  EXPECT_FALSE(response.success);
  EXPECT_EQ(response.error_type, containment_incomplete_error);
  const std::string& why = response.error_message;
  const auto first = why.find("instance-containment");
  const auto second = why.find("network-block");
  ASSERT_NE(first, std::string::npos) << why;
  ASSERT_NE(second, std::string::npos) << why;
  EXPECT_LT(first, second) << "isolation is tried first";
  EXPECT_NE(why.find("TOURNIQUET_MEMBER_ROLE_NAME"), std::string::npos) << why;
}

TEST(responder, release_goes_to_the_playbook_that_contains_such_targets) {
  const auto r = make();
  const auto report = r->release("sg-0123", aws::deadline_in(std::chrono::seconds(2)));
  EXPECT_EQ(report.status, report_status::failed);
  EXPECT_NE(report.reason.find("no playbook releases"), std::string::npos) << report.reason;
}

TEST(responder, a_bad_setting_of_a_playbook_stops_it_from_starting) {
  auto made = responder::from_environment(fixed_environment({{"AWS_REGION", "us-east-1"},
                                                             {"AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"},
                                                             {"AWS_SECRET_ACCESS_KEY", "secret"},
                                                             {"TOURNIQUET_BLOCK_RULE_RANGE", "90-71"}}),
                                          {});
  ASSERT_FALSE(made.ok());
  EXPECT_EQ(made.err().where, "TOURNIQUET_BLOCK_RULE_RANGE");
}

}  // namespace
}  // namespace tq::handlers
