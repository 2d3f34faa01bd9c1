// One call type for every protocol: what each call is named, where it goes, how it is sent and how its
// answer is read, decided by the alternative the call holds.
#include <gtest/gtest.h>

#include "aws/api_call.h"
#include "aws/client.h"

namespace tq::aws {
namespace {

const endpoint local{"http://127.0.0.1:5000", "us-east-1", "any", true};

std::vector<api_call> one_of_each() {
  query_call describe{service::ec2, "DescribeInstances", {}};
  json_call status{service::cloudtrail, "GetTrailStatus", {{"Name", "audit"}}};
  status.idempotent = false;
  rest_json_call concurrency{service::lambda, "GetFunctionConcurrency", "GET",
                             "/2019-09-30/functions/" + uri_label("fn") + "/concurrency"};
  return {describe, status, concurrency};
}

std::string_view header_value(const http_request& r, std::string_view name) {
  for (const auto& h : r.headers) {
    if (h.name == name) return h.value;
  }
  return {};
}

TEST(api_calls, names_services_and_idempotence_follow_the_alternative) {
  const auto calls = one_of_each();
  EXPECT_EQ(call_name(calls[0]), "ec2:DescribeInstances");
  EXPECT_EQ(call_name(calls[1]), "cloudtrail:GetTrailStatus");
  EXPECT_EQ(call_name(calls[2]), "lambda:GetFunctionConcurrency");
  EXPECT_EQ(service_of(calls[0]), service::ec2);
  EXPECT_EQ(service_of(calls[1]), service::cloudtrail);
  EXPECT_EQ(service_of(calls[2]), service::lambda);
  EXPECT_TRUE(is_idempotent(calls[0]));
  EXPECT_FALSE(is_idempotent(calls[1]));
  EXPECT_TRUE(is_idempotent(calls[2]));
}

TEST(api_calls, each_is_sent_in_its_own_protocol) {
  const auto calls = one_of_each();
  const http_request query = unsigned_request(calls[0], local);
  EXPECT_EQ(query.method, "POST");
  EXPECT_EQ(query.url, "http://127.0.0.1:5000/");
  EXPECT_EQ(query.body, "Action=DescribeInstances&Version=2016-11-15");
  const http_request json = unsigned_request(calls[1], local);
  EXPECT_EQ(header_value(json, "X-Amz-Target"),
            "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.GetTrailStatus");
  EXPECT_EQ(json.body, R"({"Name":"audit"})");
  const http_request rest = unsigned_request(calls[2], local);
  EXPECT_EQ(rest.method, "GET");
  EXPECT_EQ(rest.url, "http://127.0.0.1:5000/2019-09-30/functions/fn/concurrency");
  EXPECT_EQ(rest.body, "");
}

TEST(api_calls, answers_are_read_in_the_calls_protocol) {
  const auto calls = one_of_each();
  auto xml = read_answer(calls[0],
                         {200,
                          {},
                          "<DescribeInstancesResponse><requestId>r1</requestId>"
                          "</DescribeInstancesResponse>"},
                         "ec2:DescribeInstances");
  ASSERT_TRUE(xml.ok()) << xml.err().describe();
  ASSERT_TRUE(xml->is_xml());
  EXPECT_EQ(xml->xml().request_id, "r1");
  auto json = read_answer(calls[1], {200, {}, R"({"IsLogging":true})"}, "cloudtrail:GetTrailStatus");
  ASSERT_TRUE(json.ok());
  ASSERT_FALSE(json->is_xml());
  EXPECT_TRUE(json->json()["IsLogging"].get<bool>());
  auto rest = read_answer(calls[2], {200, {}, R"({"ReservedConcurrentExecutions":0})"}, "x");
  ASSERT_TRUE(rest.ok());
  EXPECT_EQ(rest->json()["ReservedConcurrentExecutions"], 0);
  // The same JSON error body means different codes: JSON 1.1 reads the body first, REST-JSON the header.
  const http_response conflict{
      409, {{"x-amzn-ErrorType", "ResourceConflictException"}}, R"({"__type":"TrailNotFoundException"})"};
  EXPECT_EQ(read_answer(calls[1], conflict, "x").err().code, "TrailNotFoundException");
  EXPECT_EQ(read_answer(calls[2], conflict, "x").err().code, "ResourceConflictException");
  EXPECT_TRUE(read_answer(calls[2], conflict, "x").err().retryable);
}

TEST(api_calls, a_call_to_a_service_without_an_endpoint_fails_alone_and_unsent) {
  auto settings = std::make_shared<client_settings>();
  settings->region = "us-east-1";
  settings->unit_random = [] { return 0.0; };
  const client c(make_curl_transport({}), settings, credentials{"AKIDEXAMPLE", "secret", ""});
  auto answers = c.send_all(one_of_each(), deadline_in(std::chrono::seconds(5)));
  ASSERT_EQ(answers.size(), 3u);
  for (const auto& answer : answers) {
    ASSERT_FALSE(answer.ok());
    EXPECT_EQ(answer.err().code, "NoEndpoint");
  }
  EXPECT_EQ(answers[2].err().where, "lambda:GetFunctionConcurrency");
  EXPECT_EQ(c.statistics().attempts, 0);
}

}  // namespace
}  // namespace tq::aws
