// Exposure fixes without I/O: the rule table on the sample CloudTrail events, which ingress rules count as an
// admin port opened to the world, the live state parsed from a real EC2 answer document, the revocation plan
// for both event shapes, trails, the declared permissions, the settings, and the JSON protocol's pure parts.
#include "handlers/playbooks/exposure_fix.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "aws/json_protocol.h"
#include "aws/xml.h"
#include "handlers/playbook.h"

namespace tq::handlers {
namespace {

namespace fs = std::filesystem;
const fs::path events_dir = fs::path(TQ_SOURCE_DIR) / "events";
constexpr const char* now = "2025-03-23T02:20:00Z";
const exposure_settings defaults;

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

cloudtrail_event sample(const std::string& relative) {
  auto decoded = decode_event(read_text(events_dir / "cloudtrail" / relative));
  if (!decoded || !std::holds_alternative<cloudtrail_event>(*decoded)) {
    ADD_FAILURE() << relative << " is not a CloudTrail event";
    return {};
  }
  return std::get<cloudtrail_event>(std::move(*decoded));
}

std::vector<ingress_rule> rules_of(const cloudtrail_event& event) {
  auto rules = ingress_rules(event);
  EXPECT_TRUE(rules.ok()) << rules.err().describe();
  return rules.ok() ? *rules : std::vector<ingress_rule>{};
}

ingress_rule rule(std::string protocol, std::optional<std::int64_t> from, std::optional<std::int64_t> to,
                  std::string cidr, std::optional<std::string> id = std::nullopt) {
  return ingress_rule{"sg-1",       std::move(protocol), from, to, cidr, cidr.find(':') != std::string::npos,
                      std::move(id)};
}

// A group that allows 22 and 443 from the world, as DescribeSecurityGroupRules answers.
const char* rules_answer =
    R"(<DescribeSecurityGroupRulesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
  <requestId>r1</requestId>
  <securityGroupRuleSet>
    <item><securityGroupRuleId>sgr-egress</securityGroupRuleId><groupId>sg-1</groupId><isEgress>true</isEgress>
      <ipProtocol>-1</ipProtocol><fromPort>-1</fromPort><toPort>-1</toPort><cidrIpv4>0.0.0.0/0</cidrIpv4></item>
    <item><securityGroupRuleId>sgr-ssh</securityGroupRuleId><groupId>sg-1</groupId><isEgress>false</isEgress>
      <ipProtocol>tcp</ipProtocol><fromPort>22</fromPort><toPort>22</toPort><cidrIpv4>0.0.0.0/0</cidrIpv4></item>
    <item><securityGroupRuleId>sgr-https</securityGroupRuleId><groupId>sg-1</groupId><isEgress>false</isEgress>
      <ipProtocol>tcp</ipProtocol><fromPort>443</fromPort><toPort>443</toPort><cidrIpv4>0.0.0.0/0</cidrIpv4></item>
    <item><securityGroupRuleId>sgr-rdp6</securityGroupRuleId><groupId>sg-1</groupId><isEgress>false</isEgress>
      <ipProtocol>tcp</ipProtocol><fromPort>3389</fromPort><toPort>3389</toPort><cidrIpv6>::/0</cidrIpv6></item>
    <item><securityGroupRuleId>sgr-peer</securityGroupRuleId><groupId>sg-1</groupId><isEgress>false</isEgress>
      <ipProtocol>tcp</ipProtocol><fromPort>22</fromPort><toPort>22</toPort>
      <referencedGroupInfo><groupId>sg-2</groupId></referencedGroupInfo></item>
  </securityGroupRuleSet>
</DescribeSecurityGroupRulesResponse>)";

const char* groups_answer =
    R"(<DescribeSecurityGroupsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
  <requestId>r2</requestId>
  <securityGroupInfo><item><groupId>sg-1</groupId><groupName>web</groupName>
    <tagSet><item><key>team</key><value>web</value></item></tagSet></item></securityGroupInfo>
</DescribeSecurityGroupsResponse>)";

aws::xml_response answer(const std::string& body) {
  auto parsed = aws::parse_response(aws::http_response{200, {}, body}, "test");
  EXPECT_TRUE(parsed.ok()) << parsed.err().describe();
  return std::move(parsed).value();
}

group_state live_group() {
  execution reads;
  reads.records.resize(2);
  reads.answers.resize(2);
  reads.answers[0] = aws::api_answer{answer(groups_answer)};
  reads.answers[1] = aws::api_answer{answer(rules_answer)};
  auto state = group_state_from_reads("sg-1", reads);
  EXPECT_TRUE(state.ok()) << state.err().describe();
  return state.ok() ? *state : group_state{};
}

