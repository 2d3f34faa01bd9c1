// Credential containment: stolen or misused AWS credentials are cut off without destroying evidence. An IAM
// user's named access key is deactivated (never deleted, the user's other keys untouched) and every session
// issued before now is denied by an inline policy; an assumed role (temporary keys cannot be deactivated)
// gets the same deny; root credentials cannot be contained by API, so that is escalated to a person.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "handlers/action.h"
#include "handlers/config.h"
#include "handlers/event.h"
#include "handlers/incident.h"
#include "handlers/playbook.h"
#include "handlers/report.h"
#include "runtime/environment.h"

namespace tq::handlers {

inline constexpr std::string_view credential_playbook = "credential-containment";

// The inline policy that denies older sessions; putting it again under the same name replaces it, so a
// principal never carries more than one.
inline constexpr const char* revoke_sessions_policy_name = "tourniquet-revoke-older-sessions";

// The default access-key finding types that contain credentials: a key used from where or how it should not
// be.
std::vector<std::string> default_credential_finding_types();

// The playbook's own settings (the shared ones, such as TOURNIQUET_EXEMPT_PRINCIPALS, are in config).
struct credential_settings {
  bool remove_console_access = false;  // TOURNIQUET_REMOVE_CONSOLE_ACCESS: DeleteLoginProfile on IAM users
  std::string quarantine_group;        // TOURNIQUET_QUARANTINE_GROUP: an IAM group name; empty for none
  double min_severity = 5.0;           // TOURNIQUET_CREDENTIAL_MIN_SEVERITY (Medium and above)
  // TOURNIQUET_CREDENTIAL_FINDING_TYPES
  std::vector<std::string> finding_types = default_credential_finding_types();
};

result<credential_settings> credential_settings_from_environment(const env_reader& env);

// Whose credentials to contain, from a GuardDuty AccessKey finding or a CloudTrail record's userIdentity.
struct access_key_target {
  std::string account_id;
  std::string source_id;       // the finding id or the CloudTrail event id: the incident is derived from it
  std::string source_type;     // the finding type, or "CloudTrail:StopLogging"
  std::string user_type;       // "IAMUser", "AssumedRole", "Root", "FederatedUser", ...
  std::string access_key_id;   // AKIA… (long-term) or ASIA… (temporary); "" when none was named
  std::string user_name;       // IAMUser: the user
  std::string role_name;       // AssumedRole: the role whose sessions are denied
  std::string last_seen = {};  // when the activity was last seen: eventLastSeen, CloudTrail's eventTime
  // Set when the finding is about another resource (an ECS task, a pod) and names this principal: that
  // resource's route chose to contain it, not TOURNIQUET_CREDENTIAL_FINDING_TYPES.
  bool named_by_other_resource = false;
  // The key's uid or the actor's id in the attack sequence that named it (attack_sequence.h); "" otherwise.
  std::string sequence_member = {};
  // Set when another playbook's route made the job from a finding of its own kind (an S3 data finding): why
  // GuardDuty's copy of that finding does not call for it, by that route's rule instead of the access-key
  // types.
  std::function<std::optional<std::string>(const guardduty_finding&)> confirm_rule = {};
};

access_key_target target_from_finding(const guardduty_finding& finding);
access_key_target target_from_cloudtrail(const cloudtrail_event& event);

// A principal as an ARN names it: arn:aws:iam::A:user/path/NAME, arn:aws:sts::A:assumed-role/ROLE/SESSION,
// arn:aws:iam::A:role/path/NAME, arn:aws:iam::A:root.
struct principal_identity {
  std::string account_id;
  std::string kind;  // "user", "role", "root"; "" when the ARN is none of these
  std::string name;  // the user or role name, without its path
  std::string arn;
};

principal_identity identity_from_arn(std::string_view arn);

// The live state the plan is made from, re-read at every invocation.
struct credential_state {
  principal_identity self;  // who Tourniquet acts as here (sts:GetCallerIdentity)
  bool principal_exists = true;
  std::string principal_arn;  // from GetUser / GetRole: with its path
  std::map<std::string, std::string> tags;
  std::map<std::string, std::string> key_status;  // IAMUser: access key id -> "Active" / "Inactive"
  std::optional<bool> has_login_profile;          // read only when console removal is on
  std::optional<bool> in_quarantine_group;        // read only when a quarantine group is set
};

// Pure planners: (target, state, settings) -> intended calls; tests check them without I/O.
std::vector<planned_call> plan_credential_reads(const access_key_target& target,
                                                const credential_settings& settings);
result<credential_state> credential_state_from_reads(const credential_settings& settings,
                                                     const std::vector<planned_call>& reads,
                                                     const execution& run);

// Why Tourniquet must leave this principal alone, if it must: its own role or user, or an exempt principal.
std::optional<std::string> exemption_of(const access_key_target& target, const credential_state& state,
                                        const config& cfg);

// {"Version": …, "Statement": [Deny * on * when aws:TokenIssueTime < now]}.
std::string revoke_sessions_policy(std::string_view now_rfc3339);

std::vector<planned_call> plan_credential_containment(
    const access_key_target& target, const credential_state& state, const credential_settings& settings,
    std::string_view incident_id, std::string_view now_rfc3339, std::vector<action_record>& already);

// The playbook: read, decide, plan, execute. Root (and any principal type no API can contain) answers with
// status "escalate": a success for Lambda, logged at error level, because a person must act.
// What a person decided about the principal, as its tags say: released (`tourniquet release`), or, for a
// user, the key Tourniquet deactivated set Active again by hand while its record says contained.
operator_decision decision_of(const access_key_target& target, const credential_state& state);

// `tourniquet release AKIA…` / `release arn:…:role/NAME`: what release reads, and what it does from what it
// read (the key Active again, the deny policy deleted, who and when on the principal's tags).
struct release_target {
  std::string access_key_id;  // "" for a role
  std::string user_name;      // the key's user (GetAccessKeyLastUsed says)
  std::string role_name;
};
std::optional<release_target> release_target_of(std::string_view target);
std::vector<planned_call> plan_credential_release(const release_target& target, const credential_state& state,
                                                  std::string_view now_rfc3339, std::string_view released_by,
                                                  std::vector<action_record>& already);
playbook_report release_credentials(std::string_view target, const playbook_context& ctx);

playbook_report contain_credentials(const access_key_target& target, const playbook_context& ctx,
                                    const credential_settings& settings);

// Why an access-key finding does not call for containment; nullopt when it does (root always does).
std::optional<std::string> credential_routing_refusal(const guardduty_finding& finding,
                                                      const credential_settings& settings);
// Its gates that a finding's summary can answer: root, type, severity.
std::optional<std::string> credential_gate_refusal(const std::optional<std::string>& user_type,
                                                   const std::string& type, double severity,
                                                   const credential_settings& settings);

// A job for credential containment, for any route that finds a principal to contain (item: of the event).
job credential_job(access_key_target target, std::size_t item, std::string region);

result<std::unique_ptr<const playbook>> make_credential_containment(const env_reader& env);

}  // namespace tq::handlers
