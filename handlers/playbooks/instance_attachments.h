// What an instance holds besides its network: its instance profile (whose role's credentials an attacker may
// already have read from the metadata service) and its load balancer registrations. Instance containment
// detaches and deregisters them after isolation, recording each on the instance so that release puts them
// back, and denies the role's older sessions when no other instance uses the profile.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "aws/query.h"
#include "handlers/action.h"
#include "handlers/playbook.h"
#include "handlers/report.h"
#include "runtime/environment.h"

namespace tq::handlers {

struct attachment_settings {
  bool detach_instance_profile = true;         // TOURNIQUET_DETACH_INSTANCE_PROFILE
  bool revoke_shared_instance_role = false;    // TOURNIQUET_REVOKE_SHARED_INSTANCE_ROLE
  bool deregister_from_load_balancers = true;  // TOURNIQUET_DEREGISTER_FROM_LOAD_BALANCERS
  std::size_t max_target_groups = 200;         // TOURNIQUET_MAX_TARGET_GROUPS: searched per invocation
};

result<attachment_settings> attachment_settings_from_environment(const env_reader& env);

// What the planners need of the instance, as the containment's first read found it.
struct attached_instance {
  std::string instance_id;
  std::map<std::string, std::string> tags;
  std::vector<std::string> vpc_ids;      // of its interfaces
  std::vector<std::string> private_ips;  // every private address of every interface: IP targets
  std::string profile_arn;               // the profile DescribeInstances shows; "" for none
  std::string account_id = {};           // and the finding contained for, recorded on a revoked role
  std::string finding_id = {};
  std::string finding_type = {};
};

// --- The instance profile -------------------------------------------------------------------------------

struct profile_state {
  bool association_read = true;  // the instance's associations were read (else nothing is known of them)
  std::string association_id;    // the instance's current association; "" when none
  std::string associated_arn;    // the profile it holds now
  std::string recorded_arn;      // what tourniquet:instance-profile says containment detached
  std::string role_name;         // the profile's role (iam:GetInstanceProfile); "" when none or unread
  bool role_read = false;
  std::map<std::string, std::string> profile_tags = {};  // the profile's own tags (iam:GetInstanceProfile)
  std::size_t shared_with = 0;  // other instances holding an association with the profile
  bool sharing_known = false;   // every association in the region was read
  bool revoked = false;         // the role carries the deny-older-sessions policy already
  bool revocation_read = false;
};

// The profile acted on: the one the instance holds, else (a replay, after the detach) the one recorded.
std::string profile_in_question(const profile_state& state);
// "name" of "arn:aws:iam::1:instance-profile/path/name".
std::string profile_name_of(std::string_view arn);

struct profile_plan {
  std::vector<planned_call> calls;
  std::vector<aws::tag> record;           // the tag to write beside the detach
  std::optional<std::string> escalation;  // a shared role not revoked: for a person
};

// Detach (recording the ARN), and deny the role's sessions issued before `now_rfc3339` when no other
// instance holds the profile (or TOURNIQUET_REVOKE_SHARED_INSTANCE_ROLE says to anyway).
profile_plan plan_profile_containment(const attached_instance& instance, const profile_state& state,
                                      const attachment_settings& settings, std::string_view incident_id,
                                      std::string_view now_rfc3339, std::vector<action_record>& already);
// Associates the recorded profile again when the instance holds none and the profile's own tags say
// containment detached it from this instance. The session revoke stays: evidence.
std::vector<planned_call> plan_profile_release(const attached_instance& instance, const profile_state& state,
                                               std::vector<action_record>& already);

// --- Load balancers ---------------------------------------------------------------------------------------

// One registration of the instance: in an ELBv2 target group (as itself, or by one of its private
// addresses), or (group_arn "" and classic set) in a classic load balancer.
struct target_registration {
  std::string group_arn;
  std::string id;    // the instance id, or the IP address
  std::string port;  // "" when the registration named none
  std::string zone;  // AvailabilityZone, for an IP target outside the group's VPC; else ""
  bool operator==(const target_registration&) const = default;
};

struct load_balancer_record {
  std::vector<target_registration> targets;
  std::vector<std::string> classic;  // classic load balancer names
  bool operator==(const load_balancer_record&) const = default;
};

// Compact and versioned: "v1;n=<tags>;p=<ARN prefix>;t=<group>@<port>[@<ip>[@<zone>]],…;c=<name>+<name>",
// each group its ARN less the prefix all share, an instance target without its id.
std::vector<aws::tag> load_balancer_tags(const load_balancer_record& record, std::string_view instance_id);
// The record on `tags`; nullopt when absent, cut short by the tag limit, or unreadable.
std::optional<load_balancer_record> load_balancer_record_from(const std::map<std::string, std::string>& tags,
                                                              std::string_view instance_id);

struct target_group {
  std::string arn;
  std::string type;  // "instance", "ip", "lambda", "alb"
  std::string vpc_id;
};

// The target groups worth asking about the instance: instance targets live in their group's VPC, IP targets
// may be anywhere; Lambda and ALB groups cannot hold it. At most `max` of them, the rest left over.
struct group_search {
  std::vector<std::string> search;
  std::vector<std::string> not_searched;
};
group_search groups_to_search(const std::vector<target_group>& groups, const attached_instance& instance,
                              std::size_t max);

struct load_balancer_state {
  load_balancer_record registered;  // where the instance is now
  std::size_t groups_searched = 0;
  std::vector<std::string> groups_not_searched;  // past TOURNIQUET_MAX_TARGET_GROUPS
  bool complete = true;                          // every listing and every group was read
};

// One DeregisterTargets per group (its registrations of the instance together), one classic deregistration
// per load balancer; nothing when the instance is in none.
std::vector<planned_call> plan_deregistration(const attached_instance& instance,
                                              const load_balancer_state& now,
                                              std::vector<action_record>& already);
// The record to keep: what was recorded before and what is found now.
load_balancer_record merged(const load_balancer_record& recorded, const load_balancer_record& found);
// Registers again each recorded registration the instance is not in now. Only this instance is registered:
// an IP target whose address the instance no longer holds is refused.
std::vector<planned_call> plan_reregistration(const attached_instance& instance,
                                              const load_balancer_record& recorded,
                                              const load_balancer_state& now,
                                              std::vector<action_record>& already);

// --- The steps, run after isolation ------------------------------------------------------------------------

struct attachment_outcome {
  std::vector<aws::tag> written;         // tags that landed on the instance
  bool lacks_room = false;               // a record found no room on the instance
  std::vector<std::string> escalations;  // for a person: why the report escalates
};

// The steps run a batch at a time, each batch riding beside one of the containment's own
// (instance_attachments_internal.h): the reads needing the instance id alone beside the instance's read.
std::vector<planned_call> first_attachment_reads(const std::string& instance_id,
                                                 const attachment_settings& settings);
void release_attachments(const attached_instance& instance, const attachment_settings& settings,
                         const playbook_context& ctx, playbook_report& report);

}  // namespace tq::handlers
