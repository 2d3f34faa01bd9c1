// Which jobs of an event run beside each other (handlers/responder.h job_lanes): checked on the sample events
// as routed by the real playbook list, without I/O.
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>

#include "handlers/playbook.h"
#include "handlers/playbooks/instance_containment.h"
#include "handlers/playbooks/network_block.h"
#include "handlers/responder.h"

namespace tq::handlers {
namespace {

routing routed_sample(const std::string& name) {
  std::ifstream in(std::string(TQ_SOURCE_DIR) + "/events/" + name);
  std::stringstream text;
  text << in.rdbuf();
  auto decoded = decode_event(text.str());
  EXPECT_TRUE(decoded.ok()) << name;
  const auto playbooks = make_playbooks(fixed_environment({})).value();
  return route_event(playbooks, *decoded, config{});
}

job job_for(std::string_view playbook, std::string target, std::string account = "") {
  job j;
  j.playbook = playbook;
  j.target = std::move(target);
  j.account_id = std::move(account);
  return j;
}

std::vector<bool> all(std::size_t n) {
  return std::vector<bool>(n, true);
}

TEST(job_lanes, the_cc_findings_containment_and_block_run_side_by_side) {
  const routing r = routed_sample("guardduty/backdoor-ec2-cc-activity.json");
  ASSERT_EQ(r.jobs.size(), 2u);
  EXPECT_EQ(r.jobs[0].playbook, instance_playbook);
  EXPECT_EQ(r.jobs[1].playbook, network_block_playbook);
  EXPECT_EQ(r.jobs[0].target, r.jobs[1].target);  // both about the instance, changing different things
  const auto lanes = job_lanes(r.jobs, all(r.jobs.size()));
  EXPECT_EQ(lanes, (std::vector<std::vector<std::size_t>>{{0}, {1}}));
}

TEST(job_lanes, one_playbook_on_one_resource_never_races_itself) {
  const std::vector<job> jobs = {job_for(instance_playbook, "i-1"), job_for(network_block_playbook, "i-1"),
                                 job_for(instance_playbook, "i-2"), job_for(instance_playbook, "i-1")};
  const auto lanes = job_lanes(jobs, all(jobs.size()));
  // The second containment of i-1 waits for the first, in the event's order; the others go beside them.
  EXPECT_EQ(lanes, (std::vector<std::vector<std::size_t>>{{0, 3}, {1}, {2}}));
}

TEST(job_lanes, the_same_name_in_another_account_is_another_resource) {
  const std::vector<job> jobs = {job_for(instance_playbook, "i-1", "111111111111"),
                                 job_for(instance_playbook, "i-1", "222222222222")};
  EXPECT_EQ(job_lanes(jobs, all(2)).size(), 2u);
}

TEST(job_lanes, jobs_without_a_target_and_jobs_not_to_run) {
  const std::vector<job> jobs = {job_for(instance_playbook, ""), job_for(instance_playbook, ""),
                                 job_for(instance_playbook, "i-1")};
  EXPECT_EQ(job_lanes(jobs, all(3)), (std::vector<std::vector<std::size_t>>{{0}, {1}, {2}}));
  EXPECT_EQ(job_lanes(jobs, {true, false, false}), (std::vector<std::vector<std::size_t>>{{0}}));
}

TEST(job_lanes, every_job_of_an_attack_sequence_runs_once_in_one_lane) {
  const routing r = routed_sample("guardduty/attacksequence-s3-compromised-data.json");
  ASSERT_GE(r.jobs.size(), 2u);
  const auto lanes = job_lanes(r.jobs, all(r.jobs.size()));
  std::multiset<std::size_t> seen;
  std::set<std::string> distinct;
  for (const auto& lane : lanes) {
    for (std::size_t i : lane) seen.insert(i);
  }
  for (const auto& j : r.jobs) distinct.insert(std::string(j.playbook) + "/" + j.account_id + "/" + j.target);
  EXPECT_EQ(seen.size(), r.jobs.size());
  for (std::size_t i = 0; i < r.jobs.size(); ++i) EXPECT_EQ(seen.count(i), 1u) << i;
  EXPECT_EQ(lanes.size(), distinct.size());
}

}  // namespace
}  // namespace tq::handlers
