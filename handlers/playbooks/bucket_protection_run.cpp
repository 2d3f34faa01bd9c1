// Bucket protection's I/O: the reads, the calls that carry out the planned steps, release, and the playbook.
#include <algorithm>

#include "aws/rest_xml.h"
#include "handlers/action.h"
#include "handlers/confirmation.h"
#include "handlers/incident.h"
#include "handlers/playbooks/attack_sequence.h"
#include "handlers/playbooks/bucket_protection.h"
#include "handlers/playbooks/credential_containment.h"
#include "runtime/log.h"

namespace tq::handlers {
namespace {

// S3 checks a bucket's public access block as s3:GetBucketPublicAccessBlock / s3:PutBucketPublicAccessBlock
// (DeletePublicAccessBlock too), the account's as s3:Get/PutAccountPublicAccessBlock.
const action_kind& read_bucket = declare_action("bucket-protection", "read-bucket",
                                                {"s3:GetBucketPublicAccessBlock", "s3:GetBucketTagging"});
const action_kind& tag_bucket = declare_action("bucket-protection", "tag-bucket", {"s3:PutBucketTagging"});
const action_kind& block_bucket =
    declare_action("bucket-protection", "block-public-access", {"s3:PutBucketPublicAccessBlock"});
// The account's record goes on the principal Tourniquet acts as (sts:GetCallerIdentity needs no permission):
// its tags read with iam:GetRole / iam:GetUser, written with iam:TagRole / iam:TagUser.
const action_kind& read_account = declare_action(
    "bucket-protection", "read-account", {"s3:GetAccountPublicAccessBlock", "iam:GetRole", "iam:GetUser"});
const action_kind& record_account =
    declare_action("bucket-protection", "record-account-public-access", {"iam:TagRole", "iam:TagUser"});
const action_kind& block_account =
    declare_action("bucket-protection", "block-account-public-access", {"s3:PutAccountPublicAccessBlock"});

std::string xml_escaped(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

aws::public_access_block to_aws(const access_block& b) {
  return {b.block_public_acls, b.ignore_public_acls, b.block_public_policy, b.restrict_public_buckets};
}

aws::rest_xml_call get_tagging(const std::string& bucket) {
  aws::rest_xml_call call{aws::service::s3, "GetBucketTagging", "GET", bucket};
  call.subresource = "tagging";
  return call;
}

aws::rest_xml_call put_tagging(const std::string& bucket, const std::map<std::string, std::string>& tags) {
  aws::rest_xml_call call{aws::service::s3, "PutBucketTagging", "PUT", bucket};
  call.subresource = "tagging";
  call.body = "<Tagging xmlns=\"" + std::string(aws::s3_xml_namespace) + "\"><TagSet>";
  for (const auto& [k, v] : tags)
    call.body += "<Tag><Key>" + xml_escaped(k) + "</Key><Value>" + xml_escaped(v) + "</Value></Tag>";
  call.body += "</TagSet></Tagging>";
  call.checksum = true;  // S3 refuses PutBucketTagging without a checksum (Content-MD5 or x-amz-checksum-*)
  return call;
}

// DeletePublicAccessBlock: IAM checks it as s3:PutBucketPublicAccessBlock.
aws::rest_xml_call delete_block(const std::string& bucket) {
  aws::rest_xml_call call{aws::service::s3, "PutBucketPublicAccessBlock", "DELETE", bucket};
  call.subresource = "publicAccessBlock";
  return call;
}

planned_call account_call_of(const bucket_step& step, const std::string& account,
                             const principal_identity& self) {
  const std::string where = "account " + account;
  switch (step.op) {
    case bucket_op::put_tags: {
      const bool user = self.kind == "user";
      aws::query_call call{aws::service::iam, user ? "TagUser" : "TagRole", {}};
      std::vector<aws::tag> tags;
      for (const auto& [k, v] : step.tags) tags.push_back({k, v});
      call.params.add(user ? "UserName" : "RoleName", self.name).add_tags("Tags.member", tags);
      return {&record_account, self.arn, std::move(call), step.detail, step.needs};
    }
    case bucket_op::put_block:
      return {&block_account, where, aws::s3control_put_public_access_block(account, to_aws(step.block)),
              step.detail, step.needs};
    case bucket_op::delete_block:
      return {&block_account, where, aws::s3control_delete_public_access_block(account), step.detail,
              step.needs};
  }
  return {};
}

planned_call call_of(const bucket_step& step, const std::string& bucket) {
  switch (step.op) {
    case bucket_op::put_tags:
      return {&tag_bucket, bucket, put_tagging(bucket, step.tags), step.detail, step.needs};
    case bucket_op::put_block:
      return {&block_bucket, bucket, aws::s3_put_public_access_block(bucket, to_aws(step.block)), step.detail,
              step.needs};
    case bucket_op::delete_block:
      return {&block_bucket, bucket, delete_block(bucket), step.detail, step.needs};
  }
  return {};
}

std::vector<planned_call> plan_reads(const bucket_target& t) {
  if (t.bucket.empty())
    return {{&read_account, "account " + t.account_id, aws::s3control_get_public_access_block(t.account_id),
             "public access block"},
            {&read_account, "account " + t.account_id,
             aws::query_call{aws::service::sts, "GetCallerIdentity", {}}, "who acts"}};
  return {{&read_bucket, t.bucket, aws::s3_get_public_access_block(t.bucket), "public access block"},
          {&read_bucket, t.bucket, get_tagging(t.bucket), "tags"}};
}

bool failed_with(const execution& run, std::size_t i, std::string_view code) {
  const auto& f = run.records.at(i).failure;
  return f && f->code == code;
}

// The state from the reads' answers; the error of the first read that failed otherwise.
result<bucket_state> state_from(const bucket_target& t, const execution& run) {
  bucket_state state;
  if (failed_with(run, 0, "NoSuchBucket")) {
    state.exists = false;
    return state;
  }
  if (run.answers.at(0)) {
    state.block = access_block{};
    const auto b = aws::public_access_block_of(run.answers[0]->xml());
    *state.block = {b.block_public_acls, b.ignore_public_acls, b.block_public_policy,
                    b.restrict_public_buckets};
  } else if (!failed_with(run, 0, "NoSuchPublicAccessBlockConfiguration")) {
    return *run.records[0].failure;
  }
  if (t.bucket.empty()) return state;
  if (run.answers.at(1)) {
    pugi::xml_node root = run.answers[1]->xml().document.document_element();
    for (pugi::xml_node tag : root.child("TagSet").children("Tag"))
      state.tags[aws::text_of(tag, "Key")] = aws::text_of(tag, "Value");
  } else if (!failed_with(run, 1, "NoSuchTagSet")) {
    return *run.records[1].failure;
  }
  return state;
}

// Why GuardDuty's copy of the finding does not lead to this bucket; nullopt when it does.
std::optional<std::string> confirmed_refusal(const bucket_target& t, const guardduty_finding& real,
                                             const bucket_settings& settings) {
  if (auto why = finding_refusal(real)) return why;
  if (!t.sequence_member.empty()) return sequence_member_refusal(real, t.sequence_member, 0, "");
  if (auto why = bucket_routing_refusal(real, settings)) return why;
  if (t.bucket.empty()) return std::nullopt;
  const bool named = std::any_of(real.buckets.begin(), real.buckets.end(),
                                 [&](const s3_bucket_details& b) { return b.name == t.bucket; });
  if (!named) return "it does not name bucket " + t.bucket;
  return std::nullopt;
}

operator_decision decision_of(const bucket_state& state) {
  operator_decision d;
  auto tag = [&](const char* key) {
    auto it = state.tags.find(key);
    return it == state.tags.end() ? std::string() : it->second;
  };
  d.released_at = tag(tag_released_at);
  d.released_by = tag(tag_released_by);
  d.contained_at = tag(tag_contained_at);
  d.undone_by_hand = tag(tag_status) == "contained" && !(state.block && state.block->all_on());
  return d;
}

playbook_report finish(playbook_report report, const playbook_context& ctx) {
  report.total_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - ctx.arrived)
          .count();
  return report;
}

playbook_report left_alone(playbook_report report, std::string reason, const playbook_context& ctx) {
  report.status = report_status::ignored;
  report.reason = std::move(reason);
  return finish(std::move(report), ctx);
}

playbook_report failed_report(playbook_report report, const error& why, const playbook_context& ctx) {
  report.status = report_status::failed;
  report.failure = why;
  report.reason = why.describe();
  return finish(std::move(report), ctx);
}

error failure_of(const execution& run, std::size_t i, std::string_view what) {
  if (run.records.at(i).failure) return *run.records[i].failure;
  return error{"ReadFailed", "no answer to " + std::string(what), std::string(what)};
}

// Who Tourniquet acts as in the account (the account reads' GetCallerIdentity): the principal that carries
// the account's record. A role's session (assumed-role/ROLE/SESSION) gives the role; a user, the user.
result<principal_identity> acting_principal(const execution& run) {
  if (!run.answers.at(1)) return failure_of(run, 1, "GetCallerIdentity");
  principal_identity self = identity_from_arn(aws::text_of(run.answers[1]->xml().result(), "Arn"));
  if (self.kind != "role" && self.kind != "user")
    return error{"NoPrincipalToTag",
                 "Tourniquet acts as " + self.arn +
                     ", neither a role nor a user: nothing can carry the account's record",
                 "GetCallerIdentity"};
  return self;
}

// The acting principal's tags (iam:GetRole / iam:GetUser) into the state: one more round trip.
std::optional<error> read_principal_tags(bucket_state& state, const principal_identity& self,
                                         const playbook_context& ctx, playbook_report& report) {
  const bool user = self.kind == "user";
  aws::query_call call{aws::service::iam, user ? "GetUser" : "GetRole", {}};
  call.params.add(user ? "UserName" : "RoleName", self.name);
  const execution run =
      execute_plan({{&read_account, self.arn, std::move(call), "record"}}, ctx.client, ctx.until, false);
  report.round_trips += run.round_trips;
  if (!run.answers.at(0)) return failure_of(run, 0, user ? "GetUser" : "GetRole");
  const pugi::xml_node who = run.answers[0]->xml().result().child(user ? "User" : "Role");
  for (pugi::xml_node tag : aws::items_of(who.child("Tags")))
    state.tags[aws::text_of(tag, "Key")] = aws::text_of(tag, "Value");
  return std::nullopt;
}

// The account's block: the record on the acting principal first, then the block.
playbook_report protect_account(playbook_report report, const execution& read_run, bucket_state state,
                                const bucket_target& t, const playbook_context& ctx) {
  std::vector<std::string> already;
  std::vector<bucket_step> steps;
  principal_identity self;
  if (!(state.block && state.block->all_on())) {  // the principal's tags matter only to a change
    auto who = acting_principal(read_run);
    if (!who) return failed_report(std::move(report), who.err(), ctx);
    self = std::move(*who);
    if (auto why = read_principal_tags(state, self, ctx, report))
      return failed_report(std::move(report), *why, ctx);
    report.details["recordOn"] = self.arn;
    const since_decision since = decision_since_release(t.last_seen, account_decision_of(state.tags));
    if (since.verdict == decision_verdict::redelivery)
      return left_alone(std::move(report), since.reason, ctx);
    if (since.verdict == decision_verdict::act_again) report.reason = since.reason;
  }
  steps = plan_account_protection(state, rfc3339_now(), already);
  std::vector<planned_call> plan;
  for (const auto& s : steps) plan.push_back(account_call_of(s, t.account_id, self));
  append(report, execute_plan(plan, ctx.client, ctx.until, ctx.dry_run));
  for (auto& what : already) report.actions.push_back(already_record(block_account, report.target, what));
  report.status = ctx.dry_run           ? report_status::dry_run
                  : report.incomplete() ? report_status::incomplete
                                        : report_status::contained;
  return finish(std::move(report), ctx);
}

}  // namespace

playbook_report protect_bucket(const bucket_target& t, const playbook_context& ctx,
                               const bucket_settings& settings) {
  playbook_report report;
  report.playbook = std::string(bucket_playbook);
  report.target = t.bucket.empty() ? "account " + t.account_id : t.bucket;
  report.incident_id = incident_id_for(t.account_id, t.source_id);
  report.details["source"] = t.source_type;
  if (auto exempt = bucket_exemption(t, ctx.cfg, settings))
    return left_alone(std::move(report), *exempt, ctx);
  const auto reads = plan_reads(t);
  std::vector<planned_call> batch = reads;  // GetFindings rides with the reads
  const auto confirm_at = ctx.confirmation ? ctx.confirmation->add_to(batch) : std::nullopt;
  const execution read_run = execute_plan(batch, ctx.client, ctx.until, false);
  if (confirm_at) ctx.confirmation->absorb(read_run, *confirm_at);
  report.round_trips += read_run.round_trips;
  if (auto stop = unconfirmed_report(ctx.confirmation, report.playbook, report.target))
    return finish(*stop, ctx);
  if (ctx.confirmation) {
    if (auto why = confirmed_refusal(t, *ctx.confirmation->confirmed(), settings))
      return finish(not_confirmed_route(report.playbook, report.target, *why), ctx);
  }
  auto state = state_from(t, read_run);
  if (!state) return failed_report(std::move(report), state.err(), ctx);
  if (!state->exists) return left_alone(std::move(report), "bucket " + t.bucket + " no longer exists", ctx);
  report.details["publicAccessBlockBefore"] = record_of(state->block);
  const since_decision since = decision_since_release(t.last_seen, decision_of(*state));
  if (since.verdict == decision_verdict::redelivery) return left_alone(std::move(report), since.reason, ctx);
  if (t.bucket.empty()) return protect_account(std::move(report), read_run, *state, t, ctx);

  std::vector<std::string> already;
  const bool lost = prior_record_lost(t, *state);
  const auto steps = plan_bucket_protection(t, *state, report.incident_id, rfc3339_now(), already);
  std::vector<planned_call> plan;
  for (const auto& s : steps) plan.push_back(call_of(s, t.bucket));
  const execution run = execute_plan(plan, ctx.client, ctx.until, ctx.dry_run);
  // The figure: the block goes out in the first level after the reads.
  for (std::size_t i = 0; i < steps.size(); ++i)
    if (steps[i].op == bucket_op::put_block && run.records.at(i).result == outcome::done)
      report.details["blockedAfterRoundTrips"] = report.round_trips + 1;
  append(report, run);
  for (auto& what : already) report.actions.push_back(already_record(tag_bucket, report.target, what));
  report.status = ctx.dry_run           ? report_status::dry_run
                  : report.incomplete() ? report_status::incomplete
                                        : report_status::contained;
  if (since.verdict == decision_verdict::act_again) report.reason = since.reason;
  if (lost && report.status == report_status::contained) {
    report.status = report_status::escalate;
    report.reason = "the public access block is on but the bucket carries no " +
                    std::string(tag_prior_public_access_block) +
                    " record: someone turned it on, or an earlier try's record write failed after its block "
                    "landed; the prior configuration is lost (see that try's report and log: "
                    "publicAccessBlockBefore). Nothing is recorded, so release leaves the block on";
  }
  return finish(std::move(report), ctx);
}

playbook_report release_bucket(const std::string& bucket, const playbook_context& ctx) {
  playbook_report report;
  report.playbook = std::string(bucket_playbook);
  report.target = bucket;
  const bucket_target t{ctx.account_id, bucket, "", "release", false, false};
  const execution read_run = execute_plan(plan_reads(t), ctx.client, ctx.until, false);
  report.round_trips += read_run.round_trips;
  auto state = state_from(t, read_run);
  if (!state || !state->exists) {
    report.status = report_status::failed;
    report.reason = state ? "bucket " + bucket + " does not exist" : state.err().describe();
    return finish(std::move(report), ctx);
  }
  auto steps = plan_bucket_release(*state, rfc3339_now(), ctx.caller_arn);
  if (!steps) {
    report.status = report_status::failed;
    report.reason = steps.err().describe();
    return finish(std::move(report), ctx);
  }
  std::vector<planned_call> plan;
  for (const auto& s : *steps) plan.push_back(call_of(s, bucket));
  append(report, execute_plan(plan, ctx.client, ctx.until, ctx.dry_run));
  report.status = ctx.dry_run           ? report_status::dry_run
                  : report.incomplete() ? report_status::incomplete
                                        : report_status::released;
  return finish(std::move(report), ctx);
}

playbook_report release_account_block(const playbook_context& ctx) {
  playbook_report report;
  report.playbook = std::string(bucket_playbook);
  report.target = "account " + ctx.account_id;
  const bucket_target t{ctx.account_id, "", "", "release", false, false};
  const execution read_run = execute_plan(plan_reads(t), ctx.client, ctx.until, false);
  report.round_trips += read_run.round_trips;
  auto state = state_from(t, read_run);
  if (!state) return failed_report(std::move(report), state.err(), ctx);
  auto self = acting_principal(read_run);
  if (!self) return failed_report(std::move(report), self.err(), ctx);
  if (auto why = read_principal_tags(*state, *self, ctx, report))
    return failed_report(std::move(report), *why, ctx);
  report.details["recordOn"] = self->arn;
  auto steps = plan_account_release(*state, rfc3339_now(), ctx.caller_arn);
  if (!steps) return failed_report(std::move(report), steps.err(), ctx);
  std::vector<planned_call> plan;
  for (const auto& s : *steps) plan.push_back(account_call_of(s, ctx.account_id, *self));
  append(report, execute_plan(plan, ctx.client, ctx.until, ctx.dry_run));
  report.status = ctx.dry_run           ? report_status::dry_run
                  : report.incomplete() ? report_status::incomplete
                                        : report_status::released;
  return finish(std::move(report), ctx);
}

namespace {

class bucket_protection final : public playbook {
 public:
  explicit bucket_protection(bucket_settings settings) : m_settings(std::move(settings)) {}

  std::string_view name() const override { return bucket_playbook; }

  void route(const decoded_event& event, const config& cfg, routing& out) const override {
    const auto* finding = std::get_if<guardduty_finding>(&event);
    if (finding == nullptr || finding->resource_type != "S3Bucket") return;
    route_bucket_finding(*finding, m_settings, cfg, out);
  }

  bool may_take(const finding_summary& finding, const config&, routing&) const override {
    return finding.resource_type == "S3Bucket";
  }

  playbook_report run(const job& work, const playbook_context& ctx) const override {
    return protect_bucket(*std::any_cast<bucket_target>(&work.input), ctx, m_settings);
  }

  bool releases(std::string_view target) const override {
    return target == account_release_target || bucket_of_release_target(target).has_value();
  }

  playbook_report release(std::string_view target, const playbook_context& ctx) const override {
    if (target == account_release_target) return release_account_block(ctx);
    return release_bucket(*bucket_of_release_target(target), ctx);
  }

 private:
  bucket_settings m_settings;
};

}  // namespace

result<std::unique_ptr<const playbook>> make_bucket_protection(const env_reader& env) {
  return playbook_from<bucket_protection>(bucket_settings_from_environment(env));
}

}  // namespace tq::handlers
