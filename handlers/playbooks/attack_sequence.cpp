#include "handlers/playbooks/attack_sequence.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>

#include "handlers/confirmation.h"
#include "handlers/incident.h"
#include "runtime/log.h"

namespace tq::handlers {
namespace {

std::string severity_text(double severity) {
  char text[16];
  std::snprintf(text, sizeof text, "%.1f", severity);
  return text;
}

// "severity 8.0 is under TOURNIQUET_MIN_SEVERITY"; nullopt when the finding reaches the floor.
std::optional<std::string> under_floor(const guardduty_finding& finding, double floor,
                                       std::string_view variable) {
  if (finding.severity >= floor) return std::nullopt;
  return "severity " + severity_text(finding.severity) + " is under " + std::string(variable);
}

std::string account_of(const guardduty_finding& finding, const std::string& account) {
  return account.empty() ? finding.account_id : account;
}
std::string region_of(const guardduty_finding& finding, const std::string& region) {
  return region.empty() ? finding.region : region;
}

// What a person must do about a member no playbook contains, by its type.
std::string what_to_do(const sequence_resource& r) {
  const std::string& t = r.resource_type;
  if (t == "EC2_NETWORK_INTERFACE")
    return "the sequence names interface " + r.uid +
           " but not its instance: find it (aws ec2 describe-network-interfaces --network-interface-ids " +
           r.uid +
           ") and contain the instance (invoke Tourniquet with a Block Addresses request or isolate it)";
  if (t == "S3_BUCKET")
    return "bucket " + r.uid +
           ": review its policy, ACLs and public access block, and who read or changed it "
           "(CloudTrail data events)";
  if (t == "S3_OBJECT")
    return "object " + r.uid +
           ": check who read or changed it (CloudTrail data events); restore a prior version";
  if (t == "ECS_TASK" || t == "ECS_CLUSTER")
    return r.uid +
           ": stop the task (aws ecs stop-task --task ARN), deny its task role's older sessions, and look "
           "for other tasks of the same image";
  if (t == "EKS_CLUSTER" || t == "KUBERNETES_WORKLOAD" || t == "CONTAINER")
    return r.uid +
           ": apply a deny-all NetworkPolicy to the workload, cordon its node, and review the "
           "cluster's RBAC for the identities the sequence names";
  if (t == "AUTOSCALING_AUTO_SCALING_GROUP")
    return "group " + r.uid +
           ": suspend its Launch and ReplaceUnhealthy processes so it does not replace "
           "contained instances, and check its launch template";
  if (t == "IAM_INSTANCE_PROFILE")
    return "instance profile " + r.uid +
           ": deny its role's sessions issued before now if its credentials "
           "left the instance";
  return "no playbook contains resources of type " + t + ": review " + r.uid + " for the attacker's changes";
}

// The routing of one sequence: the jobs made so far, and what each member was deduplicated against.
class sequence_router {
 public:
  sequence_router(const guardduty_finding& finding, const sequence_settings& settings, const config& cfg,
                  routing& out)
      : m_finding(finding),
        m_sequence(*finding.sequence),
        m_settings(settings),
        m_cfg(cfg),
        m_out(out),
        m_incident(incident_id_for(finding.account_id, finding.id)) {}

  void run() {
    index_interfaces();
    for (std::size_t i = 0; i < m_sequence.resources.size(); ++i) resource(m_sequence.resources[i], 1 + i);
    const std::size_t actors_from = 1 + m_sequence.resources.size();
    for (std::size_t j = 0; j < m_sequence.actors.size(); ++j) actor(m_sequence.actors[j], actors_from + j);
    if (!m_blocked && !sequence_addresses(m_sequence).empty()) {
      pass(0,
           "the endpoints " + join_list(sequence_addresses(m_sequence), ", ") +
               " are blocked only where the sequence's instances sit, and it names none that was contained");
    }
  }

 private:
  void pass(std::size_t item, std::string reason) {
    m_out.passed.push_back({sequence_playbook, item, std::move(reason)});
  }

  void add(job j, std::size_t item) {
    j.item = item;
    j.incident_id = m_incident;
    m_out.jobs.push_back(std::move(j));
  }

  // The interfaces the sequence's instances name: contained with their instance.
  void index_interfaces() {
    for (const auto& r : m_sequence.resources) {
      if (r.resource_type != "EC2_INSTANCE") continue;
      for (const auto& eni : r.interface_ids) m_interface_owner[eni] = r.uid;
    }
  }

