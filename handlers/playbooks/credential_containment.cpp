#include "handlers/playbooks/credential_containment.h"

#include <algorithm>
#include <cctype>

#include "handlers/confirmation.h"
#include "handlers/incident.h"
#include "handlers/playbooks/attack_sequence.h"
#include "runtime/json_text.h"
#include "runtime/log.h"

namespace tq::handlers {
namespace {

using aws::items_of;
using aws::query_call;
using aws::service;
using aws::text_of;

// Reads also call sts:GetCallerIdentity, which needs no permission (AWS answers it for any principal).
const action_kind& read_principal = declare_action(credential_playbook, "read-principal",
                                                   {"iam:GetUser", "iam:GetRole", "iam:ListAccessKeys"});
const action_kind& deactivate_key =
    declare_action(credential_playbook, "deactivate-key", {"iam:UpdateAccessKey"});
const action_kind& revoke_user_sessions =
    declare_action(credential_playbook, "revoke-user-sessions", {"iam:PutUserPolicy"});
const action_kind& revoke_role_sessions =
    declare_action(credential_playbook, "revoke-role-sessions", {"iam:PutRolePolicy"});
const action_kind& tag_user_action = declare_action(credential_playbook, "tag-user", {"iam:TagUser"});
const action_kind& tag_role_action = declare_action(credential_playbook, "tag-role", {"iam:TagRole"});
// Release: the key's user is found from the key alone (GetAccessKeyLastUsed names it).
const action_kind& reactivate_key = declare_action(credential_playbook, "reactivate-key",
                                                   {"iam:GetAccessKeyLastUsed", "iam:UpdateAccessKey"});
const action_kind& restore_user_sessions =
    declare_action(credential_playbook, "restore-user-sessions", {"iam:DeleteUserPolicy"});
const action_kind& restore_role_sessions =
    declare_action(credential_playbook, "restore-role-sessions", {"iam:DeleteRolePolicy"});
// Optional, off by default; each declares its own read so the policy asks for nothing an option does not use.
const action_kind& remove_console_access =
    declare_action(credential_playbook, "remove-console-access",
                   {"iam:GetLoginProfile", "iam:DeleteLoginProfile"}, "TOURNIQUET_REMOVE_CONSOLE_ACCESS");
const action_kind& quarantine_user =
    declare_action(credential_playbook, "quarantine-user", {"iam:ListGroupsForUser", "iam:AddUserToGroup"},
                   "TOURNIQUET_QUARANTINE_GROUP");

// IAM names: letters, digits and +=,.@_- (group names: 1-128 of them).
bool is_iam_name(std::string_view name) {
  if (name.empty() || name.size() > 128) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 ||
           std::string_view("+=,.@_-").find(c) != std::string_view::npos;
  });
}

// The last '/'-separated segment: "path/to/name" -> "name".
std::string last_segment(std::string_view path) {
  const size_t slash = path.rfind('/');
  return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

bool is_no_such_entity(const action_record& r) {
  return r.failure && r.failure->code == "NoSuchEntity";
}

std::map<std::string, std::string> tags_of(pugi::xml_node list) {
  std::map<std::string, std::string> tags;
  for (pugi::xml_node t : items_of(list)) tags[text_of(t, "Key")] = text_of(t, "Value");
  return tags;
}

}  // namespace

std::vector<std::string> default_credential_finding_types() {
  return {"UnauthorizedAccess:IAMUser/*",
          "CredentialAccess:IAMUser/*",
          "Exfiltration:IAMUser/*",
          "Impact:IAMUser/*",
          "Persistence:IAMUser/*",
          "PrivilegeEscalation:IAMUser/*",
          "DefenseEvasion:IAMUser/*",
          "Stealth:IAMUser/*",
          "PenTest:IAMUser/*",
          "InitialAccess:IAMUser/*"};
}

