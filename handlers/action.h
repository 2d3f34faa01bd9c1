// What a playbook does, as data: each kind of action declares the IAM actions it needs next to its code,
// a plan lists the calls it intends, and the report records what became of each. The deployable policy
// (`tourniquet policy`) is generated from the declarations, and tests keep them true.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "aws/api_call.h"
#include "aws/client.h"
#include "aws/query.h"
#include "runtime/environment.h"
#include "runtime/result.h"

namespace tq::handlers {

// A kind of action, declared once per playbook file with the permissions it needs:
//   const action_kind isolate_interface = declare_action("instance-containment", "isolate-interface",
//       {"ec2:ModifyNetworkInterfaceAttribute"});
struct action_kind {
  std::string_view playbook;
  std::string_view name;
  std::vector<std::string_view> permissions;
  // For an optional action, the variable that turns it on: its permissions are in the policy only when that
  // variable is set (to anything but false), so the deployed role holds nothing an option does not use.
  std::string_view enabled_by = {};
  // Whether the option is on when its variable is unset (a safeguard one may turn off, rather than an extra).
  bool on_by_default = false;
  // The resources its permissions are limited to, from the configuration (an evidence bucket's prefix); null
  // for "*". Such a kind gets a policy statement of its own (policy.h).
  std::vector<std::string> (*resources)(const env_reader& env) = nullptr;
};

// Registers a kind for `tourniquet policy` and the registry-wide tests; call at namespace scope.
const action_kind& declare_action(std::string_view playbook, std::string_view name,
                                  std::vector<std::string_view> permissions, std::string_view enabled_by = {},
                                  bool on_by_default = false);
// The same, for a kind whose permissions hold only on the resources `resources` names (see action_kind).
const action_kind& declare_scoped_action(std::string_view playbook, std::string_view name,
                                         std::vector<std::string_view> permissions,
                                         std::string_view enabled_by,
                                         std::vector<std::string> (*resources)(const env_reader& env));
const std::vector<const action_kind*>& declared_actions();

// "ec2:ModifyNetworkInterfaceAttribute" for a call, as IAM names it.
inline std::string iam_action_of(const aws::api_call& call) {
  return aws::call_name(call);
}

// Whether `kind` declares the IAM action `call` needs. execute_plan never sends a call its kind does not
// declare: the generated policy is all the deployed role holds.
bool declares(const action_kind& kind, const aws::api_call& call);

enum class outcome { done, already, planned, skipped, failed };
std::string_view outcome_name(outcome o);

// One intended API call.
struct planned_call {
  const action_kind* kind = nullptr;
  std::string target;         // what it acts on: "eni-0a1b", "i-0123", "AKIA…"
  aws::api_call call;         // in whichever protocol its service speaks
  std::string detail;         // for the report: "sg-1,sg-2 -> sg-untrack"
  std::vector<size_t> needs;  // indices (in the same plan) of calls that must have succeeded first
  std::vector<size_t> after;  // indices of calls that must have finished first, whatever their outcome
  // Set when the call names something that does not exist (a group not yet made): a dry run lists it as
  // planned, a real run skips it with this reason rather than send a call bound to fail.
  std::string blocked_because;
  // Error codes that mean the intended state is there already: an attempt whose answer was lost did land
  // (InvalidPermission.Duplicate after a retried authorize). The call then counts as already done.
  std::vector<std::string_view> already_if = {};
  // An EC2 call whose API takes no DryRun (DisassociateIamInstanceProfile): a dry run only lists it, as it
  // lists other services' calls, rather than send it and have it done.
  bool without_dry_run = false;

  // The call as a query-protocol call (EC2, IAM, STS, Auto Scaling, SNS): what most plans hold.
  const aws::query_call& query() const { return std::get<aws::query_call>(call); }
};

// What became of one action, for the response, the logs and the tags.
struct action_record {
  std::string action;
  std::string target;
  outcome result = outcome::planned;
  std::string detail;
  std::optional<error> failure;
  std::chrono::milliseconds duration{0};
  std::chrono::steady_clock::time_point finished{};  // when its answer came; unset when nothing was sent
  // Skipped for a failure (a prerequisite failed, a read it needed failed): the job is not finished, and
  // the report is incomplete. A deliberate skip (an option turned off) leaves this false.
  bool unfinished = false;
};

nlohmann::ordered_json to_json(const action_record& r);

struct execution {
  std::vector<action_record> records;                   // in plan order
  std::vector<std::optional<aws::api_answer>> answers;  // the parsed answer of each call that succeeded
  long round_trips = 0;                                 // batches sent, one after another
  bool all_succeeded() const;
};

// Carries out a plan. Calls depend on each other only through `needs`: every call whose needs have all
// succeeded goes out in one batch, so a plan pays one round trip per level of dependency. A call whose
// needs did not all succeed is skipped and says why. Calls of every protocol go out in the same batch. In a
// dry run, EC2 calls go out with DryRun=true (DryRunOperation means allowed: outcome planned); other
// services' calls are only listed.
execution execute_plan(const std::vector<planned_call>& plan, const aws::client& client, aws::deadline until,
                       bool dry_run);
// The same for a plan the caller is done with: each call is moved into its batch, not copied.
execution execute_plan(std::vector<planned_call>&& plan, const aws::client& client, aws::deadline until,
                       bool dry_run);

// A record for something found already in place, or deliberately not done.
action_record already_record(const action_kind& kind, std::string target, std::string detail);
action_record skipped_record(const action_kind& kind, std::string target, std::string detail);
// A skip that leaves the job undone ("not done: …"): the report is incomplete until a later run does it.
action_record unfinished_record(const action_kind& kind, std::string target, std::string detail);

}  // namespace tq::handlers
