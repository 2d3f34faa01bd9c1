// REST-XML (S3, S3 Control): where each request goes, and how S3's answers and errors are read, including the
// bodiless errors of a HEAD and the codes botocore's standard mode retries.
#include <gtest/gtest.h>

#include "aws/api_call.h"
#include "aws/client.h"
#include "aws/rest_xml.h"

namespace tq::aws {
namespace {

http_response answer(long status, std::string body, std::vector<http_header> headers = {}) {
  http_response r;
  r.status = status;
  r.body = std::move(body);
  r.headers = std::move(headers);
  return r;
}

std::string s3_error(std::string_view code, std::string_view message) {
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>" + std::string(code) +
         "</Code><Message>" + std::string(message) +
         "</Message><BucketName>tq-evidence</BucketName><RequestId>4442587FB7D0A2F9</RequestId>"
         "<HostId>nXbR8VfBcA==</HostId></Error>";
}

TEST(rest_xml_errors, s3_error_xml_gives_code_message_and_request_id) {
  const auto e = rest_xml_error(answer(404, s3_error("NoSuchBucket", "The specified bucket does not exist")),
                                "s3:PutObject");
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->code, "NoSuchBucket");
  EXPECT_EQ(e->message, "The specified bucket does not exist");
  EXPECT_EQ(e->request_id, "4442587FB7D0A2F9");
  EXPECT_EQ(e->http_status, 404);
  EXPECT_EQ(e->where, "s3:PutObject");
  EXPECT_FALSE(e->retryable);
}

TEST(rest_xml_errors, retryable_as_botocore_standard_mode_says) {
  for (auto [status, code] : std::vector<std::pair<long, std::string>>{{503, "SlowDown"},
                                                                       {500, "InternalError"},
                                                                       {400, "RequestTimeout"},
                                                                       {503, "ServiceUnavailable"},
                                                                       {409, "ConditionalRequestConflict"}}) {
    const auto e = rest_xml_error(answer(status, s3_error(code, "try again")), "s3:PutObject");
    ASSERT_TRUE(e.has_value()) << code;
    EXPECT_EQ(e->code, code);
    EXPECT_TRUE(e->retryable) << code;
  }
  for (std::string_view code : {"AccessDenied", "PreconditionFailed", "NoSuchKey", "InvalidRequest"}) {
    const auto e = rest_xml_error(answer(403, s3_error(code, "no")), "s3:PutObject");
    ASSERT_TRUE(e.has_value());
    EXPECT_FALSE(e->retryable) << code;
  }
  EXPECT_TRUE(is_throttling_code("SlowDown"));
}

TEST(rest_xml_errors, bodiless_answers_are_named_by_their_status) {
  const std::vector<http_header> id{{"x-amz-request-id", "A1B2C3"}};
  const auto missing = rest_xml_error(answer(404, "", id), "s3:HeadObject");
  ASSERT_TRUE(missing.has_value());
  EXPECT_EQ(missing->code, "NotFound");
  EXPECT_EQ(missing->request_id, "A1B2C3");
  EXPECT_FALSE(missing->retryable);
  EXPECT_EQ(rest_xml_error(answer(412, ""), "s3:HeadObject")->code, "PreconditionFailed");
  EXPECT_EQ(rest_xml_error(answer(403, ""), "s3:HeadObject")->code, "Forbidden");
  const auto busy = rest_xml_error(answer(503, ""), "s3:HeadObject");
  EXPECT_EQ(busy->code, "HTTP503");
  EXPECT_TRUE(busy->retryable);
  const auto html = rest_xml_error(answer(502, "<html>Bad Gateway"), "s3:HeadObject");
  ASSERT_TRUE(html.has_value());
  EXPECT_EQ(html->code, "HTTP502");
  EXPECT_TRUE(html->retryable);
  EXPECT_FALSE(rest_xml_error(answer(200, ""), "s3:HeadObject").has_value());
}

TEST(rest_xml_answers, an_empty_success_is_an_empty_document_and_a_block_reads_back) {
  auto empty =
      parse_rest_xml_document(answer(200, "", {{"x-amz-request-id", "R1"}}), "s3:PutBucketPublicAccessBlock");
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->request_id, "R1");
  const std::string body = public_access_block_xml({true, false, true, false});
  auto block = parse_rest_xml_document(answer(200, body), "s3:GetBucketPublicAccessBlock");
  ASSERT_TRUE(block.ok()) << block.err().describe();
  const public_access_block read = public_access_block_of(*block);
  EXPECT_TRUE(read.block_public_acls);
  EXPECT_FALSE(read.ignore_public_acls);
  EXPECT_TRUE(read.block_public_policy);
  EXPECT_FALSE(read.restrict_public_buckets);
  auto failed = parse_rest_xml_document(answer(404, s3_error("NoSuchPublicAccessBlockConfiguration", "none")),
                                        "s3:GetBucketPublicAccessBlock");
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.err().code, "NoSuchPublicAccessBlockConfiguration");
}