// --- the table ---

TEST(exposure_table, samples_find_their_rules) {
  ASSERT_NE(exposure_rule_for(sample("authorize-sg-ingress-ssh-world.json")), nullptr);
  EXPECT_EQ(exposure_rule_for(sample("authorize-sg-ingress-ssh-world.json"))->kind,
            exposure_kind::world_admin_ingress);
  EXPECT_EQ(exposure_rule_for(sample("stop-logging.json"))->kind, exposure_kind::trail_stopped);
  EXPECT_EQ(exposure_rule_for(sample("delete-trail.json"))->kind, exposure_kind::trail_deleted);
  cloudtrail_event other = sample("stop-logging.json");
  other.event_name = "DescribeTrails";
  EXPECT_EQ(exposure_rule_for(other), nullptr);
  other = sample("stop-logging.json");
  other.event_source = "ec2.amazonaws.com";  // same name, another service: not ours
  EXPECT_EQ(exposure_rule_for(other), nullptr);
  for (const auto& r : exposure_rules()) EXPECT_FALSE(r.response.empty()) << r.event_name;
}

// --- what counts ---

TEST(exposure_ingress, admin_ports_within_ranges_and_all_traffic_count) {
  const std::vector<int> ports{22, 3389};
  EXPECT_TRUE(covers_admin_port(rule("tcp", 22, 22, "0.0.0.0/0"), ports));
  EXPECT_TRUE(covers_admin_port(rule("6", 0, 65535, "0.0.0.0/0"), ports));
  EXPECT_TRUE(covers_admin_port(rule("-1", std::nullopt, std::nullopt, "0.0.0.0/0"), ports));
  EXPECT_TRUE(covers_admin_port(rule("udp", 3389, 3389, "::/0"), ports));
  EXPECT_TRUE(covers_admin_port(rule("tcp", 3000, 4000, "0.0.0.0/0"), ports));
  EXPECT_FALSE(covers_admin_port(rule("tcp", 443, 443, "0.0.0.0/0"), ports));
  EXPECT_FALSE(covers_admin_port(rule("tcp", 23, 3388, "0.0.0.0/0"), ports));
  EXPECT_FALSE(covers_admin_port(rule("icmp", -1, -1, "0.0.0.0/0"), ports));
  EXPECT_TRUE(open_to_world(rule("tcp", 22, 22, "::/0")));
  EXPECT_FALSE(open_to_world(rule("tcp", 22, 22, "10.0.0.0/8")));
  EXPECT_FALSE(open_to_world(rule("tcp", 22, 22, "0.0.0.0/1")));
}

TEST(exposure_ingress, samples_of_both_shapes) {
  auto newer = world_admin_rules(rules_of(sample("authorize-sg-ingress-ssh-world.json")), defaults);
  ASSERT_EQ(newer.size(), 1u);
  EXPECT_EQ(newer[0].rule_id.value_or(""), "sgr-0a1b2c3d4e5f60718");
  EXPECT_EQ(newer[0].group_id, "sg-0abcdef1234567890");

  auto legacy = world_admin_rules(rules_of(sample("authorize-sg-ingress-ssh-world-legacy.json")), defaults);
  ASSERT_EQ(legacy.size(), 1u);
  EXPECT_FALSE(legacy[0].rule_id.has_value());
  EXPECT_EQ(legacy[0].from_port.value_or(0), 22);

  auto rdp = world_admin_rules(rules_of(sample("authorize-sg-ingress-rdp-ipv6-world.json")), defaults);
  ASSERT_FALSE(rdp.empty());
  EXPECT_EQ(rdp[0].cidr, "::/0");

  // Console shape: one permission, two ranges; only the world one counts.
  auto console = world_admin_rules(rules_of(sample("authorize-sg-ingress-ssh-world-console.json")), defaults);
  ASSERT_EQ(console.size(), 1u);
  EXPECT_EQ(console[0].cidr, "0.0.0.0/0");

  EXPECT_TRUE(world_admin_rules(rules_of(sample("authorize-sg-ingress-https-world.json")), defaults).empty());
  exposure_settings https_is_admin;
  https_is_admin.admin_ports = {443};
  EXPECT_FALSE(
      world_admin_rules(rules_of(sample("authorize-sg-ingress-https-world.json")), https_is_admin).empty());
}

// --- live state and the plan ---

