// The network block's pure parts: address parsing, never-block ranges, settings, routing, the ACL as read,
// and the planners (rule-number allocation, replays, eviction, repair, expiry), checked without I/O.
#include "handlers/playbooks/network_block.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "aws/client.h"
#include "handlers/confirmation.h"
#include "handlers/playbook.h"
#include "runtime/environment.h"

namespace tq::handlers {
namespace {

constexpr std::int64_t now = 1'750'000'000;

cidr_block cidr(std::string_view text) {
  auto parsed = parse_cidr(text);
  EXPECT_TRUE(parsed.ok()) << text;
  return parsed->block;
}

acl_entry entry(int n, bool egress, bool deny, std::string_view block, bool all_protocols = true) {
  return {n, egress, deny, all_protocols, cidr(block)};
}

// A fresh ACL as EC2 makes it: allow all at 100, deny all at *, both ways.
acl_state default_acl(std::string id = "acl-1") {
  acl_state acl;
  acl.id = std::move(id);
  acl.vpc_id = "vpc-1";
  acl.vpc_cidrs = {cidr("10.0.0.0/16")};
  for (bool egress : {false, true}) {
    acl.entries.push_back(entry(100, egress, false, "0.0.0.0/0"));
    acl.entries.push_back(entry(32767, egress, true, "0.0.0.0/0"));
  }
  return acl;
}

// A block of ours at `n`: both entries and the tag.
void add_ours(acl_state& acl, int n, std::string_view block, std::int64_t expires, bool inbound = true,
              bool outbound = true) {
  block_record r{n, cidr(block), expires - 3600, expires, "tq-old", {}};
  r.tag_value = block_tag_value(r);
  acl.blocks[n] = r;
  ++acl.tag_count;
  if (inbound) acl.entries.push_back(entry(n, false, true, block));
  if (outbound) acl.entries.push_back(entry(n, true, true, block));
}

network_block_settings window(int low, int high) {
  network_block_settings s;
  s.rule_low = low;
  s.rule_high = high;
  return s;
}

std::vector<address_to_block> addresses(std::initializer_list<std::string_view> texts) {
  std::vector<address_to_block> out;
  for (auto t : texts) out.push_back({std::string(t), cidr(t)});
  return out;
}

std::vector<const planned_call*> calls_named(const block_plan& p, std::string_view action) {
  std::vector<const planned_call*> out;
  for (const auto& c : p.calls) {
    if (c.query().action == action) out.push_back(&c);
  }
  return out;
}

int rule_of(const planned_call& c) {
  return std::stoi(std::string(c.query().params.get("RuleNumber")));
}

// The rule number a call acts on: its RuleNumber, or the number in the tag key it writes.
int rule_of_or_zero(const planned_call& c) {
  if (!c.query().params.get("RuleNumber").empty()) return rule_of(c);
  const std::string key(c.query().params.get("Tag.1.Key"));
  return key.starts_with("tourniquet:block:") ? std::stoi(key.substr(17)) : 0;
}

// --- Addresses -------------------------------------------------------------------------------------------

TEST(IpAddress, ParsesAddressesAndBlocksToCanonicalText) {
  EXPECT_EQ(cidr("203.0.113.7").text(), "203.0.113.7/32");
  EXPECT_EQ(cidr("198.51.100.0/24").text(), "198.51.100.0/24");
  EXPECT_EQ(cidr("2001:DB8:0:0::1").text(), "2001:db8::1/128");
  EXPECT_EQ(cidr("2001:db8::/32").text(), "2001:db8::/32");
  EXPECT_TRUE(cidr("2001:db8::1").v6);
  EXPECT_TRUE(cidr("2001:db8::1").is_host());
  // An IPv4-mapped IPv6 address is the IPv4 address it carries.
  EXPECT_EQ(cidr("::ffff:203.0.113.9").text(), "203.0.113.9/32");
}

TEST(IpAddress, ClearsHostBitsAndSaysSo) {
  auto parsed = parse_cidr("198.51.100.77/24");
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->block.text(), "198.51.100.0/24");
  EXPECT_TRUE(parsed->host_bits_cleared);
  EXPECT_FALSE(parse_cidr("198.51.100.0/24")->host_bits_cleared);
  EXPECT_EQ(parse_cidr("2001:db8::1/120")->block.text(), "2001:db8::/120");
}

TEST(IpAddress, RefusesMalformedTextAndNamesIt) {
  for (std::string_view bad : {"", "999.1.2.3", "1.2.3", "203.0.113.7/33", "2001:db8::/129", "1.2.3.4/",
                               "1.2.3.4/x", "fe80::1%eth0", "example.com", "1.2.3.4/24/8"}) {
    auto parsed = parse_cidr(bad);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_EQ(parsed.err().code, "MalformedAddress");
    std::string quoted = "'";
    quoted.append(bad).append("'");  // appends: GCC 12 warns falsely (-Wrestrict) on operator+ chains
    EXPECT_NE(parsed.err().message.find(quoted), std::string::npos) << parsed.err().message;
  }
}

TEST(IpAddress, ContainsAndOverlapsByBits) {
  EXPECT_TRUE(cidr("198.51.100.0/24").contains(cidr("198.51.100.200")));
  EXPECT_FALSE(cidr("198.51.100.0/24").contains(cidr("198.51.101.1")));
  EXPECT_FALSE(cidr("198.51.100.7").contains(cidr("198.51.100.0/24")));
  EXPECT_TRUE(cidr("198.51.100.7").overlaps(cidr("198.51.100.0/24")));
  EXPECT_TRUE(cidr("0.0.0.0/0").contains(cidr("203.0.113.1")));
  EXPECT_FALSE(cidr("0.0.0.0/0").contains(cidr("2001:db8::1")));  // families never mix
  EXPECT_TRUE(cidr("2001:db8::/32").contains(cidr("2001:db8:4006:812::200e")));
  EXPECT_TRUE(cidr("172.16.0.0/12").contains(cidr("172.31.255.255")));
  EXPECT_FALSE(cidr("172.16.0.0/12").contains(cidr("172.32.0.1")));
}

// --- Never-block ranges ----------------------------------------------------------------------------------

TEST(NeverBlock, RefusesMetadataLoopbackLinkLocalAndPrivateByDefault) {
  const network_block_settings s;
  const std::vector<cidr_block> vpc{cidr("10.0.0.0/16")};
  auto reason = [&](std::string_view a) { return never_block_reason(cidr(a), s, vpc).value_or("(allowed)"); };
  EXPECT_NE(reason("169.254.169.254").find("metadata"), std::string::npos);
  EXPECT_NE(reason("fd00:ec2::254").find("metadata"), std::string::npos);
  EXPECT_NE(reason("127.0.0.1").find("loopback"), std::string::npos);
  EXPECT_NE(reason("::1").find("loopback"), std::string::npos);
  EXPECT_NE(reason("169.254.10.1").find("link-local"), std::string::npos);
  EXPECT_NE(reason("fe80::1").find("link-local"), std::string::npos);
  EXPECT_NE(reason("192.168.1.10").find("RFC 1918"), std::string::npos);
  EXPECT_NE(reason("172.20.0.5").find("RFC 1918"), std::string::npos);
  EXPECT_NE(reason("fd12:3456::1").find("unique local"), std::string::npos);
  EXPECT_NE(reason("100.64.1.1").find("RFC 6598"), std::string::npos);
  EXPECT_NE(reason("224.0.0.5").find("multicast"), std::string::npos);
  // Ten-dot is private before it is the VPC's: the first reason found is given.
  EXPECT_NE(reason("10.0.3.3").find("RFC 1918"), std::string::npos);
  // Public addresses, including the documentation ranges the samples use, may be blocked.
  EXPECT_EQ(reason("203.0.113.7"), "(allowed)");
  EXPECT_EQ(reason("2001:db8:4006:812::200e"), "(allowed)");
  EXPECT_EQ(reason("198.51.100.0/24"), "(allowed)");
  // A block that only overlaps a protected range is refused too: 0.0.0.0/0 would cut off everything.
  EXPECT_NE(reason("0.0.0.0/0").find("overlaps"), std::string::npos);
  EXPECT_NE(reason("::/0").find("overlaps"), std::string::npos);
}

TEST(NeverBlock, PrivateRangesMayBeAllowedButTheVpcAndMetadataNever) {
  network_block_settings s;
  s.never_block = built_in_never_block(true);
  const std::vector<cidr_block> vpc{cidr("10.0.0.0/16"), cidr("2600:1f18:4c2:9a00::/56")};
  EXPECT_FALSE(never_block_reason(cidr("192.168.1.10"), s, vpc).has_value());
  EXPECT_FALSE(never_block_reason(cidr("10.1.0.9"), s, vpc).has_value());  // a peered VPC's address
  EXPECT_NE(never_block_reason(cidr("10.0.3.3"), s, vpc).value_or("").find("VPC's own range"),
            std::string::npos);
  EXPECT_NE(never_block_reason(cidr("2600:1f18:4c2:9a00::5"), s, vpc).value_or("").find("VPC's own range"),
            std::string::npos);
  EXPECT_NE(never_block_reason(cidr("10.0.0.0/8"), s, vpc).value_or("").find("overlaps 10.0.0.0/16"),
            std::string::npos);
  EXPECT_NE(never_block_reason(cidr("fd00:ec2::254"), s, vpc).value_or("").find("metadata"),
            std::string::npos);
}

// --- Settings --------------------------------------------------------------------------------------------

TEST(NetworkBlockSettings, DefaultsAreTheDocumentedOnes) {
  auto s = network_block_settings_from_environment(fixed_environment({}));
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->rule_low, 71);
  EXPECT_EQ(s->rule_high, 90);
  EXPECT_EQ(s->ttl, std::chrono::hours(24));
  EXPECT_DOUBLE_EQ(s->min_severity, 2.0);
  EXPECT_FALSE(s->block_private);
  EXPECT_TRUE(type_matches(s->finding_types, "Recon:EC2/PortProbeUnprotectedPort"));
  EXPECT_TRUE(type_matches(s->finding_types, "UnauthorizedAccess:EC2/MaliciousIPCaller.Custom"));
  EXPECT_TRUE(type_matches(s->finding_types, "Backdoor:EC2/C&CActivity.B"));
  EXPECT_FALSE(type_matches(s->finding_types, "Recon:EC2/Portscan"));  // the instance is the scanner
  EXPECT_FALSE(type_matches(s->finding_types, "Impact:EC2/PortSweep"));
}

