// Bucket protection: a bucket GuardDuty finds exposed (public access block disabled, anonymous or public
// access granted) gets all four public access block settings turned on, its prior configuration recorded in a
// tag on the bucket first (read with the bucket's other tags: PutBucketTagging replaces the whole set), so
// that `tourniquet release s3://BUCKET` restores it. A bucket some data finding names (exfiltration,
// impact, discovery…) or an attack sequence names is tagged with the incident, and the principal behind the
// finding goes to credential containment. Exempt buckets (TOURNIQUET_EXEMPT_BUCKETS, or the exemption tag as
// the finding saw the bucket) are left alone: public websites exist.
//
// The pure parts: settings, routing, and plans as steps (what to write where). The S3 calls that carry the
// steps out come with the S3 REST-XML client.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "handlers/config.h"
#include "handlers/event.h"
#include "handlers/incident.h"
#include "handlers/playbook.h"
#include "runtime/environment.h"

namespace tq::handlers {

inline constexpr std::string_view bucket_playbook = "bucket-protection";

// On the bucket: its public access block before Tourniquet turned it on ("none" when it had none, else four
// flags "1010" in S3's order: BlockPublicAcls, IgnorePublicAcls, BlockPublicPolicy, RestrictPublicBuckets).
inline constexpr const char* tag_prior_public_access_block = "tourniquet:prior-public-access-block";
// On the IAM principal Tourniquet acts as in the account (its role, the member role, or a user): the
// account's public access block before Tourniquet turned it on, same encoding; written once (first wins).
// An attacker who can rewrite it can already rewrite Tourniquet's own permissions.
inline constexpr const char* tag_prior_account_public_access_block =
    "tourniquet:prior-account-public-access-block";
// Beside it: "contained at T" / "released at T by ARN".
inline constexpr const char* tag_account_public_access_block_status =
    "tourniquet:account-public-access-block-status";
// `tourniquet release 's3://*' [--account A]`: the account's recorded configuration back ("every bucket":
// the account's block; quoted for the shell). Not "s3-account": that is a valid function name, which
// function containment (earlier in the registry) would claim.
inline constexpr std::string_view account_release_target = "s3://*";

// The exposure findings (bucket and account level) and the data findings whose principal is contained.
std::vector<std::string> default_bucket_exposure_types();
std::vector<std::string> default_bucket_data_types();

struct bucket_settings {
  std::vector<std::string> exposure_types =
      default_bucket_exposure_types();                                // TOURNIQUET_BUCKET_FINDING_TYPES
  std::vector<std::string> data_types = default_bucket_data_types();  // TOURNIQUET_BUCKET_DATA_FINDING_TYPES
  double min_severity = 1.0;             // TOURNIQUET_BUCKET_MIN_SEVERITY: every exposure by default
  std::set<std::string> exempt_buckets;  // TOURNIQUET_EXEMPT_BUCKETS: bucket names
};

result<bucket_settings> bucket_settings_from_environment(const env_reader& env);

// The four settings of a public access block.
struct access_block {
  bool block_public_acls = false;
  bool ignore_public_acls = false;
  bool block_public_policy = false;
  bool restrict_public_buckets = false;
  bool operator==(const access_block&) const = default;
  bool all_on() const {
    return block_public_acls && ignore_public_acls && block_public_policy && restrict_public_buckets;
  }
};
inline constexpr access_block all_blocked{true, true, true, true};

// "none" for no configuration, else "1010"; and back (nullopt inside the result: "none"; an error:
// unreadable).
std::string record_of(const std::optional<access_block>& block);
result<std::optional<access_block>> parse_record(std::string_view text);

// What a job acts on: one bucket, or (bucket "") the account's public access block.
struct bucket_target {
  std::string account_id;
  std::string bucket;
  std::string source_id;            // the finding id: the incident is derived from it
  std::string source_type;          // the finding type
  bool block_public_access = true;  // an exposure: the block goes on; else the bucket is only tagged
  bool exempt_in_finding = false;   // the exemption tag was on the bucket as the finding saw it
  std::string last_seen = {};
  std::string sequence_member = {};  // the bucket's uid in the attack sequence that named it
};

// Why a finding calls for no bucket job (type, severity), nullopt when it does; pure, for the router.
std::optional<std::string> bucket_routing_refusal(const guardduty_finding& finding,
                                                  const bucket_settings& settings);
// The jobs of an S3 finding: one per bucket (exposure or tag), the account's block, and the principal of a
// data finding (credential containment); the buckets passed over, with why.
void route_bucket_finding(const guardduty_finding& finding, const bucket_settings& settings,
                          const config& cfg, routing& out);
// The job for a bucket an attack sequence names: tagged with the incident; its block goes on when the
// sequence saw it public.
bucket_target bucket_target_of(const guardduty_finding& finding, const sequence_resource& bucket,
                               const config& cfg);

// The live state: the bucket's (or account's) public access block and the bucket's tags.
struct bucket_state {
  bool exists = true;
  std::optional<access_block> block;  // nullopt: no configuration (NoSuchPublicAccessBlockConfiguration)
  std::map<std::string, std::string> tags;
};

// One write the plan intends.
enum class bucket_op { put_tags, put_block, delete_block };
struct bucket_step {
  bucket_op op = bucket_op::put_tags;
  std::map<std::string, std::string> tags;  // put_tags: the whole set
  access_block block;                       // put_block
  std::string detail;
  std::vector<std::size_t> needs;  // steps that must have succeeded first
};

// Why Tourniquet leaves the bucket alone (exempt by list or by the tag as the finding saw it); nullopt to
// act.
std::optional<std::string> bucket_exemption(const bucket_target& target, const config& cfg,
                                            const bucket_settings& settings);

// Containment: the record and the incident in the tags (all other tags kept), then the block, needing the
// record (a block put before its record could lose the prior configuration for good). Nothing when the block
// is on and the tags say so already: `already` lists what was found in place.
std::vector<bucket_step> plan_bucket_protection(const bucket_target& target, const bucket_state& state,
                                                std::string_view incident_id, std::string_view now_rfc3339,
                                                std::vector<std::string>& already);
// A block found all on with no record, when the finding calls for the block: either someone turned it on, or
// a try of Tourniquet's whose record write failed while its block landed (they go in the same round trip).
// The prior configuration is then unknown: nothing is recorded ("1111" would be a guess) and the run
// escalates.
bool prior_record_lost(const bucket_target& target, const bucket_state& state);

// The account: `state.tags` are the acting principal's. The record (and status) on the principal, then the
// block, needing the record; nothing when the block is on already.
std::vector<bucket_step> plan_account_protection(const bucket_state& state, std::string_view now_rfc3339,
                                                 std::vector<std::string>& already);
// The person's decision the principal's status tag records ("released at T by ARN"): a finding redelivered
// after a release of the account's block leaves it released, as for a bucket.
operator_decision account_decision_of(const std::map<std::string, std::string>& principal_tags);
// The account's release: put back (or deleted when "none"), then the status tag says released, by whom.
result<std::vector<bucket_step>> plan_account_release(const bucket_state& state, std::string_view now_rfc3339,
                                                      std::string_view released_by);

// Release: the recorded configuration back (deleted when there was none), the bucket marked released by whom.
result<std::vector<bucket_step>> plan_bucket_release(const bucket_state& state, std::string_view now_rfc3339,
                                                     std::string_view released_by);

// "s3://name", "arn:aws:s3:::name" -> "name"; nullopt for anything else.
std::optional<std::string> bucket_of_release_target(std::string_view target);

// Read, confirm, plan, execute, in the context's account. The account's block (bucket "") has no tags to
// carry a record: it goes on the acting principal (sts:GetCallerIdentity, then iam:GetRole/GetUser).
playbook_report protect_bucket(const bucket_target& target, const playbook_context& ctx,
                               const bucket_settings& settings);
// `tourniquet release s3://BUCKET`: the recorded configuration back, the bucket marked released by whom.
playbook_report release_bucket(const std::string& bucket, const playbook_context& ctx);
// `tourniquet release 's3://*'`: the account's recorded configuration back (ctx.account_id's account).
playbook_report release_account_block(const playbook_context& ctx);

result<std::unique_ptr<const playbook>> make_bucket_protection(const env_reader& env);

}  // namespace tq::handlers
