// Decoding of bad and unusual input: each error has the right code and names the JSON path of the bad field.
#include "handlers/event.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "handlers/cloudwatch_logs.h"

namespace tq::handlers {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

std::string read_sample(const std::string& relative) {
  std::ifstream in(fs::path(TQ_SOURCE_DIR) / "events" / relative, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

json sample_json(const std::string& relative) {
  return json::parse(read_sample(relative));
}

const std::string port_probe = "guardduty/recon-ec2-port-probe-unprotected-port.json";
const std::string ingress = "cloudtrail/authorize-sg-ingress-ssh-world-legacy.json";
const std::string block = "custom/block-addresses.json";

// Decodes `event` and expects an error with `code` at `where`; returns the error for further checks.
error expect_error(const std::string& text, const std::string& code, const std::string& where) {
  result<decoded_event> decoded = decode_event(text);
  if (decoded.ok()) {
    ADD_FAILURE() << "decoded as " << kind_name(*decoded) << ", expected " << code << " at " << where;
    return {};
  }
  error e = std::move(decoded).err();
  EXPECT_EQ(e.code, code) << e.describe();
  EXPECT_EQ(e.where, where) << e.describe();
  EXPECT_EQ(e.message.rfind(where + ": ", 0), 0u) << "the message names the path: " << e.message;
  EXPECT_FALSE(e.retryable);
  return e;
}

error expect_error(const json& event, const std::string& code, const std::string& where) {
  return expect_error(event.dump(), code, where);
}

error expect_error(const char* text, const std::string& code, const std::string& where) {
  return expect_error(std::string(text), code, where);
}

json with(json event, const std::string& pointer, json value) {
  event[json::json_pointer(pointer)] = std::move(value);
  return event;
}

json without(json event, const std::string& pointer) {
  json::json_pointer ptr(pointer);
  event[ptr.parent_pointer()].erase(ptr.back());
  return event;
}

// --- text that is not an event ---

TEST(decode_event, truncated_json) {
  const std::string text = read_sample(port_probe);
  error e = expect_error(text.substr(0, text.size() / 2), event_not_json_code, "$");
  EXPECT_NE(e.message.find("not valid JSON"), std::string::npos) << e.message;
  expect_error("", event_not_json_code, "$");
  expect_error("hello", event_not_json_code, "$");
  expect_error("{\"source\": \"aws.guardduty\",}", event_not_json_code, "$");
}

TEST(decode_event, values_that_are_not_objects) {
  error e = expect_error("[1, 2]", invalid_event_code, "$");
  EXPECT_EQ(e.message, "$: expected an object, got array");
  expect_error("null", invalid_event_code, "$");
  expect_error("42", invalid_event_code, "$");
  expect_error("\"GuardDuty Finding\"", invalid_event_code, "$");
  expect_error("{}", invalid_event_code, "$.source");
}

TEST(decode_event, refuses_oversized_input_before_parsing) {
  std::string text = "{\"pad\":\"" + std::string(max_event_bytes, 'x') + "\"}";
  error e = expect_error(text, event_too_large_code, "$");
  EXPECT_NE(e.message.find("256 KiB"), std::string::npos) << e.message;
  // Just under the limit is fine (and decodes to an error about content, not size).
  std::string fits = "{\"pad\":\"" + std::string(max_event_bytes - 10, 'x') + "\"}";
  expect_error(fits, invalid_event_code, "$.source");
}

TEST(decode_event, refuses_deep_nesting) {
  const std::size_t too_deep = max_json_depth + 1;
  expect_error(std::string(too_deep, '[') + std::string(too_deep, ']'), event_too_deep_code, "$");
  json event = sample_json(port_probe);
  std::string nested = std::string(100, '[') + std::string(100, ']');
  std::string text = event.dump();
  text.insert(text.rfind('}'), ",\"extra\":" + nested);
  expect_error(text, event_too_deep_code, "$");
  // At the limit it parses; brackets inside strings do not count.
  expect_error(std::string(max_json_depth, '[') + std::string(max_json_depth, ']'), invalid_event_code, "$");
  result<decoded_event> ok = decode_event(with(event, "/detail/title", std::string(500, '[')).dump());
  EXPECT_TRUE(ok.ok()) << ok.err().describe();
  // A deeply nested unknown field that stays under the limit is ignored.
  json deep = json::array();
  for (int i = 0; i < 40; ++i) deep = json::array({deep});
  EXPECT_TRUE(decode_event(with(event, "/detail/service/extra", deep).dump()).ok());
}

// --- wrong types and missing fields name their path ---

TEST(decode_event, wrong_types_name_the_path) {
  json event = sample_json(port_probe);
  error e = expect_error(with(event, "/detail/severity", "high"), invalid_event_code, "$.detail.severity");
  EXPECT_EQ(e.message, "$.detail.severity: expected a number, got string");
  expect_error(with(event, "/detail/resource/instanceDetails/networkInterfaces/0/subnetId", 7),
               invalid_event_code, "$.detail.resource.instanceDetails.networkInterfaces[0].subnetId");
  expect_error(
      with(event, "/detail/service/action/portProbeAction/portProbeDetails/1/remoteIpDetails/ipAddressV4",
           json::array()),
      invalid_event_code,
      "$.detail.service.action.portProbeAction.portProbeDetails[1].remoteIpDetails.ipAddressV4");
  expect_error(with(event, "/detail/service/action/portProbeAction/portProbeDetails", json::object()),
               invalid_event_code, "$.detail.service.action.portProbeAction.portProbeDetails");
  expect_error(with(event, "/detail/service/count", "9"), invalid_event_code, "$.detail.service.count");
  expect_error(with(event, "/detail/service/count", 9.5), invalid_event_code, "$.detail.service.count");
  expect_error(with(event, "/detail/service/archived", "no"), invalid_event_code,
               "$.detail.service.archived");
  expect_error(with(event, "/detail/resource/instanceDetails/networkInterfaces/0/securityGroups/0", "sg-1"),
               invalid_event_code,
               "$.detail.resource.instanceDetails.networkInterfaces[0].securityGroups[0]");
  expect_error(with(event, "/detail-type", 3), invalid_event_code, "$.detail-type");
  expect_error(with(event, "/resources", "arn:aws:ec2:::x"), invalid_event_code, "$.resources");
  expect_error(with(event, "/detail", json::array()), invalid_event_code, "$.detail");
}

TEST(decode_event, missing_required_fields_name_the_path) {
  json event = sample_json(port_probe);
  error e = expect_error(without(event, "/detail/id"), invalid_event_code, "$.detail.id");
  EXPECT_EQ(e.message, "$.detail.id: required field is missing");
  expect_error(without(event, "/detail/severity"), invalid_event_code, "$.detail.severity");
  expect_error(with(event, "/detail/severity", nullptr), invalid_event_code, "$.detail.severity");
  expect_error(without(event, "/detail/resource/instanceDetails/instanceId"), invalid_event_code,
               "$.detail.resource.instanceDetails.instanceId");
  expect_error(without(event, "/detail/service/action/portProbeAction"), invalid_event_code,
               "$.detail.service.action.portProbeAction");
  expect_error(without(event, "/detail"), invalid_event_code, "$.detail");
  json key = sample_json("guardduty/policy-iamuser-root-credential-usage.json");
  expect_error(without(key, "/detail/resource/accessKeyDetails/userType"), invalid_event_code,
               "$.detail.resource.accessKeyDetails.userType");
}

TEST(decode_event, optional_fields_may_be_absent_or_null) {
  json event = sample_json(port_probe);
  event["detail"].erase("title");
  event["detail"]["resource"]["instanceDetails"]["iamInstanceProfile"] = nullptr;
  event["detail"]["resource"]["instanceDetails"].erase("networkInterfaces");
  event["detail"].erase("service");
  result<decoded_event> decoded = decode_event(event.dump());
  ASSERT_TRUE(decoded.ok()) << decoded.err().describe();
  const auto& f = std::get<guardduty_finding>(*decoded);
  EXPECT_EQ(f.title, "");
  EXPECT_FALSE(f.instance->iam_instance_profile_arn);
  EXPECT_TRUE(f.instance->network_interfaces.empty());
  EXPECT_EQ(f.action_type, "");
  EXPECT_TRUE(f.remote_addresses.empty());
  EXPECT_EQ(f.count, 1);
  EXPECT_EQ(f.last_seen, "");
}

TEST(decode_event, carries_when_the_activity_was_last_seen) {
  auto decoded = decode_event(sample_json("guardduty/unauthorizedaccess-ec2-ssh-brute-force.json").dump());
  ASSERT_TRUE(decoded.ok()) << decoded.err().describe();
  EXPECT_EQ(std::get<guardduty_finding>(*decoded).last_seen, "2025-03-07T06:02:58.000Z");
}

TEST(decode_event, remote_addresses_follow_the_action_type) {
  json event = sample_json("guardduty/unauthorizedaccess-ec2-ssh-brute-force.json");
  // Both address families of one connection, and no repeats across port probes.
  event["detail"]["service"]["action"]["networkConnectionAction"]["remoteIpDetails"]["ipAddressV6"] =
      "2001:db8::7";
  auto decoded = decode_event(event.dump());
  ASSERT_TRUE(decoded.ok()) << decoded.err().describe();
  EXPECT_EQ(std::get<guardduty_finding>(*decoded).remote_addresses,
            (std::vector<std::string>{"203.0.113.45", "2001:db8::7"}));
  json probe = sample_json(port_probe);
  auto& details = probe["detail"]["service"]["action"]["portProbeAction"]["portProbeDetails"];
  details.push_back(details[0]);
  details.push_back(json{{"localPortDetails", {{"port", 80}}}});  // no remoteIpDetails
  decoded = decode_event(probe.dump());
  ASSERT_TRUE(decoded.ok()) << decoded.err().describe();
  EXPECT_EQ(std::get<guardduty_finding>(*decoded).remote_addresses.size(), 3u);
  // An action type we do not know yields no addresses rather than an error.
  probe["detail"]["service"]["action"]["actionType"] = "KUBERNETES_API_CALL";
  decoded = decode_event(probe.dump());
  ASSERT_TRUE(decoded.ok()) << decoded.err().describe();
  EXPECT_TRUE(std::get<guardduty_finding>(*decoded).remote_addresses.empty());
}

TEST(decode_event, sample_flag_in_both_additional_info_shapes) {
  json event = sample_json(port_probe);
  auto sample_of = [](const json& e) {
    auto decoded = decode_event(e.dump());
    EXPECT_TRUE(decoded.ok());
    return decoded.ok() && std::get<guardduty_finding>(*decoded).sample;
  };
  EXPECT_FALSE(sample_of(event));
  EXPECT_TRUE(sample_of(with(event, "/detail/service/additionalInfo", json{{"sample", true}})));
  EXPECT_FALSE(sample_of(with(event, "/detail/service/additionalInfo", json{{"sample", false}})));
  EXPECT_TRUE(sample_of(with(event, "/detail/service/additionalInfo", json{{"value", "{\"sample\":true}"}})));
  EXPECT_FALSE(sample_of(with(event, "/detail/service/additionalInfo", json{{"value", "{\"sample\":tru"}})));
  EXPECT_FALSE(sample_of(with(event, "/detail/service/additionalInfo", json{{"value", "[\"sample\"]"}})));
  EXPECT_TRUE(sample_of(with(event, "/detail/title", "[SAMPLE] Unprotected port is being probed.")));
}

// --- CloudTrail ---

TEST(decode_event, cloudtrail_errors_name_the_path) {
  json event = sample_json(ingress);
  expect_error(without(event, "/detail/eventName"), invalid_event_code, "$.detail.eventName");
  expect_error(with(event, "/detail/userIdentity/accessKeyId", 12), invalid_event_code,
               "$.detail.userIdentity.accessKeyId");
  expect_error(with(event, "/detail/userIdentity", "IAMUser"), invalid_event_code, "$.detail.userIdentity");

  // A bad port is found when the rules are read, with the full path.
  auto decoded =
      decode_event(with(event, "/detail/requestParameters/ipPermissions/items/0/fromPort", "22").dump());
  ASSERT_TRUE(decoded.ok()) << decoded.err().describe();
  auto rules = ingress_rules(std::get<cloudtrail_event>(*decoded));
  ASSERT_FALSE(rules.ok());
  EXPECT_EQ(rules.err().where, "$.detail.requestParameters.ipPermissions.items[0].fromPort");
  EXPECT_EQ(rules.err().message,
            "$.detail.requestParameters.ipPermissions.items[0].fromPort: expected an integer, got string");
}

TEST(decode_event, cloudtrail_failed_call_and_other_detail_types) {
  json event = sample_json(ingress);
  event["detail"]["errorCode"] = "Client.InvalidPermission.Duplicate";
  event["detail-type"] = "AWS Console Sign In via CloudTrail";
  auto decoded = decode_event(event.dump());
  ASSERT_TRUE(decoded.ok()) << decoded.err().describe();
  EXPECT_EQ(std::get<cloudtrail_event>(*decoded).error_code, "Client.InvalidPermission.Duplicate");
}

TEST(ingress_rules, flat_request_and_rules_naming_groups) {
  cloudtrail_event e;
  e.json_path = "$.detail";
  e.request_parameters = json{{"groupId", "sg-0123456789abcdef0"},
                              {"ipProtocol", "tcp"},
                              {"fromPort", 22},
                              {"toPort", 22},
                              {"cidrIp", "0.0.0.0/0"}};
  auto rules = ingress_rules(e);
  ASSERT_TRUE(rules.ok()) << rules.err().describe();
  ASSERT_EQ(rules->size(), 1u);
  EXPECT_EQ((*rules)[0].cidr, "0.0.0.0/0");
  // A rule that names another group grants no address range.
  e.request_parameters = json::parse(R"({"groupId":"sg-1","ipPermissions":{"items":[{"ipProtocol":"-1",
      "groups":{"items":[{"groupId":"sg-2"}]},"ipRanges":{},"ipv6Ranges":{},"prefixListIds":{}}]}})");
  rules = ingress_rules(e);
  ASSERT_TRUE(rules.ok()) << rules.err().describe();
  EXPECT_TRUE(rules->empty());
  e.request_parameters = nullptr;
  EXPECT_TRUE(ingress_rules(e)->empty());
}