result<credential_settings> credential_settings_from_environment(const env_reader& env) {
  credential_settings s;
  auto credential_types =
      parse_type_patterns(env, "TOURNIQUET_CREDENTIAL_FINDING_TYPES", default_credential_finding_types());
  if (!credential_types) return std::move(credential_types).err();
  s.finding_types = std::move(*credential_types);
  auto credential_severity =
      parse_number(env, "TOURNIQUET_CREDENTIAL_MIN_SEVERITY", 0.0, 10.0, s.min_severity);
  if (!credential_severity) return std::move(credential_severity).err();
  s.min_severity = *credential_severity;
  auto console = parse_bool(env, "TOURNIQUET_REMOVE_CONSOLE_ACCESS", s.remove_console_access);
  if (!console) return std::move(console).err();
  s.remove_console_access = *console;
  if (auto group = env("TOURNIQUET_QUARANTINE_GROUP")) {
    if (!group->empty() && !is_iam_name(*group)) {
      return invalid_setting("TOURNIQUET_QUARANTINE_GROUP", "'" + *group + "' is not an IAM group name");
    }
    s.quarantine_group = *group;
  }
  return s;
}

access_key_target target_from_finding(const guardduty_finding& finding) {
  access_key_target t;
  t.account_id = finding.account_id;
  t.source_id = finding.id;
  t.source_type = finding.type;
  if (finding.access_key) {
    t.user_type = finding.access_key->user_type;
    t.access_key_id = finding.access_key->access_key_id;
    // GuardDuty puts the role's name in userName for AssumedRole (instance credentials included).
    (t.user_type == "AssumedRole" ? t.role_name : t.user_name) = finding.access_key->user_name;
  }
  t.last_seen = finding.last_seen;
  return t;
}

access_key_target target_from_cloudtrail(const cloudtrail_event& event) {
  access_key_target t;
  if (event.recipient_account_id)
    t.account_id = *event.recipient_account_id;
  else if (event.envelope && !event.envelope->account.empty())
    t.account_id = event.envelope->account;
  else
    t.account_id = event.user.account_id.value_or("");
  t.source_id = event.event_id.value_or(event.event_name + "@" + event.event_time);
  t.source_type = "CloudTrail:" + event.event_name;
  t.user_type = event.user.type;
  t.access_key_id = event.user.access_key_id.value_or("");
  t.last_seen = event.event_time;  // the call itself is the activity
  if (t.user_type == "IAMUser") {
    t.user_name =
        event.user.user_name.value_or(event.user.arn ? identity_from_arn(*event.user.arn).name : "");
  } else if (t.user_type == "AssumedRole") {
    if (event.user.session_issuer_arn) t.role_name = identity_from_arn(*event.user.session_issuer_arn).name;
    if (t.role_name.empty() && event.user.arn) t.role_name = identity_from_arn(*event.user.arn).name;
  }
  return t;
}

principal_identity identity_from_arn(std::string_view arn) {
  principal_identity id;
  id.arn = std::string(arn);
  // arn:partition:service:region:account:resource
  std::vector<std::string_view> fields;
  size_t start = 0;
  for (int i = 0; i < 5; ++i) {
    const size_t colon = arn.find(':', start);
    if (colon == std::string_view::npos) return id;
    fields.push_back(arn.substr(start, colon - start));
    start = colon + 1;
  }
  if (fields[0] != "arn") return id;
  id.account_id = std::string(fields[4]);
  const std::string_view resource = arn.substr(start);
  if (resource == "root") {
    id.kind = "root";
  } else if (resource.starts_with("user/")) {
    id.kind = "user";
    id.name = last_segment(resource);
  } else if (resource.starts_with("role/")) {
    id.kind = "role";
    id.name = last_segment(resource);
  } else if (resource.starts_with("assumed-role/")) {
    // assumed-role/ROLE/SESSION: the role is the second segment (a role path is not part of this ARN).
    const std::string_view rest = resource.substr(std::string_view("assumed-role/").size());
    id.kind = "role";
    id.name = std::string(rest.substr(0, rest.find('/')));
  }
  return id;
}

std::vector<planned_call> plan_credential_reads(const access_key_target& target,
                                                const credential_settings& settings) {
  std::vector<planned_call> reads;
  const std::string who = target.user_type == "AssumedRole" ? target.role_name : target.user_name;
  auto add = [&](const action_kind& kind, query_call call) {
    reads.push_back(planned_call{&kind, who, std::move(call)});
  };
  add(read_principal, {service::sts, "GetCallerIdentity", {}});
  if (target.user_type == "IAMUser") {
    query_call user{service::iam, "GetUser", {}};
    user.params.add("UserName", target.user_name);
    add(read_principal, std::move(user));
    query_call keys{service::iam, "ListAccessKeys", {}};
    keys.params.add("UserName", target.user_name);
    add(read_principal, std::move(keys));
    if (settings.remove_console_access) {
      query_call login{service::iam, "GetLoginProfile", {}};
      login.params.add("UserName", target.user_name);
      add(remove_console_access, std::move(login));
    }
    if (!settings.quarantine_group.empty()) {
      query_call groups{service::iam, "ListGroupsForUser", {}};
      groups.params.add("UserName", target.user_name);
      add(quarantine_user, std::move(groups));
    }
  } else if (target.user_type == "AssumedRole") {
    query_call role{service::iam, "GetRole", {}};
    role.params.add("RoleName", target.role_name);
    add(read_principal, std::move(role));
  }
  return reads;
}