TEST(NetworkBlockSettings, ReadsEveryVariable) {
  auto s = network_block_settings_from_environment(fixed_environment({
      {"TOURNIQUET_BLOCK_FINDING_TYPES", "Recon:EC2/*, UnauthorizedAccess:EC2/SSHBruteForce"},
      {"TOURNIQUET_BLOCK_MIN_SEVERITY", "5"},
      {"TOURNIQUET_BLOCK_RULE_RANGE", "10-19"},
      {"TOURNIQUET_BLOCK_TTL_SECONDS", "90"},
      {"TOURNIQUET_BLOCK_PRIVATE", "true"},
      {"TOURNIQUET_NEVER_BLOCK", "203.0.113.0/24,2001:db8:1::/48"},
      {"TOURNIQUET_BLOCK_EXPIRY_ACCOUNTS", "210987654321"},
  }));
  ASSERT_TRUE(s.ok()) << s.err().describe();
  EXPECT_EQ(s->finding_types.size(), 2u);
  EXPECT_DOUBLE_EQ(s->min_severity, 5.0);
  EXPECT_EQ(s->rule_low, 10);
  EXPECT_EQ(s->rule_high, 19);
  EXPECT_EQ(s->ttl, std::chrono::seconds(90));
  EXPECT_TRUE(s->block_private);
  EXPECT_EQ(s->expiry_accounts, std::vector<std::string>{"210987654321"});
  EXPECT_NE(never_block_reason(cidr("203.0.113.9"), *s, {}).value_or("").find("TOURNIQUET_NEVER_BLOCK"),
            std::string::npos);
  EXPECT_FALSE(never_block_reason(cidr("192.168.0.1"), *s, {}).has_value());

  auto hours =
      network_block_settings_from_environment(fixed_environment({{"TOURNIQUET_BLOCK_TTL_HOURS", "0.5"}}));
  ASSERT_TRUE(hours.ok());
  EXPECT_EQ(hours->ttl, std::chrono::minutes(30));
}