// --- CloudWatch Logs ---

std::string base64(std::string_view bytes) {
  static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (std::size_t i = 0; i < bytes.size(); i += 3) {
    std::uint32_t n = static_cast<unsigned char>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) n |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    if (i + 2 < bytes.size()) n |= static_cast<unsigned char>(bytes[i + 2]);
    out += alphabet[(n >> 18) & 63];
    out += alphabet[(n >> 12) & 63];
    out += i + 1 < bytes.size() ? alphabet[(n >> 6) & 63] : '=';
    out += i + 2 < bytes.size() ? alphabet[n & 63] : '=';
  }
  return out;
}

std::string gzip(std::string_view text) {
  z_stream s{};
  EXPECT_EQ(deflateInit2(&s, Z_BEST_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&s, static_cast<uLong>(text.size())), '\0');
  s.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
  s.avail_in = static_cast<uInt>(text.size());
  s.next_out = reinterpret_cast<Bytef*>(out.data());
  s.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&s, Z_FINISH), Z_STREAM_END);
  out.resize(s.total_out);
  deflateEnd(&s);
  return out;
}

std::string awslogs_event(std::string_view data) {
  return json{{"awslogs", {{"data", data}}}}.dump();
}

json logs_payload(std::vector<std::string> messages) {
  json events = json::array();
  for (std::size_t i = 0; i < messages.size(); ++i)
    events.push_back({{"id", std::to_string(i)}, {"timestamp", 1742696071000 + i}, {"message", messages[i]}});
  return {{"messageType", "DATA_MESSAGE"},
          {"owner", "123456789012"},
          {"logGroup", "trail"},
          {"logStream", "123456789012_CloudTrail_us-east-1"},
          {"subscriptionFilters", json::array({"f"})},
          {"logEvents", events}};
}

