// The instance attachment steps run after isolation: both steps' reads share round trips (the listings and
// the profile first, then each target group's targets and the role's policy), then one batch records and,
// once the record has landed, detaches and deregisters.
#include <algorithm>

#include "handlers/config.h"
#include "handlers/incident.h"
#include "handlers/playbooks/instance_attachments_internal.h"
#include "handlers/playbooks/instance_containment.h"
#include "handlers/playbooks/instance_record.h"
#include "runtime/log.h"

namespace tq::handlers {
namespace {

using aws::query_call;
using aws::text_of;

const action_kind& record_attachments =
    declare_action(instance_playbook, "record-attachments", {"ec2:CreateTags"});

// Target groups asked about in one batch: hundreds at once would meet ELB's request rate as throttling.
constexpr std::size_t health_batch = 100;
// Pages of a listing read in one invocation: 10 × 1000 associations, 10 × 400 load balancers.
constexpr int max_pages = 10;

void report_failed_reads(const execution& run, playbook_report& report) {
  report.round_trips += run.round_trips;
  for (const auto& r : run.records) {
    // A profile or policy that does not exist is an answer (no role, no revoke yet), not a failed read.
    if (r.result == outcome::failed && !(r.failure && r.failure->code == "NoSuchEntity"))
      report.actions.push_back(r);
  }
}

struct attachment_reads {
  profile_state profile;
  load_balancer_state balancers;
};

// Reads every listing to its end, their pages side by side: a round trip per page of the longest.
void read_listings(std::vector<listing*> listings, const playbook_context& ctx, playbook_report& report) {
  for (int page = 0; page < max_pages; ++page) {
    std::vector<planned_call> due;
    std::vector<listing*> asked;
    for (listing* l : listings) {
      if (l->complete || l->failure) continue;
      planned_call call = l->call;
      if (!l->pages.empty()) {
        std::get<query_call>(call.call).params.add(
            l->marker_param, text_of(l->pages.back().xml().result(), l->next_path.c_str()));
      }
      due.push_back(std::move(call));
      asked.push_back(l);
    }
    if (due.empty()) return;
    execution run = execute_plan(due, ctx.client, ctx.until, false);
    report_failed_reads(run, report);
    for (size_t i = 0; i < asked.size(); ++i) {
      if (!run.answers[i]) {
        asked[i]->failure = run.records[i];
        continue;
      }
      asked[i]->pages.push_back(std::move(*run.answers[i]));
      asked[i]->complete =
          text_of(asked[i]->pages.back().xml().result(), asked[i]->next_path.c_str()).empty();
    }
  }
}

// The role's policy, beside the first batch of target groups: each group worth asking (at most the
// configured number) is asked for its targets.
void read_targets(const attached_instance& instance, const attachment_settings& settings,
                  const listing* groups, const playbook_context& ctx, attachment_reads& out,
                  playbook_report& report) {
  load_balancer_state& lb = out.balancers;
  group_search search;
  if (groups) {
    lb.complete = groups->complete;
    search = groups_to_search(target_groups_of(*groups), instance, settings.max_target_groups);
    lb.groups_not_searched = search.not_searched;
  }
  std::vector<planned_call> batch = role_reads(out.profile);
  size_t from = 0;
  do {
    const size_t to = std::min(from + health_batch, search.search.size());
    for (auto& read : target_health_reads({search.search.begin() + static_cast<long>(from),
                                           search.search.begin() + static_cast<long>(to)}))
      batch.push_back(std::move(read));
    if (batch.empty()) break;
    execution run = execute_plan(batch, ctx.client, ctx.until, false);
    report_failed_reads(run, report);
    absorb_role_reads(batch, run, out.profile);
    absorb_target_health(batch, run, instance, lb);
    batch.clear();
    from = to;
  } while (from < search.search.size());
}

// What the first round trip reads: the profile and the first page of every listing.
struct first_reads {
  profile_state profile;  // as known before they are read
  std::vector<planned_call> profile_calls;
  std::optional<listing> associations, groups, classic;

