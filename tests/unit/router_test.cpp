// The routing table, checked on the sample events without I/O.
#include "handlers/router.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <sstream>

namespace tq::handlers {
namespace {

guardduty_finding sample(const std::string& name) {
  std::ifstream in(std::string(TQ_SOURCE_DIR) + "/events/guardduty/" + name);
  std::stringstream text;
  text << in.rdbuf();
  auto decoded = decode_event(text.str());
  EXPECT_TRUE(decoded.ok()) << name;
  return std::get<guardduty_finding>(std::move(*decoded));
}

bool routes_to(const routing& r, playbook_id id) {
  return std::find(r.playbooks.begin(), r.playbooks.end(), id) != r.playbooks.end();
}

std::string reasons(const routing& r) {
  std::string all;
  for (const auto& why : r.ignored_because) all += why + "; ";
  return all;
}

TEST(router, a_compromised_instance_is_contained) {
  const auto r = route_finding(sample("backdoor-ec2-cc-activity.json"), config{});
  EXPECT_TRUE(routes_to(r, playbook_id::instance_containment)) << reasons(r);
}

TEST(router, sample_and_archived_findings_are_ignored_saying_why) {
  const auto s = route_finding(sample("sample-backdoor-ec2-denial-of-service-tcp.json"), config{});
  EXPECT_TRUE(s.playbooks.empty());
  EXPECT_NE(reasons(s).find("sample"), std::string::npos);
  const auto a = route_finding(sample("archived-recon-ec2-portscan.json"), config{});
  EXPECT_TRUE(a.playbooks.empty());
  EXPECT_NE(reasons(a).find("archived"), std::string::npos);
}

TEST(router, the_target_of_a_brute_force_is_not_isolated_but_its_attacker_is_blocked) {
  auto finding = sample("unauthorizedaccess-ec2-ssh-brute-force.json");
  finding.severity = 8;  // even a severe one
  finding.resource_role = "TARGET";
  const auto r = route_finding(finding, config{});
  EXPECT_FALSE(routes_to(r, playbook_id::instance_containment));
  EXPECT_NE(reasons(r).find("target"), std::string::npos) << reasons(r);
  EXPECT_TRUE(routes_to(r, playbook_id::network_block)) << reasons(r);
}

TEST(router, severity_and_type_gates_name_their_variable) {
  auto finding = sample("backdoor-ec2-cc-activity.json");
  finding.severity = 5;
  auto r = route_finding(finding, config{});
  EXPECT_FALSE(routes_to(r, playbook_id::instance_containment));
  EXPECT_NE(reasons(r).find("TOURNIQUET_MIN_SEVERITY"), std::string::npos);
  config only_crypto;
  only_crypto.instance_finding_types = {"CryptoCurrency:EC2/*"};
  r = route_finding(sample("backdoor-ec2-cc-activity.json"), only_crypto);
  EXPECT_FALSE(routes_to(r, playbook_id::instance_containment));
  EXPECT_NE(reasons(r).find("TOURNIQUET_INSTANCE_FINDING_TYPES"), std::string::npos);
}

TEST(router, access_key_findings_are_gated_by_type_and_severity_but_root_always_escalates) {
  config cfg;
  cfg.credential_finding_types = default_credential_finding_types();
  EXPECT_TRUE(routes_to(
      route_finding(sample("unauthorizedaccess-iamuser-instance-credential-exfiltration-outside-aws.json"),
                    cfg),
      playbook_id::credential_containment));
  EXPECT_TRUE(
      routes_to(route_finding(sample("unauthorizedaccess-iamuser-malicious-ip-caller-custom.json"), cfg),
                playbook_id::credential_containment));
  auto low = sample("unauthorizedaccess-iamuser-malicious-ip-caller-custom.json");
  low.severity = 2;
  const auto r = route_finding(low, cfg);
  EXPECT_TRUE(r.playbooks.empty());
  EXPECT_NE(reasons(r).find("TOURNIQUET_CREDENTIAL_MIN_SEVERITY"), std::string::npos);
  auto discovery = sample("unauthorizedaccess-iamuser-malicious-ip-caller-custom.json");
  discovery.type = "Discovery:IAMUser/AnomalousBehavior";
  EXPECT_TRUE(route_finding(discovery, cfg).playbooks.empty());
  // Root usage is Low severity and of the Policy family, and still reaches the playbook, which escalates.
  EXPECT_TRUE(routes_to(route_finding(sample("policy-iamuser-root-credential-usage.json"), cfg),
                        playbook_id::credential_containment));
}

TEST(router, other_resource_types_are_ignored) {
  auto finding = sample("backdoor-ec2-cc-activity.json");
  finding.resource_type = "S3Bucket";
  const auto r = route_finding(finding, config{});
  EXPECT_TRUE(r.playbooks.empty());
  EXPECT_NE(reasons(r).find("S3Bucket"), std::string::npos);
}

}  // namespace
}  // namespace tq::handlers
