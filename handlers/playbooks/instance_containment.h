// Instance containment: a compromised EC2 instance is cut off — every interface moved first to an
// "untrack" group (so the attacker's tracked connections become untracked and die) and then to an
// isolation group — and its evidence kept: termination protection, stop on shutdown, volumes kept,
// out of its Auto Scaling group, crash-consistent snapshots, tags recording the incident and prior state.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "aws/client.h"
#include "handlers/action.h"
#include "handlers/config.h"
#include "handlers/event.h"
#include "handlers/evidence.h"
#include "handlers/incident.h"
#include "handlers/playbook.h"
#include "handlers/playbooks/instance_attachments.h"
#include "handlers/playbooks/instance_record.h"
#include "handlers/report.h"
#include "runtime/environment.h"

namespace tq::handlers {

inline constexpr std::string_view instance_playbook = "instance-containment";

// The default finding types that isolate an instance: the families whose presence means the instance
// itself is compromised.
std::vector<std::string> default_instance_finding_types();

struct instance_settings {
  double min_severity = 7.0;  // TOURNIQUET_MIN_SEVERITY (High and above)
  std::vector<std::string> finding_types =
      default_instance_finding_types();      // TOURNIQUET_INSTANCE_FINDING_TYPES
  std::vector<std::string> forensics_cidrs;  // TOURNIQUET_FORENSICS_CIDRS: ingress kept open for responders
  std::vector<std::string> isolation_group_ids;  // TOURNIQUET_ISOLATION_GROUP_IDS: use these, one per VPC
  bool snapshots = true;                         // TOURNIQUET_SNAPSHOTS
  bool detach_from_autoscaling = true;           // TOURNIQUET_DETACH_FROM_AUTOSCALING
  evidence_settings evidence;                    // TOURNIQUET_EVIDENCE_BUCKET, TOURNIQUET_EVIDENCE_PREFIX
  attachment_settings attachments;               // its instance profile and load balancers
};

result<instance_settings> instance_settings_from_environment(const env_reader& env);

// Who the instance was in what a finding saw: the one that acted (compromised: isolate it), the one acted
// upon (attacked from outside: block the peer, leave the victim alone), or unknown. Decided on the action
// and the type, because GuardDuty's resourceRole means something only for some types (brute force) and its
// own sample findings mark an instance talking to a C&C server as TARGET. The table is in the README.
enum class actor_role { actor, target, unknown };

struct actor_verdict {
  actor_role role = actor_role::unknown;
  std::string_view reason;  // which row of the table decided, for the report
};

actor_verdict who_acted(const guardduty_finding& finding);

// Why a finding about an instance does not isolate it; nullopt when it does.
std::optional<std::string> instance_routing_refusal(const guardduty_finding& finding,
                                                    const instance_settings& settings);
// Its first two gates alone, type and severity (all that a finding's summary can answer).
std::optional<std::string> instance_gate_refusal(const std::string& type, double severity,
                                                 const instance_settings& settings);

// What the playbook needs of a finding (from the GuardDuty finding its route takes).
struct instance_finding {
  std::string finding_id;
  std::string finding_type;
  std::string account_id;
  std::string instance_id;
  // Whether the finding's own view of the instance (instanceDetails.tags) carried TOURNIQUET_EXEMPT_TAG: a
  // tag present live but not then was written after detection, perhaps by the attacker, and is not honoured.
  bool exempt_in_finding = false;
  std::string last_seen = {};  // when its activity was last seen (service.eventLastSeen), "" when unknown
  // The instance's uid in the attack sequence that named it (attack_sequence.h); "" for a finding about it.
  std::string sequence_member = {};
};

// The job a finding about an instance makes (the route's, and again from GuardDuty's confirmed copy).
instance_finding instance_target_of(const guardduty_finding& finding, const config& cfg);

struct interface_state {
  std::string id;
  std::string vpc_id;
  std::string subnet_id;
  std::vector<std::string> group_ids;
  std::map<std::string, std::string> tags = {};  // its own tags (DescribeNetworkInterfaces): its record
};

struct volume_state {
  std::string volume_id;
  std::string device;
  bool delete_on_termination = false;
};

// What a security group rule lets through: one protocol and port range, one direction, one peer.
enum class rule_direction { ingress, egress };
enum class rule_peer { cidr_v4, cidr_v6, group, prefix_list };

struct group_rule {
  rule_direction direction = rule_direction::ingress;
  std::string protocol = "-1";  // "tcp", "udp", "icmp", a number, or "-1" (all traffic, any port)
  std::string from_port;        // as EC2 lists it; "" when the protocol has no ports
  std::string to_port;
  rule_peer peer = rule_peer::cidr_v4;
  std::string peer_id;  // "0.0.0.0/0", "::/0", "sg-…", "pl-…"
  bool operator==(const group_rule&) const = default;
};

// "ingress tcp 22-22 from 0.0.0.0/0", "egress all traffic to sg-0abc": for the report and the logs.
std::string describe(const group_rule& rule);

// All traffic one way with one range: the rules the untrack group is made of.
group_rule all_traffic(rule_direction direction, std::string cidr);

struct managed_group {
  std::string id;
  std::string vpc_id;
  std::vector<group_rule> rules;  // every rule, as read; asserted before any interface is moved into it
  bool created_now = false;       // made by this run: its default egress rule is expected, not tampering
};

// What an untrack or isolation group must allow, exactly: untrack all traffic both ways with 0.0.0.0/0 and
// ::/0; isolation ingress from TOURNIQUET_FORENSICS_CIDRS only.
std::vector<group_rule> untrack_rules();
std::vector<group_rule> isolation_rules(const std::vector<std::string>& forensics_cidrs);

// The rules of `group` that `wanted` does not hold: what makes it open. Empty means it is exactly closed.
std::vector<group_rule> stray_rules(const managed_group& group, const std::vector<group_rule>& wanted);

// A configured isolation group (TOURNIQUET_ISOLATION_GROUP_IDS) that was not used, and why.
struct refused_group {
  std::string id;
  std::string vpc_id;
  std::string reason;
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
  std::string profile_arn;                        // its instance profile; empty when none
  std::vector<std::string> private_ips;           // of every interface
  std::vector<std::string> finding_snapshot_ids;  // snapshots already taken for this finding
  // False when that read failed: what it would have told is unknown, so its step waits for a
  // retry rather than act blind (a second set of snapshots, or an instance left in its Auto Scaling group).
  bool autoscaling_read = true;
  bool snapshots_read = true;
  std::map<std::string, managed_group> untrack_groups;    // by VPC
  std::map<std::string, managed_group> isolation_groups;  // by VPC
  std::vector<refused_group>
      refused_groups;  // configured isolation groups found open: Tourniquet's used instead
  // For release: the VPC of each group an interface's record names that still exists (read by group id).
  std::map<std::string, std::string> recorded_group_vpcs;
  // False when the interfaces' own tags could not be read: their records are unknown.
  bool interface_tags_read = true;
  // The evidence bundle's instance.json, made when the reads came (instance_evidence.h); null when no bundle
  // is written.
  nlohmann::ordered_json as_read;
};

// Where the record of an interface's prior groups was found, in the order release looks: on the interface,
// in the instance's record, in the instance's tags of the format before the record.
enum class record_source { interface, instance_record, instance_tags };
std::string_view source_name(record_source source);  // "interface", "instance-record", "instance-tags"

struct recorded {
  record_source source = record_source::interface;
  std::vector<std::string> groups;
};

// The groups recorded for `eni`, from the first source that holds them; nullopt when none does.
std::optional<recorded> recorded_for(const instance_state& state, const interface_state& eni);

// How much of the record the instance carries: the incident id and the whole record, the incident id or part
// of the record only, or nothing (the tag limit left no room).
enum class record_extent { full, partial, none };
std::string_view extent_name(record_extent extent);  // "full", "partial", "none"
record_extent instance_extent(const std::map<std::string, std::string>& tags);

// Tag writes planned where room allows. A tag that found none makes the report escalate: a person must make
// room or keep the report, since no retry will.
struct tag_writes {
  std::vector<planned_call> calls;
  bool lacks_room = false;
};

// Pure planners: (finding, state, settings) -> intended calls. Tests check them without I/O.
std::vector<planned_call> plan_state_reads(const instance_finding& finding,
                                           const instance_settings& settings);
result<instance_state> state_from_reads(const instance_finding& finding, const instance_settings& settings,
                                        const execution& reads);
std::vector<planned_call> plan_group_creation(const instance_state& state, std::string_view incident_id);
// Makes every managed group exactly what it must be: authorizes what it lacks and revokes, one rule per
// call, every rule it must not have. Configured isolation groups are never changed (their owner's), only
// used when closed.
std::vector<planned_call> plan_group_rules(const instance_state& state, const instance_settings& settings);
// Containment, led by the rules of plan_group_rules: no interface is moved before the stray rules of its
// isolation group are revoked, so none is moved into an open group, nor left in the untrack group for one.
std::vector<planned_call> plan_containment(const instance_finding& finding, const instance_state& state,
                                           const instance_settings& settings,
                                           std::vector<action_record>& already);

// Where containment writes the record of each interface's prior groups, within the room each resource has:
// on each interface (its own 50 tags), and on the instance (the incident id, then the record).
struct record_plan {
  std::vector<size_t> calls;            // the record calls, by index in the plan
  std::vector<std::string> interfaces;  // interfaces found carrying their record already
  std::vector<aws::tag> instance_tags;  // what the instance's record call writes
  bool lacks_room = false;              // some of the record found no room
};

struct containment_plan {
  std::vector<planned_call> calls;
  record_plan record;
};

containment_plan plan_instance_containment(const instance_finding& finding, const instance_state& state,
                                           const instance_settings& settings,
                                           std::vector<action_record>& already);
tag_writes plan_status(const instance_state& state, bool complete, std::string_view now_rfc3339,
                       std::vector<action_record>& already);
// The groups the records of the instance's interfaces name: read before release, to restore only groups that
// exist in the interface's own VPC.
std::vector<std::string> recorded_groups(const instance_state& state);
// `released_by` is the releasing caller's ARN: recorded beside the time, on the instance or the interfaces.
std::vector<planned_call> plan_release(const instance_state& state, std::string_view now_rfc3339,
                                       std::string_view released_by, std::vector<action_record>& already);
// What a person decided about the instance, as its tags say: released (where the released state is), or
// isolation undone by hand (every interface with a record back in its recorded groups while the instance says
// contained).
operator_decision decision_of(const instance_state& state);

// Read, plan, execute, record, in the context's account.
playbook_report contain_instance(const instance_finding& finding, const playbook_context& ctx,
                                 const instance_settings& settings);

// `tourniquet release INSTANCE_ID`: puts back each interface's recorded groups and marks the incident
// released; snapshots, tags and protection stay as evidence.
playbook_report release_instance(const std::string& instance_id, const playbook_context& ctx,
                                 const instance_settings& settings);

result<std::unique_ptr<const playbook>> make_instance_containment(const env_reader& env);

}  // namespace tq::handlers
