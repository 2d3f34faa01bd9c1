#include "handlers/securityhub_in.h"

#include <algorithm>

#include "aws/rest_json.h"
#include "handlers/incident.h"
#include "handlers/playbooks/bucket_protection.h"
#include "handlers/playbooks/credential_containment.h"
#include "handlers/playbooks/function_containment.h"
#include "handlers/playbooks/instance_containment.h"

namespace tq::handlers {
namespace {

// Declared here, beside the playbook (securityhub_out.cpp sends it): in the policy only while updates are on.
const action_kind& update_finding = declare_action(
    securityhub_playbook, "update-finding", {"securityhub:GetFindings", "securityhub:BatchUpdateFindings"},
    "TOURNIQUET_SECURITYHUB_UPDATES");

const action_kind& confirm_action_finding =
    declare_action(securityhub_playbook, "confirm-action-finding", {"securityhub:GetFindings"},
                   "TOURNIQUET_CONFIRM_FINDINGS", true);

constexpr std::size_t max_filter_values = 20;  // GetFindings: values per filter field

// Why Security Hub's copy `real` does not confirm the event's `claimed`; "" when it does.
std::string difference(const asff_finding& claimed, const nlohmann::json& real) {
  if (real.value("ProductArn", "") != claimed.product_arn) return "Security Hub has it from another product";
  if (real.value("AwsAccountId", "") != claimed.account_id) return "Security Hub has it in another account";
  const auto resources = real.find("Resources");
  for (const auto& r : claimed.resources) {
    bool named = false;
    if (resources != real.end() && resources->is_array()) {
      for (const auto& mine : *resources)
        named |= mine.is_object() && mine.value("Type", "") == r.type && mine.value("Id", "") == r.id;
    }
    if (!named) return "Security Hub's copy does not name " + r.type + " " + r.id;
  }
  return {};
}

enum class action_mode { contain, release, dry_run };

std::optional<action_mode> mode_of(std::string_view action_id) {
  if (action_id == action_contain) return action_mode::contain;
  if (action_id == action_release) return action_mode::release;
  if (action_id == action_dry_run) return action_mode::dry_run;
  return std::nullopt;
}

// The part of an ARN after `marker`, or "" when it has none.
std::string after(std::string_view text, std::string_view marker) {
  const auto found = text.find(marker);
  return found == std::string_view::npos ? std::string() : std::string(text.substr(found + marker.size()));
}

// The last path segment of an IAM ARN: arn:aws:iam::A:role/path/NAME -> NAME.
std::string name_in_arn(std::string_view arn, std::string_view kind) {
  std::string marker = ":";
  marker.append(kind).push_back('/');
  const std::string rest = after(arn, marker);
  const auto slash = rest.rfind('/');
  return slash == std::string::npos ? rest : rest.substr(slash + 1);
}

std::string text_of(const nlohmann::json& details, const char* object, const char* key) {
  if (!details.is_object() || !details.contains(object) || !details[object].is_object()) return {};
  const auto& inner = details[object];
  const auto it = inner.find(key);
  return it != inner.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// The finding's type for records and reports: GuardDuty's, else the first of Types[], else the product.
std::string label_of(const asff_finding& finding) {
  if (!finding.types.empty()) return finding.types.front();
  return finding.generator_id.empty() ? finding.product_arn : finding.generator_id;
}

// What credential containment needs of an IAM resource, or nullopt when the resource is no principal.
std::optional<access_key_target> principal_of(const asff_finding& finding, const asff_resource& r) {
  access_key_target target{finding.account_id, source_id_of(finding), label_of(finding), "", "", "", "", ""};
  if (r.type == "AwsIamAccessKey") {
    target.access_key_id = after(r.id, "AWS::IAM::AccessKey:");
    if (target.access_key_id.empty())
      target.access_key_id = text_of(r.details, "AwsIamAccessKey", "AccessKeyId");
    if (target.access_key_id.empty() && r.id.starts_with("A")) target.access_key_id = r.id;
    target.user_type = text_of(r.details, "AwsIamAccessKey", "PrincipalType");
    std::string name = text_of(r.details, "AwsIamAccessKey", "PrincipalName");
    if (name.empty()) name = text_of(r.details, "AwsIamAccessKey", "UserName");
    // A long-term key belongs to a user, whatever the product says of it.
    if (target.user_type.empty() && target.access_key_id.starts_with("AKIA")) target.user_type = "IAMUser";
    (target.user_type == "AssumedRole" ? target.role_name : target.user_name) = name;
    return target;
  }
  if (r.type == "AwsIamUser") {
    target.user_type = "IAMUser";
    target.user_name = r.id.starts_with("arn:") ? name_in_arn(r.id, "user") : r.id;
    return target;
  }
  if (r.type == "AwsIamRole") {
    target.user_type = "AssumedRole";
    target.role_name = r.id.starts_with("arn:") ? name_in_arn(r.id, "role") : r.id;
    return target;
  }
  return std::nullopt;
}

// What `tourniquet release` would be given for this principal; "" when no release names it.
std::string release_name(const access_key_target& target, const asff_resource& r) {
  if (target.user_type == "IAMUser")
    return target.access_key_id.starts_with("AKIA") ? target.access_key_id : "";
  if (target.role_name.empty()) return {};
  const std::string account = target.account_id;
  return "arn:" + r.partition + ":iam::" + account + ":role/" + target.role_name;
}

bool exempt_as_shown(const asff_resource& r, const config& cfg) {
  return cfg.exempt_tag && std::find(r.tags.begin(), r.tags.end(),
                                     std::pair{cfg.exempt_tag->key, cfg.exempt_tag->value}) != r.tags.end();
}

// A function resource: concurrency 0 (function containment), as for a GuardDuty Lambda finding; released by
// its name. Nullopt when the resource names no function.
std::optional<job> function_job(const asff_finding& finding, const asff_resource& r, const config& cfg,
                                std::size_t item, const std::string& region, const std::string& incident) {
  std::string name = function_name_of(r.id);
  if (name.empty()) name = function_name_of(text_of(r.details, "AwsLambdaFunction", "FunctionName"));
  if (name.empty()) return std::nullopt;
  function_finding target{source_id_of(finding), label_of(finding), finding.account_id, name,
                          exempt_as_shown(r, cfg)};
  return job{function_playbook, item, finding.account_id, region, name, incident, "", std::move(target)};
}

// A bucket resource: containing it means turning its public access block on (bucket protection's exposure
// path, the prior configuration recorded on the bucket): the reversible action, which `TourniquetRelease`
// (or `tourniquet release s3://BUCKET`) undoes. Nullopt when the resource names no bucket.
std::optional<job> bucket_job(const asff_finding& finding, const asff_resource& r, const config& cfg,
                              std::size_t item, const std::string& region, const std::string& incident) {
  std::string name = bucket_of_release_target(r.id).value_or("");
  if (name.empty()) name = text_of(r.details, "AwsS3Bucket", "Name");
  if (name.empty() && !r.id.starts_with("arn:") && r.id.find('/') == std::string::npos) name = r.id;
  if (name.empty()) return std::nullopt;
  bucket_target target{finding.account_id, name, source_id_of(finding),
                       label_of(finding),  true, exempt_as_shown(r, cfg)};
  return job{bucket_playbook, item, finding.account_id, region, name, incident, "", std::move(target)};
}

// The job for a function or a bucket, or the escalation of one the resource does not name.
job resource_job(const asff_finding& finding, const asff_resource& r, action_mode mode, const config& cfg,
                 std::size_t item, const std::string& region, const std::string& incident) {
  const bool function = r.type == "AwsLambdaFunction";
  auto work = function ? function_job(finding, r, cfg, item, region, incident)
                       : bucket_job(finding, r, cfg, item, region, incident);
  if (!work) {
    job escalation{securityhub_playbook, item, finding.account_id, region, r.id, incident, "", {}};
    escalation.input = std::string(r.type + " " + r.id + " names no " + (function ? "function" : "bucket") +
                                   " Tourniquet can act on: act by hand");
    return escalation;
  }
  if (mode == action_mode::release && !function) work->target = "s3://" + work->target;
  return std::move(*work);
}

// The job for an instance, a principal, a function or a bucket, or the escalation of a resource no playbook
// here acts on.
job job_for(const asff_finding& finding, const asff_resource& r, action_mode mode, const config& cfg,
            std::size_t item) {
  const std::string incident = incident_id_for(finding.account_id, source_id_of(finding));
  const std::string region = r.region.empty() ? finding.region : r.region;
  job work{securityhub_playbook, item, finding.account_id, region, r.id, incident, "", {}};
  if (r.type == "AwsEc2Instance") {
    std::string instance_id = after(r.id, "instance/");
    if (instance_id.empty()) instance_id = r.id;
    const bool exempt = exempt_as_shown(r, cfg);
    // No last-seen time: an analyst's action is never a redelivery of a finding a person already decided on.
    work = job{
        instance_playbook,
        item,
        finding.account_id,
        region,
        instance_id,
        incident,
        "",
        instance_finding{source_id_of(finding), label_of(finding), finding.account_id, instance_id, exempt}};
  } else if (r.type == "AwsLambdaFunction" || r.type == "AwsS3Bucket") {
    work = resource_job(finding, r, mode, cfg, item, region, incident);
  } else if (auto principal = principal_of(finding, r)) {
    const std::string release_target = release_name(*principal, r);
    work = credential_job(*principal, item, region);
    if (mode == action_mode::release && release_target.empty()) {
      work = job{securityhub_playbook, item, finding.account_id, region, r.id, incident, "", {}};
      work.input = std::string("a release names an access key id (AKIA…) or a role: " + r.type + " " + r.id +
                               " names neither; release it by hand (`tourniquet release`)");
    } else if (mode == action_mode::release) {
      work.target = release_target;
    }
  } else {
    work.input = std::string("no playbook in this deployment acts on " + r.type + " resources (" + r.id +
                             "): act by hand");
  }
  work.release = mode == action_mode::release;
  work.dry_run = mode == action_mode::dry_run;
  return work;
}

// Hands escalations to a person: the resources the custom action names that no playbook here acts on.
class securityhub_actions final : public playbook {
 public:
  std::string_view name() const override { return securityhub_playbook; }

  // Security Hub events only; a GuardDuty finding is never this playbook's.
  bool may_take(const finding_summary&, const config&, routing&) const override { return false; }

  void route(const decoded_event& event, const config& cfg, routing& out) const override {
    const auto* hub = std::get_if<securityhub_event>(&event);
    if (hub == nullptr) return;
    if (hub->kind == securityhub_kind::imported) {
      // The responder runs each as its native event (imported_as_native); the pure router only says so.
      const auto as_native = imported_as_native(*hub);
      for (std::size_t i = 0; i < as_native.size(); ++i) {
        if (const auto* why = std::get_if<std::string>(&as_native[i]))
          out.passed.push_back({name(), i, *why});
      }
      return;
    }
    route_custom_action(*hub, cfg, out);
  }

  playbook_report run(const job& work, const playbook_context&) const override {
    playbook_report report = concluded(std::string(name()), report_status::escalate, work.target,
                                       *std::any_cast<std::string>(&work.input));
    report.incident_id = work.incident_id;
    return report;
  }
};

}  // namespace

const action_kind& finding_update_action() {
  return update_finding;
}

std::string source_id_of(const asff_finding& finding) {
  if (is_guardduty_product(finding)) {
    const std::string id = after(finding.id, "/finding/");
    if (!id.empty()) return id;
  }
  return finding.id;
}

void route_custom_action(const securityhub_event& event, const config& cfg, routing& out) {
  const auto mode = mode_of(event.action_id);
  for (std::size_t i = 0; i < event.findings.size(); ++i) {
    const asff_finding& finding = event.findings[i];
    if (!mode) {
      out.passed.push_back({securityhub_playbook, i,
                            "custom action " + event.action_id + " is not one of Tourniquet's (" +
                                std::string(action_contain) + ", " + std::string(action_release) + ", " +
                                std::string(action_dry_run) + ")"});
      continue;
    }
    if (finding.resources.empty()) {
      out.passed.push_back({securityhub_playbook, i, "finding " + finding.id + " names no resource"});
      continue;
    }
    for (const asff_resource& r : finding.resources) {
      job work = job_for(finding, r, *mode, cfg, i);
      work.reason = "custom action " + event.action_id + " on " + label_of(finding);
      if (!event.envelope.resources.empty()) work.decided_by = event.envelope.resources.front();
      out.jobs.push_back(std::move(work));
    }
  }
}

std::vector<planned_call> plan_action_confirmation(const securityhub_event& event) {
  std::vector<planned_call> calls;
  for (std::size_t start = 0; start < event.findings.size(); start += max_filter_values) {
    nlohmann::json ids = nlohmann::json::array();
    for (std::size_t i = start; i < std::min(start + max_filter_values, event.findings.size()); ++i)
      ids.push_back({{"Value", event.findings[i].id}, {"Comparison", "EQUALS"}});
    aws::rest_json_call call{aws::service::securityhub,
                             "GetFindings",
                             "POST",
                             "/findings",
                             {},
                             {{"Filters", {{"Id", ids}}}, {"MaxResults", 100}}};
    calls.push_back({&confirm_action_finding, event.action_id, std::move(call), "the selected findings"});
  }
  return calls;
}

action_confirmation judge_action_findings(const securityhub_event& event, const execution& run) {
  action_confirmation verdict;
  std::map<std::string, std::vector<nlohmann::json>> found;  // by Id
  for (std::size_t i = 0; i < run.records.size(); ++i) {
    if (!run.answers[i]) {
      const auto& failure = run.records[i].failure;
      verdict.unreachable =
          failure.value_or(error{"NotSent", "GetFindings was not sent", "securityhub:GetFindings", true});
      verdict.unreachable =
          std::move(*verdict.unreachable).within("confirming the findings with Security Hub");
      return verdict;
    }
    const nlohmann::json& body = run.answers[i]->json();
    if (!body.contains("Findings") || !body["Findings"].is_array()) continue;
    for (const auto& f : body["Findings"])
      if (f.is_object()) found[f.value("Id", "")].push_back(f);
  }
  for (std::size_t i = 0; i < event.findings.size(); ++i) {
    const asff_finding& claimed = event.findings[i];
    const auto copies = found.find(claimed.id);
    if (copies == found.end()) {
      verdict.forged[i] = "Security Hub has no finding " + claimed.id;
      continue;
    }
    std::string why = "Security Hub has it from another product";
    for (const auto& real : copies->second) {
      why = difference(claimed, real);
      if (why.empty()) break;
    }
    if (!why.empty()) verdict.forged[i] = std::move(why);
  }
  return verdict;
}

std::optional<playbook_report> unconfirmed_action(const action_confirmation& confirmation, const job& work) {
  if (confirmation.unreachable) {
    playbook_report r = could_not_start(std::string(work.playbook), work.target, *confirmation.unreachable);
    r.reason = "not confirmed by Security Hub: " + confirmation.unreachable->describe();
    return r;
  }
  const auto forged = confirmation.forged.find(work.item);
  if (forged == confirmation.forged.end()) return std::nullopt;
  playbook_report r =
      ignored(std::string(work.playbook), work.target, "not confirmed by Security Hub: " + forged->second);
  r.incident_id = work.incident_id;
  r.forged = true;
  return r;
}

std::vector<imported_finding> imported_as_native(const securityhub_event& event) {
  std::vector<imported_finding> out;
  for (std::size_t i = 0; i < event.findings.size(); ++i) {
    const asff_finding& finding = event.findings[i];
    if (!is_guardduty_product(finding)) {
      out.emplace_back("an imported finding of " + finding.product_arn +
                       ": only GuardDuty's imported findings are acted on (custom actions act on any)");
      continue;
    }
    auto native = native_guardduty_finding(event.envelope, finding, i);
    if (!native) {
      out.emplace_back("GuardDuty's finding as Security Hub carries it could not be read: " +
                       native.err().message);
      continue;
    }
    out.emplace_back(std::move(*native));
  }
  return out;
}

result<std::unique_ptr<const playbook>> make_securityhub_actions(const env_reader&) {
  return std::unique_ptr<const playbook>(new securityhub_actions());
}

}  // namespace tq::handlers