  void resource(const sequence_resource& r, std::size_t item) {
    const std::string key = account_of(m_finding, r.account_id) + "/" + r.resource_type + "/" + r.uid;
    if (!m_seen.insert(key).second) return pass(item, r.uid + " is named twice: handled once");
    if (r.resource_type == "EC2_INSTANCE") return instance(r, item);
    if (r.resource_type == "ACCESS_KEY") return principal(key_target_of(m_finding, r), item);
    if (r.resource_type == "S3_BUCKET") return bucket(r, item);
    if (r.resource_type == "EC2_NETWORK_INTERFACE") {
      if (auto owner = m_interface_owner.find(r.uid); owner != m_interface_owner.end())
        return pass(item, "interface " + r.uid + " is contained with its instance " + owner->second);
    }
    escalate(r, item);
  }

  void instance(const sequence_resource& r, std::size_t item) {
    if (auto why = under_floor(m_finding, m_settings.instance.min_severity, "TOURNIQUET_MIN_SEVERITY"))
      return pass(item, "instance " + r.uid + ": " + *why);
    instance_finding target = instance_target_of(m_finding, r, m_cfg);
    job j{instance_playbook,
          0,
          account_of(m_finding, r.account_id),
          region_of(m_finding, r.region),
          r.uid,
          {},
          m_finding.type + " (instance " + r.uid + ")",
          std::move(target)};
    add(std::move(j), item);
    if (sequence_addresses(m_sequence).empty()) return;
    if (auto why = under_floor(m_finding, m_settings.block.min_severity, "TOURNIQUET_BLOCK_MIN_SEVERITY"))
      return pass(item, "the endpoints of instance " + r.uid + ": " + *why);
    block_target block = block_target_of(m_finding, r);
    for (const auto& eni : m_sequence.resources) {
      const bool of_instance =
          std::find(r.interface_ids.begin(), r.interface_ids.end(), eni.uid) != r.interface_ids.end();
      if (of_instance && eni.interface && !eni.interface->subnet_id.empty() &&
          std::find(block.subnet_ids.begin(), block.subnet_ids.end(), eni.interface->subnet_id) ==
              block.subnet_ids.end())
        block.subnet_ids.push_back(eni.interface->subnet_id);
    }
    job b{network_block_playbook,
          0,
          block.account_id,
          region_of(m_finding, r.region),
          r.uid,
          {},
          m_finding.type + " endpoints",
          std::move(block)};
    add(std::move(b), item);
    m_blocked = true;
  }

  // Tagged with the incident: what was taken from it goes through the principals, contained beside it.
  void bucket(const sequence_resource& r, std::size_t item) {
    if (auto why = under_floor(m_finding, m_settings.bucket.min_severity, "TOURNIQUET_BUCKET_MIN_SEVERITY"))
      return pass(item, "bucket " + r.uid + ": " + *why);
    bucket_target target = bucket_target_of(m_finding, r, m_cfg);
    job j{bucket_playbook,
          0,
          target.account_id,
          region_of(m_finding, r.region),
          r.uid,
          {},
          m_finding.type + " (bucket " + r.uid + ")",
          std::move(target)};
    add(std::move(j), item);
  }

  void actor(const sequence_actor& a, std::size_t item) {
    std::optional<access_key_target> target = actor_target_of(m_finding, a);
    if (!target) return pass(item, "actor " + a.id + " names no principal to contain");
    principal(std::move(*target), item);
  }

  // One job per principal: a user per key (its other keys stay active), a role once, root once.
  void principal(access_key_target target, std::size_t item) {
    const std::string who = target.user_type == "IAMUser" ? target.user_name + "/" + target.access_key_id
                            : target.user_type == "AssumedRole" ? target.role_name
                                                                : target.user_type;
    const std::string shown = target.access_key_id.empty() ? target.sequence_member : target.access_key_id;
    if (!m_principals.insert(target.account_id + "/" + target.user_type + "/" + who).second)
      return pass(item, shown + " is already contained as " + target.user_type + " " + who);
    if (auto why =
            under_floor(m_finding, m_settings.credentials.min_severity, "TOURNIQUET_CREDENTIAL_MIN_SEVERITY");
        why && target.user_type != "Root")
      return pass(item, shown + ": " + *why);
    std::string region = m_finding.region;
    job j = credential_job(std::move(target), item, std::move(region));
    add(std::move(j), item);
  }