std::string record_text() {
  return sample_json(ingress)["detail"].dump();
}

TEST(cloudwatch_logs, decodes_records_built_here) {
  auto decoded =
      decode_event(awslogs_event(base64(gzip(logs_payload({record_text(), record_text()}).dump()))));
  ASSERT_TRUE(decoded.ok()) << decoded.err().describe();
  const auto& batch = std::get<cloudwatch_logs_batch>(*decoded);
  ASSERT_EQ(batch.records.size(), 2u);
  EXPECT_EQ(batch.records[1].event_name, "AuthorizeSecurityGroupIngress");
  EXPECT_EQ(batch.records[1].json_path, "$.awslogs.data(decoded).logEvents[1].message(parsed)");
}

TEST(cloudwatch_logs, each_layer_has_its_own_error) {
  error e = expect_error(awslogs_event("not base64!"), event_not_base64_code, "$.awslogs.data");
  EXPECT_NE(e.message.find("not base64"), std::string::npos);
  expect_error(awslogs_event("QUJD="), event_not_base64_code, "$.awslogs.data");  // length
  e = expect_error(awslogs_event(base64("{\"messageType\":\"DATA_MESSAGE\"}")), event_not_gzip_code,
                   "$.awslogs.data");
  EXPECT_NE(e.message.find("not gzip"), std::string::npos);
  const std::string good = gzip(logs_payload({record_text()}).dump());
  expect_error(awslogs_event(base64(good.substr(0, good.size() / 2))), event_not_gzip_code, "$.awslogs.data");
  std::string corrupt = good;
  corrupt[20] = static_cast<char>(corrupt[20] ^ 0x55);
  corrupt[21] = static_cast<char>(corrupt[21] ^ 0x55);
  expect_error(awslogs_event(base64(corrupt)), event_not_gzip_code, "$.awslogs.data");
  e = expect_error(awslogs_event(base64(gzip("this is a log line, not JSON"))), event_not_json_code,
                   "$.awslogs.data");
  EXPECT_NE(e.message.find("not valid JSON"), std::string::npos);
  expect_error(json{{"awslogs", {{"data", 12}}}}, invalid_event_code, "$.awslogs.data");
  expect_error(json{{"awslogs", "x"}}, invalid_event_code, "$.awslogs");
}

