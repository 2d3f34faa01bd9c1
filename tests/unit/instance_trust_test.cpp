// What instance containment does not take on trust, checked without I/O: who acted is read from the
// finding's action, one test per row of the README's table.
#include <gtest/gtest.h>

#include "handlers/playbooks/instance_containment.h"

namespace tq::handlers {
namespace {

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
