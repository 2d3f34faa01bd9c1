// Exposure fixes: CloudTrail records of calls that open the account up are undone as they arrive. A rule
// that opens an admin port to the whole internet is revoked (that rule only); a stopped trail is started
// again and the credentials that stopped it are contained. Which call gets which answer is one table,
// `exposure_rules()`, documented in the README.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "aws/client.h"
#include "aws/json_protocol.h"
#include "handlers/action.h"
#include "handlers/config.h"
#include "handlers/event.h"
#include "handlers/incident.h"
#include "handlers/playbook.h"
#include "handlers/playbooks/credential_containment.h"
#include "handlers/report.h"
#include "runtime/environment.h"

namespace tq::handlers {

inline constexpr std::string_view exposure_playbook = "exposure-fix";

struct exposure_settings {
  std::vector<int> admin_ports{22, 3389};  // TOURNIQUET_ADMIN_PORTS
  std::set<std::string>
      trail_admins;  // TOURNIQUET_TRAIL_ADMINS: user/role names or ARNs that may stop trails
};

result<exposure_settings> exposure_settings_from_environment(const env_reader& env);

// --- The table ------------------------------------------------------------------------------------------

enum class exposure_kind { world_admin_ingress, trail_stopped, trail_deleted };

struct exposure_rule {
  std::string_view event_source;  // "ec2.amazonaws.com"
  std::string_view event_name;    // "AuthorizeSecurityGroupIngress"
  exposure_kind kind;
  std::string_view response;  // what Tourniquet does, for the README and the report
};

const std::vector<exposure_rule>& exposure_rules();
// The rule for a record, or null when no rule takes it.
const exposure_rule* exposure_rule_for(const cloudtrail_event& event);

// --- Ingress opened to the world ------------------------------------------------------------------------

// "tcp" for "tcp", "TCP" or "6"; "udp" for "17"; "-1" for all traffic; anything else lowercased.
std::string normalize_protocol(std::string_view protocol);
// 0.0.0.0/0 or ::/0.
bool open_to_world(const ingress_rule& rule);
// All traffic, or a TCP/UDP range that includes one of `ports`.
bool covers_admin_port(const ingress_rule& rule, const std::vector<int>& ports);
// The rules of an event that open an admin port to the world.
std::vector<ingress_rule> world_admin_rules(const std::vector<ingress_rule>& rules,
                                            const exposure_settings& settings);

// One ingress rule as the group has it now (DescribeSecurityGroupRules).
struct live_rule {
  std::string id;        // sgr-…
  std::string protocol;  // normalized
  std::int64_t from_port = -1;
  std::int64_t to_port = -1;
  std::string cidr;
  bool ipv6 = false;
};

struct group_state {
  std::string group_id;
  bool exists = true;
  std::map<std::string, std::string> tags;
  std::vector<live_rule> ingress;
};

std::vector<planned_call> plan_group_reads(const std::string& group_id);
result<group_state> group_state_from_reads(const std::string& group_id, const execution& reads);

// The live rule an event's rule created, by rule id when the event has one, else by its fields.
std::optional<live_rule> live_match(const ingress_rule& rule, const group_state& state);

// Revokes each offending rule still present (by SecurityGroupRuleId when the event named one, else by
// IpPermissions), then tags the group with the incident.
std::vector<planned_call> plan_ingress_revocation(const std::vector<ingress_rule>& offending,
                                                  const group_state& state, std::string_view incident_id,
                                                  std::string_view event_id, std::string_view now_rfc3339,
                                                  std::vector<action_record>& already);

// --- Trails ---------------------------------------------------------------------------------------------

// Whether the caller may stop or delete trails (TOURNIQUET_TRAIL_ADMINS, by name or ARN).
bool is_trail_admin(const user_identity& user, const exposure_settings& settings);

// The trail as the calls of `account_id` should name it: the name when the ARN is the same account's, the
// ARN otherwise; "" when the record names none.
std::string trail_reference(const cloudtrail_event& event, std::string_view account_id);

// CloudTrail's JSON-protocol calls, planned and executed like every other call.
planned_call plan_trail_status_read(const std::string& trail);
// StartLogging unless the trail is logging already.
std::vector<planned_call> plan_logging_restart(const std::string& trail, bool is_logging,
                                               std::vector<action_record>& already);

// --- The playbook ---------------------------------------------------------------------------------------

// Why a CloudTrail record calls for no fix, when it does not: no rule takes it, the call failed, or a trail
// admin made it. nullopt when `rule` applies.
std::optional<std::string> exposure_routing_refusal(const cloudtrail_event& event, const exposure_rule* rule,
                                                    const exposure_settings& settings);

// One record that a rule takes: the exposure's own report (the caller of a stopped trail is a job of its own,
// for credential containment).
playbook_report fix_exposure(const cloudtrail_event& event, const exposure_rule& rule,
                             const playbook_context& ctx, const exposure_settings& settings);

result<std::unique_ptr<const playbook>> make_exposure_fix(const env_reader& env);

}  // namespace tq::handlers
