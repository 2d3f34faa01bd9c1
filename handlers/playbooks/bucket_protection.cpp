#include "handlers/playbooks/bucket_protection.h"

#include <algorithm>
#include <cstdio>

#include "handlers/incident.h"
#include "handlers/playbooks/credential_containment.h"

namespace tq::handlers {
namespace {

bool is_bucket_name(std::string_view name) {
  if (name.size() < 3 || name.size() > 63) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
  });
}

bool has_exempt_tag(const std::vector<std::pair<std::string, std::string>>& tags, const config& cfg) {
  return cfg.exempt_tag && std::find(tags.begin(), tags.end(),
                                     std::pair{cfg.exempt_tag->key, cfg.exempt_tag->value}) != tags.end();
}

bool is_account_level(std::string_view type) {
  return type == "Policy:S3/AccountBlockPublicAccessDisabled";
}

job bucket_job(bucket_target target, const guardduty_finding& finding) {
  job j{bucket_playbook, 0, target.account_id, finding.region, {}, {}, finding.type, {}};
  j.target = target.bucket.empty() ? "account " + target.account_id : target.bucket;
  j.incident_id = incident_id_for(finding.account_id, finding.id);
  j.input = std::move(target);
  return j;
}

}  // namespace

std::vector<std::string> default_bucket_exposure_types() {
  return {"Policy:S3/BucketBlockPublicAccessDisabled", "Policy:S3/BucketAnonymousAccessGranted",
          "Policy:S3/BucketPublicAccessGranted", "Policy:S3/AccountBlockPublicAccessDisabled"};
}

std::vector<std::string> default_bucket_data_types() {
  return {"Exfiltration:S3/*",       "Impact:S3/*",  "Discovery:S3/*",
          "UnauthorizedAccess:S3/*", "PenTest:S3/*", "Stealth:S3/*"};
}

result<bucket_settings> bucket_settings_from_environment(const env_reader& env) {
  bucket_settings s;
  auto exposure =
      parse_type_patterns(env, "TOURNIQUET_BUCKET_FINDING_TYPES", default_bucket_exposure_types());
  if (!exposure) return std::move(exposure).err();
  s.exposure_types = std::move(*exposure);
  auto data = parse_type_patterns(env, "TOURNIQUET_BUCKET_DATA_FINDING_TYPES", default_bucket_data_types());
  if (!data) return std::move(data).err();
  s.data_types = std::move(*data);
  auto severity = parse_number(env, "TOURNIQUET_BUCKET_MIN_SEVERITY", 0.0, 10.0, s.min_severity);
  if (!severity) return std::move(severity).err();
  s.min_severity = *severity;
  if (auto names = env("TOURNIQUET_EXEMPT_BUCKETS")) {
    for (auto& name : split_list(*names)) {
      if (!is_bucket_name(name))
        return invalid_setting("TOURNIQUET_EXEMPT_BUCKETS", "'" + name + "' is not a bucket name");
      s.exempt_buckets.insert(name);
    }
  }
  return s;
}

std::string record_of(const std::optional<access_block>& block) {
  if (!block) return "none";
  std::string text;
  for (bool on : {block->block_public_acls, block->ignore_public_acls, block->block_public_policy,
                  block->restrict_public_buckets})
    text += on ? '1' : '0';
  return text;
}

result<std::optional<access_block>> parse_record(std::string_view text) {
  if (text == "none") return std::optional<access_block>();
  if (text.size() != 4 || text.find_first_not_of("01") != std::string_view::npos)
    return error{
        "UnreadableRecord",
        "the recorded public access block '" + std::string(text) + "' is neither \"none\" nor four flags",
        tag_prior_public_access_block};
  return std::optional<access_block>(
      access_block{text[0] == '1', text[1] == '1', text[2] == '1', text[3] == '1'});
}

std::optional<std::string> bucket_routing_refusal(const guardduty_finding& finding,
                                                  const bucket_settings& settings) {
  const bool exposure = type_matches(settings.exposure_types, finding.type);
  if (!exposure && !type_matches(settings.data_types, finding.type))
    return "type " + finding.type +
           " is in neither TOURNIQUET_BUCKET_FINDING_TYPES nor "
           "TOURNIQUET_BUCKET_DATA_FINDING_TYPES";
  if (exposure && finding.severity < settings.min_severity) {
    char severity[16];
    std::snprintf(severity, sizeof severity, "%.1f", finding.severity);
    return "severity " + std::string(severity) + " is under TOURNIQUET_BUCKET_MIN_SEVERITY";
  }
  if (finding.buckets.empty() && !is_account_level(finding.type)) return "the finding names no bucket";
  return std::nullopt;
}

