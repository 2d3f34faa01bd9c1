// The pure parts of the AWS client: query encoding, endpoints, response and error parsing, backoff.
#include <gtest/gtest.h>

#include <cctype>
#include <fstream>
#include <sstream>

#include "aws/client.h"
#include "aws/endpoints.h"
#include "aws/query.h"
#include "aws/retry.h"
#include "aws/xml.h"

namespace tq::aws {
namespace {

std::string read_response(const std::string& name) {
  std::ifstream in(std::string(TQ_TESTS_DIR) + "/data/responses/" + name);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

http_response answer(long status, const std::string& file) {
  return {status, {}, read_response(file)};
}

TEST(query, percent_encoding_keeps_only_unreserved_characters) {
  EXPECT_EQ(percent_encode("AZaz09-_.~"), "AZaz09-_.~");
  EXPECT_EQ(percent_encode("a b+c/d=e&f*"), "a%20b%2Bc%2Fd%3De%26f%2A");
  EXPECT_EQ(percent_encode("0.0.0.0/0"), "0.0.0.0%2F0");
  EXPECT_EQ(percent_encode("\xc3\xa9"), "%C3%A9");
  // Longer than the encoder's piece (256 bytes), every byte value, reserved ones side by side at the seams.
  std::string every_byte;
  for (int round = 0; round < 3; ++round) {
    for (int c = 0; c < 256; ++c) every_byte.push_back(static_cast<char>(c));
  }
  std::string expected;
  for (const char byte : every_byte) {
    const auto c = static_cast<unsigned char>(byte);
    if (std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.' || c == '~') {
      expected.push_back(byte);
    } else {
      constexpr char hex[] = "0123456789ABCDEF";
      expected += {'%', hex[c >> 4], hex[c & 0x0F]};
    }
  }
  EXPECT_EQ(percent_encode(every_byte), expected);
}

TEST(query, ec2_lists_are_flattened_and_query_services_use_member) {
  query_call ec2{service::ec2, "ModifyNetworkInterfaceAttribute", {}};
  ec2.params.add("NetworkInterfaceId", "eni-1").add_list("SecurityGroupId", {"sg-1", "sg-2"});
  EXPECT_EQ(form_body(ec2),
            "Action=ModifyNetworkInterfaceAttribute&Version=2016-11-15&NetworkInterfaceId=eni-1"
            "&SecurityGroupId.1=sg-1&SecurityGroupId.2=sg-2");

  query_call iam{service::iam, "TagUser", {}};
  iam.params.add_member_list("TagKeys", {"a", "b"});
  EXPECT_EQ(form_body(iam), "Action=TagUser&Version=2010-05-08&TagKeys.member.1=a&TagKeys.member.2=b");
}

TEST(query, filters_tags_and_dry_run) {
  query_call c{service::ec2, "DescribeSecurityGroups", {}, true};
  c.params.add_filter(1, "vpc-id", {"vpc-1", "vpc-2"}).add_tags("TagSpecification.1.Tag", {{"k", "v w"}});
  EXPECT_EQ(form_body(c),
            "Action=DescribeSecurityGroups&Version=2016-11-15&Filter.1.Name=vpc-id&Filter.1.Value.1=vpc-1"
            "&Filter.1.Value.2=vpc-2&TagSpecification.1.Tag.1.Key=k&TagSpecification.1.Tag.1.Value=v+w&"
            "DryRun=true");
  EXPECT_EQ(call_name(c), "ec2:DescribeSecurityGroups");
}

TEST(query, form_values_encode_spaces_as_plus_and_the_rest_as_percent) {
  query_call c{service::ec2, "CreateTags", {}};
  c.params.add("Tag.1.Value", " a  b ").add("Tag.2.Value", "x y/z+\xc3\xa9").add("Tag.3.Value", "");
  EXPECT_EQ(
      form_body(c),
      "Action=CreateTags&Version=2016-11-15&Tag.1.Value=+a++b+&Tag.2.Value=x+y%2Fz%2B%C3%A9&Tag.3.Value=");
}

TEST(endpoints, regional_global_and_partitions) {
  const env_reader none = fixed_environment({});
  EXPECT_EQ(resolve_endpoint(service::ec2, "eu-west-1", none)->url, "https://ec2.eu-west-1.amazonaws.com");
  EXPECT_EQ(resolve_endpoint(service::sts, "eu-west-1", none)->url, "https://sts.eu-west-1.amazonaws.com");
  auto iam = resolve_endpoint(service::iam, "eu-west-1", none);
  EXPECT_EQ(iam->url, "https://iam.amazonaws.com");
  EXPECT_EQ(iam->signing_region, "us-east-1");
  auto cn = resolve_endpoint(service::iam, "cn-northwest-1", none);
  EXPECT_EQ(cn->url, "https://iam.cn-north-1.amazonaws.com.cn");
  EXPECT_EQ(cn->signing_region, "cn-north-1");
  EXPECT_EQ(resolve_endpoint(service::ec2, "cn-north-1", none)->url,
            "https://ec2.cn-north-1.amazonaws.com.cn");
  auto gov = resolve_endpoint(service::iam, "us-gov-east-1", none);
  EXPECT_EQ(gov->url, "https://iam.us-gov.amazonaws.com");
  EXPECT_EQ(gov->signing_region, "us-gov-west-1");
  EXPECT_EQ(resolve_endpoint(service::autoscaling, "us-east-2", none)->url,
            "https://autoscaling.us-east-2.amazonaws.com");
  EXPECT_EQ(partition_of("us-gov-west-1").name, "aws-us-gov");
}

TEST(endpoints, the_signed_host_keeps_the_port_and_drops_the_path) {
  EXPECT_EQ(host_of("https://ec2.eu-west-1.amazonaws.com"), "ec2.eu-west-1.amazonaws.com");
  EXPECT_EQ(host_of("http://127.0.0.1:5000/"), "127.0.0.1:5000");
  EXPECT_EQ(host_of("http://localhost:4566/some/path"), "localhost:4566");
}

TEST(endpoints, overrides_follow_the_sdks_and_must_be_urls) {
  auto env = fixed_environment(
      {{"AWS_ENDPOINT_URL", "http://127.0.0.1:5000/"}, {"AWS_ENDPOINT_URL_STS", "http://127.0.0.1:6000"}});
  EXPECT_EQ(resolve_endpoint(service::ec2, "us-east-1", env)->url, "http://127.0.0.1:5000");
  EXPECT_EQ(resolve_endpoint(service::sts, "us-east-1", env)->url, "http://127.0.0.1:6000");
  EXPECT_TRUE(resolve_endpoint(service::ec2, "us-east-1", env)->overridden);
  auto bad =
      resolve_endpoint(service::ec2, "us-east-1", fixed_environment({{"AWS_ENDPOINT_URL_EC2", "ftp://x"}}));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.err().where, "AWS_ENDPOINT_URL_EC2");
  EXPECT_FALSE(resolve_endpoint(service::ec2, "", fixed_environment({})).ok());
}

TEST(endpoints, rest_json_services_are_regional_and_have_their_own_overrides) {
  const env_reader none = fixed_environment({});
  struct expected_endpoint {
    service target;
    const char* url;
    const char* signing_name;
    const char* variable;
  };
  for (const auto& [target, url, signing_name, variable] : {
           expected_endpoint{service::guardduty, "https://guardduty.eu-west-1.amazonaws.com", "guardduty",
                             "AWS_ENDPOINT_URL_GUARDDUTY"},
           expected_endpoint{service::lambda, "https://lambda.eu-west-1.amazonaws.com", "lambda",
                             "AWS_ENDPOINT_URL_LAMBDA"},
           expected_endpoint{service::securityhub, "https://securityhub.eu-west-1.amazonaws.com",
                             "securityhub", "AWS_ENDPOINT_URL_SECURITYHUB"},
       }) {
    auto e = resolve_endpoint(target, "eu-west-1", none);
    ASSERT_TRUE(e.ok()) << signing_name;
    EXPECT_EQ(e->url, url);
    EXPECT_EQ(e->signing_name, signing_name);
    EXPECT_EQ(e->signing_region, "eu-west-1");
    const auto env = fixed_environment(
        {{"AWS_ENDPOINT_URL", "http://127.0.0.1:5000"}, {variable, "http://127.0.0.1:7000/"}});
    EXPECT_EQ(resolve_endpoint(target, "eu-west-1", env)->url, "http://127.0.0.1:7000") << variable;
  }
  EXPECT_EQ(resolve_endpoint(service::lambda, "cn-north-1", none)->url,
            "https://lambda.cn-north-1.amazonaws.com.cn");
  auto settings = client_settings_from_environment(fixed_environment({{"AWS_REGION", "us-east-2"}}));
  ASSERT_TRUE(settings.ok());
  for (service s : {service::guardduty, service::lambda, service::securityhub}) {
    EXPECT_TRUE(settings->endpoints.contains(s)) << service_name(s);
  }
}

TEST(responses, ec2_success_is_read_through_items) {
  auto parsed = parse_response(answer(200, "ec2-describe-instances.xml"), "ec2:DescribeInstances");
  ASSERT_TRUE(parsed.ok()) << parsed.err().describe();
  EXPECT_EQ(parsed->request_id, "8f7724cf-496f-496e-8fe3-example");
  const auto reservations = items_of(parsed->result().child("reservationSet"));
  ASSERT_EQ(reservations.size(), 1u);
  const auto instances = items_of(reservations[0].child("instancesSet"));
  ASSERT_EQ(instances.size(), 1u);
  EXPECT_EQ(text_of(instances[0], "instanceId"), "i-1234567890abcdef0");
  EXPECT_EQ(text_of(instances[0], "instanceState/name"), "running");
  EXPECT_EQ(items_of(instances[0].child("networkInterfaceSet")).size(), 1u);
}

TEST(responses, iam_success_is_read_through_the_result_element) {
  auto parsed = parse_response(answer(200, "iam-list-access-keys.xml"), "iam:ListAccessKeys");
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->request_id, "7a62c49f-347e-4fc4-9331-6e8eEXAMPLE");
  const auto keys = items_of(parsed->result().child("AccessKeyMetadata"));
  ASSERT_EQ(keys.size(), 2u);
  EXPECT_EQ(text_of(keys[1], "Status"), "Inactive");
}

TEST(responses, ec2_throttling_is_a_retryable_error) {
  auto parsed = parse_response(answer(503, "ec2-error-throttled.xml"), "ec2:DescribeInstances");
  ASSERT_FALSE(parsed.ok());
  const error& e = parsed.err();
  EXPECT_EQ(e.code, "RequestLimitExceeded");
  EXPECT_EQ(e.message, "Request limit exceeded.");
  EXPECT_EQ(e.http_status, 503);
  EXPECT_EQ(e.request_id, "6f1b6e1a-0fe1-4d52-9a52-example");
  EXPECT_EQ(e.where, "ec2:DescribeInstances");
  EXPECT_TRUE(e.retryable);
}

TEST(responses, ec2_not_found_is_final) {
  auto parsed = parse_response(answer(400, "ec2-error-not-found.xml"), "ec2:DescribeInstances");
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.err().code, "InvalidInstanceID.NotFound");
  EXPECT_FALSE(parsed.err().retryable);
}