TEST(exposure_ingress, live_state_keeps_ingress_address_rules_only) {
  const group_state g = live_group();
  EXPECT_TRUE(g.exists);
  EXPECT_EQ(g.tags.at("team"), "web");
  ASSERT_EQ(g.ingress.size(), 3u);  // not the egress rule, not the rule naming another group
  EXPECT_EQ(g.ingress[0].id, "sgr-ssh");
  EXPECT_EQ(g.ingress[2].cidr, "::/0");
  EXPECT_TRUE(g.ingress[2].ipv6);

  execution gone;
  gone.records.resize(2);
  gone.answers.resize(2);
  gone.records[0].failure = error{"InvalidGroup.NotFound", "no such group", "ec2:DescribeSecurityGroups"};
  auto state = group_state_from_reads("sg-1", gone);
  ASSERT_TRUE(state.ok());
  EXPECT_FALSE(state->exists);
}

TEST(exposure_ingress, revokes_by_rule_id_and_leaves_443) {
  std::vector<action_record> already;
  const auto plan = plan_ingress_revocation({rule("tcp", 22, 22, "0.0.0.0/0", "sgr-ssh")}, live_group(),
                                            "tq-1", "event-1", now, already);
  ASSERT_EQ(plan.size(), 2u);
  EXPECT_EQ(plan[0].query().action, "RevokeSecurityGroupIngress");
  EXPECT_EQ(plan[0].query().params.get("GroupId"), "sg-1");
  EXPECT_EQ(plan[0].query().params.get("SecurityGroupRuleId.1"), "sgr-ssh");
  EXPECT_EQ(plan[0].query().params.get("SecurityGroupRuleId.2"), "");
  EXPECT_EQ(plan[0].query().params.get("IpPermissions.1.IpProtocol"), "");
  for (const auto& p : plan) {
    for (const auto& [name, value] : p.query().params.entries()) EXPECT_NE(value, "sgr-https") << name;
  }
  EXPECT_EQ(plan[1].query().action, "CreateTags");
  EXPECT_EQ(plan[1].needs, std::vector<size_t>{0});
  EXPECT_EQ(plan[1].query().params.get("Tag.1.Key"), "tourniquet:incident-id");
  EXPECT_EQ(plan[1].query().params.get("Tag.1.Value"), "tq-1");
  EXPECT_TRUE(already.empty());
}

TEST(exposure_ingress, revokes_by_ip_permissions_for_the_older_shape) {
  std::vector<action_record> already;
  const auto plan = plan_ingress_revocation({rule("tcp", 3389, 3389, "::/0")}, live_group(), "tq-1",
                                            "event-1", now, already);
  ASSERT_EQ(plan.size(), 2u);
  const auto& params = plan[0].query().params;
  EXPECT_EQ(params.get("SecurityGroupRuleId.1"), "");
  EXPECT_EQ(params.get("IpPermissions.1.IpProtocol"), "tcp");
  EXPECT_EQ(params.get("IpPermissions.1.FromPort"), "3389");
  EXPECT_EQ(params.get("IpPermissions.1.ToPort"), "3389");
  EXPECT_EQ(params.get("IpPermissions.1.Ipv6Ranges.1.CidrIpv6"), "::/0");
  EXPECT_EQ(params.get("IpPermissions.1.IpRanges.1.CidrIp"), "");
}

TEST(exposure_ingress, a_rule_already_gone_is_already) {
  std::vector<action_record> already;
  const auto plan = plan_ingress_revocation(
      {rule("tcp", 22, 22, "0.0.0.0/0", "sgr-gone"), rule("tcp", 0, 65535, "0.0.0.0/0")}, live_group(),
      "tq-1", "event-1", now, already);
  EXPECT_TRUE(plan.empty());  // nothing revoked: no tag either
  ASSERT_EQ(already.size(), 2u);
  EXPECT_EQ(already[0].result, outcome::already);
  EXPECT_EQ(already[1].result, outcome::already);
}

// --- trails ---

TEST(exposure_trail, admins_by_name_or_arn) {
  const cloudtrail_event stop = sample("stop-logging.json");
  exposure_settings s;
  EXPECT_FALSE(is_trail_admin(stop.user, s));
  s.trail_admins = {"deploy-bot"};
  EXPECT_TRUE(is_trail_admin(stop.user, s));
  s.trail_admins = {"arn:aws:iam::123456789012:user/deploy-bot"};
  EXPECT_TRUE(is_trail_admin(stop.user, s));
  user_identity role{"AssumedRole",
                     "arn:aws:sts::123456789012:assumed-role/trail-admin/alice",
                     "ASIAX",
                     std::nullopt,
                     std::nullopt,
                     "123456789012",
                     "arn:aws:iam::123456789012:role/trail-admin"};
  s.trail_admins = {"trail-admin"};
  EXPECT_TRUE(is_trail_admin(role, s));
  s.trail_admins = {"alice"};  // a session name is chosen by the caller: it proves nothing
  EXPECT_FALSE(is_trail_admin(role, s));
}