void route_bucket_finding(const guardduty_finding& finding, const bucket_settings& settings,
                          const config& cfg, routing& out) {
  if (auto why = bucket_routing_refusal(finding, settings)) {
    out.passed.push_back({bucket_playbook, 0, std::move(*why)});
    return;
  }
  const bool exposure = type_matches(settings.exposure_types, finding.type);
  auto target_for = [&](std::string bucket, bool exempt) {
    return bucket_target{finding.account_id, std::move(bucket), finding.id, finding.type, exposure, exempt,
                         finding.last_seen};
  };
  if (exposure && is_account_level(finding.type)) {
    out.jobs.push_back(bucket_job(target_for("", false), finding));
  } else {
    std::set<std::string> seen;
    for (const auto& b : finding.buckets) {
      if (seen.insert(b.name).second)
        out.jobs.push_back(bucket_job(target_for(b.name, has_exempt_tag(b.tags, cfg)), finding));
    }
  }
  // A data finding's principal is who took or changed the data: its credentials are contained.
  if (!exposure && finding.access_key) {
    access_key_target principal = target_from_finding(finding);
    principal.confirm_rule = [settings](const guardduty_finding& real) {
      return bucket_routing_refusal(real, settings);
    };
    out.jobs.push_back(credential_job(std::move(principal), 0, finding.region));
  }
}

bucket_target bucket_target_of(const guardduty_finding& finding, const sequence_resource& bucket,
                               const config& cfg) {
  bucket_target t{bucket.account_id.empty() ? finding.account_id : bucket.account_id,
                  bucket.uid,
                  finding.id,
                  finding.type,
                  false,
                  has_exempt_tag(bucket.tags, cfg),
                  finding.last_seen};
  t.sequence_member = bucket.uid;
  return t;
}

std::optional<std::string> bucket_exemption(const bucket_target& target, const config& cfg,
                                            const bucket_settings& settings) {
  if (settings.exempt_buckets.contains(target.bucket))
    return "bucket " + target.bucket + " is in TOURNIQUET_EXEMPT_BUCKETS";
  if (target.exempt_in_finding && cfg.exempt_tag)
    return "bucket " + target.bucket + " carries the exemption tag " + cfg.exempt_tag->key + "=" +
           cfg.exempt_tag->value;
  return std::nullopt;
}

bool prior_record_lost(const bucket_target& target, const bucket_state& state) {
  return target.block_public_access && state.block && state.block->all_on() &&
         !state.tags.contains(tag_prior_public_access_block);
}

// Two round trips to the block: the record (with status "incomplete") and the block go out together after the
// read, then the status write re-writes the record and needs only the block. If the block lands and the
// record write fails, that status write still carries the prior state from this pass's read; if it fails too,
// the next try finds the block on and no record: prior_record_lost, nothing recorded, escalated (the first
// try's report and log say what it was). Release then refuses (nothing recorded) and the block stays on: it
// fails closed, it never opens a bucket on a guess.
std::vector<bucket_step> plan_bucket_protection(const bucket_target& target, const bucket_state& state,
                                                std::string_view incident_id, std::string_view now_rfc3339,
                                                std::vector<std::string>& already) {
  std::vector<bucket_step> plan;
  std::map<std::string, std::string> tags = state.tags;  // PutBucketTagging replaces the set: keep the others
  const bool to_block = target.block_public_access && !(state.block && state.block->all_on());
  tags[tag_incident] = std::string(incident_id);
  tags[tag_finding] = target.source_id;
  // The record is the configuration before Tourniquet's first change; a later run must not overwrite it with
  // the block Tourniquet put on.
  if (to_block && !state.tags.contains(tag_prior_public_access_block))
    tags[tag_prior_public_access_block] = record_of(state.block);
  tags.erase(tag_released_at);
  tags.erase(tag_released_by);
  // "contained" is written only once the block is on: a block that failed must not read, at the next try, as
  // Tourniquet's change undone by hand.
  if (to_block) tags[tag_status] = "incomplete";
  if (target.block_public_access && !to_block) {
    tags[tag_status] = "contained";
    if (!tags.contains(tag_contained_at)) tags[tag_contained_at] = std::string(now_rfc3339);
  }
  if (tags != state.tags) {
    plan.push_back({bucket_op::put_tags, tags, {}, "incident " + std::string(incident_id), {}});
  } else {
    already.push_back("the bucket's tags record the incident");
  }
  if (!to_block) {
    if (target.block_public_access) already.push_back("the public access block is on");
    return plan;
  }
  plan.push_back({bucket_op::put_block, {}, all_blocked, record_of(state.block) + " -> 1111", {}});
  tags[tag_status] = "contained";
  tags[tag_contained_at] = std::string(now_rfc3339);
  plan.push_back({bucket_op::put_tags, tags, {}, "contained", {plan.size() - 1}});
  return plan;
}