  std::vector<planned_call> calls() const {
    std::vector<planned_call> all = profile_calls;
    for (const auto* l : {&associations, &groups, &classic}) {
      if (*l) all.push_back((*l)->call);
    }
    return all;
  }
};

first_reads plan_first_reads(const attached_instance& instance, const attachment_settings& settings) {
  first_reads out;
  if (auto recorded = instance.tags.find(tag_instance_profile); recorded != instance.tags.end())
    out.profile.recorded_arn = recorded->second;
  out.profile.associated_arn = instance.profile_arn;  // until the association's own read says
  if (settings.detach_instance_profile) {
    out.profile_calls = profile_reads(instance, out.profile);
    out.associations = profile_association_listing(out.profile);
  }
  if (settings.deregister_from_load_balancers) {
    out.groups = target_group_listing(settings);
    out.classic = classic_listing();
  }
  return out;
}

// Round trip 1 (`first`, answered): the profile and the first page of every listing (more pages only in a
// large account). Round trip 2: the role's policy and the targets of each group worth asking, in batches.
attachment_reads read_attachments(const attached_instance& instance, const attachment_settings& settings,
                                  execution first, const playbook_context& ctx, playbook_report& report) {
  first_reads planned = plan_first_reads(instance, settings);
  attachment_reads out;
  profile_state& profile = out.profile;
  profile = planned.profile;
  report_failed_reads(first, report);
  profile.associated_arn.clear();
  profile.association_read = false;  // until its answer says
  absorb_profile_reads(planned.profile_calls, first, profile);
  std::vector<listing*> more;
  size_t at = planned.profile_calls.size();
  for (auto* l : {&planned.associations, &planned.groups, &planned.classic}) {
    if (!*l) continue;
    if (first.answers[at]) {
      (*l)->pages.push_back(std::move(*first.answers[at]));
      (*l)->complete = text_of((*l)->pages.back().xml().result(), (*l)->next_path.c_str()).empty();
      more.push_back(&**l);
    } else {
      (*l)->failure = first.records[at];
    }
    ++at;
  }
  read_listings(more, ctx, report);
  if (planned.associations) absorb_association_listing(*planned.associations, instance, profile);

  read_targets(instance, settings, planned.groups ? &*planned.groups : nullptr, ctx, out, report);
  if (planned.classic) {
    out.balancers.complete &= !planned.classic->failure.has_value();
    absorb_classic(*planned.classic, instance, out.balancers);
  }
  return out;
}

// The record beside the changes: the profile's ARN and the registrations, in the room the status to come
// leaves (`reserved` tags).
struct record_write {
  std::vector<planned_call> calls;
  std::vector<aws::tag> tags;
  bool lacks_room = false;
};

record_write plan_record(const attached_instance& instance, const std::vector<aws::tag>& wanted,
                         std::size_t reserved, std::vector<action_record>& already) {
  record_write out;
  std::vector<aws::tag> changed;
  for (const auto& t : wanted) {
    auto found = instance.tags.find(t.key);
    if (found == instance.tags.end() || found->second != t.value) changed.push_back(t);
  }
  if (changed.empty()) return out;
  std::map<std::string, std::string> counted = instance.tags;
  for (std::size_t i = 0; i < reserved; ++i) counted["(reserved " + std::to_string(i) + ")"] = "";
  out.tags = fitting(counted, changed);
  if (out.tags.size() < changed.size()) {
    out.lacks_room = true;
    std::vector<std::string> left;
    for (size_t i = out.tags.size(); i < changed.size(); ++i) left.push_back(changed[i].key);
    already.push_back(skipped_record(
        record_attachments, instance.instance_id,
        "no room for " + join_list(left, ", ") + ": EC2 allows " + std::to_string(ec2_tag_limit) + " tags"));
  }
  if (out.tags.empty()) return out;
  query_call call{aws::service::ec2, "CreateTags", {}};
  call.params.add("ResourceId.1", instance.instance_id).add_tags("Tag", out.tags);
  out.calls.push_back({&record_attachments, instance.instance_id, std::move(call),
                       std::to_string(out.tags.size()) + " tags"});
  return out;
}

nlohmann::ordered_json lb_details(const load_balancer_state& lb) {
  nlohmann::ordered_json targets = nlohmann::ordered_json::array();
  for (const auto& t : lb.registered.targets)
    targets.push_back({{"targetGroup", t.group_arn}, {"id", t.id}, {"port", t.port}});
  // The first of those not searched, by name: enough for a person to start from, never a huge report.
  const auto named = std::min<std::size_t>(lb.groups_not_searched.size(), 20);
  return {{"targetGroupsSearched", lb.groups_searched},
          {"targetGroupsNotSearched", lb.groups_not_searched.size()},
          {"notSearchedFirst",
           std::vector<std::string>(lb.groups_not_searched.begin(),
                                    lb.groups_not_searched.begin() + static_cast<long>(named))},
          {"targets", targets},
          {"classic", lb.registered.classic}};
}

}  // namespace

result<attachment_settings> attachment_settings_from_environment(const env_reader& env) {
  attachment_settings s;
  auto detach = parse_bool(env, "TOURNIQUET_DETACH_INSTANCE_PROFILE", s.detach_instance_profile);
  if (!detach) return std::move(detach).err();
  s.detach_instance_profile = *detach;
  auto shared = parse_bool(env, "TOURNIQUET_REVOKE_SHARED_INSTANCE_ROLE", s.revoke_shared_instance_role);
  if (!shared) return std::move(shared).err();
  s.revoke_shared_instance_role = *shared;
  auto lb = parse_bool(env, "TOURNIQUET_DEREGISTER_FROM_LOAD_BALANCERS", s.deregister_from_load_balancers);
  if (!lb) return std::move(lb).err();
  s.deregister_from_load_balancers = *lb;
  auto max = parse_number(env, "TOURNIQUET_MAX_TARGET_GROUPS", 1, 5000, 200);
  if (!max) return std::move(max).err();
  if (*max != static_cast<double>(static_cast<std::size_t>(*max)))
    return invalid_setting("TOURNIQUET_MAX_TARGET_GROUPS", "expected a whole number");
  s.max_target_groups = static_cast<std::size_t>(*max);
  return s;
}

std::vector<planned_call> first_attachment_reads(const attached_instance& instance,
                                                 const attachment_settings& settings) {
  return plan_first_reads(instance, settings).calls();
}

attachment_outcome contain_attachments(const attached_instance& instance, const attachment_settings& settings,
                                       std::string_view incident_id, std::size_t reserved, execution first,
                                       const playbook_context& ctx, playbook_report& report) {
  attachment_outcome out;
  if (!settings.detach_instance_profile && !settings.deregister_from_load_balancers) return out;
  const attachment_reads state = read_attachments(instance, settings, std::move(first), ctx, report);
  std::vector<action_record> already;
  std::vector<planned_call> plan;
  std::vector<aws::tag> wanted;
  if (settings.detach_instance_profile) {
    profile_plan profile =
        plan_profile_containment(instance, state.profile, settings, incident_id, rfc3339_now(), already);
    plan = std::move(profile.calls);
    wanted = std::move(profile.record);
    if (profile.escalation) out.escalations.push_back(*profile.escalation);
    report.details["instanceProfile"] = {{"arn", profile_in_question(state.profile)},
                                         {"role", state.profile.role_name},
                                         {"sharedWith", state.profile.shared_with}};
  }
  if (settings.deregister_from_load_balancers) {
    for (auto& call : plan_deregistration(instance, state.balancers, already))
      plan.push_back(std::move(call));
    const auto recorded = load_balancer_record_from(instance.tags, instance.instance_id);
    const load_balancer_record keep =
        merged(recorded.value_or(load_balancer_record{}), state.balancers.registered);
    if (keep != load_balancer_record{} && (!recorded || keep != *recorded)) {
      for (auto& t : load_balancer_tags(keep, instance.instance_id)) wanted.push_back(std::move(t));
    }
    report.details["loadBalancers"] = lb_details(state.balancers);
    if (!state.balancers.groups_not_searched.empty()) {
      out.escalations.push_back(
          std::to_string(state.balancers.groups_not_searched.size()) +
          " target groups were not searched for the instance (past "
          "TOURNIQUET_MAX_TARGET_GROUPS=" +
          std::to_string(settings.max_target_groups) +
          "): it may still receive traffic from them; details.loadBalancers names the first of them");
    }
    if (!state.balancers.complete)
      already.push_back(unfinished_record(record_attachments, instance.instance_id,
                                          "not every load balancer could be read; a retry reads them again"));
  }
  const record_write record = plan_record(instance, wanted, reserved, already);
  out.lacks_room = record.lacks_room;
  // Nothing is detached or deregistered before its record landed: a replay, or release, could not know it.
  std::vector<planned_call> calls = record.calls;
  for (auto& call : plan) {
    for (auto& n : call.needs) n += record.calls.size();  // the plan's own order, after the record calls
    for (auto& n : call.after) n += record.calls.size();
    const std::string& action = call.query().action;
    if (!record.calls.empty() &&
        (action == "DisassociateIamInstanceProfile" || action.starts_with("Deregister")))
      call.needs.push_back(0);
    calls.push_back(std::move(call));
  }
  const size_t record_at = 0;
  execution run = execute_plan(calls, ctx.client, ctx.until, ctx.dry_run);
  if (!record.calls.empty() && run.records[record_at].result == outcome::done) out.written = record.tags;
  append(report, run);
  report.actions.insert(report.actions.end(), already.begin(), already.end());
  return out;
}

void release_attachments(const attached_instance& instance, const attachment_settings& settings,
                         const playbook_context& ctx, playbook_report& report) {
  const auto recorded = load_balancer_record_from(instance.tags, instance.instance_id);
  const bool profile = instance.tags.contains(tag_instance_profile);
  if (!profile && !recorded) return;
  profile_state state;
  if (profile) state.recorded_arn = instance.tags.at(tag_instance_profile);
  std::vector<planned_call> reads;
  if (profile) reads = profile_reads(instance, state);  // its association, the profile's own tags
  std::vector<std::string> groups;
  if (recorded) {
    for (const auto& t : recorded->targets) {
      if (std::find(groups.begin(), groups.end(), t.group_arn) == groups.end()) groups.push_back(t.group_arn);
    }
  }
  for (auto& read : target_health_reads(groups)) reads.push_back(std::move(read));
  listing classic = classic_listing();
  if (recorded && !recorded->classic.empty()) reads.push_back(classic.call);
  execution run = execute_plan(reads, ctx.client, ctx.until, false);
  report_failed_reads(run, report);
  absorb_profile_reads(reads, run, state);
  load_balancer_state now;
  absorb_target_health(reads, run, instance, now);
  if (recorded && !recorded->classic.empty() && run.answers.back()) {
    classic.pages.push_back(std::move(*run.answers.back()));
    absorb_classic(classic, instance, now);
  }
  std::vector<action_record> already;
  std::vector<planned_call> plan;
  if (profile && run.answers.front()) plan = plan_profile_release(instance, state, already);
  if (recorded) {
    for (auto& call : plan_reregistration(instance, *recorded, now, already)) plan.push_back(std::move(call));
  }
  (void)settings;
  execution done = execute_plan(plan, ctx.client, ctx.until, ctx.dry_run);
  append(report, done);
  report.actions.insert(report.actions.end(), already.begin(), already.end());
}

}  // namespace tq::handlers
