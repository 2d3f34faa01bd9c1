// Between the files of the instance attachment steps: the reads each step makes and how its state is taken
// from their answers, so that the steps' reads share round trips.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "handlers/action.h"
#include "handlers/playbooks/instance_attachments.h"

namespace tq::handlers {

// A paginated listing read to its end, page by page.
struct listing {
  planned_call call;         // its first page
  std::string marker_param;  // "Marker", "NextToken"
  std::string next_path;     // where an answer names the next page: "NextMarker", "nextToken"
  std::vector<aws::api_answer> pages = {};
  bool complete = false;  // read to its end
  std::optional<action_record> failure = {};
};

// The answer of the call of `action` in `plan`, when it succeeded.
const aws::api_answer* answer_of(const std::vector<planned_call>& plan, const execution& run,
                                 std::string_view action);

// The instance profile: what the first round trip reads, what the second (the role) reads.
std::vector<planned_call> profile_reads(const attached_instance& instance, const profile_state& state);
std::optional<listing> profile_association_listing(const profile_state& state);
void absorb_profile_reads(const std::vector<planned_call>& plan, const execution& run, profile_state& state);
void absorb_association_listing(const listing& all, const attached_instance& instance, profile_state& state);
std::vector<planned_call> role_reads(const profile_state& state);
void absorb_role_reads(const std::vector<planned_call>& plan, const execution& run, profile_state& state);

// Load balancers: the listings (target groups, classic load balancers), then each group's targets.
listing target_group_listing(const attachment_settings& settings);
listing classic_listing();
std::vector<target_group> target_groups_of(const listing& groups);
std::vector<planned_call> target_health_reads(const std::vector<std::string>& group_arns);
// Adds what each group's targets and the classic load balancers say of the instance to `state`.
void absorb_target_health(const std::vector<planned_call>& plan, const execution& run,
                          const attached_instance& instance, load_balancer_state& state);
void absorb_classic(const listing& classic, const attached_instance& instance, load_balancer_state& state);

// --- The steps, a batch at a time
// ---------------------------------------------------------------------------

// Where the steps stand. Each batch rides beside one of the containment plan's: round trip 1 reads what needs
// the instance id alone (its profile association, the first page of each listing); the next reads the profile
// and each target group's targets; the next writes the record of what will be detached beside isolation (and
// reads the role's policy); the last detaches, deregisters and revokes, once the record has landed and
// isolation is done. More pages, more target groups or a write to try again take more batches, never one
// the containment waits for.
struct attachment_progress {
  attachment_settings settings;
  std::string incident_id;
  attached_instance instance;
  profile_state profile;
  std::optional<listing> associations, groups, classic;
  load_balancer_state balancers;
  std::optional<group_search> search;         // once the target groups are listed
  std::size_t health_asked = 0;               // of search->search
  bool profile_asked = false;                 // iam:GetInstanceProfile, or nothing to ask
  bool role_asked = false;                    // iam:GetRolePolicy, or nothing to ask
  bool record_sent = false;                   // the record (and the profile's own) went out
  bool changes_sent = false;                  // the detach, deregistrations and revoke went out: finished
  std::map<std::string, std::string> landed;  // tags the record put on the instance (planned, in a dry run)
  std::vector<action_record> actions;         // failed reads and what was done, in order
  long round_trips = 0;                       // of batches that did not ride beside the containment's
  attachment_outcome out;
  nlohmann::ordered_json details = nlohmann::ordered_json::object();
};

// One batch of the steps: reads (sent without DryRun in a dry run) and writes.
struct attachment_batch {
  std::vector<planned_call> reads;
  std::vector<listing*> read_pages;  // the listing each page read of `reads` belongs to, else null
  std::vector<planned_call> writes;
  std::size_t record_calls = 0;  // the first writes: the record on the instance
  std::vector<aws::tag> record_tags;
  std::vector<action_record> already;  // found in place, or not done, when the changes were planned
  bool empty() const { return reads.empty() && writes.empty() && already.empty(); }
};

// From the instance as read and the answers of first_attachment_reads, in their order.
attachment_progress start_attachments(const attachment_settings& settings, std::string incident_id,
                                      const attached_instance& instance, execution first);
bool attachments_finished(const attachment_progress& p);
// What can go now. The record waits for `may_record` (the containment's record has landed; `tags` are the
// instance's with it, `reserved` more keep their room), the changes for `may_change` (isolation is done), and
// so do the targets of more than a few target groups.
attachment_batch next_attachment_batch(attachment_progress& p, const std::map<std::string, std::string>& tags,
                                       std::size_t reserved, bool may_record, bool may_change);
// The answers of `batch`'s reads and writes, each in its order.
void absorb_attachment_batch(attachment_progress& p, const attachment_batch& batch, execution reads,
                             execution writes, bool dry_run);
// Into the report: the steps' actions, details and round trips of their own; what became of the steps.
attachment_outcome finish_attachments(attachment_progress& p, playbook_report& report);

}  // namespace tq::handlers
