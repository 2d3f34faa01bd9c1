// The REST-JSON protocol's pure parts: path labels, the request as it goes out, and how answers and errors
// are read (where the code comes from, and which errors may be retried).
#include <gtest/gtest.h>

#include "aws/rest_json.h"
#include "aws/xml.h"

namespace tq::aws {
namespace {

const endpoint guardduty{"https://guardduty.us-east-1.amazonaws.com", "us-east-1", "guardduty"};
const endpoint lambda_local{"http://127.0.0.1:5000", "us-east-1", "lambda", true};

std::string_view header_value(const http_request& r, std::string_view name) {
  for (const auto& h : r.headers) {
    if (h.name == name) return h.value;
  }
  return {};
}

TEST(uri_labels, encode_all_but_unreserved_and_greedy_labels_keep_slashes) {
  EXPECT_EQ(uri_label("AZaz09-_.~"), "AZaz09-_.~");
  EXPECT_EQ(uri_label("arn:aws:lambda:us-east-1:123456789012:function:my-fn"),
            "arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Amy-fn");
  EXPECT_EQ(uri_label("a b/c+d%e"), "a%20b%2Fc%2Bd%25e");
  EXPECT_EQ(uri_label("\xc3\xa9"), "%C3%A9");
  EXPECT_EQ(uri_greedy_label("logs/2024 03/a+b"), "logs/2024%2003/a%2Bb");
}

TEST(rest_json_requests, post_with_a_body_is_json_to_the_endpoint_plus_path) {
  rest_json_call get_findings{service::guardduty, "GetFindings", "POST",
                              "/detector/" + uri_label("12abc34d567e8fa901bc2d34e56789f0") + "/findings/get"};
  get_findings.body = {{"findingIds", {"f1", "f2"}}};
  const http_request r = rest_json_request(get_findings, guardduty);
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(
      r.url,
      "https://guardduty.us-east-1.amazonaws.com/detector/12abc34d567e8fa901bc2d34e56789f0/findings/get");
  EXPECT_EQ(header_value(r, "Host"), "guardduty.us-east-1.amazonaws.com");
  EXPECT_EQ(header_value(r, "Content-Type"), "application/json");
  EXPECT_EQ(r.body, R"({"findingIds":["f1","f2"]})");
  EXPECT_EQ(call_name(get_findings), "guardduty:GetFindings");
}

TEST(rest_json_requests, get_without_a_body_has_no_content_type_and_an_encoded_query) {
  rest_json_call list{service::lambda, "ListFunctions", "GET", "/2015-03-31/functions"};
  list.query = {{"MasterRegion", "ALL"}, {"Marker", "a b/c+d&e=f"}};
  const http_request r = rest_json_request(list, lambda_local);
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.url,
            "http://127.0.0.1:5000/2015-03-31/functions?MasterRegion=ALL&Marker=a%20b%2Fc%2Bd%26e%3Df");
  EXPECT_EQ(header_value(r, "Host"), "127.0.0.1:5000");
  EXPECT_EQ(header_value(r, "Content-Type"), "");
  EXPECT_EQ(r.body, "");
}

TEST(rest_json_requests, an_empty_object_body_is_still_sent) {
  rest_json_call put{service::lambda, "PutFunctionConcurrency", "PUT",
                     "/2017-10-31/functions/" + uri_label("fn") + "/concurrency"};
  put.body = nlohmann::json::object();
  const http_request r = rest_json_request(put, lambda_local);
  EXPECT_EQ(r.body, "{}");
  EXPECT_EQ(header_value(r, "Content-Type"), "application/json");
}

TEST(rest_json_answers, success_is_the_json_body_and_an_empty_body_is_an_empty_object) {
  auto found = parse_rest_json_response({200, {}, R"({"findings":[{"id":"f1"}]})"}, service::guardduty, "x");
  ASSERT_TRUE(found.ok()) << found.err().describe();
  EXPECT_EQ((*found)["findings"][0]["id"], "f1");
  auto empty = parse_rest_json_response({204, {}, ""}, service::lambda, "x");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->is_object() && empty->empty());
  auto garbage = parse_rest_json_response({200, {}, "<html>"}, service::lambda, "x");
  ASSERT_FALSE(garbage.ok());
  EXPECT_EQ(garbage.err().code, "MalformedResponse");
}