TEST(NetworkBlockSettings, RefusesBadValuesNamingTheVariable) {
  const std::vector<std::pair<std::string, std::string>> bad{
      {"TOURNIQUET_BLOCK_RULE_RANGE", "90-71"},
      {"TOURNIQUET_BLOCK_RULE_RANGE", "71"},
      {"TOURNIQUET_BLOCK_RULE_RANGE", "0-10"},
      {"TOURNIQUET_BLOCK_RULE_RANGE", "100-200"},  // 101 numbers: more tags than an ACL holds
      {"TOURNIQUET_BLOCK_RULE_RANGE", "32760-32767"},
      {"TOURNIQUET_BLOCK_TTL_HOURS", "0"},
      {"TOURNIQUET_BLOCK_TTL_SECONDS", "0"},
      {"TOURNIQUET_BLOCK_MIN_SEVERITY", "11"},
      {"TOURNIQUET_NEVER_BLOCK", "203.0.113.0/24,not-an-address"},
      {"TOURNIQUET_BLOCK_FINDING_TYPES", "Recon:*/Portscan"},
      {"TOURNIQUET_BLOCK_EXPIRY_ACCOUNTS", "12345"},
      {"TOURNIQUET_BLOCK_PRIVATE", "maybe"},
  };
  for (const auto& [name, value] : bad) {
    auto s = network_block_settings_from_environment(fixed_environment({{name, value}}));
    ASSERT_FALSE(s.ok()) << name << "=" << value;
    EXPECT_EQ(s.err().code, "InvalidConfiguration");
    EXPECT_NE(s.err().message.find(name), std::string::npos) << s.err().message;
  }
  auto never =
      network_block_settings_from_environment(fixed_environment({{"TOURNIQUET_NEVER_BLOCK", "1.2.3.999"}}));
  ASSERT_FALSE(never.ok());
  EXPECT_NE(never.err().message.find("'1.2.3.999'"), std::string::npos);
  auto both = network_block_settings_from_environment(
      fixed_environment({{"TOURNIQUET_BLOCK_TTL_HOURS", "1"}, {"TOURNIQUET_BLOCK_TTL_SECONDS", "60"}}));
  EXPECT_FALSE(both.ok());
}

// --- Routing ---------------------------------------------------------------------------------------------

guardduty_finding sample(const std::string& name) {
  std::ifstream in(std::filesystem::path(TQ_SOURCE_DIR) / "events" / "guardduty" / name);
  std::ostringstream text;
  text << in.rdbuf();
  auto decoded = decode_event(text.str());
  EXPECT_TRUE(decoded.ok()) << name;
  return std::get<guardduty_finding>(*decoded);
}

// The registry's routing, with the playbooks built from `variables`.
routing route_finding(const guardduty_finding& finding,
                      std::map<std::string, std::string, std::less<>> variables = {}) {
  const auto playbooks = make_playbooks(fixed_environment(std::move(variables))).value();
  return route_event(playbooks, finding, config{});
}

bool routes_to(const routing& r, std::string_view playbook) {
  return std::any_of(r.jobs.begin(), r.jobs.end(), [&](const job& j) { return j.playbook == playbook; });
}

TEST(NetworkBlockRouting, AttackersOfAnInstanceAreBlocked) {
  const network_block_settings s;
  const auto probe = sample("recon-ec2-port-probe-unprotected-port.json");
  EXPECT_FALSE(network_block_refusal(probe, s).has_value());
  const routing r = route_finding(probe);
  EXPECT_TRUE(routes_to(r, network_block_playbook));
  EXPECT_FALSE(routes_to(r, "instance-containment"));  // the instance is the target

  // The instance talks to a command-and-control server: contain it and block the server.
  const routing both = route_finding(sample("backdoor-ec2-cc-activity.json"));
  EXPECT_TRUE(routes_to(both, "instance-containment"));
  EXPECT_TRUE(routes_to(both, network_block_playbook));

  EXPECT_TRUE(routes_to(route_finding(sample("unauthorizedaccess-ec2-rdp-brute-force-ipv6.json")),
                        network_block_playbook));
}

TEST(NetworkBlockRouting, SaysWhyAFindingIsNotBlocked) {
  network_block_settings s;
  auto why = [&](const guardduty_finding& f) { return network_block_refusal(f, s).value_or("(applies)"); };
  EXPECT_NE(why(sample("cryptocurrency-ec2-bitcointool-dns.json")).find("DNS_REQUEST"), std::string::npos);
  EXPECT_NE(why(sample("impact-ec2-port-sweep.json")).find("TOURNIQUET_BLOCK_FINDING_TYPES"),
            std::string::npos);
  EXPECT_NE(why(sample("unauthorizedaccess-iamuser-malicious-ip-caller-custom.json")).find("not an instance"),
            std::string::npos);

  s.min_severity = 5.0;
  const auto probe = sample("recon-ec2-port-probe-unprotected-port.json");
  EXPECT_NE(why(probe).find("TOURNIQUET_BLOCK_MIN_SEVERITY"), std::string::npos);
  const routing r = route_finding(probe, {{"TOURNIQUET_BLOCK_MIN_SEVERITY", "5"}});
  EXPECT_FALSE(routes_to(r, network_block_playbook));
  EXPECT_TRUE(std::any_of(r.passed.begin(), r.passed.end(), [](const passed_over& p) {
    return p.playbook == network_block_playbook &&
           p.reason.find("TOURNIQUET_BLOCK_MIN_SEVERITY") != std::string::npos;
  }));

  s = network_block_settings{};
  auto no_addresses = probe;
  no_addresses.remote_addresses.clear();
  EXPECT_NE(why(no_addresses).find("no remote address"), std::string::npos);
  auto api = probe;
  api.action_type = "AWS_API_CALL";
  EXPECT_NE(why(api).find("AWS API"), std::string::npos);
  auto archived = probe;
  archived.archived = true;
  EXPECT_FALSE(routes_to(route_finding(archived), network_block_playbook));
}