TEST(exposure_trail, trail_named_by_name_in_its_own_account) {
  const cloudtrail_event stop = sample("stop-logging.json");
  EXPECT_EQ(trail_reference(stop, "123456789012"), "organization-trail");
  EXPECT_EQ(trail_reference(stop, "210987654321"),
            "arn:aws:cloudtrail:us-east-1:123456789012:trail/organization-trail");
  cloudtrail_event plain = stop;
  plain.request_parameters = {{"name", "audit"}};
  EXPECT_EQ(trail_reference(plain, "123456789012"), "audit");
  plain.request_parameters = nullptr;
  EXPECT_EQ(trail_reference(plain, "123456789012"), "");
}

TEST(exposure_trail, restart_only_when_not_logging) {
  std::vector<action_record> already;
  EXPECT_TRUE(plan_logging_restart("audit", true, already).empty());
  ASSERT_EQ(already.size(), 1u);
  EXPECT_EQ(already[0].result, outcome::already);
  const auto plan = plan_logging_restart("audit", false, already);
  ASSERT_EQ(plan.size(), 1u);
  EXPECT_EQ(iam_action_of(plan[0].call), "cloudtrail:StartLogging");
  EXPECT_EQ(std::get<aws::json_call>(plan[0].call).body, nlohmann::json({{"Name", "audit"}}));
}

// --- batches ---

TEST(exposure_batch, records_no_rule_takes_are_summed_up_without_any_call) {
  const auto playbooks = make_playbooks(fixed_environment({})).value();
  cloudtrail_event describe = sample("stop-logging.json");
  describe.event_name = "DescribeTrails";
  cloudtrail_event failed = sample("authorize-sg-ingress-ssh-world.json");
  failed.error_code = "Client.InvalidPermission.Duplicate";
  cloudwatch_logs_batch batch;
  batch.records = {describe, describe, failed};
  const routing routed = route_event(playbooks, batch, config{});
  EXPECT_TRUE(routed.jobs.empty()) << "no record calls for a call to AWS";
  const auto summary = passed_over_report(routed, batch);
  ASSERT_TRUE(summary.has_value());
  EXPECT_EQ(summary->playbook, exposure_playbook);
  EXPECT_EQ(summary->status, report_status::ignored);
  EXPECT_NE(summary->reason.find("2 records: no exposure rule for cloudtrail.amazonaws.com DescribeTrails"),
            std::string::npos)
      << summary->reason;
  EXPECT_NE(summary->reason.find("Client.InvalidPermission.Duplicate"), std::string::npos) << summary->reason;

  const cloudwatch_logs_batch none;  // a CONTROL_MESSAGE batch
  const routing nothing = route_event(playbooks, none, config{});
  EXPECT_TRUE(nothing.jobs.empty());
  ASSERT_TRUE(passed_over_report(nothing, none).has_value());
  EXPECT_EQ(passed_over_report(nothing, none)->status, report_status::ignored);

  // A record that needs action is a job in its record's account; the others are still summed up.
  batch.records.push_back(sample("authorize-sg-ingress-ssh-world.json"));
  const routing one = route_event(playbooks, batch, config{});
  ASSERT_EQ(one.jobs.size(), 1u);
  EXPECT_EQ(one.jobs[0].playbook, exposure_playbook);
  EXPECT_EQ(one.jobs[0].item, 3u);
  EXPECT_EQ(one.jobs[0].account_id, *batch.records[3].recipient_account_id);
  EXPECT_TRUE(passed_over_report(one, batch).has_value())
      << "the three passed-over records are still reported";
}

TEST(exposure_batch, a_stopped_trail_also_contains_its_caller) {
  const auto playbooks = make_playbooks(fixed_environment({})).value();
  const decoded_event stop = sample("stop-logging.json");
  const routing routed = route_event(playbooks, stop, config{});
  ASSERT_EQ(routed.jobs.size(), 2u);
  EXPECT_EQ(routed.jobs[0].playbook, exposure_playbook);
  EXPECT_EQ(routed.jobs[1].playbook, credential_playbook);
  EXPECT_FALSE(passed_over_report(routed, stop).has_value());

  const auto admins = make_playbooks(fixed_environment({{"TOURNIQUET_TRAIL_ADMINS", "deploy-bot"}})).value();
  cloudtrail_event by_admin = sample("stop-logging.json");
  by_admin.user.user_name = "deploy-bot";
  by_admin.user.arn = "arn:aws:iam::123456789012:user/deploy-bot";
  const routing allowed = route_event(admins, decoded_event(by_admin), config{});
  EXPECT_TRUE(allowed.jobs.empty()) << "a trail admin may stop logging";
}

