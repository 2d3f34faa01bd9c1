// Instance containment: a compromised EC2 instance is cut off — every interface moved first to an
// "untrack" group (so the attacker's tracked connections become untracked and die) and then to an
// isolation group — and its evidence kept: termination protection, stop on shutdown, volumes kept,
// out of its Auto Scaling group, crash-consistent snapshots, tags recording the incident and prior state.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "aws/client.h"
#include "handlers/action.h"
#include "handlers/config.h"
#include "handlers/report.h"

namespace tq::handlers {

inline constexpr std::string_view instance_playbook = "instance-containment";

// Tags Tourniquet writes; the prior-groups tag of each interface is what `tourniquet release` restores.
inline constexpr const char* tag_role = "tourniquet:role";  // on the groups it manages: untrack, isolation
inline constexpr const char* tag_incident = "tourniquet:incident-id";
inline constexpr const char* tag_finding = "tourniquet:finding-id";
inline constexpr const char* tag_finding_type = "tourniquet:finding-type";
inline constexpr const char* tag_status = "tourniquet:status";  // contained, incomplete, released
inline constexpr const char* tag_contained_at = "tourniquet:contained-at";
inline constexpr const char* tag_prior_groups_prefix = "tourniquet:prior-groups:";  // + interface id

// What the playbook needs of a finding (decoded from GuardDuty's JSON by the router).
struct instance_finding {
  std::string finding_id;
  std::string finding_type;
  std::string account_id;
  std::string instance_id;
};

struct interface_state {
  std::string id;
  std::string vpc_id;
  std::string subnet_id;
  std::vector<std::string> group_ids;
};

struct volume_state {
  std::string volume_id;
  std::string device;
  bool delete_on_termination = false;
};

struct managed_group {
  std::string id;
  std::string vpc_id;
  // Which "all traffic" rules it has: the untrack group needs all four, the isolation group none of the
  // egress ones and only the forensics CIDRs for ingress.
  bool ingress_all_v4 = false;
  bool ingress_all_v6 = false;
  bool egress_all_v4 = false;
  bool egress_all_v6 = false;
  std::vector<std::string> ingress_cidrs;  // every CIDR any ingress rule allows
};

// The live state the plan is made from, re-read at every invocation.
struct instance_state {
  std::string instance_id;
  std::string state_name;
  std::map<std::string, std::string> tags;
  std::vector<interface_state> interfaces;
  std::vector<volume_state> volumes;
  bool termination_protected = false;
  std::string shutdown_behavior;
  std::string autoscaling_group;                  // empty when in none
  std::vector<std::string> finding_snapshot_ids;  // snapshots already taken for this finding
  // False when that read failed: what it would have told is unknown, so its step waits for a
  // retry rather than act blind (a second set of snapshots, or an instance left in its Auto Scaling group).
  bool autoscaling_read = true;
  bool snapshots_read = true;
  std::map<std::string, managed_group> untrack_groups;    // by VPC
  std::map<std::string, managed_group> isolation_groups;  // by VPC
};

// The same incident id for every delivery of the same finding, so replays land on the same records.
std::string incident_id_for(std::string_view account_id, std::string_view finding_id);

// Pure planners: (finding, state, configuration) -> intended calls. Tests check them without I/O.
std::vector<planned_call> plan_state_reads(const instance_finding& finding, const config& cfg);
result<instance_state> state_from_reads(const instance_finding& finding, const config& cfg,
                                        const execution& reads);
std::vector<planned_call> plan_group_creation(const instance_state& state, std::string_view incident_id);
std::vector<planned_call> plan_group_rules(const instance_state& state, const config& cfg);
std::vector<planned_call> plan_containment(const instance_finding& finding, const instance_state& state,
                                           const config& cfg, std::vector<action_record>& already);
std::vector<planned_call> plan_status(const instance_state& state, bool complete,
                                      std::string_view now_rfc3339, std::vector<action_record>& already);
std::vector<planned_call> plan_release(const instance_state& state, std::string_view now_rfc3339,
                                       std::vector<action_record>& already);

// The playbook: read, plan, execute, record. `arrived` is when the event came in, for the timing.
playbook_report contain_instance(const instance_finding& finding, const aws::client& client,
                                 const config& cfg, aws::deadline until, bool dry_run,
                                 std::chrono::steady_clock::time_point arrived);

// `tourniquet release INSTANCE_ID`: puts back each interface's recorded groups and marks the incident
// released; snapshots, tags and protection stay as evidence.
playbook_report release_instance(const std::string& instance_id, const aws::client& client, const config& cfg,
                                 aws::deadline until, bool dry_run);

std::string rfc3339_now();

}  // namespace tq::handlers