TEST(NetworkBlockTargets, FromFindingsAndRequests) {
  const block_target probe = block_target_of(sample("recon-ec2-port-probe-unprotected-port.json"));
  EXPECT_EQ(probe.addresses, (std::vector<std::string>{"192.0.2.10", "198.51.100.62", "203.0.113.199"}));
  EXPECT_EQ(probe.instance_id.value_or(""), "i-0123456789abcdef0");
  EXPECT_EQ(probe.subnet_ids, std::vector<std::string>{"subnet-0a1b2c3d4e5f67890"});
  EXPECT_TRUE(probe.incident_id.starts_with("tq-"));

  block_request request;
  request.envelope.account = "123456789012";
  request.envelope.id = "event-1";
  request.addresses = {"203.0.113.45"};
  request.network_acl_ids = {"acl-1"};
  request.reason = "ticket SEC-1";
  const block_target t = block_target_of(request);
  EXPECT_EQ(t.network_acl_ids, std::vector<std::string>{"acl-1"});
  EXPECT_FALSE(t.instance_id.has_value());
  EXPECT_EQ(t.incident_id, block_target_of(request).incident_id);  // a replay lands on the same records
  request.incident_id = "inc-7";
  EXPECT_EQ(block_target_of(request).incident_id, "inc-7");
}

// --- Tags and the ACL as read ----------------------------------------------------------------------------

TEST(BlockTags, RoundTripAndRefuseUnreadableValues) {
  block_record r{77, cidr("2001:db8::1"), now, now + 86400, "inc|with|bars", {}};
  r.tag_value = block_tag_value(r);
  EXPECT_EQ(block_tag_key(77), "tourniquet:block:77");
  EXPECT_EQ(r.tag_value, "2001:db8::1/128|1750000000|1750086400|inc_with_bars");
  auto parsed = parse_block_tag("tourniquet:block:77", r.tag_value);
  ASSERT_TRUE(parsed.has_value() && parsed->ok());
  EXPECT_EQ(parsed->value().rule_number, 77);
  EXPECT_EQ(parsed->value().block, r.block);
  EXPECT_EQ(parsed->value().expires, now + 86400);
  EXPECT_EQ(parsed->value().incident, "inc_with_bars");

  r.incident = std::string(400, 'x');
  EXPECT_LE(block_tag_value(r).size(), 255u);

  EXPECT_FALSE(parse_block_tag("Name", "web").has_value());  // not ours
  for (auto [key, value] :
       std::vector<std::pair<std::string, std::string>>{{"tourniquet:block:x", "203.0.113.7/32|1|2|i"},
                                                        {"tourniquet:block:71", "203.0.113.7/32|1|i"},
                                                        {"tourniquet:block:71", "nonsense|1|2|i"},
                                                        {"tourniquet:block:71", "203.0.113.7/32|soon|2|i"}}) {
    auto bad = parse_block_tag(key, value);
    ASSERT_TRUE(bad.has_value()) << key;
    EXPECT_FALSE(bad->ok()) << key << "=" << value;
  }
}

TEST(AclState, ReadsEntriesAssociationsTagsAndVpcRanges) {
  const char* xml = R"(<DescribeNetworkAclsResponse><requestId>r</requestId><networkAclSet><item>
      <networkAclId>acl-1</networkAclId><vpcId>vpc-1</vpcId>
      <entrySet>
        <item><ruleNumber>100</ruleNumber><protocol>-1</protocol><ruleAction>allow</ruleAction><egress>false</egress><cidrBlock>0.0.0.0/0</cidrBlock></item>
        <item><ruleNumber>71</ruleNumber><protocol>-1</protocol><ruleAction>deny</ruleAction><egress>true</egress><ipv6CidrBlock>2001:db8::1/128</ipv6CidrBlock></item>
        <item><ruleNumber>72</ruleNumber><protocol>6</protocol><ruleAction>deny</ruleAction><egress>false</egress><cidrBlock>203.0.113.0/24</cidrBlock></item>
      </entrySet>
      <associationSet><item><networkAclId>acl-1</networkAclId><subnetId>subnet-1</subnetId></item></associationSet>
      <tagSet>
        <item><key>Name</key><value>public</value></item>
        <item><key>tourniquet:block:71</key><value>2001:db8::1/128|1|2|tq-1</value></item>
        <item><key>tourniquet:block:73</key><value>garbage</value></item>
      </tagSet></item></networkAclSet></DescribeNetworkAclsResponse>)";
  pugi::xml_document doc;
  ASSERT_TRUE(doc.load_string(xml));
  const auto acls = acls_from_xml(doc.document_element());
  ASSERT_EQ(acls.size(), 1u);
  const acl_state& acl = acls[0];
  EXPECT_EQ(acl.id, "acl-1");
  EXPECT_EQ(acl.vpc_id, "vpc-1");
  EXPECT_EQ(acl.subnet_ids, std::vector<std::string>{"subnet-1"});
  ASSERT_EQ(acl.entries.size(), 3u);
  EXPECT_TRUE(acl.entries[1].egress && acl.entries[1].deny && acl.entries[1].all_protocols);
  EXPECT_EQ(acl.entries[1].block->text(), "2001:db8::1/128");
  EXPECT_FALSE(acl.entries[2].all_protocols);
  EXPECT_EQ(acl.tag_count, 3u);
  ASSERT_EQ(acl.blocks.size(), 1u);
  EXPECT_TRUE(is_ours(acl, acl.entries[1]));
  EXPECT_FALSE(is_ours(acl, acl.entries[2]));
  EXPECT_EQ(acl.unreadable_tags, std::vector<std::string>{"tourniquet:block:73"});

  const char* vpcs =
      R"(<DescribeVpcsResponse><vpcSet><item><vpcId>vpc-1</vpcId><cidrBlock>10.0.0.0/16</cidrBlock>
      <cidrBlockAssociationSet><item><cidrBlock>10.0.0.0/16</cidrBlock></item><item><cidrBlock>10.1.0.0/16</cidrBlock></item></cidrBlockAssociationSet>
      <ipv6CidrBlockAssociationSet><item><ipv6CidrBlock>2600:1f18:4c2:9a00::/56</ipv6CidrBlock></item></ipv6CidrBlockAssociationSet>
      </item></vpcSet></DescribeVpcsResponse>)";
  pugi::xml_document vdoc;
  ASSERT_TRUE(vdoc.load_string(vpcs));
  const auto ranges = vpc_cidrs_from_xml(vdoc.document_element());
  ASSERT_TRUE(ranges.contains("vpc-1"));
  EXPECT_EQ(ranges.at("vpc-1").size(), 3u);
}