result<credential_state> credential_state_from_reads(const credential_settings& settings,
                                                     const std::vector<planned_call>& reads,
                                                     const execution& run) {
  credential_state state;
  for (size_t i = 0; i < reads.size(); ++i) {
    const std::string& action = reads[i].query().action;
    const action_record& record = run.records[i];
    if (!run.answers[i]) {
      if (is_no_such_entity(record) && (action == "GetUser" || action == "GetRole")) {
        state.principal_exists = false;
        continue;
      }
      if (is_no_such_entity(record) && action == "GetLoginProfile") {
        state.has_login_profile = false;
        continue;
      }
      if (record.failure) return *record.failure;
      return error{"ReadFailed", "no answer to " + aws::call_name(reads[i].call),
                   aws::call_name(reads[i].call)};
    }
    const pugi::xml_node result = run.answers[i]->xml().result();
    if (action == "GetCallerIdentity") {
      state.self = identity_from_arn(text_of(result, "Arn"));
      if (state.self.account_id.empty()) state.self.account_id = text_of(result, "Account");
    } else if (action == "GetUser") {
      state.principal_arn = text_of(result, "User/Arn");
      state.tags = tags_of(result.child("User").child("Tags"));
    } else if (action == "GetRole") {
      state.principal_arn = text_of(result, "Role/Arn");
      state.tags = tags_of(result.child("Role").child("Tags"));
    } else if (action == "ListAccessKeys") {
      for (pugi::xml_node k : items_of(result.child("AccessKeyMetadata"))) {
        state.key_status[text_of(k, "AccessKeyId")] = text_of(k, "Status");
      }
    } else if (action == "GetLoginProfile") {
      state.has_login_profile = true;
    } else if (action == "ListGroupsForUser") {
      state.in_quarantine_group = false;
      for (pugi::xml_node g : items_of(result.child("Groups"))) {
        if (text_of(g, "GroupName") == settings.quarantine_group) state.in_quarantine_group = true;
      }
    }
  }
  if (state.self.kind.empty()) {
    // Without knowing who we are, we could lock ourselves out: refuse rather than guess.
    return error{"UnknownIdentity", "sts:GetCallerIdentity did not say who Tourniquet runs as",
                 "sts:GetCallerIdentity"};
  }
  return state;
}

std::optional<std::string> exemption_of(const access_key_target& target, const credential_state& state,
                                        const config& cfg) {
  const bool is_user = target.user_type == "IAMUser";
  const std::string& name = is_user ? target.user_name : target.role_name;
  const std::string kind = is_user ? "user" : "role";
  const bool same_account = state.self.account_id.empty() || target.account_id.empty() ||
                            state.self.account_id == target.account_id;
  if (same_account && state.self.kind == kind && state.self.name == name) {
    return "the " + kind + " " + name + " is the principal Tourniquet runs as; it never acts on itself";
  }
  for (const std::string& candidate : {name, state.principal_arn, target.access_key_id}) {
    if (!candidate.empty() && cfg.exempt_principals.contains(candidate)) {
      return "the " + kind + " " + name + " is exempt (TOURNIQUET_EXEMPT_PRINCIPALS lists " + candidate + ")";
    }
  }
  return std::nullopt;
}

// The text nlohmann::ordered_json dumps for this document (credential_containment_test compares them),
// written without building the document.
std::string revoke_sessions_policy(std::string_view now_rfc3339) {
  std::string policy =
      R"({"Version":"2012-10-17","Statement":[{"Sid":"TourniquetRevokeOlderSessions","Effect":"Deny",)"
      R"("Action":"*","Resource":"*","Condition":{"DateLessThan":{"aws:TokenIssueTime":)";
  json_text::append_string(policy, now_rfc3339);
  policy += "}}}]}";
  return policy;
}