TEST(cloudwatch_logs, refuses_a_gzip_bomb) {
  const std::string bomb = gzip(std::string(max_cloudwatch_logs_bytes + 1, ' '));
  EXPECT_LT(bomb.size(), 64u * 1024);
  error e = expect_error(awslogs_event(base64(bomb)), event_too_large_code, "$.awslogs.data");
  EXPECT_NE(e.message.find("inflates to more than"), std::string::npos) << e.message;
}

TEST(cloudwatch_logs, bad_records_name_their_log_event) {
  expect_error(awslogs_event(base64(gzip(logs_payload({record_text(), "START RequestId: 1"}).dump()))),
               event_not_json_code, "$.awslogs.data(decoded).logEvents[1].message(parsed)");
  json record = sample_json(ingress)["detail"];
  record.erase("eventSource");
  expect_error(awslogs_event(base64(gzip(logs_payload({record.dump()}).dump()))), invalid_event_code,
               "$.awslogs.data(decoded).logEvents[0].message(parsed).eventSource");
  json payload = logs_payload({record_text()});
  payload["logEvents"][0]["message"] = json::object();
  expect_error(awslogs_event(base64(gzip(payload.dump()))), invalid_event_code,
               "$.awslogs.data(decoded).logEvents[0].message");
  payload["messageType"] = "SOMETHING_ELSE";
  expect_error(awslogs_event(base64(gzip(payload.dump()))), invalid_event_code,
               "$.awslogs.data(decoded).messageType");
}

