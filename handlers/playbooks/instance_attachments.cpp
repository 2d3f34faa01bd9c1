// The instance attachment steps, a batch at a time beside the containment's own (attachment_progress): the
// association and the listings beside the instance's read, the profile and each target group's targets beside
// the record and untrack, the record of what will be detached beside isolation, then, once that record has
// landed and isolation is done, the detach, the deregistrations and the revoke.
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
// Target groups asked about before isolation (beside the untrack, which holds the instance open until the
// batch is answered): more than that wait for isolation.
constexpr std::size_t health_before_isolation = 20;
// Pages of a listing read in one invocation: 10 × 1000 associations, 10 × 400 load balancers.
constexpr int max_pages = 10;

// A failed read, for the report. A profile or policy that does not exist is an answer (no role, no revoke
// yet), not a failed read.
void keep_failed_reads(const execution& run, std::vector<action_record>& actions) {
  for (const auto& r : run.records) {
    if (r.result == outcome::failed && !(r.failure && r.failure->code == "NoSuchEntity"))
      actions.push_back(r);
  }
}

void report_failed_reads(const execution& run, playbook_report& report) {
  report.round_trips += run.round_trips;
  keep_failed_reads(run, report.actions);
}

// Whether a listing needs no more reading: read to its end, failed, or at the page limit (or never wanted).
bool settled(const std::optional<listing>& l) {
  return !l || l->complete || l->failure || l->pages.size() >= static_cast<std::size_t>(max_pages);
}

// The read of its next page: the first page's call, with the marker the last page read named.
planned_call next_page(const listing& l) {
  planned_call call = l.call;
  if (!l.pages.empty()) {
    std::get<query_call>(call.call).params.add(l.marker_param,
                                               text_of(l.pages.back().xml().result(), l.next_path.c_str()));
  }
  return call;
}

void add_page(listing& l, execution& run, std::size_t at) {
  if (!run.answers[at]) {
    l.failure = run.records[at];
    return;
  }
  l.pages.push_back(std::move(*run.answers[at]));
  l.complete = text_of(l.pages.back().xml().result(), l.next_path.c_str()).empty();
}

// The reads that can go now: the profile once its ARN is known, then its role's policy and the region's
// associations; the next page of each listing; the targets of the next target groups once they are all listed
// (and, when many, isolated).
void add_due_reads(attachment_progress& p, attachment_batch& b, bool isolated) {
  const auto add = [&](planned_call call, listing* of) {
    b.reads.push_back(std::move(call));
    b.read_pages.push_back(of);
  };
  if (p.settings.detach_instance_profile) {
    if (!p.profile_asked) {
      for (auto& call : profile_reads(p.instance, p.profile)) {
        if (call.query().action == "GetInstanceProfile") add(std::move(call), nullptr);
      }
      p.profile_asked = true;
    } else if (!p.role_asked) {
      // Who else holds the profile, beside the role's policy: only the revoke needs either. Not beside the
      // untrack, whose batch holds the instance open until every call of it is answered.
      for (auto& call : role_reads(p.profile)) add(std::move(call), nullptr);
      p.role_asked = true;
      p.associations = profile_association_listing(p.profile);
    }
  }
  for (auto* l : {&p.associations, &p.groups, &p.classic}) {
    if (!settled(*l)) add(next_page(**l), &**l);
  }
  if (p.groups && settled(p.groups) && !p.search) {
    p.balancers.complete = p.groups->complete;
    p.search = groups_to_search(target_groups_of(*p.groups), p.instance, p.settings.max_target_groups);
    p.balancers.groups_not_searched = p.search->not_searched;
  }
  if (p.search && p.health_asked < p.search->search.size() &&
      (isolated || p.search->search.size() <= health_before_isolation)) {
    const std::size_t to = std::min(p.health_asked + health_batch, p.search->search.size());
    const auto& all = p.search->search;
    for (auto& read : target_health_reads(
             {all.begin() + static_cast<long>(p.health_asked), all.begin() + static_cast<long>(to)}))
      add(std::move(read), nullptr);
    p.health_asked = to;
  }
}

// Whether what the record says is known, every read of it answered: the profile (and its own tags), every
// target group's targets, every classic load balancer.
bool record_known(const attachment_progress& p) {
  const bool profile = !p.settings.detach_instance_profile || p.profile_asked;
  const bool balancers = !p.settings.deregister_from_load_balancers ||
                         (p.search && p.health_asked == p.search->search.size() && settled(p.classic));
  return profile && balancers;
}