std::vector<planned_call> plan_credential_containment(
    const access_key_target& target, const credential_state& state, const credential_settings& settings,
    std::string_view incident_id, std::string_view now_rfc3339, std::vector<action_record>& already) {
  std::vector<planned_call> plan;
  const bool is_user = target.user_type == "IAMUser";
  const std::string& name = is_user ? target.user_name : target.role_name;
  const std::string key = target.access_key_id;
  std::vector<size_t> deactivation;

  if (is_user) {
    const auto status = state.key_status.find(key);
    if (key.empty()) {
      already.push_back(skipped_record(deactivate_key, name, "the event names no access key"));
    } else if (key.starts_with("ASIA")) {
      already.push_back(skipped_record(
          deactivate_key, key, "a temporary key cannot be deactivated; the deny policy revokes its session"));
    } else if (status == state.key_status.end()) {
      already.push_back(
          skipped_record(deactivate_key, key, "not a key of user " + name + " (deleted, or another user's)"));
    } else if (status->second == "Inactive") {
      already.push_back(already_record(deactivate_key, key, "inactive"));
    } else {
      query_call call{service::iam, "UpdateAccessKey", {}};
      call.params.add("UserName", name).add("AccessKeyId", key).add("Status", "Inactive");
      deactivation.push_back(plan.size());
      plan.push_back({&deactivate_key, key, std::move(call), "Active -> Inactive; other keys untouched"});
    }
  }

  // Refreshed on every delivery: a repeated finding means the activity goes on, so "now" moves forward.
  query_call deny{service::iam, is_user ? "PutUserPolicy" : "PutRolePolicy", {}};
  deny.params.add(is_user ? "UserName" : "RoleName", name)
      .add("PolicyName", revoke_sessions_policy_name)
      .add("PolicyDocument", revoke_sessions_policy(now_rfc3339));
  plan.push_back({is_user ? &revoke_user_sessions : &revoke_role_sessions, name, std::move(deny),
                  "deny sessions issued before " + std::string(now_rfc3339)});

  if (is_user && settings.remove_console_access) {
    if (state.has_login_profile.value_or(true)) {
      query_call call{service::iam, "DeleteLoginProfile", {}};
      call.params.add("UserName", name);
      planned_call remove{&remove_console_access, name, std::move(call), "console password removed"};
      remove.already_if = {"NoSuchEntity"};  // gone already: an attempt whose answer was lost removed it
      plan.push_back(std::move(remove));
    } else {
      already.push_back(already_record(remove_console_access, name, "no console password"));
    }
  }
  if (is_user && !settings.quarantine_group.empty()) {
    if (state.in_quarantine_group.value_or(false)) {
      already.push_back(already_record(quarantine_user, name, "in " + settings.quarantine_group));
    } else {
      query_call call{service::iam, "AddUserToGroup", {}};
      call.params.add("GroupName", settings.quarantine_group).add("UserName", name);
      plan.push_back({&quarantine_user, name, std::move(call), "added to " + settings.quarantine_group});
    }
  }

  auto recorded = state.tags.find(tag_incident);
  auto status = state.tags.find(tag_status);
  const bool released = status != state.tags.end() && status->second == "released";
  if (recorded != state.tags.end() && recorded->second == incident_id && !released) {
    already.push_back(
        already_record(is_user ? tag_user_action : tag_role_action, name, std::string(incident_id)));
  } else {
    std::vector<aws::tag> tags{{tag_incident, std::string(incident_id)},
                               {tag_finding, target.source_id},
                               {tag_source_type, target.source_type},
                               {tag_contained_at, std::string(now_rfc3339)},
                               {tag_status, "contained"}};
    if (!key.empty()) tags.push_back({tag_access_key, key});
    query_call call{service::iam, is_user ? "TagUser" : "TagRole", {}};
    call.params.add(is_user ? "UserName" : "RoleName", name).add_tags("Tags.member", tags);
    // Recorded only once the key is off: an Active key under this record reads as set Active by a person.
    plan.push_back({is_user ? &tag_user_action : &tag_role_action, name, std::move(call),
                    std::string(incident_id), deactivation});
  }
  return plan;
}

namespace {

playbook_report escalate(playbook_report report, std::string reason) {
  report.status = report_status::escalate;
  report.reason = std::move(reason);
  // Loud on purpose: nothing was done, and a person must act.
  log::error("escalation: a person must act", {{"target", report.target}, {"reason", report.reason}});
  return report;
}

}  // namespace

