// Between the files of the instance attachment steps: the reads each step makes and how its state is taken
// from their answers, so that the steps' reads share round trips.
#pragma once

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

}  // namespace tq::handlers
