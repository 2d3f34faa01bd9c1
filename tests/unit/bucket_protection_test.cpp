// Bucket protection's pure parts: routing S3 findings, exemptions, the record, and the plans (record then
// block, replay -> nothing, release -> the recorded configuration back).
#include "handlers/playbooks/bucket_protection.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "handlers/incident.h"
#include "handlers/playbooks/credential_containment.h"

namespace tq::handlers {
namespace {

guardduty_finding finding(const std::string& name) {
  std::ifstream in(std::string(TQ_SOURCE_DIR) + "/events/guardduty/" + name);
  std::stringstream text;
  text << in.rdbuf();
  auto decoded = decode_event(text.str());
  EXPECT_TRUE(decoded.ok()) << name;
  return std::get<guardduty_finding>(*decoded);
}

bucket_settings defaults() {
  return bucket_settings_from_environment(fixed_environment({})).value();
}

const bucket_target exposed{"123456789012", "acme-reports-archive",
                            "5e1d9c7b",     "Policy:S3/BucketBlockPublicAccessDisabled",
                            true,           false};

TEST(bucket_routing, an_exposed_bucket_gets_a_job_and_the_account_level_one_the_account) {
  routing r;
  route_bucket_finding(finding("policy-s3-bucket-block-public-access-disabled.json"), defaults(), config{},
                       r);
  ASSERT_EQ(r.jobs.size(), 1u);
  EXPECT_EQ(r.jobs[0].playbook, bucket_playbook);
  EXPECT_EQ(r.jobs[0].target, "acme-reports-archive");
  EXPECT_TRUE(std::any_cast<const bucket_target&>(r.jobs[0].input).block_public_access);

  routing account;
  route_bucket_finding(finding("policy-s3-account-block-public-access-disabled.json"), defaults(), config{},
                       account);
  ASSERT_EQ(account.jobs.size(), 1u);
  EXPECT_EQ(std::any_cast<const bucket_target&>(account.jobs[0].input).bucket, "");
  EXPECT_EQ(account.jobs[0].target, "account 123456789012");
}

TEST(bucket_routing, a_data_finding_tags_the_bucket_and_contains_its_principal) {
  const auto f = finding("exfiltration-s3-malicious-ip-caller.json");
  routing r;
  route_bucket_finding(f, defaults(), config{}, r);
  ASSERT_EQ(r.jobs.size(), 2u);
  EXPECT_FALSE(std::any_cast<const bucket_target&>(r.jobs[0].input).block_public_access) << "tag only";
  EXPECT_EQ(r.jobs[1].playbook, credential_playbook);
  EXPECT_EQ(std::any_cast<const access_key_target&>(r.jobs[1].input).access_key_id, "AKIAQXYZ7EXAMPLEDEV1");
  EXPECT_EQ(r.jobs[0].incident_id, r.jobs[1].incident_id);
}

TEST(bucket_routing, types_and_floors_name_their_variable) {
  auto f = finding("policy-s3-bucket-block-public-access-disabled.json");
  routing r;
  route_bucket_finding(
      f,
      bucket_settings_from_environment(fixed_environment({{"TOURNIQUET_BUCKET_MIN_SEVERITY", "5"}})).value(),
      config{}, r);
  ASSERT_TRUE(r.jobs.empty());
  EXPECT_NE(r.passed.at(0).reason.find("TOURNIQUET_BUCKET_MIN_SEVERITY"), std::string::npos);
  f.type = "Policy:S3/BucketSomethingNew";
  EXPECT_NE(bucket_routing_refusal(f, defaults()).value_or("").find("TOURNIQUET_BUCKET_FINDING_TYPES"),
            std::string::npos);
  auto bad =
      bucket_settings_from_environment(fixed_environment({{"TOURNIQUET_EXEMPT_BUCKETS", "Not_A_Bucket"}}));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.err().where, "TOURNIQUET_EXEMPT_BUCKETS");
}

TEST(bucket_exemptions, by_list_and_by_the_tag_the_finding_saw) {
  auto settings =
      bucket_settings_from_environment(
          fixed_environment({{"TOURNIQUET_EXEMPT_BUCKETS", "www.example.com,acme-reports-archive"}}))
          .value();
  EXPECT_NE(bucket_exemption(exposed, config{}, settings).value_or("").find("TOURNIQUET_EXEMPT_BUCKETS"),
            std::string::npos);
  EXPECT_FALSE(bucket_exemption(exposed, config{}, defaults()).has_value());
  config cfg;
  cfg.exempt_tag = aws::tag{"public-website", "true"};
  auto f = finding("policy-s3-bucket-block-public-access-disabled.json");
  f.buckets[0].tags.emplace_back("public-website", "true");
  routing r;
  route_bucket_finding(f, defaults(), cfg, r);
  const auto& target = std::any_cast<const bucket_target&>(r.jobs.at(0).input);
  EXPECT_TRUE(target.exempt_in_finding);
  EXPECT_NE(bucket_exemption(target, cfg, defaults()).value_or("").find("public-website=true"),
            std::string::npos);
}

TEST(bucket_plans, record_and_block_together_then_contained_keeping_the_other_tags) {
  bucket_state state{true, access_block{true, false, true, false}, {{"team", "finance"}}};
  std::vector<std::string> already;
  const auto plan = plan_bucket_protection(exposed, state, "tq-1", "2026-12-01T12:00:00Z", already);
  ASSERT_EQ(plan.size(), 3u);
  EXPECT_EQ(plan[0].op, bucket_op::put_tags);
  EXPECT_EQ(plan[0].tags.at("team"), "finance") << "PutBucketTagging replaces the set";
  EXPECT_EQ(plan[0].tags.at(tag_prior_public_access_block), "1010");
  EXPECT_EQ(plan[0].tags.at(tag_incident), "tq-1");
  EXPECT_EQ(plan[0].tags.at(tag_status), "incomplete");
  EXPECT_EQ(plan[1].op, bucket_op::put_block);
  EXPECT_EQ(plan[1].block, all_blocked);
  EXPECT_TRUE(plan[1].needs.empty()) << "record and block in one round trip: blocked after 2";
  EXPECT_EQ(plan[2].op, bucket_op::put_tags);
  EXPECT_EQ(plan[2].tags.at(tag_status), "contained");
  EXPECT_EQ(plan[2].tags.at(tag_prior_public_access_block), "1010");
  EXPECT_EQ(plan[2].needs, std::vector<std::size_t>{1})
      << "contained once the block is on, whether or not the record write landed: it carries the record too";

  state.block.reset();
  EXPECT_EQ(
      plan_bucket_protection(exposed, state, "tq-1", "t", already)[0].tags.at(tag_prior_public_access_block),
      "none");
}

TEST(bucket_plans, a_replay_changes_nothing_and_a_retry_keeps_the_first_record) {
  bucket_state state{true, access_block{}, {}};
  std::vector<std::string> already;
  auto plan = plan_bucket_protection(exposed, state, "tq-1", "2026-12-01T12:00:00Z", already);
  // The record landed, the block failed: the retry blocks, keeping the record of what was there first.
  state.tags = plan[0].tags;
  auto retry = plan_bucket_protection(exposed, state, "tq-1", "2026-12-01T12:01:00Z", already);
  ASSERT_EQ(retry.size(), 2u);
  EXPECT_EQ(retry[0].op, bucket_op::put_block);
  EXPECT_TRUE(retry[0].needs.empty());
  EXPECT_EQ(retry[1].tags.at(tag_prior_public_access_block), "0000");
  state.tags = retry[1].tags;
  state.block = retry[0].block;
  already.clear();
  EXPECT_TRUE(plan_bucket_protection(exposed, state, "tq-1", "2026-12-01T12:05:00Z", already).empty());
  EXPECT_EQ(already.size(), 2u);
}

TEST(bucket_plans, a_lost_record_is_not_guessed) {
  // The block landed, both tag writes failed: the retry finds the block on and no record.
  bucket_state state{true, all_blocked, {{"team", "finance"}}};
  EXPECT_TRUE(prior_record_lost(exposed, state));
  std::vector<std::string> already;
  const auto plan = plan_bucket_protection(exposed, state, "tq-1", "2026-12-01T12:01:00Z", already);
  ASSERT_EQ(plan.size(), 1u);
  EXPECT_FALSE(plan[0].tags.contains(tag_prior_public_access_block)) << "never \"1111\" on a guess";
  EXPECT_EQ(plan[0].tags.at("team"), "finance");
  // Release then finds nothing recorded and leaves the block on.
  state.tags = plan[0].tags;
  EXPECT_EQ(plan_bucket_release(state, "t", "me").err().code, "NothingRecorded");
  // With a record, or for a tag-only job, nothing is lost.
  state.tags[tag_prior_public_access_block] = "0000";
  EXPECT_FALSE(prior_record_lost(exposed, state));
  bucket_target tag_only = exposed;
  tag_only.block_public_access = false;
  EXPECT_FALSE(prior_record_lost(tag_only, bucket_state{true, all_blocked, {}}));
}

TEST(account_plans, record_on_the_principal_before_the_block_first_record_wins) {
  bucket_state state{true, access_block{false, true, false, false}, {{"team", "security"}}};
  std::vector<std::string> already;
  auto plan = plan_account_protection(state, "2026-12-01T12:00:00Z", already);
  ASSERT_EQ(plan.size(), 2u);
  EXPECT_EQ(plan[0].op, bucket_op::put_tags);
  EXPECT_EQ(plan[0].tags.at(tag_prior_account_public_access_block), "0100");
  EXPECT_FALSE(plan[0].tags.contains("team")) << "TagRole adds: only Tourniquet's tags are sent";
  EXPECT_EQ(plan[1].op, bucket_op::put_block);
  EXPECT_EQ(plan[1].block, all_blocked);
  EXPECT_EQ(plan[1].needs, std::vector<std::size_t>{0}) << "never the account's block before its record";

  // A record already there (an earlier run, or one before a release) is kept.
  state.tags[tag_prior_account_public_access_block] = "none";
  plan = plan_account_protection(state, "t", already);
  ASSERT_EQ(plan.size(), 2u);
  EXPECT_FALSE(plan[0].tags.contains(tag_prior_account_public_access_block));
  EXPECT_EQ(plan[0].tags.at(tag_account_public_access_block_status), "contained at t");

  state.block = all_blocked;
  already.clear();
  EXPECT_TRUE(plan_account_protection(state, "t", already).empty());
  EXPECT_EQ(already.size(), 1u);
}

TEST(account_plans, release_restores_the_record_then_says_released) {
  bucket_state state{true, all_blocked, {{tag_prior_account_public_access_block, "0100"}}};
  auto plan = plan_account_release(state, "2026-12-01T13:00:00Z", "arn:aws:iam::123456789012:user/oncall");
  ASSERT_TRUE(plan.ok());
  ASSERT_EQ(plan->size(), 2u);
  EXPECT_EQ((*plan)[0].op, bucket_op::put_block);
  EXPECT_EQ((*plan)[0].block, (access_block{false, true, false, false}));
  EXPECT_EQ((*plan)[1].tags.at(tag_account_public_access_block_status),
            "released at 2026-12-01T13:00:00Z by arn:aws:iam::123456789012:user/oncall");
  EXPECT_EQ((*plan)[1].needs, std::vector<std::size_t>{0});

  state.tags[tag_prior_account_public_access_block] = "none";
  plan = plan_account_release(state, "t", "me");
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ((*plan)[0].op, bucket_op::delete_block);
  state.block.reset();
  EXPECT_EQ(plan_account_release(state, "t", "me")->size(), 1u) << "none recorded, none there: only marked";
  state.tags.clear();
  EXPECT_EQ(plan_account_release(state, "t", "me").err().code, "NothingRecorded");

  // The status the release writes is the decision a redelivered finding respects.
  const auto decision =
      account_decision_of({{tag_account_public_access_block_status,
                            "released at 2026-12-01T13:00:00Z by arn:aws:iam::1:user/oncall"}});
  EXPECT_EQ(decision.released_at, "2026-12-01T13:00:00Z");
  EXPECT_EQ(decision.released_by, "arn:aws:iam::1:user/oncall");
  EXPECT_TRUE(
      account_decision_of({{tag_account_public_access_block_status, "contained at t"}}).released_at.empty());
}

TEST(bucket_plans, a_data_finding_only_tags) {
  bucket_target tag_only = exposed;
  tag_only.block_public_access = false;
  std::vector<std::string> already;
  const auto plan =
      plan_bucket_protection(tag_only, bucket_state{true, std::nullopt, {}}, "tq-2", "t", already);
  ASSERT_EQ(plan.size(), 1u);
  EXPECT_EQ(plan[0].op, bucket_op::put_tags);
  EXPECT_FALSE(plan[0].tags.contains(tag_prior_public_access_block));
}

TEST(bucket_plans, release_restores_the_record_then_marks_the_bucket) {
  bucket_state state{true, all_blocked, {{tag_prior_public_access_block, "1010"}, {"team", "finance"}}};
  auto plan = plan_bucket_release(state, "2026-12-01T13:00:00Z", "arn:aws:iam::123456789012:user/oncall");
  ASSERT_TRUE(plan.ok());
  ASSERT_EQ(plan->size(), 2u);
  EXPECT_EQ((*plan)[0].op, bucket_op::put_block);
  EXPECT_EQ((*plan)[0].block, (access_block{true, false, true, false}));
  EXPECT_EQ((*plan)[1].tags.at(tag_released_by), "arn:aws:iam::123456789012:user/oncall");
  EXPECT_EQ((*plan)[1].tags.at("team"), "finance");
  EXPECT_EQ((*plan)[1].needs, std::vector<std::size_t>{0});

  state.tags[tag_prior_public_access_block] = "none";
  plan = plan_bucket_release(state, "t", "me");
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ((*plan)[0].op, bucket_op::delete_block);
  state.tags.erase(tag_prior_public_access_block);
  EXPECT_EQ(plan_bucket_release(state, "t", "me").err().code, "NothingRecorded");
  state.tags[tag_prior_public_access_block] = "10x0";
  EXPECT_EQ(plan_bucket_release(state, "t", "me").err().code, "UnreadableRecord");
}

TEST(bucket_release, targets) {
  EXPECT_EQ(bucket_of_release_target("s3://acme-reports-archive").value_or(""), "acme-reports-archive");
  EXPECT_EQ(bucket_of_release_target("arn:aws:s3:::acme-reports-archive").value_or(""),
            "acme-reports-archive");
  EXPECT_FALSE(bucket_of_release_target("acme-reports-archive").has_value());
  EXPECT_FALSE(bucket_of_release_target("s3://UPPER").has_value());
  EXPECT_FALSE(bucket_of_release_target(account_release_target).has_value()) << "s3://* is the account";
}

}  // namespace
}  // namespace tq::handlers