TEST(AclState, EffectiveDenyFollowsRuleOrder) {
  acl_state acl = default_acl();
  EXPECT_FALSE(effective_deny(acl, cidr("203.0.113.7"), false).has_value());  // allow at 100 comes first
  acl.entries.push_back(entry(50, false, true, "203.0.113.0/24"));
  ASSERT_TRUE(effective_deny(acl, cidr("203.0.113.7"), false).has_value());
  EXPECT_EQ(effective_deny(acl, cidr("203.0.113.7"), false)->rule_number, 50);
  EXPECT_FALSE(effective_deny(acl, cidr("203.0.113.7"), true).has_value());    // the other direction
  EXPECT_FALSE(effective_deny(acl, cidr("203.0.0.0/16"), false).has_value());  // only part of it is denied
  acl.entries.push_back(
      entry(40, false, false, "203.0.113.7/32", false));  // an allow (of one port) before it
  EXPECT_FALSE(effective_deny(acl, cidr("203.0.113.7"), false).has_value());
  acl.entries.push_back(entry(30, true, true, "198.51.100.9/32", false));  // a deny of one protocol only
  EXPECT_FALSE(effective_deny(acl, cidr("198.51.100.9"), true).has_value());
  // With no allow at all, the catch-all deny is what decides.
  acl_state closed;
  closed.entries.push_back(entry(32767, false, true, "0.0.0.0/0"));
  EXPECT_EQ(effective_deny(closed, cidr("203.0.113.7"), false)->rule_number, 32767);
}

// --- Planning blocks -------------------------------------------------------------------------------------

TEST(PlanBlocks, CreatesInboundFirstThenOutboundAndTagInsideTheWindow) {
  const auto s = window(71, 90);
  const block_plan p = plan_blocks(default_acl(), addresses({"203.0.113.7", "2001:db8::1"}), s, now, "tq-1");
  ASSERT_EQ(p.intents.size(), 2u);
  ASSERT_EQ(p.calls.size(), 6u);
  for (const auto& intent : p.intents) {
    EXPECT_EQ(intent.step, block_step::create);
    EXPECT_GE(intent.rule_number, 71);
    EXPECT_LE(intent.rule_number, 90);
    EXPECT_EQ(intent.expires, now + 86400);
    ASSERT_TRUE(intent.claim_index.has_value());
    const planned_call& claim = p.calls[*intent.claim_index];
    EXPECT_EQ(claim.query().action, "CreateNetworkAclEntry");
    EXPECT_EQ(claim.query().params.get("Egress"), "false");  // the inbound entry is the lock on the number
    EXPECT_EQ(claim.query().params.get("RuleAction"), "deny");
    EXPECT_EQ(claim.query().params.get("Protocol"), "-1");
    EXPECT_TRUE(claim.needs.empty());
    ASSERT_EQ(intent.other_indices.size(), 2u);
    const planned_call& outbound = p.calls[intent.other_indices[0]];
    EXPECT_EQ(outbound.query().params.get("Egress"), "true");
    EXPECT_EQ(outbound.needs, std::vector<size_t>{*intent.claim_index});
    EXPECT_EQ(rule_of(outbound), intent.rule_number);
    const planned_call& tag = p.calls[intent.other_indices[1]];
    EXPECT_EQ(tag.query().action, "CreateTags");
    EXPECT_EQ(tag.needs, std::vector<size_t>{*intent.claim_index});
    EXPECT_EQ(tag.query().params.get("Tag.1.Key"), "tourniquet:block:" + std::to_string(intent.rule_number));
  }
  EXPECT_NE(p.intents[0].rule_number, p.intents[1].rule_number);
  EXPECT_EQ(p.calls[*p.intents[0].claim_index].query().params.get("CidrBlock"), "203.0.113.7/32");
  EXPECT_EQ(p.calls[*p.intents[1].claim_index].query().params.get("Ipv6CidrBlock"), "2001:db8::1/128");
  EXPECT_EQ(p.calls[*p.intents[1].claim_index].query().params.get("CidrBlock"), "");
  EXPECT_EQ(p.calls[p.intents[0].other_indices[1]].query().params.get("Tag.1.Value"),
            "203.0.113.7/32|1750000000|1750086400|tq-1");
}