TEST(rest_json_errors, the_header_names_the_code_before_the_body) {
  const http_response answer{
      404,
      {{"x-amzn-ErrorType",
        "ResourceNotFoundException:http://internal.amazon.com/coral/com.amazonaws.lambda/"},
       {"x-amzn-RequestId", "req-1"}},
      R"({"Type":"User","Message":"Function not found: fn","code":"SomethingElse"})"};
  auto e = parse_rest_json_response(answer, service::lambda, "lambda:GetFunction");
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.err().code, "ResourceNotFoundException");
  EXPECT_EQ(e.err().message, "Function not found: fn");
  EXPECT_EQ(e.err().request_id, "req-1");
  EXPECT_EQ(e.err().http_status, 404);
  EXPECT_EQ(e.err().where, "lambda:GetFunction");
  EXPECT_FALSE(e.err().retryable);
}

TEST(rest_json_errors, without_the_header_the_body_names_it_after_any_hash) {
  auto by_type = parse_rest_json_response(
      {400, {}, R"({"__type":"com.amazonaws.guardduty#BadRequestException","message":"bad id"})"},
      service::guardduty, "x");
  ASSERT_FALSE(by_type.ok());
  EXPECT_EQ(by_type.err().code, "BadRequestException");
  EXPECT_EQ(by_type.err().message, "bad id");
  auto by_code = parse_rest_json_response({400, {}, R"({"Code":"InvalidInputException","Message":"m"})"},
                                          service::securityhub, "x");
  ASSERT_FALSE(by_code.ok());
  EXPECT_EQ(by_code.err().code, "InvalidInputException");
  auto by_status = parse_rest_json_response({403, {}, "{}"}, service::securityhub, "x");
  ASSERT_FALSE(by_status.ok());
  EXPECT_EQ(by_status.err().code, "HTTP403");
  // A body that is not JSON does not hide the code the header gives.
  auto html = parse_rest_json_response({502, {{"x-amzn-ErrorType", "ServiceException"}}, "<html>"},
                                       service::lambda, "x");
  ASSERT_FALSE(html.ok());
  EXPECT_EQ(html.err().code, "ServiceException");
  EXPECT_TRUE(html.err().retryable);
}

TEST(rest_json_errors, throttling_429_and_5xx_are_retryable_access_errors_are_not) {
  auto throttled = parse_rest_json_response(
      {429, {{"x-amzn-ErrorType", "TooManyRequestsException"}}, R"({"message":"Rate exceeded"})"},
      service::lambda, "x");
  ASSERT_FALSE(throttled.ok());
  EXPECT_EQ(throttled.err().code, "TooManyRequestsException");
  EXPECT_TRUE(is_throttling_code(throttled.err().code));
  EXPECT_TRUE(throttled.err().retryable);
  auto bare_429 = parse_rest_json_response({429, {}, "{}"}, service::guardduty, "x");
  ASSERT_FALSE(bare_429.ok());
  EXPECT_TRUE(bare_429.err().retryable);
  auto internal = parse_rest_json_response({500, {}, R"({"__type":"InternalServerErrorException"})"},
                                           service::guardduty, "x");
  ASSERT_FALSE(internal.ok());
  EXPECT_TRUE(internal.err().retryable);
  auto denied = parse_rest_json_response(
      {403, {{"x-amzn-ErrorType", "AccessDeniedException"}}, R"({"Message":"not authorized"})"},
      service::lambda, "x");
  ASSERT_FALSE(denied.ok());
  EXPECT_EQ(denied.err().code, "AccessDeniedException");
  EXPECT_FALSE(denied.err().retryable);
}

TEST(rest_json_errors, a_lambda_update_in_progress_is_retryable_a_security_hub_conflict_is_not) {
  const http_response conflict{
      409,
      {{"x-amzn-ErrorType", "ResourceConflictException"}},
      R"({"Type":"User","message":"The operation cannot be performed at this time."})"};
  auto updating = parse_rest_json_response(conflict, service::lambda, "lambda:PutFunctionConcurrency");
  ASSERT_FALSE(updating.ok());
  EXPECT_EQ(updating.err().code, "ResourceConflictException");
  EXPECT_TRUE(updating.err().retryable);
  // Security Hub answers the same code for a thing that already exists: sending again cannot help.
  auto exists = parse_rest_json_response(conflict, service::securityhub, "securityhub:CreateActionTarget");
  ASSERT_FALSE(exists.ok());
  EXPECT_FALSE(exists.err().retryable);
}

TEST(rest_json_errors, an_xml_error_from_a_gateway_is_read_as_xml) {
  auto xml = parse_rest_json_response({403,
                                       {},
                                       "<ErrorResponse><Error><Code>SignatureDoesNotMatch</Code><Message>m</"
                                       "Message></Error></ErrorResponse>"},
                                      service::guardduty, "x");
  ASSERT_FALSE(xml.ok());
  EXPECT_EQ(xml.err().code, "SignatureDoesNotMatch");
  EXPECT_FALSE(xml.err().retryable);
}

}  // namespace
}  // namespace tq::aws