TEST(cloudwatch_logs, control_message_has_no_records) {
  json payload = {{"messageType", "CONTROL_MESSAGE"},
                  {"owner", "CloudwatchLogs"},
                  {"logGroup", ""},
                  {"logStream", ""},
                  {"subscriptionFilters", json::array()},
                  {"logEvents",
                   {{{"id", ""},
                     {"timestamp", 1},
                     {"message", "CWL CONTROL MESSAGE: Checking health of destination Lambda function."}}}}};
  auto batch = decode_cloudwatch_logs(base64(gzip(payload.dump())));
  ASSERT_TRUE(batch.ok()) << batch.err().describe();
  EXPECT_EQ(batch->message_type, "CONTROL_MESSAGE");
  EXPECT_TRUE(batch->records.empty());
}

TEST(base64_decode, strict_standard_alphabet) {
  EXPECT_EQ(*base64_decode("TWFu", "x"), "Man");
  EXPECT_EQ(*base64_decode("TWE=", "x"), "Ma");
  EXPECT_EQ(*base64_decode("TQ==", "x"), "M");
  EXPECT_EQ(*base64_decode("", "x"), "");
  for (const char* bad : {"TQ=A", "T===", "=AAA", "TQ==TWFu", "TW-u", "TW u", "TWF"}) {
    auto decoded = base64_decode(bad, "x");
    EXPECT_FALSE(decoded.ok()) << bad;
    if (!decoded.ok()) {
      EXPECT_EQ(decoded.err().code, event_not_base64_code);
    }
  }
}

