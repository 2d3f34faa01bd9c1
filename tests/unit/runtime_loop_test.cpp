#include "runtime/runtime_loop.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

#include "runtime/local_invoke.h"
#include "runtime/log.h"

namespace tq::runtime {
namespace {

const char* trace_env() {
  return std::getenv("_X_AMZN_TRACE_ID");
}

// The JSON log line is written by hand for speed: it must be what nlohmann::ordered_json wrote.
TEST(log, json_lines_are_written_as_nlohmann_writes_them) {
  const log::settings before = log::current();
  log::configure({true, log::level::info});
  log::set_context("requestId", "r-1");
  log::set_context("playbook", "p");
  const std::string tricky = std::string("q\"b\\s/\b\f\n\r\t\x01\x1f\x7f") + '\0' + "end";
  const std::vector<std::string> values = {"",
                                           "plain",
                                           tricky,
                                           "caf\xc3\xa9 \xe2\x82\xac",
                                           "bad \xff\xfe byte",
                                           std::string(5000, 'x') + "\"" + std::string(3000, '\\')};
  for (const auto& value : values) {
    testing::internal::CaptureStderr();
    log::info("a \"message\"\n",
              {{"playbook", "replaced"}, {"value", value}, {"value", "again"}, {"k", value}});
    const std::string line = testing::internal::GetCapturedStderr();
    ASSERT_FALSE(line.empty());
    const auto parsed = nlohmann::ordered_json::parse(line);
    nlohmann::ordered_json expected;
    expected["timestamp"] = parsed["timestamp"];
    expected["level"] = "INFO";
    expected["message"] = "a \"message\"\n";
    expected["requestId"] = "r-1";
    expected["playbook"] = "replaced";
    expected["value"] = "again";
    expected["k"] = value;
    EXPECT_EQ(line, expected.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
  }
  log::clear_context();
  log::configure(before);
}

TEST(call_handler, passes_answers_through) {
  const handler_function handler = [](std::string_view event, const invocation_context& context) {
    return invocation_response::ok(std::string(event) + context.request_id);
  };
  invocation_context context;
  context.request_id = "-r1";
  const auto response = call_handler(handler, "{}", context);
  EXPECT_TRUE(response.success);
  EXPECT_EQ(response.payload, "{}-r1");
}

TEST(call_handler, turns_exceptions_into_handler_exception_failures) {
  const invocation_context context;
  const auto thrown =
      call_handler([](std::string_view,
                      const invocation_context&) -> invocation_response { throw std::runtime_error("boom"); },
                   "{}", context);
  EXPECT_FALSE(thrown.success);
  EXPECT_EQ(thrown.error_type, "Function.HandlerException");
  EXPECT_EQ(thrown.error_message, "boom");

  const auto odd = call_handler(
      [](std::string_view, const invocation_context&) -> invocation_response { throw 42; }, "{}", context);
  EXPECT_EQ(odd.error_type, "Function.HandlerException");
  EXPECT_EQ(odd.error_message, "unknown exception");

  const auto empty = call_handler(handler_function{}, "{}", context);  // std::bad_function_call
  EXPECT_EQ(empty.error_type, "Function.HandlerException");
}

TEST(export_trace_id, sets_replaces_and_removes_the_variable) {
  export_trace_id("Root=1-aaaaaaaa-000000000000000000000001;Sampled=1");
  ASSERT_NE(trace_env(), nullptr);
  EXPECT_STREQ(trace_env(), "Root=1-aaaaaaaa-000000000000000000000001;Sampled=1");
  export_trace_id("Root=1-bbbbbbbb-000000000000000000000002;Parent=0123456789abcdef;Sampled=0");
  EXPECT_STREQ(trace_env(), "Root=1-bbbbbbbb-000000000000000000000002;Parent=0123456789abcdef;Sampled=0");
  export_trace_id("Root=short");
  EXPECT_STREQ(trace_env(), "Root=short");
  export_trace_id("");
  EXPECT_EQ(trace_env(), nullptr);
  export_trace_id("Root=again");
  EXPECT_STREQ(trace_env(), "Root=again");
}

TEST(export_trace_id, survives_other_writers_and_huge_values) {
  setenv("_X_AMZN_TRACE_ID", "set-by-someone-else", 1);
  export_trace_id("Root=mine");
  EXPECT_STREQ(trace_env(), "Root=mine");
  const std::string huge(4000, 'h');
  export_trace_id(huge);
  EXPECT_EQ(trace_env(), huge);
  export_trace_id("Root=small-again");
  EXPECT_STREQ(trace_env(), "Root=small-again");
  unsetenv("_X_AMZN_TRACE_ID");
}

TEST(loop_options_from_environment, reads_endpoint_and_retry_budget) {
  unsetenv("AWS_LAMBDA_RUNTIME_API");
  unsetenv("TOURNIQUET_RUNTIME_API_RETRY_MS");
  auto missing = loop_options_from_environment();
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.err().where, "AWS_LAMBDA_RUNTIME_API");

  setenv("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001", 1);
  auto defaults = loop_options_from_environment();
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->endpoint, "127.0.0.1:9001");
  EXPECT_EQ(defaults->retry_budget, std::chrono::milliseconds(10000));