TEST(responses, query_error_shape_iam_throttling_and_sts_access_denied) {
  auto throttled = parse_response(answer(400, "iam-error-throttling.xml"), "iam:UpdateAccessKey");
  ASSERT_FALSE(throttled.ok());
  EXPECT_EQ(throttled.err().code, "Throttling");
  EXPECT_TRUE(throttled.err().retryable);
  EXPECT_EQ(throttled.err().request_id, "2a6b1c24-0f0f-4a0b-9a34-example");
  auto denied = parse_response(answer(403, "sts-error-access-denied.xml"), "sts:AssumeRole");
  ASSERT_FALSE(denied.ok());
  EXPECT_EQ(denied.err().code, "AccessDenied");
  EXPECT_FALSE(denied.err().retryable);
}

TEST(responses, mixed_error_shape_is_read_too) {
  const std::string body =
      "<?xml version=\"1.0\"?><ErrorResponse><Errors><Error><Code>AuthFailure</Code><Message>AWS was not "
      "able to "
      "validate the provided access "
      "credentials</Message><Type>Sender</Type></Error></Errors></ErrorResponse>";
  auto parsed = parse_response({401, {}, body}, "ec2:DescribeInstances");
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.err().code, "AuthFailure");
  EXPECT_FALSE(parsed.err().retryable);
}