namespace {

// Why no API can contain this principal, so a person must; nullopt when one can.
std::optional<std::string> needs_a_person(const access_key_target& target) {
  const bool is_user = target.user_type == "IAMUser";
  const bool is_role = target.user_type == "AssumedRole";
  if (target.user_type == "Root") {
    return "the account's root credentials were used (key " +
           (target.access_key_id.empty() ? std::string("unknown") : target.access_key_id) +
           "); no API can deactivate root keys or revoke root sessions: sign in as root, change the "
           "password, delete root access keys and check its MFA devices";
  }
  if (!is_user && !is_role) {
    return "no automatic containment exists for principals of type '" + target.user_type +
           "'; contain them by hand";
  }
  if ((is_user && target.user_name.empty()) || (is_role && target.role_name.empty())) {
    return std::string("the event does not name the ") + (is_user ? "user" : "role") + " behind key " +
           target.access_key_id + "; contain it by hand";
  }
  return std::nullopt;
}

// An `ignored` report that keeps the incident and what was known of the principal.
playbook_report left_alone(const playbook_report& report, std::string reason, bool warn) {
  if (warn) log::warn("credential containment skipped", {{"target", report.target}, {"reason", reason}});
  playbook_report r = ignored(report.playbook, report.target, std::move(reason));
  r.incident_id = report.incident_id;
  r.details = report.details;
  return r;
}

// The report that stops here when GuardDuty's own copy of the finding does not lead to this principal
// (forged, unreachable, or routed elsewhere on its type, severity or archived state); nullopt to go on.
std::optional<playbook_report> confirmed_credentials(const access_key_target& target,
                                                     const playbook_context& ctx,
                                                     const credential_settings& settings) {
  const std::string name(credential_playbook);
  const std::string who = target.user_type == "IAMUser" ? target.user_name : target.role_name;
  if (auto stop = unconfirmed_report(ctx.confirmation, name, who)) return stop;
  if (ctx.confirmation == nullptr) return std::nullopt;
  const guardduty_finding& real = *ctx.confirmation->confirmed();
  auto why = finding_refusal(real);
  const std::string& member = target.sequence_member;  // a sequence's member: its own route's rules
  if (!why && !member.empty()) {
    const double floor = target.user_type == "Root" ? 0.0 : settings.min_severity;
    why = sequence_member_refusal(real, member, floor, "TOURNIQUET_CREDENTIAL_MIN_SEVERITY");
  } else if (!why) {
    // Another resource's route chose this principal: its rule, or none, instead of the access-key types.
    if (target.confirm_rule) {
      why = target.confirm_rule(real);
    } else if (!target.named_by_other_resource) {
      why = credential_routing_refusal(real, settings);
    }
    const access_key_target confirmed = target_from_finding(real);
    if (!why && (confirmed.user_name != target.user_name || confirmed.role_name != target.role_name))
      why = "it names another principal";
  }
  if (why) return not_confirmed_route(name, who, *why);
  return std::nullopt;
}

}  // namespace