// --- our own events ---

TEST(decode_event, block_request_checks) {
  json event = sample_json(block);
  expect_error(with(event, "/detail/addresses/1", "198.51.100.0/33"), invalid_event_code,
               "$.detail.addresses[1]");
  expect_error(with(event, "/detail/addresses/0", "example.com"), invalid_event_code,
               "$.detail.addresses[0]");
  expect_error(with(event, "/detail/addresses/2", "2001:db8::/129"), invalid_event_code,
               "$.detail.addresses[2]");
  expect_error(with(event, "/detail/addresses", json::array()), invalid_event_code, "$.detail.addresses");
  expect_error(without(event, "/detail/addresses"), invalid_event_code, "$.detail.addresses");
  expect_error(with(event, "/detail/addresses/0", 203), invalid_event_code, "$.detail.addresses[0]");
  expect_error(with(event, "/detail/subnetIds", json::array({"subnet-0a1b2c3d4e5f67890"})),
               invalid_event_code, "$.detail");
  expect_error(without(event, "/detail/instanceId"), invalid_event_code, "$.detail");
  expect_error(with(event, "/detail/instanceId", "web-1"), invalid_event_code, "$.detail.instanceId");
  expect_error(without(event, "/detail/reason"), invalid_event_code, "$.detail.reason");
  expect_error(with(event, "/detail/reason", ""), invalid_event_code, "$.detail.reason");
  json acls = sample_json("custom/block-addresses-network-acls.json");
  expect_error(with(acls, "/detail/networkAclIds/0", "sg-0123"), invalid_event_code,
               "$.detail.networkAclIds[0]");
}

TEST(decode_event, unknown_events_are_not_errors) {
  json event = {{"version", "0"},
                {"id", "1"},
                {"detail-type", "EC2 Instance State-change Notification"},
                {"source", "aws.ec2"},
                {"account", "123456789012"},
                {"time", "2025-03-24T10:00:00Z"},
                {"region", "us-east-1"},
                {"resources", json::array()},
                {"detail", {{"instance-id", "i-0123456789abcdef0"}, {"state", "stopped"}}}};
  auto decoded = decode_event(event.dump());
  ASSERT_TRUE(decoded.ok()) << decoded.err().describe();
  ASSERT_EQ(kind_name(*decoded), "unknown_event");
  EXPECT_EQ(std::get<unknown_event>(*decoded).envelope.source, "aws.ec2");
  EXPECT_EQ(std::get<unknown_event>(*decoded).envelope.detail_type, "EC2 Instance State-change Notification");
  // A GuardDuty event of another detail-type is not a finding either.
  event["source"] = "aws.guardduty";
  event["detail-type"] = "GuardDuty Malware Protection Object Scan Result";
  decoded = decode_event(event.dump());
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(kind_name(*decoded), "unknown_event");
}

TEST(decode_event, json_overload_matches_the_text_one) {
  json event = sample_json(port_probe);
  auto from_json = decode_event_json(event);
  ASSERT_TRUE(from_json.ok()) << from_json.err().describe();
  EXPECT_EQ(std::get<guardduty_finding>(*from_json).remote_addresses.size(), 3u);
  auto bad = decode_event_json(with(event, "/detail/severity", "high"));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.err().where, "$.detail.severity");
}

TEST(severity_label, guardduty_bands) {
  EXPECT_EQ(severity_label(1), "Low");
  EXPECT_EQ(severity_label(3.9), "Low");
  EXPECT_EQ(severity_label(4), "Medium");
  EXPECT_EQ(severity_label(6.9), "Medium");
  EXPECT_EQ(severity_label(7), "High");
  EXPECT_EQ(severity_label(8.9), "High");
  EXPECT_EQ(severity_label(9), "Critical");
}

}  // namespace
}  // namespace tq::handlers