TEST(responses, sts_assume_role_credentials) {
  auto parsed = parse_response(answer(200, "sts-assume-role.xml"), "sts:AssumeRole");
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(text_of(parsed->result(), "Credentials/AccessKeyId"), "ASIAJEXAMPLEXEG2JICEA");
  EXPECT_EQ(text_of(parsed->result(), "Credentials/Expiration"), "2026-11-22T12:00:00Z");
}

TEST(responses, non_xml_answers) {
  auto gateway = parse_response({502, {}, "<html>Bad Gateway"}, "ec2:X");
  ASSERT_FALSE(gateway.ok());
  EXPECT_EQ(gateway.err().code, "HTTP502");
  EXPECT_TRUE(gateway.err().retryable);
  auto garbage = parse_response({200, {}, "not xml"}, "ec2:X");
  ASSERT_FALSE(garbage.ok());
  EXPECT_EQ(garbage.err().code, "MalformedResponse");
  EXPECT_FALSE(garbage.err().retryable);
}

TEST(retry, backoff_cap_doubles_up_to_the_maximum) {
  retry_settings s;
  EXPECT_EQ(backoff_cap(s, 1).count(), 1000);
  EXPECT_EQ(backoff_cap(s, 2).count(), 2000);
  EXPECT_EQ(backoff_cap(s, 3).count(), 4000);
  EXPECT_EQ(backoff_cap(s, 6).count(), 20000);
  EXPECT_EQ(backoff_cap(s, 40).count(), 20000);
  EXPECT_EQ(backoff_delay(s, 2, [] { return 0.5; }).count(), 1000);
  EXPECT_EQ(backoff_delay(s, 2, [] { return 0.0; }).count(), 0);
}