// --- settings ---

TEST(exposure_settings_test, admin_ports_and_trail_admins) {
  auto d = exposure_settings_from_environment(fixed_environment({}));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->admin_ports, (std::vector<int>{22, 3389}));
  auto set = exposure_settings_from_environment(
      fixed_environment({{"TOURNIQUET_ADMIN_PORTS", "22, 5985,5986"},
                         {"TOURNIQUET_TRAIL_ADMINS", "ops,arn:aws:iam::1:role/x"}}));
  ASSERT_TRUE(set.ok());
  EXPECT_EQ(set->admin_ports, (std::vector<int>{22, 5985, 5986}));
  EXPECT_TRUE(set->trail_admins.contains("arn:aws:iam::1:role/x"));
  for (const char* bad : {"ssh", "70000", "22,-1", ","}) {
    auto e = exposure_settings_from_environment(fixed_environment({{"TOURNIQUET_ADMIN_PORTS", bad}}));
    ASSERT_FALSE(e.ok()) << bad;
    EXPECT_EQ(e.err().where, "TOURNIQUET_ADMIN_PORTS");
  }
}

// --- the JSON protocol ---

TEST(json_protocol, request_names_the_operation_in_its_target_header) {
  const aws::endpoint e{"http://127.0.0.1:5000", "us-east-1", "cloudtrail", true};
  const auto request = aws::json_request({aws::service::cloudtrail, "StartLogging", {{"Name", "audit"}}}, e);
  EXPECT_EQ(request.method, "POST");
  EXPECT_EQ(request.url, "http://127.0.0.1:5000/");
  auto header = [&](std::string_view name) {
    for (const auto& h : request.headers) {
      if (h.name == name) return h.value;
    }
    return std::string();
  };
  EXPECT_EQ(header("X-Amz-Target"), "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.StartLogging");
  EXPECT_EQ(header("Content-Type"), "application/x-amz-json-1.1");
  EXPECT_EQ(header("Host"), "127.0.0.1:5000");
  EXPECT_EQ(nlohmann::json::parse(request.body), nlohmann::json({{"Name", "audit"}}));
}

TEST(json_protocol, answers_and_errors) {
  auto ok = aws::parse_json_response({200, {}, R"({"IsLogging":false})"}, "cloudtrail:GetTrailStatus");
  ASSERT_TRUE(ok.ok());
  EXPECT_FALSE(ok->at("IsLogging").get<bool>());
  auto empty = aws::parse_json_response({200, {}, ""}, "cloudtrail:StartLogging");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->is_object());

  auto missing = aws::parse_json_response(
      {400,
       {{"x-amzn-RequestId", "req-9"}},
       R"({"__type":"com.amazonaws.cloudtrail.v20131101#TrailNotFoundException","message":"Unknown trail"})"},
      "cloudtrail:GetTrailStatus");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.err().code, "TrailNotFoundException");
  EXPECT_EQ(missing.err().message, "Unknown trail");
  EXPECT_EQ(missing.err().request_id, "req-9");
  EXPECT_EQ(missing.err().http_status, 400);
  EXPECT_FALSE(missing.err().retryable);

  auto throttled =
      aws::parse_json_response({400, {}, R"({"__type":"ThrottlingException","Message":"slow down"})"}, "x");
  ASSERT_FALSE(throttled.ok());
  EXPECT_TRUE(throttled.err().retryable);
  auto by_header = aws::parse_json_response(
      {503, {{"x-amzn-ErrorType", "ServiceUnavailable:http://internal"}}, "{}"}, "x");
  ASSERT_FALSE(by_header.ok());
  EXPECT_EQ(by_header.err().code, "ServiceUnavailable");
  EXPECT_TRUE(by_header.err().retryable);

  auto xml = aws::parse_json_response(
      {403,
       {},
       "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>no</Message></Error>"
       "<RequestId>r</RequestId></ErrorResponse>"},
      "cloudtrail:StartLogging");
  ASSERT_FALSE(xml.ok());
  EXPECT_EQ(xml.err().code, "AccessDenied");
  auto garbage = aws::parse_json_response({200, {}, "not json"}, "x");
  ASSERT_FALSE(garbage.ok());
  EXPECT_EQ(garbage.err().code, "MalformedResponse");
}

}  // namespace
}  // namespace tq::handlers
