// Load balancers: the instance deregistered from every ELBv2 target group holding it (as an instance target,
// or as an IP target by one of its private addresses) and from classic load balancers, each registration
// recorded on the instance for release. Isolation already fails the health checks; deregistering stops the
// load balancer sending users' requests to it.
#include <algorithm>
#include <map>

#include "handlers/config.h"
#include "handlers/incident.h"
#include "handlers/playbooks/instance_attachments_internal.h"
#include "handlers/playbooks/instance_containment.h"
#include "handlers/playbooks/instance_record.h"

namespace tq::handlers {
namespace {

using aws::items_of;
using aws::query_call;
using aws::service;
using aws::text_of;

constexpr std::string_view lb_option = "TOURNIQUET_DEREGISTER_FROM_LOAD_BALANCERS";

const action_kind& read_load_balancers =
    declare_action(instance_playbook, "read-load-balancers",
                   {"elasticloadbalancing:DescribeTargetGroups", "elasticloadbalancing:DescribeTargetHealth",
                    "elasticloadbalancing:DescribeLoadBalancers"},
                   lb_option, true);
const action_kind& deregister_target = declare_action(
    instance_playbook, "deregister-target", {"elasticloadbalancing:DeregisterTargets"}, lb_option, true);
const action_kind& deregister_classic =
    declare_action(instance_playbook, "deregister-classic",
                   {"elasticloadbalancing:DeregisterInstancesFromLoadBalancer"}, lb_option, true);
const action_kind& register_target = declare_action(
    instance_playbook, "register-target", {"elasticloadbalancing:RegisterTargets"}, lb_option, true);
const action_kind& register_classic =
    declare_action(instance_playbook, "register-classic",
                   {"elasticloadbalancing:RegisterInstancesWithLoadBalancer"}, lb_option, true);

std::vector<std::string> split(std::string_view text, char separator) {
  std::vector<std::string> parts;
  if (text.empty()) return parts;
  size_t at = 0;
  while (at <= text.size()) {
    const size_t end = std::min(text.find(separator, at), text.size());
    parts.emplace_back(text.substr(at, end - at));
    at = end + 1;
  }
  return parts;
}

// "arn:aws:elasticloadbalancing:eu-west-1:123:targetgroup/" of a group's ARN.
std::string arn_prefix(std::string_view arn) {
  const size_t slash = arn.find('/');
  return std::string(slash == std::string_view::npos ? arn : arn.substr(0, slash + 1));
}

std::string entry_of(const target_registration& t, std::string_view prefix, std::string_view instance_id) {
  std::string entry = t.group_arn.substr(prefix.size()) + "@" + t.port;
  if (t.id != instance_id || !t.zone.empty()) entry += "@" + t.id;
  if (!t.zone.empty()) entry += "@" + t.zone;
  return entry;
}

std::optional<target_registration> registration_of(std::string_view entry, std::string_view prefix,
                                                   std::string_view instance_id) {
  const auto fields = split(entry, '@');
  if (fields.size() < 2 || fields.size() > 4 || fields[0].empty()) return std::nullopt;
  target_registration t{std::string(prefix) + fields[0], std::string(instance_id), fields[1], ""};
  if (fields.size() >= 3) t.id = fields[2];
  if (fields.size() == 4) t.zone = fields[3];
  return t;
}

bool is_own(const attached_instance& instance, std::string_view id) {
  return id == instance.instance_id || std::find(instance.private_ips.begin(), instance.private_ips.end(),
                                                 id) != instance.private_ips.end();
}

template <class T>
void add_unique(std::vector<T>& to, const T& item) {
  if (std::find(to.begin(), to.end(), item) == to.end()) to.push_back(item);
}

// The registrations of one group, in the order found.
std::map<std::string, std::vector<target_registration>> by_group(
    const std::vector<target_registration>& all) {
  std::map<std::string, std::vector<target_registration>> groups;
  for (const auto& t : all) groups[t.group_arn].push_back(t);
  return groups;
}

void add_targets(query_call& call, const std::vector<target_registration>& targets) {
  for (size_t i = 0; i < targets.size(); ++i) {
    const std::string base = "Targets.member." + std::to_string(i + 1);
    call.params.add(base + ".Id", targets[i].id);
    if (!targets[i].port.empty()) call.params.add(base + ".Port", targets[i].port);
    if (!targets[i].zone.empty()) call.params.add(base + ".AvailabilityZone", targets[i].zone);
  }
}

std::string describe(const std::vector<target_registration>& targets) {
  std::vector<std::string> parts;
  for (const auto& t : targets) parts.push_back(t.id + (t.port.empty() ? "" : ":" + t.port));
  return join_list(parts, ", ");
}

}  // namespace

std::vector<aws::tag> load_balancer_tags(const load_balancer_record& record, std::string_view instance_id) {
  const std::string prefix = record.targets.empty() ? "" : arn_prefix(record.targets.front().group_arn);
  std::vector<std::string> entries;
  for (const auto& t : record.targets) {
    // A group of another prefix (never, in one region and account) is kept whole, under an empty one.
    if (!t.group_arn.starts_with(prefix)) return load_balancer_tags({{}, record.classic}, instance_id);
    entries.push_back(entry_of(t, prefix, instance_id));
  }
  return spilled_tags(tag_load_balancers, "p=" + prefix + ";t=" + join_list(entries, ",") +
                                              ";c=" + join_list(record.classic, "+"));
}

std::optional<load_balancer_record> load_balancer_record_from(const std::map<std::string, std::string>& tags,
                                                              std::string_view instance_id) {
  const spilled_value value = spilled_from_tags(tags, tag_load_balancers);
  if (value.presence != record_presence::complete) return std::nullopt;
  load_balancer_record record;
  std::string prefix;
  for (const auto& field : split(value.body, ';')) {
    if (field.starts_with("p=")) prefix = field.substr(2);
  }
  for (const auto& field : split(value.body, ';')) {
    if (field.starts_with("t=")) {
      for (const auto& entry : split(std::string_view(field).substr(2), ',')) {
        auto t = registration_of(entry, prefix, instance_id);
        if (!t) return std::nullopt;
        record.targets.push_back(std::move(*t));
      }
    } else if (field.starts_with("c=")) {
      record.classic = split(std::string_view(field).substr(2), '+');
    }
  }
  return record;
}

group_search groups_to_search(const std::vector<target_group>& groups, const attached_instance& instance,
                              std::size_t max) {
  group_search out;
  for (const auto& g : groups) {
    const bool in_vpc =
        std::find(instance.vpc_ids.begin(), instance.vpc_ids.end(), g.vpc_id) != instance.vpc_ids.end();
    if (!(g.type == "ip" || (g.type == "instance" && in_vpc))) continue;
    (out.search.size() < max ? out.search : out.not_searched).push_back(g.arn);
  }
  return out;
}

listing target_group_listing(const attachment_settings& settings) {
  query_call call{service::elbv2, "DescribeTargetGroups", {}};
  call.params.add("PageSize", std::to_string(std::clamp<std::size_t>(settings.max_target_groups, 1, 400)));
  return {{&read_load_balancers, "target groups", std::move(call)}, "Marker", "NextMarker"};
}

listing classic_listing() {
  query_call call{service::elb, "DescribeLoadBalancers", {}};
  call.params.add("PageSize", "400");
  return {{&read_load_balancers, "classic load balancers", std::move(call)}, "Marker", "NextMarker"};
}

std::vector<target_group> target_groups_of(const listing& groups) {
  std::vector<target_group> out;
  for (const auto& page : groups.pages) {
    for (pugi::xml_node g : items_of(page.xml().result().child("TargetGroups"))) {
      out.push_back({text_of(g, "TargetGroupArn"), text_of(g, "TargetType"), text_of(g, "VpcId")});
    }
  }
  return out;
}

std::vector<planned_call> target_health_reads(const std::vector<std::string>& group_arns) {
  std::vector<planned_call> reads;
  for (const auto& arn : group_arns) {
    query_call call{service::elbv2, "DescribeTargetHealth", {}};
    call.params.add("TargetGroupArn", arn);
    reads.push_back({&read_load_balancers, arn, std::move(call)});
  }
  return reads;
}

void absorb_target_health(const std::vector<planned_call>& plan, const execution& run,
                          const attached_instance& instance, load_balancer_state& state) {
  for (size_t i = 0; i < plan.size(); ++i) {
    if (plan[i].query().action != "DescribeTargetHealth") continue;
    if (!run.answers[i]) {
      state.complete = false;
      continue;
    }
    ++state.groups_searched;
    const pugi::xml_node list = run.answers[i]->xml().result().child("TargetHealthDescriptions");
    for (pugi::xml_node d : items_of(list)) {
      target_registration t{plan[i].target, text_of(d, "Target/Id"), text_of(d, "Target/Port"),
                            text_of(d, "Target/AvailabilityZone")};
      if (is_own(instance, t.id)) add_unique(state.registered.targets, t);
    }
  }
}

void absorb_classic(const listing& classic, const attached_instance& instance, load_balancer_state& state) {
  state.complete &= classic.complete;
  for (const auto& page : classic.pages) {
    for (pugi::xml_node lb : items_of(page.xml().result().child("LoadBalancerDescriptions"))) {
      for (pugi::xml_node i : items_of(lb.child("Instances"))) {
        if (text_of(i, "InstanceId") == instance.instance_id)
          add_unique(state.registered.classic, text_of(lb, "LoadBalancerName"));
      }
    }
  }
}

std::vector<planned_call> plan_deregistration(const attached_instance& instance,
                                              const load_balancer_state& now,
                                              std::vector<action_record>& already) {
  std::vector<planned_call> plan;
  for (const auto& [group, targets] : by_group(now.registered.targets)) {
    query_call call{service::elbv2, "DeregisterTargets", {}};
    call.params.add("TargetGroupArn", group);
    add_targets(call, targets);
    planned_call deregister{&deregister_target, group, std::move(call), describe(targets)};
    deregister.already_if = {"InvalidTarget"};  // gone already: an attempt whose answer was lost landed
    plan.push_back(std::move(deregister));
  }
  for (const auto& name : now.registered.classic) {
    query_call call{service::elb, "DeregisterInstancesFromLoadBalancer", {}};
    call.params.add("LoadBalancerName", name).add("Instances.member.1.InstanceId", instance.instance_id);
    plan.push_back({&deregister_classic, name, std::move(call), instance.instance_id});
  }
  if (plan.empty() && now.complete) {
    already.push_back(already_record(deregister_target, instance.instance_id,
                                     "in no load balancer of the " + std::to_string(now.groups_searched) +
                                         " target groups searched, nor in a classic one"));
  }
  return plan;
}

load_balancer_record merged(const load_balancer_record& recorded, const load_balancer_record& found) {
  load_balancer_record out = recorded;
  for (const auto& t : found.targets) add_unique(out.targets, t);
  for (const auto& c : found.classic) add_unique(out.classic, c);
  return out;
}

std::vector<planned_call> plan_reregistration(const attached_instance& instance,
                                              const load_balancer_record& recorded,
                                              const load_balancer_state& now,
                                              std::vector<action_record>& already) {
  std::vector<target_registration> missing;
  for (const auto& t : recorded.targets) {
    const auto& in = now.registered.targets;
    if (std::find(in.begin(), in.end(), t) != in.end()) {
      already.push_back(already_record(register_target, t.group_arn, describe({t})));
    } else if (!is_own(instance, t.id)) {
      // The record is a tag anyone who may tag the instance can write: only the instance itself goes back.
      already.push_back(unfinished_record(
          register_target, t.group_arn, "not registered: " + t.id + " is not this instance nor its address"));
    } else {
      missing.push_back(t);
    }
  }
  std::vector<planned_call> plan;
  for (const auto& [group, targets] : by_group(missing)) {
    query_call call{service::elbv2, "RegisterTargets", {}};
    call.params.add("TargetGroupArn", group);
    add_targets(call, targets);
    plan.push_back({&register_target, group, std::move(call), describe(targets)});
  }
  for (const auto& name : recorded.classic) {
    const auto& in = now.registered.classic;
    if (std::find(in.begin(), in.end(), name) != in.end()) {
      already.push_back(already_record(register_classic, name, instance.instance_id));
      continue;
    }
    query_call call{service::elb, "RegisterInstancesWithLoadBalancer", {}};
    call.params.add("LoadBalancerName", name).add("Instances.member.1.InstanceId", instance.instance_id);
    plan.push_back({&register_classic, name, std::move(call), instance.instance_id});
  }
  return plan;
}

}  // namespace tq::handlers