TEST(PlanBlocks, SpreadsNumbersAndNeverUsesATakenOne) {
  const auto s = window(71, 90);
  std::set<int> preferred;
  for (int i = 1; i <= 20; ++i)
    preferred.insert(preferred_rule_number(cidr("203.0.113." + std::to_string(i)), s));
  EXPECT_GT(preferred.size(), 8u);  // different addresses seldom want the same number
  for (int n : preferred) {
    EXPECT_GE(n, 71);
    EXPECT_LE(n, 90);
  }
  // After a lost race the next attempt goes elsewhere, so that the losers do not collide again in step.
  std::set<int> attempts;
  for (int attempt = 0; attempt < 6; ++attempt)
    attempts.insert(preferred_rule_number(cidr("203.0.113.1"), s, attempt));
  EXPECT_GT(attempts.size(), 2u);

  acl_state acl = default_acl();
  // Foreign rules on every number but three; one of them in one direction only.
  for (int n = 71; n <= 90; ++n) {
    if (n == 74 || n == 80 || n == 88) continue;
    acl.entries.push_back(entry(n, n % 2 == 0, true, "192.0.2." + std::to_string(n) + "/32"));
  }
  const block_plan p =
      plan_blocks(acl, addresses({"203.0.113.1", "203.0.113.2", "203.0.113.3"}), s, now, "tq");
  std::set<int> used;
  for (const auto& intent : p.intents) {
    EXPECT_EQ(intent.step, block_step::create);
    used.insert(intent.rule_number);
  }
  EXPECT_EQ(used, (std::set<int>{74, 80, 88}));
}

TEST(PlanBlocks, AReplayAddsNothing) {
  acl_state acl = default_acl();
  add_ours(acl, 75, "203.0.113.7/32", now + 86400);
  acl.entries.push_back(entry(60, false, true, "198.51.100.0/24"));  // someone else's, wider
  acl.entries.push_back(entry(60, true, true, "198.51.100.0/24"));
  const block_plan p =
      plan_blocks(acl, addresses({"203.0.113.7", "198.51.100.9"}), window(71, 90), now, "tq");
  EXPECT_TRUE(p.calls.empty());
  ASSERT_EQ(p.intents.size(), 2u);
  EXPECT_EQ(p.intents[0].step, block_step::already);
  EXPECT_EQ(p.intents[0].rule_number, 75);
  EXPECT_EQ(p.intents[1].step, block_step::already);
  EXPECT_NE(p.intents[1].detail.find("not Tourniquet's"), std::string::npos);
}

TEST(PlanBlocks, ARepeatLaterPushesTheExpiryBack) {
  acl_state acl = default_acl();
  add_ours(acl, 75, "203.0.113.7/32", now + 3600);  // 23 of its 24 hours gone
  const block_plan p = plan_blocks(acl, addresses({"203.0.113.7"}), window(71, 90), now, "tq-new");
  ASSERT_EQ(p.calls.size(), 1u);
  EXPECT_EQ(p.calls[0].query().action, "CreateTags");
  EXPECT_EQ(p.calls[0].query().params.get("Tag.1.Key"), "tourniquet:block:75");
  // The first incident and creation time stay; only the expiry moves.
  EXPECT_EQ(p.calls[0].query().params.get("Tag.1.Value"), "203.0.113.7/32|1750000000|1750086400|tq-old");
  EXPECT_EQ(p.intents[0].step, block_step::already);
  EXPECT_EQ(p.intents[0].expires, now + 86400);
}

TEST(PlanBlocks, AFullWindowEvictsTheOldestOfOursAndNeverAForeignRule) {
  acl_state acl = default_acl();
  acl.entries.push_back(entry(72, false, true, "192.0.2.1/32"));  // foreign, no tag
  acl.entries.push_back(entry(72, true, true, "192.0.2.1/32"));
  add_ours(acl, 71, "203.0.113.1/32", now + 5000);
  add_ours(acl, 73, "203.0.113.3/32", now + 1000);  // due first
  const block_plan p = plan_blocks(acl, addresses({"198.51.100.50"}), window(71, 73), now, "tq");
  ASSERT_EQ(p.intents.size(), 1u);
  const block_intent& intent = p.intents[0];
  EXPECT_EQ(intent.step, block_step::evict);
  EXPECT_EQ(intent.rule_number, 73);
  ASSERT_TRUE(intent.evicted.has_value());
  EXPECT_EQ(intent.evicted->block.text(), "203.0.113.3/32");
  const auto deletes = calls_named(p, "DeleteNetworkAclEntry");
  ASSERT_EQ(deletes.size(), 2u);
  std::vector<size_t> delete_indices;
  for (size_t i = 0; i < p.calls.size(); ++i) {
    if (p.calls[i].query().action == "DeleteNetworkAclEntry") delete_indices.push_back(i);
  }
  for (const auto* d : deletes) EXPECT_EQ(rule_of(*d), 73);
  EXPECT_EQ(p.calls[*intent.claim_index].needs, delete_indices);  // the number is reused once it is free
  for (const auto& c : p.calls) EXPECT_NE(rule_of_or_zero(c), 72);
}

TEST(PlanBlocks, NoRoomWhenTheWindowHoldsOnlyForeignRulesOrThisRequestsOwn) {
  acl_state acl = default_acl();
  for (int n = 71; n <= 73; ++n)
    acl.entries.push_back(entry(n, false, true, "192.0.2." + std::to_string(n) + "/32"));
  block_plan p = plan_blocks(acl, addresses({"198.51.100.50"}), window(71, 73), now, "tq");
  ASSERT_EQ(p.intents.size(), 1u);
  EXPECT_EQ(p.intents[0].step, block_step::no_room);
  EXPECT_NE(p.intents[0].detail.find("71-73"), std::string::npos);
  EXPECT_TRUE(p.calls.empty());

  // A one-number window holding this request's first address: the second must not evict it.
  acl_state small = default_acl();
  add_ours(small, 71, "203.0.113.1/32", now + 10);
  p = plan_blocks(small, addresses({"203.0.113.1", "203.0.113.2"}), window(71, 71), now, "tq");
  EXPECT_EQ(p.intents[0].step, block_step::already);
  EXPECT_EQ(p.intents[1].step, block_step::no_room);
  EXPECT_TRUE(calls_named(p, "DeleteNetworkAclEntry").empty());

  // Two new addresses in a window with one of ours: the first evicts it, the second finds no room left.
  p = plan_blocks(small, addresses({"203.0.113.5", "203.0.113.6"}), window(71, 71), now, "tq");
  EXPECT_EQ(p.intents[0].step, block_step::evict);
  EXPECT_EQ(p.intents[1].step, block_step::no_room);
}

