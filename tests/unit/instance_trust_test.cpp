// What instance containment does not take on trust, checked without I/O: its managed groups are asserted
// (every stray rule revoked before an interface moves, at the cost of a round trip only when one was found),
// and who acted is read from the finding's action, one test per row of the README's table.
#include <gtest/gtest.h>

#include <algorithm>

#include "handlers/playbooks/instance_containment.h"

namespace tq::handlers {
namespace {

const instance_finding finding{"f-1234", "Backdoor:EC2/C&CActivity.B", "123456789012", "i-0abc"};

group_rule rule(rule_direction direction, std::string protocol, std::string from, std::string to,
                rule_peer peer, std::string peer_id) {
  return {direction, std::move(protocol), std::move(from), std::move(to), peer, std::move(peer_id)};
}

// One interface in vpc-a, its groups in place and untouched.
instance_state untampered_state() {
  instance_state s;
  s.instance_id = "i-0abc";
  s.state_name = "running";
  s.interfaces = {{"eni-1", "vpc-a", "subnet-1", {"sg-web"}}};
  s.shutdown_behavior = "stop";
  s.termination_protected = true;
  s.untrack_groups["vpc-a"] = {"sg-untrack", "vpc-a", untrack_rules()};
  s.isolation_groups["vpc-a"] = {"sg-iso", "vpc-a", isolation_rules({"10.99.0.0/24"})};
  return s;
}

instance_settings forensics_settings() {
  instance_settings cfg;
  cfg.forensics_cidrs = {"10.99.0.0/24"};
  return cfg;
}

// The stray rules an attacker holding admin keys might add to the isolation group.
std::vector<group_rule> every_kind_of_stray_rule() {
  return {rule(rule_direction::ingress, "tcp", "22", "22", rule_peer::cidr_v4, "0.0.0.0/0"),
          rule(rule_direction::egress, "tcp", "443", "443", rule_peer::cidr_v4, "0.0.0.0/0"),
          rule(rule_direction::egress, "-1", "", "", rule_peer::group, "sg-attacker"),
          rule(rule_direction::ingress, "tcp", "0", "65535", rule_peer::prefix_list, "pl-0123"),
          rule(rule_direction::ingress, "-1", "", "", rule_peer::cidr_v6, "::/0"),
          rule(rule_direction::egress, "udp", "53", "53", rule_peer::cidr_v6, "2001:db8::/32"),
          // A forensics range, but not with all traffic: not what was configured.
          rule(rule_direction::ingress, "tcp", "22", "22", rule_peer::cidr_v4, "10.99.0.0/24")};
}

size_t level_of(const std::vector<planned_call>& plan, size_t i) {
  size_t deepest = 0;
  for (size_t before : plan[i].after) deepest = std::max(deepest, level_of(plan, before));
  for (size_t need : plan[i].needs) deepest = std::max(deepest, level_of(plan, need));
  return deepest + 1;
}

size_t isolation_level(const std::vector<planned_call>& plan) {
  size_t level = 0;
  for (size_t i = 0; i < plan.size(); ++i) {
    if (plan[i].kind->name == "isolate-interface") level = std::max(level, level_of(plan, i));
  }
  return level;
}

std::vector<size_t> indices_of(const std::vector<planned_call>& plan, std::string_view kind) {
  std::vector<size_t> out;
  for (size_t i = 0; i < plan.size(); ++i) {
    if (plan[i].kind->name == kind) out.push_back(i);
  }
  return out;
}

TEST(group_assertion, an_untampered_group_needs_no_call_and_isolation_keeps_three_round_trips) {
  EXPECT_TRUE(plan_group_rules(untampered_state(), forensics_settings()).empty());
  std::vector<action_record> already;
  const auto plan = plan_containment(finding, untampered_state(), forensics_settings(), already);
  EXPECT_EQ(isolation_level(plan), 2u) << "the read, the untrack, the isolation: three round trips";
  EXPECT_TRUE(indices_of(plan, "find-exposed-interfaces").empty());
}

TEST(group_assertion, every_kind_of_stray_rule_is_revoked_one_rule_per_call) {
  instance_state s = untampered_state();
  const auto strays = every_kind_of_stray_rule();
  auto& iso = s.isolation_groups["vpc-a"].rules;
  iso.insert(iso.end(), strays.begin(), strays.end());
  const auto plan = plan_group_rules(s, forensics_settings());
  ASSERT_EQ(plan.size(), strays.size()) << "the forensics rule stays, nothing is added";
  for (size_t k = 0; k < plan.size(); ++k) {
    const auto& stray = strays[k];
    const auto& call = plan[k];
    const auto& p = call.query().params;
    EXPECT_EQ(call.kind->name, "revoke-stray-rule");
    EXPECT_EQ(call.target, "sg-iso");
    EXPECT_EQ(call.already_if, std::vector<std::string_view>{"InvalidPermission.NotFound"});
    EXPECT_EQ(call.query().action, stray.direction == rule_direction::ingress ? "RevokeSecurityGroupIngress"
                                                                              : "RevokeSecurityGroupEgress");
    EXPECT_EQ(p.get("IpPermissions.1.IpProtocol"), stray.protocol);
    EXPECT_EQ(p.get("IpPermissions.1.FromPort"), stray.from_port);
    EXPECT_EQ(p.get("IpPermissions.1.ToPort"), stray.to_port);
    const std::string peer = std::string(p.get("IpPermissions.1.IpRanges.1.CidrIp")) +
                             std::string(p.get("IpPermissions.1.Ipv6Ranges.1.CidrIpv6")) +
                             std::string(p.get("IpPermissions.1.Groups.1.GroupId")) +
                             std::string(p.get("IpPermissions.1.PrefixListIds.1.PrefixListId"));
    EXPECT_EQ(peer, stray.peer_id) << "exactly one peer per call";
    EXPECT_NE(call.detail.find(describe(stray)), std::string::npos) << "the report names the rule removed";
  }
}

TEST(group_assertion, ipv6_forensics_access_is_kept_only_when_configured) {
  instance_state s = untampered_state();
  s.isolation_groups["vpc-a"].rules.push_back(all_traffic(rule_direction::ingress, "fd00:99::/64"));
  EXPECT_EQ(plan_group_rules(s, forensics_settings()).size(), 1u);
  instance_settings with_v6 = forensics_settings();
  with_v6.forensics_cidrs.push_back("fd00:99::/64");
  EXPECT_TRUE(plan_group_rules(s, with_v6).empty());
}

TEST(group_assertion, the_untrack_group_is_exactly_all_traffic_both_ways) {
  instance_state s = untampered_state();
  auto& rules = s.untrack_groups["vpc-a"].rules;
  rules.erase(rules.begin() + 1);  // ingress ::/0 removed
  rules.push_back(rule(rule_direction::ingress, "-1", "", "", rule_peer::group, "sg-attacker"));
  const auto plan = plan_group_rules(s, forensics_settings());
  ASSERT_EQ(plan.size(), 2u);
  EXPECT_EQ(plan[0].query().action, "RevokeSecurityGroupIngress");
  EXPECT_EQ(plan[0].query().params.get("IpPermissions.1.Groups.1.GroupId"), "sg-attacker");
  EXPECT_EQ(plan[1].query().action, "AuthorizeSecurityGroupIngress");
  EXPECT_EQ(plan[1].query().params.get("IpPermissions.1.Ipv6Ranges.1.CidrIpv6"), "::/0");
}

TEST(group_assertion, no_interface_moves_before_its_isolation_group_is_closed_and_it_costs_one_round_trip) {
  instance_state s = untampered_state();
  s.isolation_groups["vpc-a"].rules.push_back(every_kind_of_stray_rule()[0]);
  std::vector<action_record> already;
  const auto plan = plan_containment(finding, s, forensics_settings(), already);
  const auto revokes = indices_of(plan, "revoke-stray-rule");
  ASSERT_EQ(revokes.size(), 1u);
  for (const char* move : {"untrack-interface", "isolate-interface"}) {
    const auto found = indices_of(plan, move);
    ASSERT_EQ(found.size(), 1u) << move;
    const auto& needs = plan[found[0]].needs;
    EXPECT_NE(std::find(needs.begin(), needs.end(), revokes[0]), needs.end())
        << move << " must wait for the revoke to succeed";
  }
  EXPECT_EQ(isolation_level(plan), 3u) << "one round trip more than untampered, only because of the repair";
  const auto lookups = indices_of(plan, "find-exposed-interfaces");
  ASSERT_EQ(lookups.size(), 1u);
  EXPECT_EQ(level_of(plan, lookups[0]), 1u) << "the exposure lookup goes beside the repair";
  EXPECT_EQ(plan[lookups[0]].query().params.get("Filter.1.Value.1"), "sg-iso");
}

TEST(group_assertion, a_repaired_untrack_group_costs_one_round_trip_too) {
  instance_state s = untampered_state();
  s.untrack_groups["vpc-a"].rules.pop_back();  // egress ::/0 removed: tracked IPv6 flows would survive
  std::vector<action_record> already;
  const auto plan = plan_containment(finding, s, forensics_settings(), already);
  EXPECT_EQ(isolation_level(plan), 3u);
  const auto untrack = indices_of(plan, "untrack-interface").at(0);
  EXPECT_EQ(level_of(plan, untrack), 2u) << "the untrack waits for its group's rules";
}

TEST(group_assertion, a_group_made_by_this_run_loses_its_default_egress_without_being_reported_repaired) {
  instance_state s = untampered_state();
  s.isolation_groups["vpc-a"] = {"sg-new", "vpc-a", {all_traffic(rule_direction::egress, "0.0.0.0/0")}, true};
  const auto plan = plan_group_rules(s, forensics_settings());
  ASSERT_EQ(plan.size(), 2u);
  EXPECT_EQ(plan[0].query().action, "RevokeSecurityGroupEgress");
  EXPECT_EQ(plan[0].kind->name, "set-group-rules");
  EXPECT_EQ(plan[1].query().action, "AuthorizeSecurityGroupIngress");
}

TEST(group_assertion, a_configured_group_is_never_changed) {
  instance_state s = untampered_state();
  s.isolation_groups["vpc-a"].id = "sg-configured";
  s.isolation_groups["vpc-a"].rules.push_back(every_kind_of_stray_rule()[0]);
  instance_settings cfg = forensics_settings();
  cfg.isolation_group_ids = {"sg-configured"};
  EXPECT_TRUE(plan_group_rules(s, cfg).empty())
      << "an open configured group is refused when read, not repaired";
}

// --- Who acted: one test per row of the README's table -----------------------------------------------

guardduty_finding instance_finding_of(std::string type, std::string action, std::string direction,
                                      std::string role) {
  guardduty_finding f;
  f.type = std::move(type);
  f.action_type = std::move(action);
  if (!direction.empty()) f.connection_direction = std::move(direction);
  f.resource_role = std::move(role);
  return f;
}

struct actor_row {
  const char* type;
  const char* action;
  const char* direction;
  const char* role;
  actor_role expected;
};

class actor_table : public ::testing::TestWithParam<actor_row> {};

TEST_P(actor_table, decides_from_the_action_and_type) {
  const actor_row& row = GetParam();
  const actor_verdict verdict = who_acted(instance_finding_of(row.type, row.action, row.direction, row.role));
  EXPECT_EQ(verdict.role, row.expected)
      << row.type << " " << row.action << " " << row.direction << " " << row.role << ": " << verdict.reason;
  EXPECT_FALSE(verdict.reason.empty());
}

INSTANTIATE_TEST_SUITE_P(
    rows, actor_table,
    ::testing::Values(
        // Runtime Monitoring: a process on the instance did it, whatever the role says.
        actor_row{"Execution:Runtime/NewBinaryExecuted", "", "", "TARGET", actor_role::actor},
        // Malware Protection: malware on its disks.
        actor_row{"Execution:EC2/MaliciousFile", "", "", "TARGET", actor_role::actor},
        // A family that names the instance's own behaviour (Tor, C&C, mining, ...).
        actor_row{"UnauthorizedAccess:EC2/TorClient", "NETWORK_CONNECTION", "INBOUND", "TARGET",
                  actor_role::actor},
        // DNS request: the instance asked.
        actor_row{"Trojan:EC2/DGADomainRequest.C!DNS", "DNS_REQUEST", "", "TARGET", actor_role::actor},
        actor_row{"Trojan:EC2/PhishingDomainRequest!DNS", "DNS_REQUEST", "", "TARGET", actor_role::actor},
        // An outbound connection: the instance called out.
        actor_row{"UnauthorizedAccess:EC2/MaliciousIPCaller.Custom", "NETWORK_CONNECTION", "OUTBOUND",
                  "TARGET", actor_role::actor},
        // Brute force: GuardDuty defines the role (ACTOR: it attacks others; TARGET: it is attacked).
        actor_row{"UnauthorizedAccess:EC2/SSHBruteForce", "NETWORK_CONNECTION", "INBOUND", "ACTOR",
                  actor_role::actor},
        actor_row{"UnauthorizedAccess:EC2/RDPBruteForce", "NETWORK_CONNECTION", "UNKNOWN", "TARGET",
                  actor_role::target},
        // An inbound connection to a target: it was attacked.
        actor_row{"UnauthorizedAccess:EC2/MaliciousIPCaller.Custom", "NETWORK_CONNECTION", "INBOUND",
                  "TARGET", actor_role::target},
        // A port probe of a target: it was probed.
        actor_row{"Recon:EC2/PortProbeUnprotectedPort", "PORT_PROBE", "", "TARGET", actor_role::target},
        // Nothing else said: GuardDuty's ACTOR is taken; otherwise unknown (the type decides: isolate).
        actor_row{"UnauthorizedAccess:EC2/MetadataDNSRebind", "AWS_API_CALL", "", "ACTOR", actor_role::actor},
        actor_row{"UnauthorizedAccess:EC2/MetadataDNSRebind", "AWS_API_CALL", "", "TARGET",
                  actor_role::unknown},
        actor_row{"Backdoor:EC2/Spambot", "", "", "", actor_role::actor},
        actor_row{"Impact:EC2/AbusedDomainRequest.Reputation", "", "", "", actor_role::unknown}));

TEST(actor_table, an_unknown_actor_is_isolated_and_a_target_is_refused_saying_why) {
  instance_settings settings;
  guardduty_finding f =
      instance_finding_of("UnauthorizedAccess:EC2/TorClient", "NETWORK_CONNECTION", "OUTBOUND", "TARGET");
  f.severity = 8;
  f.instance = instance_details{"i-0abc"};
  EXPECT_EQ(instance_routing_refusal(f, settings), std::nullopt);
  f = instance_finding_of("UnauthorizedAccess:EC2/SSHBruteForce", "NETWORK_CONNECTION", "INBOUND", "TARGET");
  f.severity = 8;
  f.instance = instance_details{"i-0abc"};
  const auto refusal = instance_routing_refusal(f, settings);
  ASSERT_TRUE(refusal.has_value());
  EXPECT_NE(refusal->find("target"), std::string::npos) << *refusal;
  EXPECT_NE(refusal->find("brute-forced"), std::string::npos) << *refusal;
}

}  // namespace
}  // namespace tq::handlers
