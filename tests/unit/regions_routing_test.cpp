// Every route names the region its resource is in (the job's region), and the schedule sweeps every region
// blocks may be in; TOURNIQUET_REGIONS is read and checked with the shared configuration.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "handlers/playbook.h"
#include "handlers/playbooks/network_block.h"

namespace tq::handlers {
namespace {

decoded_event sample(const std::string& name) {
  std::ifstream in(std::string(TQ_SOURCE_DIR) + "/events/" + name);
  std::stringstream text;
  text << in.rdbuf();
  auto decoded = decode_event(text.str());
  EXPECT_TRUE(decoded.ok()) << name;
  return std::move(*decoded);
}

routing route(const decoded_event& event, const config& cfg = {},
              std::map<std::string, std::string, std::less<>> env = {}) {
  const auto playbooks = make_playbooks(fixed_environment(std::move(env))).value();
  return route_event(playbooks, event, cfg);
}

TEST(regions_routing, a_finding_routes_into_its_region) {
  auto event = sample("guardduty/backdoor-ec2-cc-activity.json");
  std::get<guardduty_finding>(event).region = "eu-west-1";
  const auto r = route(event);
  ASSERT_FALSE(r.jobs.empty());
  for (const auto& j : r.jobs) EXPECT_EQ(j.region, "eu-west-1") << j.playbook;
}

TEST(regions_routing, a_cloudtrail_record_routes_into_its_aws_region) {
  auto event = sample("cloudtrail/authorize-sg-ingress-ssh-world.json");
  std::get<cloudtrail_event>(event).aws_region = "ap-southeast-2";
  const auto r = route(event);
  ASSERT_EQ(r.jobs.size(), 1u);
  EXPECT_EQ(r.jobs[0].region, "ap-southeast-2");
}

TEST(regions_routing, a_block_request_routes_into_the_region_it_was_sent_in) {
  auto event = sample("custom/block-addresses-network-acls.json");
  std::get<block_request>(event).envelope.region = "eu-central-1";
  const auto r = route(event);
  ASSERT_EQ(r.jobs.size(), 1u);
  EXPECT_EQ(r.jobs[0].playbook, network_block_playbook);
  EXPECT_EQ(r.jobs[0].region, "eu-central-1");
}

TEST(regions_routing, the_schedule_sweeps_its_region_and_the_listed_ones_in_every_account) {
  const decoded_event schedule = sample("scheduled/expire-blocks.json");  // us-east-1
  config cfg;
  cfg.regions = {"eu-west-1", "us-east-1", "ap-south-1"};
  const auto r = route(schedule, cfg, {{"TOURNIQUET_BLOCK_EXPIRY_ACCOUNTS", "210987654321"}});
  std::vector<std::pair<std::string, std::string>> swept;
  for (const auto& j : r.jobs) {
    EXPECT_EQ(j.playbook, block_expiry_playbook);
    swept.emplace_back(j.account_id, j.region);
  }
  const std::vector<std::pair<std::string, std::string>> wanted{
      {"123456789012", "us-east-1"}, {"123456789012", "eu-west-1"}, {"123456789012", "ap-south-1"},
      {"210987654321", "us-east-1"}, {"210987654321", "eu-west-1"}, {"210987654321", "ap-south-1"}};
  EXPECT_EQ(swept, wanted);
  // Without a list, the schedule's own region only, and the target stays the account.
  const auto alone = route(schedule);
  ASSERT_EQ(alone.jobs.size(), 1u);
  EXPECT_EQ(alone.jobs[0].region, "us-east-1");
  EXPECT_EQ(alone.jobs[0].target, "123456789012");
}

TEST(regions_routing, tourniquet_regions_is_checked_at_start_up) {
  auto ok = config_from_environment(
      fixed_environment({{"AWS_REGION", "us-east-1"}, {"TOURNIQUET_REGIONS", "eu-west-1,us-west-2"}}));
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->home_region, "us-east-1");
  EXPECT_EQ(ok->regions, (std::vector<std::string>{"eu-west-1", "us-west-2"}));
  auto unset = config_from_environment(fixed_environment({{"AWS_REGION", "us-east-1"}}));
  ASSERT_TRUE(unset.ok());
  EXPECT_TRUE(unset->regions.empty());
  for (const char* bad : {"eu-west-1.evil.example", "cn-north-1", "us-iso-east-1"}) {
    auto refused = config_from_environment(
        fixed_environment({{"AWS_REGION", "us-east-1"}, {"TOURNIQUET_REGIONS", bad}}));
    ASSERT_FALSE(refused.ok()) << bad;
    EXPECT_EQ(refused.err().where, "TOURNIQUET_REGIONS");
  }
}

}  // namespace
}  // namespace tq::handlers
