// Function containment: a compromised Lambda function stops taking invocations at once — its reserved
// concurrency (or that it had none) recorded in a tag on it, then set to 0 — while its code, versions and
// logs stay as evidence. It is tagged with the incident; its execution role's sessions issued before now are
// denied (credential containment's deny) when no other function uses that role; the remote addresses of a
// function in a VPC go to the network block. `tourniquet release FUNCTION` puts the concurrency back.
#pragma once

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
#include "handlers/playbooks/network_block.h"
#include "handlers/report.h"
#include "runtime/environment.h"

namespace tq::handlers {

inline constexpr std::string_view function_playbook = "function-containment";

// ListFunctions pages read to learn whether another function uses the role (50 functions a page).
inline constexpr int max_function_pages = 20;

// Every Lambda finding type GuardDuty has: each says the function itself talked to something bad.
std::vector<std::string> default_function_finding_types();

struct function_settings {
  double min_severity = 4.0;  // TOURNIQUET_FUNCTION_MIN_SEVERITY (Medium and above)
  std::vector<std::string> finding_types =
      default_function_finding_types();  // TOURNIQUET_FUNCTION_FINDING_TYPES
  bool revoke_shared_role = false;       // TOURNIQUET_REVOKE_SHARED_FUNCTION_ROLE
  // Tourniquet's own function, never acted on: AWS_LAMBDA_FUNCTION_NAME and TOURNIQUET_FUNCTION_NAME.
  std::vector<std::string> own_function_names;
  network_block_settings block;  // which findings' addresses go to the network block (TOURNIQUET_BLOCK_*)
};

result<function_settings> function_settings_from_environment(const env_reader& env);

// "my-fn" from "my-fn", "arn:aws:lambda:R:A:function:my-fn" or "arn:…:function:my-fn:PROD"; "" when
// `text` is neither a function name nor a function ARN.
std::string function_name_of(std::string_view text);

// What the playbook needs of a finding.
struct function_finding {
  std::string finding_id;
  std::string finding_type;
  std::string account_id;
  std::string function_name;       // unqualified
  bool exempt_in_finding = false;  // TOURNIQUET_EXEMPT_TAG was on the function as the finding saw it
  std::string last_seen = {};
};

function_finding function_target_of(const guardduty_finding& finding, const config& cfg);

// Why a finding about a function does not contain it; nullopt when it does.
std::optional<std::string> function_routing_refusal(const guardduty_finding& finding,
                                                    const function_settings& settings);

// The function as read (GetFunctionConcurrency, GetFunction).
struct function_state {
  bool exists = true;
  std::optional<long> reserved;  // nullopt: no reserved concurrency (the account's unreserved pool)
  std::string function_arn;      // unqualified, as GetFunction names it
  std::string role_arn;
  std::vector<std::string> subnet_ids;
  std::map<std::string, std::string> tags;
};

std::vector<planned_call> plan_function_reads(const std::string& function_name);
result<function_state> function_state_from_reads(const std::vector<planned_call>& reads,
                                                 const execution& run);

// One page of ListFunctions; `marker` "" for the first.
planned_call list_functions_call(const std::string& marker);

// Who else uses a role, counted over ListFunctions pages.
struct role_usage {
  std::vector<std::string> others;  // the other functions whose role it is
  std::string next_marker;          // "" once every page is read
  int pages = 0;
};
void count_role_users(const nlohmann::json& page, const std::string& role_arn, const std::string& self_arn,
                      role_usage& usage);

// What a person decided about the function, as its tags say (released, or concurrency set back by hand).
operator_decision decision_of(const function_state& state);

// The record tag (prior concurrency, incident) and PutFunctionConcurrency 0 go out together (the function
// stops within two round trips of the event); the status tag once the concurrency is 0.
std::vector<planned_call> plan_function_containment(const function_finding& finding,
                                                    const function_state& state, std::string_view incident_id,
                                                    std::string_view now_rfc3339,
                                                    std::vector<action_record>& already);

// Release: the recorded concurrency back (or the limit deleted when there was none), then the status tag.
std::vector<planned_call> plan_function_release(const std::string& function_name, const function_state& state,
                                                std::string_view now_rfc3339, std::string_view released_by,
                                                std::vector<action_record>& already);

playbook_report contain_function(const function_finding& finding, const playbook_context& ctx,
                                 const function_settings& settings);
playbook_report release_function(std::string_view target, const playbook_context& ctx);

result<std::unique_ptr<const playbook>> make_function_containment(const env_reader& env);

}  // namespace tq::handlers