TEST(PlanBlocks, TheEntryLimitMakesItEvictEvenWithFreeNumbers) {
  acl_state acl = default_acl();
  add_ours(acl, 80, "203.0.113.1/32", now + 100);
  acl.entry_limit_reached = true;
  const block_plan p = plan_blocks(acl, addresses({"198.51.100.50"}), window(71, 90), now, "tq");
  EXPECT_EQ(p.intents[0].step, block_step::evict);
  EXPECT_EQ(p.intents[0].rule_number, 80);
}

TEST(PlanBlocks, RepairsOurOwnHalfBlock) {
  acl_state acl = default_acl();
  add_ours(acl, 76, "203.0.113.7/32", now + 1000, true, false);  // the outbound entry never came
  const block_plan p = plan_blocks(acl, addresses({"203.0.113.7"}), window(71, 90), now, "tq");
  ASSERT_EQ(p.calls.size(), 1u);
  EXPECT_EQ(p.intents[0].step, block_step::repair);
  EXPECT_EQ(rule_of(p.calls[0]), 76);
  EXPECT_EQ(p.calls[0].query().params.get("Egress"), "true");

  // If another rule took the missing slot, a fresh pair goes elsewhere and the other rule stays.
  acl.entries.push_back(entry(76, true, false, "192.0.2.9/32"));
  const block_plan q = plan_blocks(acl, addresses({"203.0.113.7"}), window(71, 90), now, "tq");
  EXPECT_EQ(q.intents[0].step, block_step::create);
  EXPECT_NE(q.intents[0].rule_number, 76);
}

TEST(PlanBlocks, RefusesWhenAnAllowRuleComesFirst) {
  acl_state acl = default_acl();
  acl.entries.push_back(entry(50, false, false, "203.0.113.0/24", false));  // allows one port from them
  const block_plan p = plan_blocks(acl, addresses({"203.0.113.7"}), window(71, 90), now, "tq");
  EXPECT_EQ(p.intents[0].step, block_step::shadowed);
  EXPECT_NE(p.intents[0].detail.find("allow rule 50"), std::string::npos);
  EXPECT_TRUE(p.calls.empty());
}

TEST(PlanBlocks, MindsTheFiftyTagLimit) {
  acl_state acl = default_acl();
  acl.tag_count = 49;
  const block_plan p = plan_blocks(acl, addresses({"203.0.113.1", "203.0.113.2"}), window(71, 90), now, "tq");
  EXPECT_EQ(p.intents[0].step, block_step::create);
  EXPECT_EQ(p.intents[1].step, block_step::no_room);
  EXPECT_NE(p.intents[1].detail.find("tags"), std::string::npos);
}

// --- Planning expiry -------------------------------------------------------------------------------------

TEST(PlanExpiry, RemovesWhatIsDueAndNothingElse) {
  acl_state acl = default_acl();
  add_ours(acl, 71, "203.0.113.1/32", now - 1);                 // due
  add_ours(acl, 72, "203.0.113.2/32", now + 3600);              // not yet
  add_ours(acl, 73, "2001:db8::3/128", now);                    // due this very second
  add_ours(acl, 74, "203.0.113.4/32", now - 50, false, false);  // due, its entries already gone
  // Due by its tag, but the number now holds someone else's rule: the tag goes, the rule stays.
  block_record stale{75, cidr("203.0.113.5"), now - 100, now - 10, "tq", {}};
  stale.tag_value = block_tag_value(stale);
  acl.blocks[75] = stale;
  acl.entries.push_back(entry(75, false, true, "192.0.2.75/32"));
  acl.entries.push_back(entry(77, false, true, "192.0.2.77/32"));  // foreign, no tag
  acl.unreadable_tags.push_back("tourniquet:block:79");

  const expiry_plan p = plan_expiry({acl}, now);
  ASSERT_EQ(p.intents.size(), 4u);
  std::set<std::pair<int, std::string>> deleted;
  for (const auto& c : p.calls) {
    EXPECT_EQ(c.query().action, "DeleteNetworkAclEntry");
    deleted.insert({rule_of(c), std::string(c.query().params.get("Egress"))});
  }
  EXPECT_EQ(deleted, (std::set<std::pair<int, std::string>>{
                         {71, "false"}, {71, "true"}, {73, "false"}, {73, "true"}}));
  for (const auto& intent : p.intents) {
    EXPECT_NE(intent.record.rule_number, 72);
    if (intent.record.rule_number == 74 || intent.record.rule_number == 75) {
      EXPECT_TRUE(intent.delete_indices.empty());
    }
  }
  ASSERT_EQ(p.left_alone.size(), 1u);
  EXPECT_EQ(p.left_alone[0].result, outcome::skipped);

  // The tag is removed by key and value: a record rewritten meanwhile (a new block on the number) stays.
  const planned_call forget = plan_forget(acl.id, acl.blocks.at(71));
  EXPECT_EQ(forget.query().action, "DeleteTags");
  EXPECT_EQ(forget.query().params.get("Tag.1.Key"), "tourniquet:block:71");
  EXPECT_EQ(forget.query().params.get("Tag.1.Value"), acl.blocks.at(71).tag_value);
}

// --- One job, end to end at the HTTP seam -----------------------------------------------------------------

// EC2 and GuardDuty at the HTTP seam, answering at once: one ACL (acl-1 in vpc-1, both of the function's
// subnets) whose entries the creates change, its VPC, and GuardDuty's copy of `finding_detail`.
class acl_world : public aws::http_transport {
 public:
  explicit acl_world(nlohmann::json finding_detail) : m_finding(std::move(finding_detail)) {}