  void escalate(const sequence_resource& r, std::size_t item) {
    sequence_escalation e{r.uid, r.resource_type, account_of(m_finding, r.account_id),
                          region_of(m_finding, r.region), what_to_do(r)};
    job j{sequence_playbook,
          0,
          e.account_id,
          e.region,
          r.uid,
          {},
          m_finding.type + " (" + r.resource_type + ")",
          std::move(e)};
    add(std::move(j), item);
  }

  const guardduty_finding& m_finding;
  const attack_sequence& m_sequence;
  const sequence_settings& m_settings;
  const config& m_cfg;
  routing& m_out;
  std::string m_incident;
  std::set<std::string> m_seen;
  std::set<std::string> m_principals;
  std::map<std::string, std::string> m_interface_owner;  // interface id -> instance id
  bool m_blocked = false;
};

bool has_tag(const std::vector<std::pair<std::string, std::string>>& tags, const config& cfg) {
  return cfg.exempt_tag && std::find(tags.begin(), tags.end(),
                                     std::pair{cfg.exempt_tag->key, cfg.exempt_tag->value}) != tags.end();
}

bool names_member(const attack_sequence& s, std::string_view uid) {
  return std::any_of(s.resources.begin(), s.resources.end(), [&](const auto& r) { return r.uid == uid; }) ||
         std::any_of(s.actors.begin(), s.actors.end(), [&](const auto& a) { return a.id == uid; });
}

}  // namespace

std::vector<std::string> default_sequence_finding_types() {
  return {"AttackSequence:*"};
}

result<sequence_settings> sequence_settings_from_environment(const env_reader& env) {
  sequence_settings s;
  auto types =
      parse_type_patterns(env, "TOURNIQUET_SEQUENCE_FINDING_TYPES", default_sequence_finding_types());
  if (!types) return std::move(types).err();
  s.finding_types = std::move(*types);
  auto instance = instance_settings_from_environment(env);
  if (!instance) return std::move(instance).err();
  s.instance = std::move(*instance);
  auto credentials = credential_settings_from_environment(env);
  if (!credentials) return std::move(credentials).err();
  s.credentials = std::move(*credentials);
  auto block = network_block_settings_from_environment(env);
  if (!block) return std::move(block).err();
  s.block = std::move(*block);
  auto bucket = bucket_settings_from_environment(env);
  if (!bucket) return std::move(bucket).err();
  s.bucket = std::move(*bucket);
  return s;
}

instance_finding instance_target_of(const guardduty_finding& finding, const sequence_resource& instance,
                                    const config& cfg) {
  instance_finding target{finding.id,
                          finding.type,
                          account_of(finding, instance.account_id),
                          instance.uid,
                          has_tag(instance.tags, cfg),
                          finding.last_seen};
  target.sequence_member = instance.uid;
  return target;
}

access_key_target key_target_of(const guardduty_finding& finding, const sequence_resource& key) {
  access_key_target t;
  t.account_id = account_of(finding, key.account_id);
  t.source_id = finding.id;
  t.source_type = finding.type;
  t.access_key_id = key.uid;
  if (key.access_key) {
    t.user_type = key.access_key->user_type;
    // As in accessKeyDetails, GuardDuty puts the role's name in userName for AssumedRole.
    (t.user_type == "AssumedRole" ? t.role_name : t.user_name) = key.access_key->user_name;
  }
  t.last_seen = finding.last_seen;
  t.sequence_member = key.uid;
  return t;
}

std::optional<access_key_target> actor_target_of(const guardduty_finding& finding,
                                                 const sequence_actor& actor) {
  if (actor.user_type.empty()) return std::nullopt;
  access_key_target t;
  t.account_id = actor.account_id.empty() ? finding.account_id : actor.account_id;
  t.source_id = finding.id;
  t.source_type = finding.type;
  t.user_type = actor.user_type;
  t.access_key_id = actor.credential_uid;
  if (t.user_type == "AssumedRole") {
    // The session's issuer is the role's ARN; without it, the user's name is the role's.
    const principal_identity issuer = identity_from_arn(actor.session_issuer);
    t.role_name = issuer.kind == "role" ? issuer.name : actor.user_name;
  } else if (t.user_type == "IAMUser") {
    t.user_name = actor.user_name;
  }
  t.last_seen = finding.last_seen;
  t.sequence_member = actor.id;
  return t;
}

block_target block_target_of(const guardduty_finding& finding, const sequence_resource& instance) {
  block_target t;
  t.account_id = account_of(finding, instance.account_id);
  t.incident_id = incident_id_for(finding.account_id, finding.id);
  t.source = "attack sequence " + finding.type + " " + finding.id;
  t.addresses = sequence_addresses(*finding.sequence);
  t.instance_id = instance.uid;
  t.sequence_member = instance.uid;
  return t;
}

std::vector<std::string> sequence_addresses(const attack_sequence& sequence) {
  std::vector<std::string> out;
  for (const auto& e : sequence.endpoints) {
    if (!e.ip.empty() && std::find(out.begin(), out.end(), e.ip) == out.end()) out.push_back(e.ip);
  }
  return out;
}

void route_sequence(const guardduty_finding& finding, const sequence_settings& settings, const config& cfg,
                    routing& out) {
  if (!finding.sequence) return;
  if (!type_matches(settings.finding_types, finding.type)) {
    out.passed.push_back(
        {sequence_playbook, 0, "type " + finding.type + " is not in TOURNIQUET_SEQUENCE_FINDING_TYPES"});
    return;
  }
  if (finding.sequence->resources.empty() && finding.sequence->actors.empty()) {
    out.passed.push_back({sequence_playbook, 0, "the sequence names no resource and no actor"});
    return;
  }
  sequence_router(finding, settings, cfg, out).run();
}

std::optional<std::string> sequence_member_refusal(const guardduty_finding& real, std::string_view uid,
                                                   double floor, std::string_view floor_variable) {
  if (!real.sequence) return "GuardDuty's copy is no attack sequence";
  if (auto why = under_floor(real, floor, floor_variable)) return why;
  if (!names_member(*real.sequence, uid))
    return "GuardDuty's copy of the sequence does not name " + std::string(uid);
  return std::nullopt;
}

std::optional<instance_finding> confirmed_instance_target(const guardduty_finding& real, std::string_view uid,
                                                          const config& cfg) {
  if (!real.sequence) return std::nullopt;
  for (const auto& r : real.sequence->resources) {
    if (r.uid == uid && r.resource_type == "EC2_INSTANCE") return instance_target_of(real, r, cfg);
  }
  return std::nullopt;
}

namespace {

// A member no playbook contains: a person must act. Like any action, it waits on GuardDuty's word.
playbook_report escalate_member(const sequence_escalation& e, const job& work, const playbook_context& ctx) {
  playbook_report report;
  report.playbook = std::string(sequence_playbook);
  report.target = e.uid;
  report.incident_id = work.incident_id;
  report.details["resourceType"] = e.resource_type;
  report.details["accountId"] = e.account_id;
  if (!e.region.empty()) report.details["region"] = e.region;
  confirm_alone(ctx.confirmation, ctx.client, ctx.until, report);
  if (auto stop = unconfirmed_report(ctx.confirmation, report.playbook, e.uid)) return *stop;
  if (ctx.confirmation != nullptr) {
    const guardduty_finding& real = *ctx.confirmation->confirmed();
    auto why = finding_refusal(real);
    if (!why) why = sequence_member_refusal(real, e.uid, 0, "");
    if (why) return not_confirmed_route(report.playbook, e.uid, *why);
  }
  report.status = report_status::escalate;
  report.reason = e.what_to_do;
  log::error("escalation: a person must act", {{"target", e.uid}, {"reason", report.reason}});
  return report;
}

class attack_sequence_playbook final : public playbook {
 public:
  explicit attack_sequence_playbook(sequence_settings settings) : m_settings(std::move(settings)) {}

  std::string_view name() const override { return sequence_playbook; }

  void route(const decoded_event& event, const config& cfg, routing& out) const override {
    const auto* finding = std::get_if<guardduty_finding>(&event);
    if (finding == nullptr || !finding->sequence) return;
    route_sequence(*finding, m_settings, cfg, out);
  }

  // The router decodes every finding that carries a sequence (route_summary): nothing here to take.
  bool may_take(const finding_summary&, const config&, routing&) const override { return false; }

  playbook_report run(const job& work, const playbook_context& ctx) const override {
    return escalate_member(*std::any_cast<sequence_escalation>(&work.input), work, ctx);
  }

 private:
  sequence_settings m_settings;
};

}  // namespace

result<std::unique_ptr<const playbook>> make_attack_sequence(const env_reader& env) {
  return playbook_from<attack_sequence_playbook>(sequence_settings_from_environment(env));
}

}  // namespace tq::handlers