TEST(rest_xml_answers, a_raw_call_answers_with_the_http_answer) {
  const api_call put = s3_put_object("b-1", "k", "x", "text/plain");
  auto done =
      read_answer(put, answer(200, "", {{"x-amz-version-id", "v1"}, {"ETag", "\"9dd4\""}}), "s3:PutObject");
  ASSERT_TRUE(done.ok());
  EXPECT_FALSE(done->is_xml());
  EXPECT_EQ(done->raw().header("x-amz-version-id"), "v1");
  auto refused = read_answer(
      put, answer(412, s3_error("PreconditionFailed", "At least one of the pre-conditions")), "s3:PutObject");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.err().code, "PreconditionFailed");
  EXPECT_EQ(call_name(put), "s3:PutObject");
  EXPECT_EQ(service_of(put), service::s3);
  const signing_style style = signing_style_of(put);
  EXPECT_FALSE(style.normalize_path);
  EXPECT_FALSE(style.double_encode_path);
  EXPECT_TRUE(style.sign_body);
  EXPECT_TRUE(signing_style_of(api_call(query_call{})).normalize_path);
}

TEST(rest_xml_requests, buckets_go_in_the_host_on_aws_and_in_the_path_elsewhere) {
  EXPECT_TRUE(virtual_hostable("tq-evidence-123"));
  EXPECT_FALSE(virtual_hostable("logs.example.com"));
  EXPECT_FALSE(virtual_hostable("Upper"));
  EXPECT_FALSE(virtual_hostable("ab"));
  EXPECT_FALSE(virtual_hostable("-leading"));
  const auto none = fixed_environment({});
  auto s3 = resolve_endpoint(service::s3, "eu-west-1", none);
  ASSERT_TRUE(s3.ok());
  EXPECT_EQ(s3->url, "https://s3.eu-west-1.amazonaws.com");
  EXPECT_EQ(s3->signing_name, "s3");
  auto control = resolve_endpoint(service::s3control, "cn-north-1", none);
  ASSERT_TRUE(control.ok());
  EXPECT_EQ(control->url, "https://s3-control.cn-north-1.amazonaws.com.cn");
  EXPECT_EQ(control->signing_name, "s3");
  EXPECT_EQ(rest_xml_request(s3_get_public_access_block("tq-evidence"), *s3).url,
            "https://tq-evidence.s3.eu-west-1.amazonaws.com/?publicAccessBlock");
  EXPECT_EQ(rest_xml_request(s3control_get_public_access_block("123456789012"), *control).url,
            "https://123456789012.s3-control.cn-north-1.amazonaws.com.cn/v20180820/configuration/"
            "publicAccessBlock");

  const auto env = fixed_environment({{"AWS_ENDPOINT_URL", "http://127.0.0.1:5000"},
                                      {"AWS_ENDPOINT_URL_S3_CONTROL", "http://127.0.0.1:7000"}});
  auto local = resolve_endpoint(service::s3, "us-east-1", env);
  auto local_control = resolve_endpoint(service::s3control, "us-east-1", env);
  EXPECT_EQ(rest_xml_request(s3_get_public_access_block("tq-evidence"), *local).url,
            "http://127.0.0.1:5000/tq-evidence?publicAccessBlock");
  const http_request account =
      rest_xml_request(s3control_get_public_access_block("123456789012"), *local_control);
  EXPECT_EQ(account.url, "http://127.0.0.1:7000/v20180820/configuration/publicAccessBlock");
  bool has_account_header = false;
  for (const auto& h : account.headers)
    has_account_header |= h.name == "x-amz-account-id" && h.value == "123456789012";
  EXPECT_TRUE(has_account_header);

  rest_xml_call list{service::s3, "ListBucket", "GET", "tq-evidence"};
  list.query = {{"list-type", "2"}, {"prefix", "incidents/a b"}};
  EXPECT_EQ(rest_xml_request(list, *local).url,
            "http://127.0.0.1:5000/tq-evidence?list-type=2&prefix=incidents%2Fa%20b");
  auto settings = client_settings_from_environment(fixed_environment({{"AWS_REGION", "us-east-2"}}));
  ASSERT_TRUE(settings.ok());
  EXPECT_TRUE(settings->endpoints.contains(service::s3));
  EXPECT_TRUE(settings->endpoints.contains(service::s3control));
}

}  // namespace
}  // namespace tq::aws