playbook_report contain_credentials(const access_key_target& target, const playbook_context& ctx,
                                    const credential_settings& settings) {
  playbook_report report;
  report.playbook = std::string(credential_playbook);
  report.incident_id = incident_id_for(target.account_id, target.source_id);
  const bool is_user = target.user_type == "IAMUser";
  report.target = is_user                             ? target.user_name
                  : target.user_type == "AssumedRole" ? target.role_name
                                                      : target.user_type;
  report.details["userType"] = target.user_type;
  if (!target.access_key_id.empty()) report.details["accessKeyId"] = target.access_key_id;
  report.details["source"] = target.source_type;
  auto finish = [&](playbook_report r) {
    r.total_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - ctx.arrived)
            .count();
    return r;
  };

  if (auto why = needs_a_person(target)) {
    // Nothing to read, but a page to a person is an action too: it waits on GuardDuty's word.
    confirm_alone(ctx.confirmation, ctx.client, ctx.until, report);
    if (auto stop = confirmed_credentials(target, ctx, settings)) return finish(std::move(*stop));
    return escalate(std::move(report), std::move(*why));
  }
  if (!target.access_key_id.empty() && target.access_key_id == ctx.client.identity().access_key_id) {
    return left_alone(
        report, "key " + target.access_key_id + " is the key Tourniquet runs as; it never acts on itself",
        true);
  }
  const auto reads = plan_credential_reads(target, settings);
  std::vector<planned_call> batch = reads;  // the reads, and GetFindings beside them while it is to be asked
  const auto confirm_at = ctx.confirmation ? ctx.confirmation->add_to(batch) : std::nullopt;
  const execution read_run = execute_plan(batch, ctx.client, ctx.until, false);
  if (confirm_at) ctx.confirmation->absorb(read_run, *confirm_at);
  report.round_trips += read_run.round_trips;
  if (auto stop = confirmed_credentials(target, ctx, settings)) return finish(std::move(*stop));
  auto state = credential_state_from_reads(settings, reads, read_run);
  if (!state) {
    for (const auto& r : read_run.records) {
      if (r.result == outcome::failed) report.actions.push_back(r);
    }
    report.status = report_status::failed;
    report.reason = state.err().describe();
    report.failure = state.err();
    return finish(std::move(report));
  }
  if (auto exempt = exemption_of(target, *state, ctx.cfg))
    return left_alone(report, std::move(*exempt), true);
  if (!state->principal_exists) {
    playbook_report r = left_alone(report,
                                   std::string(is_user ? "user " : "role ") + report.target +
                                       " no longer exists in account " + target.account_id +
                                       ": its keys and sessions went with it",
                                   false);
    r.details = nlohmann::ordered_json::object();
    return r;
  }
  if (!state->principal_arn.empty()) report.details["principalArn"] = state->principal_arn;
  // A person's decision stands against a redelivery of what they decided on; later activity is new evidence.
  const since_decision since = decision_since_release(target.last_seen, decision_of(target, *state));
  if (since.verdict == decision_verdict::redelivery) return finish(left_alone(report, since.reason, false));

  std::vector<action_record> already;
  const auto plan =
      plan_credential_containment(target, *state, settings, report.incident_id, rfc3339_now(), already);
  append(report, execute_plan(plan, ctx.client, ctx.until, ctx.dry_run));
  report.actions.insert(report.actions.end(), already.begin(), already.end());
  report.status = ctx.dry_run           ? report_status::dry_run
                  : report.incomplete() ? report_status::incomplete
                                        : report_status::contained;
  if (since.verdict == decision_verdict::act_again) report.reason = since.reason;
  report = finish(std::move(report));
  if (report.status == report_status::contained) report.details["containedAfterMs"] = report.total_ms;
  return report;
}

namespace {

std::string tag_value(const std::map<std::string, std::string>& tags, const char* key) {
  const auto found = tags.find(key);
  return found == tags.end() ? std::string() : found->second;
}

}  // namespace

operator_decision decision_of(const access_key_target& target, const credential_state& state) {
  operator_decision decision;
  decision.contained_at = tag_value(state.tags, tag_contained_at);
  if (tag_value(state.tags, tag_status) == "released") {
    decision.released_at = tag_value(state.tags, tag_released_at);
    decision.released_by = tag_value(state.tags, tag_released_by);
    return decision;
  }
  const auto key = state.key_status.find(target.access_key_id);
  decision.undone_by_hand = target.user_type == "IAMUser" && !target.access_key_id.empty() &&
                            tag_value(state.tags, tag_access_key) == target.access_key_id &&
                            key != state.key_status.end() && key->second == "Active";
  return decision;
}

std::optional<release_target> release_target_of(std::string_view target) {
  if (target.starts_with("AKIA")) return release_target{std::string(target), "", ""};
  const principal_identity id = identity_from_arn(target);
  if (id.kind == "role" && target.find(":role/") != std::string_view::npos && !id.name.empty())
    return release_target{"", "", id.name};
  return std::nullopt;
}