  std::vector<result<aws::http_response>> send_all(std::span<const aws::http_request> requests,
                                                   std::chrono::milliseconds) override {
    std::vector<result<aws::http_response>> out;
    std::multiset<std::string> trip;
    for (const auto& r : requests) {
      const std::string name =
          r.url.find("/findings/get") != std::string::npos ? "GetFindings" : param(r, "Action");
      trip.insert(name);
      out.push_back(answer(name, r));
    }
    trips.push_back(std::move(trip));
    return out;
  }

  std::vector<std::multiset<std::string>> trips;
  std::vector<std::string> denied;  // "in 185.220.101.47/32", "out …"

 private:
  static std::string param(const aws::http_request& r, const std::string& name) {
    const std::string key = name + "=";
    for (size_t at = 0; at < r.body.size();) {
      const size_t end = std::min(r.body.find('&', at), r.body.size());
      if (r.body.compare(at, key.size(), key) == 0) {
        std::string value = r.body.substr(at + key.size(), end - at - key.size());
        for (size_t p; (p = value.find("%2F")) != std::string::npos;) value.replace(p, 3, "/");
        return value;
      }
      at = end + 1;
    }
    return "";
  }

  aws::http_response answer(const std::string& name, const aws::http_request& r) {
    if (name == "GetFindings") return {200, {}, nlohmann::json{{"findings", {m_finding}}}.dump()};
    if (name == "DescribeNetworkAcls") return {200, {}, acls_xml()};
    if (name == "DescribeVpcs") {
      return {200,
              {},
              "<DescribeVpcsResponse><vpcSet><item><vpcId>vpc-1</vpcId><cidrBlock>10.0.0.0/16</cidrBlock>"
              "</item></vpcSet></DescribeVpcsResponse>"};
    }
    if (name == "CreateNetworkAclEntry") {
      m_entries.push_back({param(r, "RuleNumber"), param(r, "Egress"), param(r, "CidrBlock")});
      denied.push_back((param(r, "Egress") == "true" ? "out " : "in ") + param(r, "CidrBlock"));
    }
    if (name == "CreateTags") m_tags.push_back({param(r, "Tag.1.Key"), param(r, "Tag.1.Value")});
    return {200, {}, "<" + name + "Response><return>true</return></" + name + "Response>"};
  }

  std::string acls_xml() const {
    std::string entries =
        "<item><ruleNumber>100</ruleNumber><protocol>-1</protocol><ruleAction>allow</ruleAction>"
        "<egress>false</egress><cidrBlock>0.0.0.0/0</cidrBlock></item>"
        "<item><ruleNumber>100</ruleNumber><protocol>-1</protocol><ruleAction>allow</ruleAction>"
        "<egress>true</egress><cidrBlock>0.0.0.0/0</cidrBlock></item>";
    for (const auto& e : m_entries) {
      entries += "<item><ruleNumber>" + e[0] +
                 "</ruleNumber><protocol>-1</protocol><ruleAction>deny</ruleAction>"
                 "<egress>" +
                 e[1] + "</egress><cidrBlock>" + e[2] + "</cidrBlock></item>";
    }
    std::string tags;
    for (const auto& [key, value] : m_tags)
      tags += "<item><key>" + key + "</key><value>" + value + "</value></item>";
    return "<DescribeNetworkAclsResponse><networkAclSet><item><networkAclId>acl-1</networkAclId>"
           "<vpcId>vpc-1</vpcId><entrySet>" +
           entries +
           "</entrySet><associationSet>"
           "<item><subnetId>subnet-0a1b2c3d4e5f60718</subnetId></item>"
           "<item><subnetId>subnet-0b2c3d4e5f6071829</subnetId></item></associationSet>"
           "<tagSet>" +
           tags + "</tagSet></item></networkAclSet></DescribeNetworkAclsResponse>";
  }

  nlohmann::json m_finding;
  std::vector<std::array<std::string, 3>> m_entries;  // rule number, egress, CIDR
  std::vector<std::pair<std::string, std::string>> m_tags;
};

// A function's server is blocked in its subnets' ACL. With no instance to read, GetFindings rides beside the
// ACL read, and each answer is read at its own index: CI once saw this job read the VPC ranges from
// GetFindings' slot (std::bad_variant_access) when it was the job of its finding that asked GuardDuty.
TEST(NetworkBlockRun, AFunctionsServerIsBlockedWithGetFindingsBesideTheAclRead) {
  std::ifstream in(std::filesystem::path(TQ_SOURCE_DIR) /
                   "events/guardduty/backdoor-lambda-cc-activity-vpc.json");
  const nlohmann::json event = nlohmann::json::parse(in);
  const guardduty_finding finding = sample("backdoor-lambda-cc-activity-vpc.json");
  const block_target target = block_target_of(finding);
  ASSERT_FALSE(target.instance_id.has_value());
  ASSERT_EQ(target.subnet_ids.size(), 2u);

  auto world = std::make_shared<acl_world>(event["detail"]);
  const aws::client client(
      world,
      std::make_shared<aws::client_settings>(
          aws::client_settings_from_environment(
              fixed_environment({{"AWS_REGION", "us-east-1"}, {"AWS_ENDPOINT_URL", "http://127.0.0.1:9"}}))
              .value()),
      aws::credentials{"AKIDEXAMPLE", "secret", ""});
  finding_confirmation confirmation(finding);
  const config cfg;
  playbook_context ctx{client, cfg, aws::deadline_in(std::chrono::seconds(20))};
  ctx.confirmation = &confirmation;

  const playbook_report report = block_addresses(target, ctx, network_block_settings{});
  EXPECT_EQ(report.status, report_status::blocked) << report.reason;
  ASSERT_FALSE(world->trips.empty());
  EXPECT_EQ(world->trips[0], (std::multiset<std::string>{"DescribeNetworkAcls", "GetFindings"}))
      << "GuardDuty is asked in the first round trip, beside the ACL read";
  EXPECT_EQ(confirmation.verdict(), confirmation_verdict::confirmed);
  EXPECT_EQ(world->denied, (std::vector<std::string>{"in 185.220.101.47/32", "out 185.220.101.47/32"}));
}

}  // namespace
}  // namespace tq::handlers