std::vector<bucket_step> plan_account_protection(const bucket_state& state, std::string_view now_rfc3339,
                                                 std::vector<std::string>& already) {
  if (state.block && state.block->all_on()) {
    already.push_back("the account's public access block is on");
    return {};
  }
  std::map<std::string, std::string> tags;  // TagRole/TagUser add to the principal's tags
  // First record wins: a later run, or one after a release, keeps the configuration before the first change.
  if (!state.tags.contains(tag_prior_account_public_access_block))
    tags[tag_prior_account_public_access_block] = record_of(state.block);
  tags[tag_account_public_access_block_status] = "contained at " + std::string(now_rfc3339);
  std::vector<bucket_step> plan;
  plan.push_back({bucket_op::put_tags, tags, {}, "record " + record_of(state.block), {}});
  // The block needs its record: put before it, a failed record would lose the prior configuration for good.
  plan.push_back({bucket_op::put_block, {}, all_blocked, record_of(state.block) + " -> 1111", {0}});
  return plan;
}

operator_decision account_decision_of(const std::map<std::string, std::string>& principal_tags) {
  operator_decision d;
  auto it = principal_tags.find(tag_account_public_access_block_status);
  if (it == principal_tags.end()) return d;
  constexpr std::string_view released = "released at ", by = " by ";
  std::string_view status = it->second;
  if (status.starts_with(released)) {
    status.remove_prefix(released.size());
    const auto at = status.find(by);
    d.released_at = std::string(status.substr(0, at));
    if (at != std::string_view::npos) d.released_by = std::string(status.substr(at + by.size()));
  }
  return d;
}

namespace {

// The steps that put back the public access block a record names ("none": deleted), given the live one.
result<std::vector<bucket_step>> restore_steps(const std::string& record,
                                               const std::optional<access_block>& live) {
  auto prior = parse_record(record);
  if (!prior) return std::move(prior).err();
  std::vector<bucket_step> plan;
  if (!*prior) {
    if (live) plan.push_back({bucket_op::delete_block, {}, {}, "none recorded: deleted", {}});
  } else if (live != *prior) {
    plan.push_back({bucket_op::put_block, {}, **prior, "back to " + record, {}});
  }
  return plan;
}

}  // namespace

result<std::vector<bucket_step>> plan_account_release(const bucket_state& state, std::string_view now_rfc3339,
                                                      std::string_view released_by) {
  auto it = state.tags.find(tag_prior_account_public_access_block);
  if (it == state.tags.end())
    return error{"NothingRecorded",
                 "the acting principal carries no " + std::string(tag_prior_account_public_access_block) +
                     " tag: Tourniquet did not change the account's public access block",
                 tag_prior_account_public_access_block};
  auto restore = restore_steps(it->second, state.block);
  if (!restore) return std::move(restore).err();
  std::vector<bucket_step> plan = std::move(*restore);
  std::string status = "released at " + std::string(now_rfc3339) + " by " + std::string(released_by);
  if (status.size() > 256) status.resize(256);  // IAM's limit on a tag value
  std::vector<std::size_t> needs;
  for (std::size_t i = 0; i < plan.size(); ++i) needs.push_back(i);
  plan.push_back({bucket_op::put_tags,
                  {{tag_account_public_access_block_status, status}},
                  {},
                  "released by " + std::string(released_by),
                  needs});
  return plan;
}

result<std::vector<bucket_step>> plan_bucket_release(const bucket_state& state, std::string_view now_rfc3339,
                                                     std::string_view released_by) {
  auto it = state.tags.find(tag_prior_public_access_block);
  if (it == state.tags.end())
    return error{"NothingRecorded",
                 "the bucket carries no " + std::string(tag_prior_public_access_block) +
                     " tag: Tourniquet did not change its public access block",
                 tag_prior_public_access_block};
  auto restore = restore_steps(it->second, state.block);
  if (!restore) return std::move(restore).err();
  std::vector<bucket_step> plan = std::move(*restore);
  std::map<std::string, std::string> tags = state.tags;
  tags[tag_status] = "released";
  tags[tag_released_at] = std::string(now_rfc3339);
  tags[tag_released_by] = std::string(released_by);
  // The tags go last, once the configuration is back: a failed restore leaves the record to try again.
  std::vector<std::size_t> needs;
  for (std::size_t i = 0; i < plan.size(); ++i) needs.push_back(i);
  plan.push_back({bucket_op::put_tags, tags, {}, "released by " + std::string(released_by), needs});
  return plan;
}

std::optional<std::string> bucket_of_release_target(std::string_view target) {
  std::string_view name;
  if (target.starts_with("s3://"))
    name = target.substr(5);
  else if (target.starts_with("arn:aws:s3:::"))
    name = target.substr(13);
  else
    return std::nullopt;
  while (name.ends_with('/')) name.remove_suffix(1);
  if (!is_bucket_name(name)) return std::nullopt;
  return std::string(name);
}

}  // namespace tq::handlers