std::vector<planned_call> plan_credential_release(const release_target& target, const credential_state& state,
                                                  std::string_view now_rfc3339, std::string_view released_by,
                                                  std::vector<action_record>& already) {
  std::vector<planned_call> plan;
  std::vector<size_t> changes;
  const bool is_user = !target.user_name.empty();
  const std::string& name = is_user ? target.user_name : target.role_name;
  if (is_user) {
    const std::string& key = target.access_key_id;
    const auto status = state.key_status.find(key);
    if (status == state.key_status.end()) {
      already.push_back(unfinished_record(reactivate_key, key, "not a key of user " + name));
    } else if (tag_value(state.tags, tag_access_key) != key) {
      // Only a key Tourniquet turned off is turned on again: any other was an operator's choice.
      already.push_back(unfinished_record(
          reactivate_key, key, "Tourniquet's record on " + name + " names no such key: left as it is"));
    } else if (status->second == "Active") {
      already.push_back(already_record(reactivate_key, key, "active"));
    } else {
      query_call call{service::iam, "UpdateAccessKey", {}};
      call.params.add("UserName", name).add("AccessKeyId", key).add("Status", "Active");
      changes.push_back(plan.size());
      plan.push_back({&reactivate_key, key, std::move(call), "Inactive -> Active"});
    }
  }
  query_call remove{service::iam, is_user ? "DeleteUserPolicy" : "DeleteRolePolicy", {}};
  remove.params.add(is_user ? "UserName" : "RoleName", name).add("PolicyName", revoke_sessions_policy_name);
  planned_call restore{is_user ? &restore_user_sessions : &restore_role_sessions, name, std::move(remove),
                       std::string(revoke_sessions_policy_name) + " deleted"};
  restore.already_if = {"NoSuchEntity"};  // deleted already, by a person or an earlier release
  changes.push_back(plan.size());
  plan.push_back(std::move(restore));

  if (tag_value(state.tags, tag_status) == "released") {
    already.push_back(already_record(is_user ? tag_user_action : tag_role_action, name, "released"));
    return plan;
  }
  // Marked released only once everything is back: the mark is what later deliveries of the finding obey.
  std::vector<aws::tag> tags{{tag_status, "released"}, {tag_released_at, std::string(now_rfc3339)}};
  if (!released_by.empty()) tags.push_back({tag_released_by, std::string(released_by)});
  query_call call{service::iam, is_user ? "TagUser" : "TagRole", {}};
  call.params.add(is_user ? "UserName" : "RoleName", name).add_tags("Tags.member", tags);
  plan.push_back(
      {is_user ? &tag_user_action : &tag_role_action, name, std::move(call), "released", std::move(changes)});
  return plan;
}

namespace {

playbook_report failed_release(playbook_report report, const error& why) {
  report.status = report_status::failed;
  report.reason = why.describe();
  report.failure = why;
  return report;
}

// The user a long-term key belongs to, as IAM says (the key alone names none).
result<std::string> user_of_key(const std::string& key, const playbook_context& ctx,
                                playbook_report& report) {
  query_call lookup{service::iam, "GetAccessKeyLastUsed", {}};
  lookup.params.add("AccessKeyId", key);
  const execution run =
      execute_plan({{&reactivate_key, key, std::move(lookup)}}, ctx.client, ctx.until, false);
  report.round_trips += run.round_trips;
  if (!run.answers[0]) {
    report.actions.push_back(run.records[0]);
    return run.records[0].failure.value_or(
        error{"ReadFailed", "no answer to iam:GetAccessKeyLastUsed", "iam:GetAccessKeyLastUsed"});
  }
  std::string user = text_of(run.answers[0]->xml().result(), "UserName");
  if (user.empty())
    return error{"NoSuchEntity", "IAM names no user for key " + key, "iam:GetAccessKeyLastUsed"};
  return user;
}

// The principal's tags and keys, as containment reads them.
result<credential_state> read_for_release(const release_target& who, const playbook_context& ctx,
                                          playbook_report& report) {
  access_key_target as_target;
  as_target.user_type = who.user_name.empty() ? "AssumedRole" : "IAMUser";
  as_target.user_name = who.user_name;
  as_target.role_name = who.role_name;
  const auto reads = plan_credential_reads(as_target, credential_settings{});
  const execution run = execute_plan(reads, ctx.client, ctx.until, false);
  report.round_trips += run.round_trips;
  for (const auto& r : run.records) {
    if (r.result == outcome::failed) report.actions.push_back(r);
  }
  return credential_state_from_reads(credential_settings{}, reads, run);
}

}  // namespace

