// The client's retries against a local server that answers as a troubled AWS would (fault_server.py,
// started by test_aws_client.py, address in FAULT_URL).
#include <gtest/gtest.h>

#include <cstdlib>
#include <nlohmann/json.hpp>

#include "aws/client.h"

namespace tq::aws {
namespace {

const std::string ec2_throttled =
    "<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message>"
    "</Error></Errors><RequestID>t-1</RequestID></Response>";
const std::string iam_throttled =
    "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error>"
    "<RequestId>t-2</RequestId></ErrorResponse>";
const std::string internal_error =
    "<Response><Errors><Error><Code>InternalError</Code><Message>An internal error has occurred</Message>"
    "</Error></Errors><RequestID>t-3</RequestID></Response>";

class retries : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* url = std::getenv("FAULT_URL");
    ASSERT_NE(url, nullptr) << "run through test_aws_client.py, which starts the fault server";
    m_url = url;
    m_transport = make_curl_transport({});
  }

  client make_client(int attempts, std::chrono::milliseconds base,
                     std::chrono::milliseconds attempt_timeout = {}) {
    auto settings = client_settings_from_environment(
        fixed_environment({{"AWS_REGION", "us-east-1"}, {"AWS_ENDPOINT_URL", m_url}}));
    EXPECT_TRUE(settings.ok());
    settings->retry.max_attempts = attempts;
    settings->retry.base_delay = base;
    settings->retry.deadline_margin = std::chrono::milliseconds(50);
    if (attempt_timeout.count() > 0) settings->retry.attempt_timeout = attempt_timeout;
    settings->unit_random = [] { return 1.0; };  // the longest delay each time, so growth is visible
    return client(m_transport, std::make_shared<client_settings>(std::move(*settings)),
                  credentials{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", ""});
  }

  void script(nlohmann::json behaviours, nlohmann::json fallback = nullptr) {
    nlohmann::json spec = {{"script", std::move(behaviours)}};
    if (!fallback.is_null()) spec["default"] = std::move(fallback);
    auto answer = m_transport->send({"POST", m_url + "/_script", {}, spec.dump()}, std::chrono::seconds(5));
    ASSERT_TRUE(answer.ok());
  }

  std::vector<double> attempt_times() {
    auto answer = m_transport->send({"GET", m_url + "/_log", {}, ""}, std::chrono::seconds(5));
    std::vector<double> times;
    for (const auto& entry : nlohmann::json::parse(answer->body))
      times.push_back(entry["time"].get<double>());
    return times;
  }

  static query_call describe() { return {service::ec2, "DescribeRegions", {}}; }

  std::string m_url;
  std::shared_ptr<http_transport> m_transport;
};

// The transport's handles serve one request after another with the options they share set once: what
// differs (the method, the body, a HEAD's "no body") must not pass from one request to the next.
TEST_F(retries, a_transport_handle_lends_nothing_of_one_request_to_the_next) {
  const std::vector<std::pair<std::string, std::string>> steps = {
      {"POST", "Action=One"}, {"HEAD", ""},    {"GET", ""},  {"PUT", "<object/>"}, {"DELETE", ""},
      {"POST", "Action=Two"}, {"PATCH", "{}"}, {"HEAD", ""}, {"GET", ""},          {"DELETE", ""}};
  for (const auto& [method, body] : steps) {
    auto answer = m_transport->send({method, m_url + "/_echo", {}, body}, std::chrono::seconds(5));
    ASSERT_TRUE(answer.ok()) << method << ": " << answer.err().describe();
    ASSERT_EQ(answer->status, 200) << method;
    EXPECT_EQ(answer->header("X-Echo-Method"), method);
    if (method == "HEAD") {
      EXPECT_EQ(answer->body, "");
      continue;
    }
    const auto seen = nlohmann::json::parse(answer->body, nullptr, false);
    ASSERT_FALSE(seen.is_discarded()) << method << " answered \"" << answer->body << "\"";
    EXPECT_EQ(seen["method"], method);
    EXPECT_EQ(seen["body"], body) << method;
  }
}

TEST_F(retries, ec2_throttling_is_retried_until_it_succeeds) {
  script({{{"status", 503}, {"body", ec2_throttled}}, {{"status", 503}, {"body", ec2_throttled}}});
  client c = make_client(3, std::chrono::milliseconds(10));
  auto answer = c.call(describe(), deadline_in(std::chrono::seconds(10)));
  ASSERT_TRUE(answer.ok()) << answer.err().describe();
  EXPECT_EQ(attempt_times().size(), 3u);
  EXPECT_EQ(c.statistics().retries, 2);
  EXPECT_EQ(c.statistics().throttles, 2);
}

TEST_F(retries, iam_throttling_answered_with_400_is_retried) {
  script({{{"status", 400}, {"body", iam_throttled}}});
  client c = make_client(3, std::chrono::milliseconds(10));
  auto answer = c.call({service::iam, "GetUser", {}}, deadline_in(std::chrono::seconds(10)));
  ASSERT_TRUE(answer.ok()) << answer.err().describe();
  EXPECT_EQ(attempt_times().size(), 2u);
}

TEST_F(retries, server_errors_give_up_after_the_attempts_allowed) {
  script(nlohmann::json::array(), {{"status", 500}, {"body", internal_error}});
  client c = make_client(3, std::chrono::milliseconds(10));
  auto answer = c.call(describe(), deadline_in(std::chrono::seconds(10)));
  ASSERT_FALSE(answer.ok());
  EXPECT_EQ(answer.err().code, "InternalError");
  EXPECT_EQ(answer.err().http_status, 500);
  EXPECT_TRUE(answer.err().retryable);
  EXPECT_NE(answer.err().message.find("gave up after 3 attempts"), std::string::npos) << answer.err().message;
  EXPECT_EQ(attempt_times().size(), 3u);
}

TEST_F(retries, a_dropped_connection_is_retried) {
  script({{{"drop", true}}});
  client c = make_client(3, std::chrono::milliseconds(10));
  auto answer = c.call(describe(), deadline_in(std::chrono::seconds(10)));
  ASSERT_TRUE(answer.ok()) << answer.err().describe();
  EXPECT_EQ(attempt_times().size(), 2u);
}

TEST_F(retries, a_slow_answer_times_out_and_is_retried) {
  script({{{"delay_ms", 1500}}});
  client c = make_client(3, std::chrono::milliseconds(10), std::chrono::milliseconds(300));
  auto answer = c.call(describe(), deadline_in(std::chrono::seconds(10)));
  ASSERT_TRUE(answer.ok()) << answer.err().describe();
  EXPECT_EQ(attempt_times().size(), 2u);
}

TEST_F(retries, backoff_grows_between_attempts) {
  script(nlohmann::json::array(), {{"status", 503}, {"body", ec2_throttled}});
  client c = make_client(4, std::chrono::milliseconds(60));
  auto answer = c.call(describe(), deadline_in(std::chrono::seconds(10)));
  ASSERT_FALSE(answer.ok());
  const auto times = attempt_times();
  ASSERT_EQ(times.size(), 4u);
  // With the jitter pinned at its top, the client waits 60, 120 and 240 ms before the retries: each gap is
  // at least that (a sleep never ends early), so a client that did not double its wait fails here. Only
  // lower bounds: a loaded machine stretches any gap (a full scripts/test run saw 124 ms for the first), so
  // comparing the gaps with each other would time the machine, not the client. backoff_cap's own test pins
  // the values.
  const double gaps[] = {times[1] - times[0], times[2] - times[1], times[3] - times[2]};
  EXPECT_GE(gaps[0], 0.055);
  EXPECT_GE(gaps[1], 0.115);
  EXPECT_GE(gaps[2], 0.235);
}

TEST_F(retries, gives_up_before_the_deadline_and_says_so) {
  script(nlohmann::json::array(), {{"status", 503}, {"body", ec2_throttled}});
  client c = make_client(10, std::chrono::milliseconds(200));
  const auto started = std::chrono::steady_clock::now();
  const auto until = started + std::chrono::milliseconds(700);
  auto answer = c.call(describe(), until);
  const auto finished = std::chrono::steady_clock::now();
  ASSERT_FALSE(answer.ok());
  EXPECT_LT(finished, until) << "the client must answer before the deadline, not after";
  EXPECT_NE(answer.err().message.find("deadline"), std::string::npos) << answer.err().message;
  EXPECT_EQ(answer.err().code, "RequestLimitExceeded");
  EXPECT_GE(attempt_times().size(), 2u);
}

TEST_F(retries, access_errors_are_not_retried) {
  script({{{"status", 403},
           {"body",
            "<Response><Errors><Error><Code>UnauthorizedOperation</Code><Message>no</Message></Error>"
            "</Errors><RequestID>x</RequestID></Response>"}}});
  client c = make_client(3, std::chrono::milliseconds(10));
  auto answer = c.call(describe(), deadline_in(std::chrono::seconds(10)));
  ASSERT_FALSE(answer.ok());
  EXPECT_FALSE(answer.err().retryable);
  EXPECT_EQ(attempt_times().size(), 1u);
}

TEST_F(retries, a_batch_runs_concurrently_and_retries_each_call_alone) {
  script({{{"status", 503}, {"body", ec2_throttled}, {"delay_ms", 200}}}, {{"delay_ms", 200}});
  client c = make_client(3, std::chrono::milliseconds(10));
  std::vector<query_call> calls(6, describe());
  auto answers = c.call_all(calls, deadline_in(std::chrono::seconds(10)));
  for (const auto& a : answers) EXPECT_TRUE(a.ok());
  EXPECT_EQ(attempt_times().size(), 7u);  // six, and one retry
  auto stats = m_transport->send({"GET", m_url + "/_stats", {}, ""}, std::chrono::seconds(5));
  EXPECT_GE(nlohmann::json::parse(stats->body)["max_in_flight"].get<int>(), 6)
      << "the six calls went out together";
}

TEST_F(retries, a_lambda_function_being_updated_is_waited_for) {
  script(
      {{{"status", 409},
        {"body", R"({"Type":"User","__type":"ResourceConflictException","message":"update in progress"})"}},
       {{"status", 200}, {"body", R"({"Tags":{}})"}}});
  client c = make_client(3, std::chrono::milliseconds(10));
  const rest_json_call tag{
      service::lambda,
      "TagResource",
      "POST",
      "/2017-03-31/tags/" + uri_label("arn:aws:lambda:us-east-1:123456789012:function:fn"),
      {},
      {{"Tags", {{"tourniquet:incident", "i-1"}}}}};
  auto answers = c.send_all(std::vector<api_call>{tag}, deadline_in(std::chrono::seconds(10)));
  ASSERT_TRUE(answers[0].ok()) << answers[0].err().describe();
  EXPECT_TRUE(answers[0]->json().contains("Tags"));
  EXPECT_EQ(attempt_times().size(), 2u);
  EXPECT_EQ(c.statistics().retries, 1);
}

TEST_F(retries, a_rest_call_that_must_not_happen_twice_is_not_resent_after_a_server_error) {
  script({{{"status", 500}, {"body", R"({"__type":"InternalServerErrorException","message":"oops"})"}}});
  client c = make_client(3, std::chrono::milliseconds(10));
  rest_json_call create{service::securityhub, "CreateActionTarget", "POST", "/actionTargets"};
  create.body = {{"Name", "Contain"}, {"Description", "Contain the resource"}, {"Id", "TourniquetContain"}};
  create.idempotent = false;
  auto answers = c.send_all(std::vector<api_call>{create}, deadline_in(std::chrono::seconds(10)));
  ASSERT_FALSE(answers[0].ok());
  EXPECT_EQ(answers[0].err().code, "InternalServerErrorException");
  EXPECT_NE(answers[0].err().message.find("must not be done twice"), std::string::npos);
  EXPECT_EQ(attempt_times().size(), 1u);
}

}  // namespace
}  // namespace tq::aws