TEST(retry, quota_runs_out_and_successes_refill_it) {
  retry_quota q;
  int granted = 0;
  while (q.acquire(false)) ++granted;
  EXPECT_EQ(granted, retry_quota::capacity / retry_quota::retry_cost);
  EXPECT_FALSE(q.acquire(true));
  q.release_after_success(retry_quota::timeout_retry_cost);
  EXPECT_TRUE(q.acquire(true));
}

TEST(retry, settings_from_environment_are_checked) {
  auto s = retry_settings_from_environment(fixed_environment({{"AWS_MAX_ATTEMPTS", "5"}}));
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->max_attempts, 5);
  auto bad = retry_settings_from_environment(fixed_environment({{"AWS_MAX_ATTEMPTS", "many"}}));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.err().where, "AWS_MAX_ATTEMPTS");
  EXPECT_NE(bad.err().message.find("'many'"), std::string::npos);
}

TEST(retry, codes_are_classified_as_the_sdks_do) {
  for (const char* code : {"Throttling", "RequestLimitExceeded", "TooManyRequestsException", "SlowDown"}) {
    EXPECT_TRUE(is_throttling_code(code)) << code;
  }
  EXPECT_TRUE(is_transient_code("RequestTimeout"));
  EXPECT_FALSE(is_throttling_code("AccessDenied"));
  EXPECT_FALSE(is_transient_code("InvalidParameterValue"));
}

}  // namespace
}  // namespace tq::aws