playbook_report release_credentials(std::string_view target, const playbook_context& ctx) {
  playbook_report report;
  report.playbook = "release";
  report.target = std::string(target);
  auto who = release_target_of(target);
  if (!who) {
    report.status = report_status::failed;
    report.reason = target.starts_with("ASIA")
                        ? "a temporary key (ASIA…) names no principal to release: release its role by ARN "
                          "(arn:aws:iam::ACCOUNT:role/NAME)"
                        : "'" + std::string(target) + "' is neither an access key id (AKIA…) nor a role ARN";
    return report;
  }
  if (!who->access_key_id.empty()) {
    auto user = user_of_key(who->access_key_id, ctx, report);
    if (!user) return failed_release(std::move(report), user.err());
    who->user_name = std::move(*user);
  }
  auto state = read_for_release(*who, ctx, report);
  if (!state) return failed_release(std::move(report), state.err());
  const std::string name = who->user_name.empty() ? who->role_name : who->user_name;
  report.incident_id = tag_value(state->tags, tag_incident);
  if (!state->principal_exists || report.incident_id.empty()) {
    report.status = report_status::failed;
    report.reason = name + " carries no Tourniquet incident: nothing to release";
    return report;
  }
  std::vector<action_record> already;
  const auto plan = plan_credential_release(*who, *state, rfc3339_now(), ctx.caller_arn, already);
  append(report, execute_plan(plan, ctx.client, ctx.until, ctx.dry_run));
  report.actions.insert(report.actions.end(), already.begin(), already.end());
  report.status = ctx.dry_run           ? report_status::dry_run
                  : report.incomplete() ? report_status::incomplete
                                        : report_status::released;
  return report;
}

// --- The playbook ---------------------------------------------------------------------------------------

std::optional<std::string> credential_routing_refusal(const guardduty_finding& finding,
                                                      const credential_settings& settings) {
  return credential_gate_refusal(
      finding.access_key ? std::optional(finding.access_key->user_type) : std::nullopt, finding.type,
      finding.severity, settings);
}

std::optional<std::string> credential_gate_refusal(const std::optional<std::string>& user_type,
                                                   const std::string& type, double severity,
                                                   const credential_settings& settings) {
  // Nothing can be done to root by API; the playbook escalates loudly, whatever the type or severity.
  if (user_type == "Root") return std::nullopt;
  if (!type_matches(settings.finding_types, type)) {
    return "type " + type + " is not in TOURNIQUET_CREDENTIAL_FINDING_TYPES";
  }
  if (severity < settings.min_severity) {
    char text[16];
    std::snprintf(text, sizeof text, "%.1f", severity);
    return "severity " + std::string(text) + " is under TOURNIQUET_CREDENTIAL_MIN_SEVERITY";
  }
  return std::nullopt;
}

job credential_job(access_key_target target, std::size_t item, std::string region) {
  job j{credential_playbook, item, target.account_id, std::move(region), {}, {}, target.source_type, {}};
  j.target = !target.user_name.empty()   ? target.user_name
             : !target.role_name.empty() ? target.role_name
                                         : target.user_type;
  j.incident_id = incident_id_for(target.account_id, target.source_id);
  j.input = std::move(target);
  return j;
}

namespace {

class credential_containment final : public playbook {
 public:
  explicit credential_containment(credential_settings settings) : m_settings(std::move(settings)) {}

  std::string_view name() const override { return credential_playbook; }

  void route(const decoded_event& event, const config&, routing& out) const override {
    const auto* finding = std::get_if<guardduty_finding>(&event);
    if (finding == nullptr || finding->resource_type != "AccessKey") return;
    if (auto why = credential_routing_refusal(*finding, m_settings)) {
      out.passed.push_back({name(), 0, std::move(*why)});
      return;
    }
    out.jobs.push_back(credential_job(target_from_finding(*finding), 0, finding->region));
  }

  bool may_take(const finding_summary& finding, const config&, routing& out) const override {
    if (finding.resource_type != "AccessKey") return false;
    auto why = credential_gate_refusal(finding.user_type, finding.type, finding.severity, m_settings);
    if (why) out.passed.push_back({name(), 0, std::move(*why)});
    return !why;
  }

  playbook_report run(const job& work, const playbook_context& ctx) const override {
    return contain_credentials(*std::any_cast<access_key_target>(&work.input), ctx, m_settings);
  }

  bool releases(std::string_view target) const override {
    return target.starts_with("AKIA") || target.starts_with("ASIA") ||
           (target.starts_with("arn:") && target.find(":role/") != std::string_view::npos);
  }

  playbook_report release(std::string_view target, const playbook_context& ctx) const override {
    return release_credentials(target, ctx);
  }

 private:
  credential_settings m_settings;
};

}  // namespace

result<std::unique_ptr<const playbook>> make_credential_containment(const env_reader& env) {
  return playbook_from<credential_containment>(credential_settings_from_environment(env));
}

}  // namespace tq::handlers