  setenv("TOURNIQUET_RUNTIME_API_RETRY_MS", "250", 1);
  auto set = loop_options_from_environment();
  ASSERT_TRUE(set.ok());
  EXPECT_EQ(set->retry_budget, std::chrono::milliseconds(250));

  for (const char* bad : {"soon", "-1", "10s", "1.5"}) {
    setenv("TOURNIQUET_RUNTIME_API_RETRY_MS", bad, 1);
    auto refused = loop_options_from_environment();
    ASSERT_FALSE(refused.ok()) << bad;
    EXPECT_EQ(refused.err().where, "TOURNIQUET_RUNTIME_API_RETRY_MS");
  }
  unsetenv("AWS_LAMBDA_RUNTIME_API");
  unsetenv("TOURNIQUET_RUNTIME_API_RETRY_MS");
}

TEST(local_context, has_a_local_request_id_and_a_configurable_deadline) {
  unsetenv("TOURNIQUET_LOCAL_TIMEOUT_MS");
  auto context = local_context();
  ASSERT_TRUE(context.ok());
  EXPECT_EQ(context->request_id.size(), 22u);
  EXPECT_EQ(context->request_id.rfind("local-", 0), 0u);
  EXPECT_EQ(context->request_id.find_first_not_of("0123456789abcdef", 6), std::string::npos);
  EXPECT_GT(context->remaining_time().count(), 59000);
  EXPECT_LE(context->remaining_time().count(), 60000);
  EXPECT_NE(local_context()->request_id, context->request_id);

  setenv("TOURNIQUET_LOCAL_TIMEOUT_MS", "1500", 1);
  EXPECT_LE(local_context()->remaining_time().count(), 1500);
  setenv("TOURNIQUET_LOCAL_TIMEOUT_MS", "0", 1);
  auto refused = local_context();
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.err().where, "TOURNIQUET_LOCAL_TIMEOUT_MS");
  unsetenv("TOURNIQUET_LOCAL_TIMEOUT_MS");
}

TEST(read_local_event, names_the_file_it_cannot_read) {
  auto missing = read_local_event("/nonexistent/tq-event.json");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.err().where, "/nonexistent/tq-event.json");
  EXPECT_EQ(missing.err().message, "No such file or directory");
  auto directory = read_local_event(TQ_TESTS_DIR);
  ASSERT_FALSE(directory.ok());
  EXPECT_EQ(directory.err().message, "Is a directory");
  auto readable = read_local_event(TQ_TESTS_DIR "/unit/runtime_loop_test.cpp");
  ASSERT_TRUE(readable.ok());
  EXPECT_NE(readable->body.find("read_local_event"), std::string::npos);
}

}  // namespace
}  // namespace tq::runtime