// And what the changes need besides: the role's policy and who else holds the profile.
bool changes_known(const attachment_progress& p) {
  return record_known(p) &&
         (!p.settings.detach_instance_profile || (p.role_asked && settled(p.associations)));
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

// Everything the steps would do now, the record's calls first; what a person must decide; the details.
struct attachment_plan {
  std::vector<planned_call> calls;
  std::size_t record_calls = 0;
  std::vector<aws::tag> record_tags;
  std::vector<action_record> already;
  bool lacks_room = false;
  std::vector<std::string> escalations;
  nlohmann::ordered_json details = nlohmann::ordered_json::object();
};

// The deregistrations, and the registrations the record should keep (what it said and what is found now).
void plan_load_balancers(const attached_instance& instance, const attachment_progress& p,
                         std::vector<planned_call>& plan, std::vector<aws::tag>& wanted,
                         attachment_plan& out) {
  const load_balancer_state& lb = p.balancers;
  for (auto& call : plan_deregistration(instance, lb, out.already)) plan.push_back(std::move(call));
  const auto recorded = load_balancer_record_from(instance.tags, instance.instance_id);
  const load_balancer_record keep = merged(recorded.value_or(load_balancer_record{}), lb.registered);
  if (keep != load_balancer_record{} && (!recorded || keep != *recorded)) {
    for (auto& t : load_balancer_tags(keep, instance.instance_id)) wanted.push_back(std::move(t));
  }
  out.details["loadBalancers"] = lb_details(lb);
  if (!lb.groups_not_searched.empty()) {
    out.escalations.push_back(std::to_string(lb.groups_not_searched.size()) +
                              " target groups were not searched for the instance (past "
                              "TOURNIQUET_MAX_TARGET_GROUPS=" +
                              std::to_string(p.settings.max_target_groups) +
                              "): it may still receive traffic from them; details.loadBalancers names the "
                              "first of them");
  }
  if (!lb.complete)
    out.already.push_back(
        unfinished_record(record_attachments, instance.instance_id,
                          "not every load balancer could be read; a retry reads them again"));
}

// Planned from what is known, on the instance's `tags` and what the record put there already.
attachment_plan plan_attachments(const attachment_progress& p, const std::map<std::string, std::string>& tags,
                                 std::size_t reserved) {
  attachment_plan out;
  attached_instance instance = p.instance;
  instance.tags = tags;
  for (const auto& [key, value] : p.landed) instance.tags[key] = value;
  profile_state profile = p.profile;
  if (auto recorded = instance.tags.find(tag_instance_profile); recorded != instance.tags.end())
    profile.recorded_arn = recorded->second;
  std::vector<planned_call> plan;
  std::vector<aws::tag> wanted;
  if (p.settings.detach_instance_profile) {
    profile_plan planned =
        plan_profile_containment(instance, profile, p.settings, p.incident_id, rfc3339_now(), out.already);
    plan = std::move(planned.calls);
    wanted = std::move(planned.record);
    if (planned.escalation) out.escalations.push_back(*planned.escalation);
    out.details["instanceProfile"] = {{"arn", profile_in_question(profile)},
                                      {"role", profile.role_name},
                                      {"sharedWith", profile.shared_with}};
  }
  if (p.settings.deregister_from_load_balancers) plan_load_balancers(instance, p, plan, wanted, out);
  const record_write record = plan_record(instance, wanted, reserved, out.already);
  out.lacks_room = record.lacks_room;
  out.record_tags = record.tags;
  out.record_calls = record.calls.size();
  // Nothing is detached or deregistered before its record landed: a replay, or release, could not know it.
  out.calls = record.calls;
  for (auto& call : plan) {
    for (auto& n : call.needs) n += record.calls.size();  // the plan's own order, after the record calls
    for (auto& n : call.after) n += record.calls.size();
    const std::string& action = call.query().action;
    if (!record.calls.empty() &&
        (action == "DisassociateIamInstanceProfile" || action.starts_with("Deregister")))
      call.needs.push_back(0);
    out.calls.push_back(std::move(call));
  }
  return out;
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

std::vector<planned_call> first_attachment_reads(const std::string& instance_id,
                                                 const attachment_settings& settings) {
  std::vector<planned_call> reads;
  if (settings.detach_instance_profile) {
    attached_instance instance;
    instance.instance_id = instance_id;
    reads = profile_reads(instance, profile_state{});  // its association: no profile is known yet
  }
  if (settings.deregister_from_load_balancers) {
    reads.push_back(target_group_listing(settings).call);
    reads.push_back(classic_listing().call);
  }
  return reads;
}

attachment_progress start_attachments(const attachment_settings& settings, std::string incident_id,
                                      const attached_instance& instance, execution first) {
  attachment_progress p;
  p.settings = settings;
  p.incident_id = std::move(incident_id);
  p.instance = instance;
  if (auto recorded = instance.tags.find(tag_instance_profile); recorded != instance.tags.end())
    p.profile.recorded_arn = recorded->second;
  const std::vector<planned_call> plan = first_attachment_reads(instance.instance_id, settings);
  p.round_trips += first.round_trips;
  keep_failed_reads(first, p.actions);
  std::size_t at = 0;
  if (settings.detach_instance_profile) {
    p.profile.association_read = false;  // until its answer says
    absorb_profile_reads(plan, first, p.profile);
    at = 1;
  }
  if (settings.deregister_from_load_balancers) {
    p.groups = target_group_listing(settings);
    p.classic = classic_listing();
    add_page(*p.groups, first, at);
    add_page(*p.classic, first, at + 1);
  }
  return p;
}

bool attachments_finished(const attachment_progress& p) {
  return p.changes_sent ||
         (!p.settings.detach_instance_profile && !p.settings.deregister_from_load_balancers);
}

namespace {

void next_pass(attachment_progress& p, attachment_batch& b, const std::map<std::string, std::string>& tags,
               std::size_t reserved, bool may_record, bool may_change) {
  const bool known = record_known(p);  // of what the batches before said
  const bool all_known = changes_known(p);
  add_due_reads(p, b, may_change);
  if (!p.record_sent && known && may_record) {
    // The record, and the profile's own, beside isolation: planned again with the rest once it landed.
    attachment_plan planned = plan_attachments(p, tags, reserved);
    b.record_calls = planned.record_calls;
    b.record_tags = planned.record_tags;
    for (std::size_t i = 0; i < planned.calls.size(); ++i) {
      if (i < planned.record_calls || planned.calls[i].query().action == "TagInstanceProfile")
        b.writes.push_back(std::move(planned.calls[i]));
    }
    p.record_sent = true;
    if (!b.writes.empty()) return;
  }
  if (p.record_sent && all_known && may_change) {
    attachment_plan planned = plan_attachments(p, tags, reserved);
    b.writes = std::move(planned.calls);
    b.record_calls = planned.record_calls;
    b.record_tags = std::move(planned.record_tags);
    b.already = std::move(planned.already);
    p.out.lacks_room = planned.lacks_room;
    p.out.escalations = std::move(planned.escalations);
    p.details = std::move(planned.details);
    p.changes_sent = true;
  }
}

}  // namespace

attachment_batch next_attachment_batch(attachment_progress& p, const std::map<std::string, std::string>& tags,
                                       std::size_t reserved, bool may_record, bool may_change) {
  attachment_batch b;
  // A pass may only learn that there is nothing to ask (no profile, no role): the next one goes on from
  // there.
  for (int pass = 0; pass < 4 && b.empty() && !attachments_finished(p); ++pass)
    next_pass(p, b, tags, reserved, may_record, may_change);
  return b;
}

void absorb_attachment_batch(attachment_progress& p, const attachment_batch& batch, execution reads,
                             execution writes, bool dry_run) {
  p.round_trips += reads.round_trips + writes.round_trips;
  keep_failed_reads(reads, p.actions);
  std::vector<planned_call> profile = batch.reads;  // the profile's own read alone: not a page of a listing
  for (auto& call : profile) {
    if (call.query().action != "GetInstanceProfile") call.kind = nullptr;
  }
  absorb_profile_reads(profile, reads, p.profile);
  absorb_role_reads(batch.reads, reads, p.profile);
  absorb_target_health(batch.reads, reads, p.instance, p.balancers);
  for (std::size_t i = 0; i < batch.reads.size(); ++i) {
    if (batch.read_pages[i]) add_page(*batch.read_pages[i], reads, i);
  }
  if (p.associations && settled(p.associations))
    absorb_association_listing(*p.associations, p.instance, p.profile);
  if (p.classic && settled(p.classic) && p.search && p.health_asked == p.search->search.size()) {
    load_balancer_state& lb = p.balancers;
    lb.registered.classic.clear();
    lb.complete &= !p.classic->failure.has_value();
    absorb_classic(*p.classic, p.instance, lb);
  }
  const auto landed = [&](std::size_t i) {
    const outcome r = writes.records[i].result;
    return r == outcome::done || r == outcome::already || (dry_run && r == outcome::planned);
  };
  if (batch.record_calls > 0 && landed(0)) {
    for (const auto& t : batch.record_tags) p.landed[t.key] = t.value;
    if (writes.records[0].result == outcome::done)
      p.out.written.insert(p.out.written.end(), batch.record_tags.begin(), batch.record_tags.end());
  }
  for (std::size_t i = 0; i < batch.writes.size(); ++i) {
    if (batch.writes[i].query().action == "TagInstanceProfile" && landed(i))
      p.profile.profile_tags[batch.writes[i].detail] = p.incident_id;  // its detail: the tag's key
  }
  p.actions.insert(p.actions.end(), writes.records.begin(), writes.records.end());
  p.actions.insert(p.actions.end(), batch.already.begin(), batch.already.end());
}

attachment_outcome finish_attachments(attachment_progress& p, playbook_report& report) {
  report.round_trips += p.round_trips;
  report.actions.insert(report.actions.end(), p.actions.begin(), p.actions.end());
  for (const auto& [key, value] : p.details.items()) report.details[key] = value;
  return std::move(p.out);
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
