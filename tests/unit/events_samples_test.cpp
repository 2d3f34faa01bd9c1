// Every sample under events/ decodes (the directory is listed when the test starts, so a new sample is tested
// without editing this file), plus spot checks of what each family must yield.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "handlers/event.h"

namespace tq::handlers {
namespace {

namespace fs = std::filesystem;
const fs::path events_dir = fs::path(TQ_SOURCE_DIR) / "events";

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Every *.json under events/ but events/tools/ (the readable sources the tools build samples from).
std::vector<std::string> sample_files() {
  std::vector<std::string> files;
  for (const auto& entry : fs::recursive_directory_iterator(events_dir)) {
    const fs::path relative = fs::relative(entry.path(), events_dir);
    if (!entry.is_regular_file() || entry.path().extension() != ".json") continue;
    if (*relative.begin() == "tools") continue;
    files.push_back(relative.generic_string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

decoded_event decode_sample(const std::string& relative) {
  result<decoded_event> decoded = decode_event(read_text(events_dir / relative));
  if (!decoded) ADD_FAILURE() << relative << ": " << decoded.err().describe();
  return decoded ? std::move(decoded).value() : decoded_event{unknown_event{}};
}

template <class T>
T sample_as(const std::string& relative) {
  decoded_event event = decode_sample(relative);
  if (!std::holds_alternative<T>(event)) {
    ADD_FAILURE() << relative << " decoded as " << kind_name(event);
    return T{};
  }
  return std::get<T>(std::move(event));
}

// --- every file ---

class every_sample : public ::testing::TestWithParam<std::string> {};

TEST_P(every_sample, decodes_to_the_kind_its_directory_promises) {
  const std::string relative = GetParam();
  const std::string text = read_text(events_dir / relative);
  EXPECT_LT(text.size(), 256u * 1024) << "EventBridge delivers at most 256 KiB";
  result<decoded_event> decoded = decode_event(text);
  ASSERT_TRUE(decoded.ok()) << decoded.err().describe();
  const std::string family = relative.substr(0, relative.find('/'));
  const std::string_view kind = kind_name(*decoded);
  if (family == "guardduty") {
    ASSERT_EQ(kind, "guardduty_finding");
    const auto& finding = std::get<guardduty_finding>(*decoded);
    EXPECT_EQ(finding.envelope.source, "aws.guardduty");
    EXPECT_EQ(finding.envelope.account, "123456789012");
    EXPECT_EQ(finding.envelope.region, "us-east-1");
    EXPECT_EQ(finding.account_id, "123456789012");
    EXPECT_EQ(finding.id.size(), 32u);
    EXPECT_NE(finding.arn.find(finding.id), std::string::npos);
    EXPECT_GE(finding.severity, 1.0);
    EXPECT_LT(finding.severity, 10.0);
    EXPECT_GE(finding.count, 1);
    if (finding.resource_type == "Instance") {
      EXPECT_TRUE(finding.instance.has_value());
    }
    if (finding.resource_type == "AccessKey") {
      EXPECT_TRUE(finding.access_key.has_value());
    }
    // Each family's details are there, and name their resource: no placeholder decodes to empty.
    const family_details& d = finding.families;
    if (finding.resource_type == "Lambda") {
      ASSERT_TRUE(d.lambda.has_value());
      EXPECT_FALSE(d.lambda->function_name.empty());
      EXPECT_FALSE(d.lambda->role.empty());
    }
    if (finding.resource_type == "ECSCluster") {
      ASSERT_TRUE(d.ecs.has_value());
      EXPECT_FALSE(d.ecs->task_arn.empty());
    }
    if (finding.resource_type == "EKSCluster") {
      ASSERT_TRUE(d.eks.has_value());
      EXPECT_FALSE(d.eks->workload_name.empty());
    }
    if (finding.resource_type.starts_with("RDS")) {
      ASSERT_TRUE(d.rds.has_value());
      EXPECT_FALSE(d.rds->user.empty());
    }
    if (finding.action_type == "DNS_REQUEST") {
      EXPECT_TRUE(finding.remote_addresses.empty());
    }
    if (finding.action_type == "NETWORK_CONNECTION" || finding.action_type == "PORT_PROBE" ||
        finding.action_type == "AWS_API_CALL") {
      EXPECT_FALSE(finding.remote_addresses.empty());
    }
  } else if (family == "cloudtrail") {
    EXPECT_TRUE(kind == "cloudtrail_event" || kind == "cloudwatch_logs_batch") << kind;
  } else if (family == "custom") {
    EXPECT_EQ(kind, "block_request");
  } else if (family == "scheduled") {
    EXPECT_EQ(kind, "scheduled_event");
  } else if (family == "securityhub") {
    ASSERT_EQ(kind, "securityhub_event");
    const auto& hub = std::get<securityhub_event>(*decoded);
    EXPECT_EQ(hub.envelope.source, "aws.securityhub");
    ASSERT_FALSE(hub.findings.empty());
    for (const auto& f : hub.findings) {
      EXPECT_TRUE(is_guardduty_product(f)) << f.product_arn;
      EXPECT_FALSE(f.resources.empty());
    }
  } else {
    ADD_FAILURE() << "no expectation for the directory events/" << family << "/";
  }
}

INSTANTIATE_TEST_SUITE_P(events, every_sample, ::testing::ValuesIn(sample_files()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string name = info.param;
                           for (char& c : name)
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           return name;
                         });

TEST(samples, cover_every_family) {
  const auto files = sample_files();
  EXPECT_GE(files.size(), 26u);
  for (const char* family : {"guardduty/", "cloudtrail/", "custom/", "scheduled/"})
    EXPECT_TRUE(std::any_of(files.begin(), files.end(), [&](const std::string& f) {
      return f.rfind(family, 0) == 0;
    })) << family;
}

// --- GuardDuty, per family ---

TEST(guardduty_samples, the_new_families_each_have_a_sample) {
  const auto files = sample_files();
  std::set<std::string> types;
  for (const auto& file : files) {
    if (file.rfind("guardduty/", 0) != 0) continue;
    types.insert(sample_as<guardduty_finding>(file).resource_type);
  }
  for (const char* type : {"Instance", "AccessKey", "Lambda", "ECSCluster", "EKSCluster", "RDSDBInstance",
                           "EBSSnapshot", "BedrockAgent"})
    EXPECT_TRUE(types.contains(type)) << type;
}

TEST(guardduty_samples, lambda_in_a_vpc_and_outside_one) {
  auto vpc = sample_as<guardduty_finding>("guardduty/backdoor-lambda-cc-activity-vpc.json");
  ASSERT_TRUE(vpc.families.lambda);
  EXPECT_EQ(vpc.type, "Backdoor:Lambda/C&CActivity.B");
  EXPECT_EQ(vpc.families.lambda->function_arn,
            "arn:aws:lambda:us-east-1:123456789012:function:orders-webhook");
  EXPECT_EQ(vpc.families.lambda->subnet_ids,
            (std::vector<std::string>{"subnet-0a1b2c3d4e5f60718", "subnet-0b2c3d4e5f6071829"}));
  EXPECT_EQ(vpc.connection_direction, "OUTBOUND");
  auto outside = sample_as<guardduty_finding>("guardduty/cryptocurrency-lambda-bitcointool.json");
  ASSERT_TRUE(outside.families.lambda);
  EXPECT_TRUE(outside.families.lambda->subnet_ids.empty());
  EXPECT_EQ(outside.remote_addresses, std::vector<std::string>{"45.9.148.125"});
}

TEST(guardduty_samples, ecs_task_names_its_task_role_and_runtime_process) {
  auto f = sample_as<guardduty_finding>("guardduty/execution-runtime-reverse-shell-ecs-task.json");
  ASSERT_TRUE(f.access_key && f.families.ecs && f.families.process);
  EXPECT_EQ(f.access_key->user_type, "AssumedRole");
  EXPECT_EQ(f.access_key->user_name, "checkout-task-role");
  EXPECT_EQ(f.families.ecs->task_definition_arn,
            "arn:aws:ecs:us-east-1:123456789012:task-definition/checkout:42");
  EXPECT_EQ(f.families.ecs->group, "service:checkout");
  EXPECT_EQ(f.resource_role, "");
}

TEST(guardduty_samples, runtime_on_ec2_rds_login_snapshot_malware_and_an_unknown_type) {
  auto runtime = sample_as<guardduty_finding>("guardduty/execution-runtime-new-binary-executed-ec2.json");
  ASSERT_TRUE(runtime.instance && runtime.families.process);
  EXPECT_EQ(runtime.families.process->name, "kdevtmpfsi");
  EXPECT_EQ(runtime.families.process->pid, 3321);
  auto rds = sample_as<guardduty_finding>(
      "guardduty/credentialaccess-rds-malicious-ip-caller-successful-login.json");
  ASSERT_TRUE(rds.families.rds);
  EXPECT_EQ(rds.action_type, "RDS_LOGIN_ATTEMPT");
  EXPECT_EQ(rds.families.rds->engine, "aurora-postgresql");
  EXPECT_EQ(rds.families.rds->database, "orders");
  auto snapshot = sample_as<guardduty_finding>("guardduty/execution-ec2-malicious-file-snapshot.json");
  ASSERT_TRUE(snapshot.families.malware);
  EXPECT_FALSE(snapshot.instance.has_value());
  EXPECT_EQ(snapshot.families.malware->threats, std::vector<std::string>{"Trojan.Linux.Miner.XMRig"});
  auto unknown = sample_as<guardduty_finding>("guardduty/future-unknown-resource-type.json");
  EXPECT_EQ(unknown.resource_type, "BedrockAgent");
  ASSERT_TRUE(unknown.access_key);
  EXPECT_EQ(unknown.access_key->user_name, "support-agent-role");
}

TEST(guardduty_samples, backdoor_outbound_connection_from_the_web_instance) {
  auto f = sample_as<guardduty_finding>("guardduty/backdoor-ec2-cc-activity.json");
  EXPECT_EQ(f.type, "Backdoor:EC2/C&CActivity.B");
  EXPECT_EQ(f.severity, 8.0);
  EXPECT_EQ(severity_label(f.severity), "High");
  EXPECT_EQ(f.resource_type, "Instance");
  ASSERT_TRUE(f.instance);
  EXPECT_EQ(f.instance->instance_id, "i-0123456789abcdef0");
  EXPECT_EQ(f.instance->iam_instance_profile_arn,
            "arn:aws:iam::123456789012:instance-profile/web-server-profile");
  ASSERT_EQ(f.instance->network_interfaces.size(), 1u);
  const network_interface& eni = f.instance->network_interfaces[0];
  EXPECT_EQ(eni.id, "eni-0a1b2c3d4e5f60718");
  EXPECT_EQ(eni.subnet_id, "subnet-0a1b2c3d4e5f67890");
  EXPECT_EQ(eni.vpc_id, "vpc-0fedcba9876543210");
  EXPECT_EQ(eni.private_ip, "10.0.1.25");
  EXPECT_EQ(eni.public_ip, "3.91.45.120");
  EXPECT_EQ(eni.security_group_ids, std::vector<std::string>{"sg-0123456789abcdef0"});
  ASSERT_GE(f.instance->tags.size(), 1u);
  EXPECT_EQ(f.instance->tags[0], (std::pair<std::string, std::string>{"Name", "web-1"}));
  EXPECT_EQ(f.action_type, "NETWORK_CONNECTION");
  EXPECT_EQ(f.connection_direction, "OUTBOUND");
  EXPECT_EQ(f.remote_addresses, std::vector<std::string>{"198.51.100.23"});
  EXPECT_EQ(f.resource_role, "ACTOR");
  EXPECT_EQ(f.count, 3);
  EXPECT_FALSE(f.sample);
  EXPECT_FALSE(f.archived);
}

TEST(guardduty_samples, cryptocurrency_dns_request_has_no_remote_address) {
  auto f = sample_as<guardduty_finding>("guardduty/cryptocurrency-ec2-bitcointool-dns.json");
  EXPECT_EQ(f.type, "CryptoCurrency:EC2/BitcoinTool.B!DNS");
  EXPECT_EQ(f.action_type, "DNS_REQUEST");
  EXPECT_EQ(f.domain, "pool.minexmr.example");
  EXPECT_TRUE(f.remote_addresses.empty());
  EXPECT_FALSE(f.connection_direction);
  ASSERT_TRUE(f.instance);
  EXPECT_EQ(f.instance->instance_id, "i-0fedcba9876543210");
  // The worker has two interfaces in two subnets; the second has no public address.
  ASSERT_EQ(f.instance->network_interfaces.size(), 2u);
  const auto& first = f.instance->network_interfaces[0];
  const auto& second = f.instance->network_interfaces[1];
  EXPECT_EQ(first.security_group_ids,
            (std::vector<std::string>{"sg-0abcdef1234567890", "sg-0246813579abcdef0"}));
  EXPECT_EQ(first.ipv6_addresses, std::vector<std::string>{"2600:1f18:4c2:9a00:8d3f:1c2b:77e0:51a4"});
  EXPECT_EQ(second.subnet_id, "subnet-0c2d3e4f5a6b7c8d9");
  EXPECT_FALSE(second.public_ip);
  EXPECT_EQ(f.count, 17);
}

TEST(guardduty_samples, trojan_dns_exfiltration) {
  auto f = sample_as<guardduty_finding>("guardduty/trojan-ec2-dns-data-exfiltration.json");
  EXPECT_EQ(f.type, "Trojan:EC2/DNSDataExfiltration");
  EXPECT_EQ(f.action_type, "DNS_REQUEST");
  EXPECT_TRUE(f.remote_addresses.empty());
  EXPECT_EQ(f.instance->instance_id, "i-0123456789abcdef0");
}

TEST(guardduty_samples, ssh_brute_force_is_inbound_against_a_target) {
  auto f = sample_as<guardduty_finding>("guardduty/unauthorizedaccess-ec2-ssh-brute-force.json");
  EXPECT_EQ(f.type, "UnauthorizedAccess:EC2/SSHBruteForce");
  EXPECT_EQ(f.connection_direction, "INBOUND");
  EXPECT_EQ(f.resource_role, "TARGET");
  EXPECT_EQ(f.remote_addresses, std::vector<std::string>{"203.0.113.45"});
  EXPECT_EQ(severity_label(f.severity), "Low");
}

TEST(guardduty_samples, impact_port_sweep) {
  auto f = sample_as<guardduty_finding>("guardduty/impact-ec2-port-sweep.json");
  EXPECT_EQ(f.type, "Impact:EC2/PortSweep");
  EXPECT_EQ(f.remote_addresses, std::vector<std::string>{"192.0.2.77"});
  EXPECT_EQ(f.instance->instance_id, "i-0fedcba9876543210");
}

TEST(guardduty_samples, malicious_file_has_no_action) {
  auto f = sample_as<guardduty_finding>("guardduty/execution-ec2-malicious-file.json");
  EXPECT_EQ(f.type, "Execution:EC2/MaliciousFile");
  EXPECT_EQ(f.action_type, "");
  EXPECT_TRUE(f.remote_addresses.empty());
  ASSERT_TRUE(f.instance);
  EXPECT_EQ(f.instance->instance_id, "i-0fedcba9876543210");
}

TEST(guardduty_samples, port_probe_yields_all_three_remote_addresses_in_order) {
  auto f = sample_as<guardduty_finding>("guardduty/recon-ec2-port-probe-unprotected-port.json");
  EXPECT_EQ(f.type, "Recon:EC2/PortProbeUnprotectedPort");
  EXPECT_EQ(f.action_type, "PORT_PROBE");
  EXPECT_EQ(f.remote_addresses, (std::vector<std::string>{"192.0.2.10", "198.51.100.62", "203.0.113.199"}));
  EXPECT_FALSE(f.connection_direction);
}

TEST(guardduty_samples, ipv6_remote_address) {
  auto f = sample_as<guardduty_finding>("guardduty/unauthorizedaccess-ec2-rdp-brute-force-ipv6.json");
  EXPECT_EQ(f.type, "UnauthorizedAccess:EC2/RDPBruteForce");
  EXPECT_EQ(f.remote_addresses, std::vector<std::string>{"2001:db8:4006:812::200e"});
}

TEST(guardduty_samples, sample_finding_is_flagged) {
  auto f = sample_as<guardduty_finding>("guardduty/sample-backdoor-ec2-denial-of-service-tcp.json");
  EXPECT_TRUE(f.sample);
  EXPECT_EQ(f.title.rfind("[SAMPLE]", 0), 0u);
  EXPECT_EQ(f.instance->instance_id, "i-99999999");
  EXPECT_EQ(f.instance->network_interfaces.at(0).subnet_id, "GeneratedFindingSubnetId");
}

TEST(guardduty_samples, only_the_sample_file_is_a_sample) {
  for (const std::string& file : sample_files()) {
    if (file.rfind("guardduty/", 0) != 0) continue;
    auto f = sample_as<guardduty_finding>(file);
    EXPECT_EQ(f.sample, file.find("/sample-") != std::string::npos) << file;
  }
}

TEST(guardduty_samples, archived_repeat) {
  auto f = sample_as<guardduty_finding>("guardduty/archived-recon-ec2-portscan.json");
  EXPECT_TRUE(f.archived);
  EXPECT_EQ(f.count, 14);
  EXPECT_EQ(f.type, "Recon:EC2/Portscan");
}

TEST(guardduty_samples, instance_credentials_used_outside_aws) {
  auto f = sample_as<guardduty_finding>(
      "guardduty/unauthorizedaccess-iamuser-instance-credential-exfiltration-outside-aws.json");
  EXPECT_EQ(f.resource_type, "AccessKey");
  ASSERT_TRUE(f.access_key);
  EXPECT_EQ(f.access_key->user_type, "AssumedRole");
  EXPECT_EQ(f.access_key->access_key_id.rfind("ASIA", 0), 0u);
  EXPECT_EQ(f.access_key->user_name, "web-server-role");
  EXPECT_EQ(f.access_key->principal_id, "AROAQXYZ7EXAMPLEROLE1:i-0123456789abcdef0");
  ASSERT_TRUE(f.instance);  // the instance whose role credentials left it
  EXPECT_EQ(f.instance->instance_id, "i-0123456789abcdef0");
  EXPECT_EQ(f.action_type, "AWS_API_CALL");
  EXPECT_EQ(f.api, "ListBuckets");
  EXPECT_EQ(f.remote_addresses, std::vector<std::string>{"198.51.100.77"});
}

TEST(guardduty_samples, iam_user_key_from_a_listed_address) {
  auto f =
      sample_as<guardduty_finding>("guardduty/unauthorizedaccess-iamuser-malicious-ip-caller-custom.json");
  ASSERT_TRUE(f.access_key);
  EXPECT_EQ(f.access_key->user_type, "IAMUser");
  EXPECT_EQ(f.access_key->access_key_id, "AKIAQXYZ7EXAMPLEDEV1");
  EXPECT_EQ(f.access_key->user_name, "deploy-bot");
  EXPECT_FALSE(f.instance);
  EXPECT_EQ(f.remote_addresses, std::vector<std::string>{"203.0.113.88"});
}

TEST(guardduty_samples, assumed_role_and_root) {
  auto role = sample_as<guardduty_finding>("guardduty/pentest-iamuser-kali-linux-assumed-role.json");
  ASSERT_TRUE(role.access_key);
  EXPECT_EQ(role.access_key->user_type, "AssumedRole");
  EXPECT_EQ(role.access_key->user_name, "ci-deploy");
  auto root = sample_as<guardduty_finding>("guardduty/policy-iamuser-root-credential-usage.json");
  ASSERT_TRUE(root.access_key);
  EXPECT_EQ(root.access_key->user_type, "Root");
  EXPECT_EQ(root.type, "Policy:IAMUser/RootCredentialUsage");
}

// --- CloudTrail ---

std::vector<ingress_rule> rules_of(const cloudtrail_event& event) {
  auto rules = ingress_rules(event);
  if (!rules) ADD_FAILURE() << rules.err().describe();
  return rules ? *rules : std::vector<ingress_rule>{};
}

TEST(guardduty_samples, attack_sequences_name_their_members) {
  const auto s3 = sample_as<guardduty_finding>("guardduty/attacksequence-s3-compromised-data.json");
  ASSERT_TRUE(s3.sequence.has_value());
  EXPECT_EQ(severity_label(s3.severity), "Critical");
  std::vector<std::string> kinds;
  for (const auto& r : s3.sequence->resources) kinds.push_back(r.resource_type);
  EXPECT_EQ(kinds,
            (std::vector<std::string>{"EC2_INSTANCE", "EC2_NETWORK_INTERFACE", "ACCESS_KEY", "S3_BUCKET"}));
  EXPECT_EQ(s3.sequence->endpoints.size(), 2u);
  EXPECT_EQ(s3.buckets.at(0).name, "acme-customer-exports");
  const auto iam = sample_as<guardduty_finding>("guardduty/attacksequence-iam-compromised-credentials.json");
  ASSERT_TRUE(iam.sequence.has_value());
  ASSERT_EQ(iam.sequence->actors.size(), 2u);
  EXPECT_EQ(iam.sequence->actors[1].session_issuer, "arn:aws:iam::123456789012:role/ci-deploy");
  EXPECT_EQ(iam.sequence->resources.at(1).resource_type, "AUTOSCALING_AUTO_SCALING_GROUP");
  EXPECT_FALSE(sample_as<guardduty_finding>("guardduty/backdoor-ec2-cc-activity.json").sequence.has_value());
}

TEST(guardduty_samples, s3_findings_name_their_buckets_and_principal) {
  const auto exposure =
      sample_as<guardduty_finding>("guardduty/policy-s3-bucket-block-public-access-disabled.json");
  ASSERT_EQ(exposure.buckets.size(), 1u);
  EXPECT_EQ(exposure.buckets[0].name, "acme-reports-archive");
  EXPECT_EQ(exposure.buckets[0].effective_permission, "NOT_PUBLIC");
  EXPECT_EQ(exposure.buckets[0].tags.at(0).first, "team");
  const auto account =
      sample_as<guardduty_finding>("guardduty/policy-s3-account-block-public-access-disabled.json");
  EXPECT_TRUE(account.buckets.empty());
  EXPECT_EQ(account.type, "Policy:S3/AccountBlockPublicAccessDisabled");
  const auto data = sample_as<guardduty_finding>("guardduty/exfiltration-s3-malicious-ip-caller.json");
  ASSERT_TRUE(data.access_key.has_value());
  EXPECT_EQ(data.access_key->user_name, "deploy-bot");
  EXPECT_EQ(data.remote_addresses, std::vector<std::string>{"198.51.100.23"});
  EXPECT_EQ(data.buckets.at(0).arn, "arn:aws:s3:::acme-customer-exports");
}

TEST(cloudtrail_samples, legacy_ingress_shape_from_the_request) {
  auto e = sample_as<cloudtrail_event>("cloudtrail/authorize-sg-ingress-ssh-world-legacy.json");
  EXPECT_EQ(e.event_name, "AuthorizeSecurityGroupIngress");
  EXPECT_EQ(e.event_source, "ec2.amazonaws.com");
  ASSERT_TRUE(e.envelope);
  EXPECT_EQ(e.envelope->source, "aws.ec2");
  EXPECT_EQ(e.user.type, "IAMUser");
  EXPECT_EQ(e.user.access_key_id, "AKIAQXYZ7EXAMPLEDEV1");
  EXPECT_FALSE(e.error_code);
  auto rules = rules_of(e);
  ASSERT_EQ(rules.size(), 1u);
  EXPECT_EQ(rules[0].group_id, "sg-0123456789abcdef0");
  EXPECT_EQ(rules[0].ip_protocol, "tcp");
  EXPECT_EQ(rules[0].from_port, 22);
  EXPECT_EQ(rules[0].to_port, 22);
  EXPECT_EQ(rules[0].cidr, "0.0.0.0/0");
  EXPECT_FALSE(rules[0].ipv6);
  EXPECT_FALSE(rules[0].rule_id);
}

TEST(cloudtrail_samples, newer_ingress_shape_carries_rule_ids) {
  auto e = sample_as<cloudtrail_event>("cloudtrail/authorize-sg-ingress-ssh-world.json");
  auto rules = rules_of(e);
  ASSERT_EQ(rules.size(), 1u);
  EXPECT_EQ(rules[0].group_id, "sg-0abcdef1234567890");
  EXPECT_EQ(rules[0].from_port, 22);
  EXPECT_EQ(rules[0].cidr, "0.0.0.0/0");
  EXPECT_EQ(rules[0].rule_id, "sgr-0a1b2c3d4e5f60718");
}

TEST(cloudtrail_samples, console_ingress_with_two_ranges) {
  auto e = sample_as<cloudtrail_event>("cloudtrail/authorize-sg-ingress-ssh-world-console.json");
  EXPECT_EQ(e.user.type, "AssumedRole");
  EXPECT_NE(e.user.session_issuer_arn.value_or("").find(":role/aws-reserved/sso.amazonaws.com/"),
            std::string::npos);
  EXPECT_EQ(e.request_parameters.at("groupId"), "sg-0246813579abcdef0");
  auto rules = rules_of(e);
  ASSERT_EQ(rules.size(), 2u);
  EXPECT_EQ(rules[0].group_id, "sg-0246813579abcdef0");
  EXPECT_EQ(rules[0].cidr, "0.0.0.0/0");
  EXPECT_EQ(rules[0].rule_id, "sgr-0c1d2e3f4a5b6c7d8");
  EXPECT_EQ(rules[1].cidr, "10.20.0.0/16");
  EXPECT_EQ(rules[1].rule_id, "sgr-0d2e3f4a5b6c7d8e9");
}

TEST(cloudtrail_samples, rdp_to_the_ipv6_world) {
  auto rules = rules_of(sample_as<cloudtrail_event>("cloudtrail/authorize-sg-ingress-rdp-ipv6-world.json"));
  ASSERT_EQ(rules.size(), 1u);
  EXPECT_EQ(rules[0].cidr, "::/0");
  EXPECT_TRUE(rules[0].ipv6);
  EXPECT_EQ(rules[0].from_port, 3389);
  EXPECT_EQ(rules[0].to_port, 3389);
}

TEST(cloudtrail_samples, https_to_the_world) {
  auto rules = rules_of(sample_as<cloudtrail_event>("cloudtrail/authorize-sg-ingress-https-world.json"));
  ASSERT_EQ(rules.size(), 1u);
  EXPECT_EQ(rules[0].from_port, 443);
  EXPECT_EQ(rules[0].cidr, "0.0.0.0/0");
}

TEST(cloudtrail_samples, the_request_shape_agrees_with_the_rule_set) {
  // Dropping responseElements from a newer event must give the same rules, less the ids.
  auto e = sample_as<cloudtrail_event>("cloudtrail/authorize-sg-ingress-ssh-world-console.json");
  auto with_ids = rules_of(e);
  e.response_elements = nullptr;
  auto from_request = rules_of(e);
  ASSERT_EQ(with_ids.size(), from_request.size());
  for (std::size_t i = 0; i < with_ids.size(); ++i) {
    EXPECT_EQ(with_ids[i].group_id, from_request[i].group_id);
    EXPECT_EQ(with_ids[i].cidr, from_request[i].cidr);
    EXPECT_EQ(with_ids[i].from_port, from_request[i].from_port);
    EXPECT_FALSE(from_request[i].rule_id);
  }
}

TEST(cloudtrail_samples, stop_logging_and_delete_trail_by_an_access_key) {
  auto stop = sample_as<cloudtrail_event>("cloudtrail/stop-logging.json");
  EXPECT_EQ(stop.event_source, "cloudtrail.amazonaws.com");
  EXPECT_EQ(stop.event_name, "StopLogging");
  EXPECT_EQ(stop.user.user_name, "deploy-bot");
  EXPECT_EQ(stop.user.access_key_id, "AKIAQXYZ7EXAMPLEDEV1");
  EXPECT_EQ(stop.source_ip, "198.51.100.77");
  EXPECT_EQ(stop.request_parameters.at("name"),
            "arn:aws:cloudtrail:us-east-1:123456789012:trail/organization-trail");
  EXPECT_TRUE(stop.response_elements.is_null());
  auto del = sample_as<cloudtrail_event>("cloudtrail/delete-trail.json");
  EXPECT_EQ(del.event_name, "DeleteTrail");
  EXPECT_EQ(del.request_parameters.at("name"), "organization-trail");
}

TEST(cloudtrail_samples, cloudwatch_logs_batch_matches_its_readable_source) {
  auto batch = sample_as<cloudwatch_logs_batch>("cloudtrail/cloudwatch-logs-subscription.json");
  EXPECT_EQ(batch.message_type, "DATA_MESSAGE");
  EXPECT_EQ(batch.log_group, "aws-cloudtrail-logs-123456789012-organization");
  EXPECT_EQ(batch.subscription_filters, std::vector<std::string>{"tourniquet-cloudtrail"});
  ASSERT_EQ(batch.records.size(), 3u);
  EXPECT_EQ(batch.records[0].event_name, "AuthorizeSecurityGroupIngress");
  EXPECT_EQ(batch.records[2].event_name, "StopLogging");
  EXPECT_FALSE(batch.records[0].envelope);
  auto rules = rules_of(batch.records[0]);
  ASSERT_EQ(rules.size(), 1u);
  EXPECT_EQ(rules[0].rule_id, "sgr-0a5b6c7d8e9f0a1b2");

  // The payload is generated by events/tools/make_cwl_payload.py: fail if it was not re-run after an edit.
  auto source =
      nlohmann::json::parse(read_text(events_dir / "tools/cloudwatch-logs-subscription.source.json"));
  const auto& events = source.at("logEvents");
  ASSERT_EQ(events.size(), batch.records.size());
  for (std::size_t i = 0; i < events.size(); ++i) {
    const auto& message = events[i].at("message");
    EXPECT_EQ(batch.records[i].event_id, message.at("eventID").get<std::string>());
    EXPECT_EQ(batch.records[i].request_parameters, message.at("requestParameters"));
    EXPECT_EQ(batch.records[i].response_elements, message.at("responseElements"));
  }
}

// --- our own events ---

TEST(custom_samples, block_addresses_for_an_instance) {
  auto b = sample_as<block_request>("custom/block-addresses.json");
  EXPECT_EQ(b.addresses,
            (std::vector<std::string>{"203.0.113.45", "198.51.100.0/24", "2001:db8:4006:812::200e"}));
  EXPECT_EQ(b.instance_id, "i-0123456789abcdef0");
  EXPECT_TRUE(b.subnet_ids.empty());
  EXPECT_TRUE(b.network_acl_ids.empty());
  EXPECT_EQ(b.incident_id, "inc-2025-03-24-0007");
  EXPECT_FALSE(b.reason.empty());
}

TEST(custom_samples, block_addresses_for_subnets_and_acls) {
  auto subnets = sample_as<block_request>("custom/block-addresses-subnets.json");
  EXPECT_EQ(subnets.subnet_ids.size(), 2u);
  EXPECT_FALSE(subnets.instance_id);
  EXPECT_FALSE(subnets.incident_id);
  auto acls = sample_as<block_request>("custom/block-addresses-network-acls.json");
  EXPECT_EQ(acls.network_acl_ids, std::vector<std::string>{"acl-0a1b2c3d4e5f67890"});
}

TEST(scheduled_samples, expire_blocks_names_its_rule) {
  auto s = sample_as<scheduled_event>("scheduled/expire-blocks.json");
  EXPECT_EQ(s.rule_name, "tourniquet-expire-blocks");
  EXPECT_EQ(s.envelope.source, "aws.events");
}

}  // namespace
}  // namespace tq::handlers
