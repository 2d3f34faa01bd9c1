#include "runtime/runtime_api.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>

namespace tq::runtime {
namespace {

using std::chrono::milliseconds;
using std::chrono::system_clock;

TEST(apply_invocation_header, fills_every_context_field) {
  invocation_context context;
  EXPECT_TRUE(apply_invocation_header(
      "Lambda-Runtime-Aws-Request-Id: 8476a536-e9f4-11e8-9739-2dfe598c3fcd\r\n", context));
  EXPECT_TRUE(apply_invocation_header("Lambda-Runtime-Deadline-Ms: 1542409706888\r\n", context));
  EXPECT_TRUE(
      apply_invocation_header("Lambda-Runtime-Invoked-Function-Arn: "
                              "arn:aws:lambda:us-east-2:123456789012:function:custom-runtime\r\n",
                              context));
  EXPECT_TRUE(apply_invocation_header(
      "Lambda-Runtime-Trace-Id: "
      "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1\r\n",
      context));
  EXPECT_TRUE(apply_invocation_header(
      "Lambda-Runtime-Client-Context: {\"client\":{\"app_title\":\"a:b\"}}\r\n", context));
  EXPECT_TRUE(apply_invocation_header(
      "Lambda-Runtime-Cognito-Identity: {\"cognitoIdentityId\":\"us-east-1:x\"}\r\n", context));

  EXPECT_EQ(context.request_id, "8476a536-e9f4-11e8-9739-2dfe598c3fcd");
  EXPECT_EQ(context.deadline, system_clock::time_point(milliseconds(1542409706888)));
  EXPECT_EQ(context.function_arn, "arn:aws:lambda:us-east-2:123456789012:function:custom-runtime");
  EXPECT_EQ(context.trace_id, "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1");
  EXPECT_EQ(context.client_context, "{\"client\":{\"app_title\":\"a:b\"}}");  // colons in the value are kept
  EXPECT_EQ(context.cognito_identity, "{\"cognitoIdentityId\":\"us-east-1:x\"}");
}

TEST(apply_invocation_header, names_are_case_insensitive_and_values_trimmed) {
  invocation_context context;
  EXPECT_TRUE(apply_invocation_header("lambda-runtime-aws-request-id:\t  abc \r\n", context));
  EXPECT_EQ(context.request_id, "abc");
  EXPECT_TRUE(apply_invocation_header("LAMBDA-RUNTIME-DEADLINE-MS:5000", context));
  EXPECT_EQ(context.deadline, system_clock::time_point(milliseconds(5000)));
}

TEST(apply_invocation_header, ignores_other_lines) {
  invocation_context context;
  for (const char* line :
       {"HTTP/1.1 200 OK\r\n", "Content-Type: application/json\r\n", "\r\n", "",
        "Lambda-Runtime-Aws-Request-Id-Extra: x\r\n", "Lambda-Runtime-Aws-Request-Id\r\n"}) {
    EXPECT_FALSE(apply_invocation_header(line, context)) << line;
  }
  EXPECT_TRUE(context.request_id.empty());
}

TEST(apply_invocation_header, a_bad_deadline_leaves_the_deadline_alone) {
  invocation_context context;
  context.deadline = system_clock::time_point(milliseconds(42));
  for (const char* line : {"Lambda-Runtime-Deadline-Ms: soon\r\n", "Lambda-Runtime-Deadline-Ms: 12x\r\n",
                           "Lambda-Runtime-Deadline-Ms: -5\r\n", "Lambda-Runtime-Deadline-Ms: \r\n",
                           "Lambda-Runtime-Deadline-Ms: 99999999999999999999999\r\n"}) {
    EXPECT_FALSE(apply_invocation_header(line, context)) << line;
    EXPECT_EQ(context.deadline, system_clock::time_point(milliseconds(42))) << line;
  }
}

TEST(valid_error_type, follows_the_runtime_api_pattern) {
  for (const char* good : {"Function.InvalidEvent", "Runtime.InitError", "Function.Ab"}) {
    EXPECT_TRUE(valid_error_type(good)) << good;
  }
  for (const char* bad : {"", "InvalidEvent", "Function.", "Function.A", "Function.invalidEvent",
                          "Function.Invalid_Event", "Function.Error404", "Sandbox.Timedout",
                          "function.Timeout", "Function.Invalid Event", "Function.InvalidEvent."}) {
    EXPECT_FALSE(valid_error_type(bad)) << bad;
  }
}

TEST(sanitize_error_type, keeps_valid_types_and_repairs_the_rest) {
  const std::pair<const char*, const char*> cases[] = {
      {"Function.InvalidEvent", "Function.InvalidEvent"},
      {"Runtime.InitError", "Runtime.InitError"},
      {"invalid_event", "Function.InvalidEvent"},
      {"Runtime.bad type!", "Runtime.BadType"},
      {"function.timeout", "Function.Timeout"},
      {"Sandbox.Timedout", "Function.SandboxTimedout"},
      {"Function.Error404", "Function.Error"},
      {"std::runtime_error", "Function.StdRuntimeError"},
      {"", "Function.Unknown"},
      {"X", "Function.Unknown"},
      {"Function.", "Function.Unknown"},
      {"Runtime.7", "Runtime.Unknown"},
  };
  for (const auto& [input, expected] : cases) EXPECT_EQ(sanitize_error_type(input), expected) << input;
}

TEST(sanitize_error_type, always_yields_a_valid_type) {
  std::mt19937 random(7);
  std::uniform_int_distribution<int> byte(0, 255), length(0, 24);
  for (int i = 0; i < 2000; ++i) {
    std::string input(static_cast<std::size_t>(length(random)), '\0');
    for (char& c : input) c = static_cast<char>(byte(random));
    if (i % 3 == 0) input = (i % 2 ? "Runtime." : "Function.") + input;
    EXPECT_TRUE(valid_error_type(sanitize_error_type(input))) << input;
  }
}

TEST(error_body, has_the_three_fields_in_order) {
  EXPECT_EQ(
      error_body("Function.InvalidEvent", "$.detail: expected an object"),
      R"({"errorMessage":"$.detail: expected an object","errorType":"Function.InvalidEvent","stackTrace":[]})");
}

TEST(error_body, escapes_and_repairs_the_message) {
  const std::string body =
      error_body("Function.HandlerException", "quote \" newline \n bad utf-8 \xff\xfe end");
  const auto parsed = nlohmann::json::parse(body);  // throws if the body is not valid JSON
  const std::string message = parsed["errorMessage"];
  EXPECT_NE(message.find("quote \" newline \n bad utf-8 "), std::string::npos);
  EXPECT_NE(message.find(" end"), std::string::npos);
  EXPECT_EQ(parsed["stackTrace"], nlohmann::json::array());
}

TEST(error_body, cuts_very_long_messages) {
  const std::string body = error_body("Function.HandlerException", std::string(1 << 20, 'm'));
  const auto parsed = nlohmann::json::parse(body);
  EXPECT_EQ(parsed["errorMessage"].get<std::string>().size(), 64u * 1024u);
}

}  // namespace
}  // namespace tq::runtime
