#include "handlers/playbooks/instance_containment.h"

#include <algorithm>
#include <ctime>
#include <variant>

#include "aws/crypto.h"
#include "handlers/confirmation.h"
#include "handlers/playbooks/attack_sequence.h"
#include "handlers/playbooks/instance_attachments_internal.h"
#include "handlers/playbooks/instance_evidence.h"
#include "runtime/log.h"

namespace tq::handlers {
namespace {

using aws::items_of;
using aws::query_call;
using aws::service;
using aws::text_of;

const action_kind& read_instance =
    declare_action(instance_playbook, "read-instance",
                   {"ec2:DescribeInstances", "ec2:DescribeInstanceAttribute", "ec2:DescribeSecurityGroups",
                    "ec2:DescribeSnapshots", "autoscaling:DescribeAutoScalingInstances"});
const action_kind& create_group =
    declare_action(instance_playbook, "create-group", {"ec2:CreateSecurityGroup", "ec2:CreateTags"});
const action_kind& set_group_rules =
    declare_action(instance_playbook, "set-group-rules",
                   {"ec2:AuthorizeSecurityGroupIngress", "ec2:AuthorizeSecurityGroupEgress",
                    "ec2:RevokeSecurityGroupEgress"});
const action_kind& revoke_stray_rule =
    declare_action(instance_playbook, "revoke-stray-rule",
                   {"ec2:RevokeSecurityGroupIngress", "ec2:RevokeSecurityGroupEgress"});
const action_kind& find_exposed_interfaces =
    declare_action(instance_playbook, "find-exposed-interfaces", {"ec2:DescribeNetworkInterfaces"});
const action_kind& record_prior_state =
    declare_action(instance_playbook, "record-prior-state", {"ec2:CreateTags"});
// The interfaces' own tags hold their records: read beside the instance, written beside the untrack.
const action_kind& read_interfaces =
    declare_action(instance_playbook, "read-interfaces", {"ec2:DescribeNetworkInterfaces"});
const action_kind& record_on_interface =
    declare_action(instance_playbook, "record-on-interface", {"ec2:CreateTags"});
const action_kind& untrack_interface =
    declare_action(instance_playbook, "untrack-interface", {"ec2:ModifyNetworkInterfaceAttribute"});
const action_kind& isolate_interface =
    declare_action(instance_playbook, "isolate-interface", {"ec2:ModifyNetworkInterfaceAttribute"});
const action_kind& protect_termination =
    declare_action(instance_playbook, "protect-termination", {"ec2:ModifyInstanceAttribute"});
const action_kind& stop_on_shutdown =
    declare_action(instance_playbook, "stop-on-shutdown", {"ec2:ModifyInstanceAttribute"});
const action_kind& keep_volumes =
    declare_action(instance_playbook, "keep-volumes", {"ec2:ModifyInstanceAttribute"});
const action_kind& detach_from_autoscaling =
    declare_action(instance_playbook, "detach-from-autoscaling", {"autoscaling:DetachInstances"});
const action_kind& snapshot_volumes =
    declare_action(instance_playbook, "snapshot-volumes", {"ec2:CreateSnapshots", "ec2:CreateTags"});
const action_kind& record_status = declare_action(instance_playbook, "record-status", {"ec2:CreateTags"});
const action_kind& restore_interface =
    declare_action(instance_playbook, "restore-interface", {"ec2:ModifyNetworkInterfaceAttribute"});

constexpr const char* untrack_role = "untrack";
constexpr const char* isolation_role = "isolation";

std::string placeholder_group(std::string_view role, std::string_view vpc) {
  return "(new " + std::string(role) + " group in " + std::string(vpc) + ")";
}

bool is_placeholder(std::string_view group_id) {
  return group_id.starts_with("(new ");
}

// The reason a call naming `group_id` cannot be sent yet, or "" when it can.
std::string missing(std::string_view group_id) {
  return is_placeholder(group_id)
             ? std::string(group_id.substr(5, group_id.size() - 6)) + " does not exist yet"
             : "";
}

void add_rules_from_xml(pugi::xml_node permissions, rule_direction direction, std::vector<group_rule>& out) {
  for (pugi::xml_node permission : items_of(permissions)) {
    const group_rule base{direction, text_of(permission, "ipProtocol"), text_of(permission, "fromPort"),
                          text_of(permission, "toPort")};
    const auto add = [&](const char* list, const char* field, rule_peer peer) {
      for (pugi::xml_node item : items_of(permission.child(list))) {
        group_rule rule = base;
        rule.peer = peer;
        rule.peer_id = text_of(item, field);
        out.push_back(std::move(rule));
      }
    };
    add("ipRanges", "cidrIp", rule_peer::cidr_v4);
    add("ipv6Ranges", "cidrIpv6", rule_peer::cidr_v6);
    add("groups", "groupId", rule_peer::group);
    add("prefixListIds", "prefixListId", rule_peer::prefix_list);
  }
}

managed_group group_from_xml(pugi::xml_node g) {
  managed_group group;
  group.id = text_of(g, "groupId");
  group.vpc_id = text_of(g, "vpcId");
  add_rules_from_xml(g.child("ipPermissions"), rule_direction::ingress, group.rules);
  add_rules_from_xml(g.child("ipPermissionsEgress"), rule_direction::egress, group.rules);
  return group;
}

// Whether two rules let the same traffic through; an all-traffic rule has no ports.
bool same_rule(const group_rule& a, const group_rule& b) {
  if (a.direction != b.direction || a.protocol != b.protocol || a.peer != b.peer || a.peer_id != b.peer_id)
    return false;
  return a.protocol == "-1" || (a.from_port == b.from_port && a.to_port == b.to_port);
}

// A configured group wins over one Tourniquet made in the same VPC when it is closed. Its rules are its
// owner's business, so an open one is not repaired but passed over, and Tourniquet's own group used.
void use_configured_groups(pugi::xml_node answer, const instance_settings& settings, instance_state& state) {
  const auto wanted = isolation_rules(settings.forensics_cidrs);
  for (pugi::xml_node g : items_of(answer.child("securityGroupInfo"))) {
    managed_group group = group_from_xml(g);
    const auto strays = stray_rules(group, wanted);
    if (strays.empty()) {
      state.isolation_groups[group.vpc_id] = std::move(group);
      continue;
    }
    std::string why = "configured isolation group " + group.id + " is not closed (" + describe(strays[0]);
    if (strays.size() > 1) why += " and " + std::to_string(strays.size() - 1) + " more";
    state.refused_groups.push_back(
        {group.id, group.vpc_id, why + "): Tourniquet's own group is used instead"});
  }
}

// The interfaces' own tags, from the read of kind read-interfaces wherever it sits in the batch.
void add_interface_tags(const execution& reads, instance_state& state) {
  const auto read = std::find_if(reads.records.begin(), reads.records.end(),
                                 [](const action_record& r) { return r.action == read_interfaces.name; });
  const auto index = static_cast<size_t>(read - reads.records.begin());
  state.interface_tags_read = read != reads.records.end() && reads.answers[index].has_value();
  if (!state.interface_tags_read) return;
  for (pugi::xml_node n : items_of(reads.answers[index]->xml().result().child("networkInterfaceSet"))) {
    const std::string id = text_of(n, "networkInterfaceId");
    for (auto& eni : state.interfaces) {
      if (eni.id != id) continue;
      for (pugi::xml_node t : items_of(n.child("tagSet"))) eni.tags[text_of(t, "key")] = text_of(t, "value");
    }
  }
}

std::string tag_value(pugi::xml_node tag_set, std::string_view key) {
  for (pugi::xml_node t : items_of(tag_set)) {
    if (text_of(t, "key") == key) return text_of(t, "value");
  }
  return {};
}

// One rule per call: EC2 refuses a whole call when one of its rules is there already (or, revoking, is
// gone), so only a call of one rule can take that answer for "done".
query_call rule_call(std::string_view verb, const std::string& group, const group_rule& rule) {
  const bool ingress = rule.direction == rule_direction::ingress;
  query_call call{
      service::ec2, std::string(verb) + (ingress ? "SecurityGroupIngress" : "SecurityGroupEgress"), {}};
  call.params.add("GroupId", group).add("IpPermissions.1.IpProtocol", rule.protocol);
  if (!rule.from_port.empty()) call.params.add("IpPermissions.1.FromPort", rule.from_port);
  if (!rule.to_port.empty()) call.params.add("IpPermissions.1.ToPort", rule.to_port);
  switch (rule.peer) {
    case rule_peer::cidr_v4:
      call.params.add("IpPermissions.1.IpRanges.1.CidrIp", rule.peer_id);
      break;
    case rule_peer::cidr_v6:
      call.params.add("IpPermissions.1.Ipv6Ranges.1.CidrIpv6", rule.peer_id);
      break;
    case rule_peer::group:
      call.params.add("IpPermissions.1.Groups.1.GroupId", rule.peer_id);
      break;
    case rule_peer::prefix_list:
      call.params.add("IpPermissions.1.PrefixListIds.1.PrefixListId", rule.peer_id);
      break;
  }
  return call;
}

planned_call authorize_rule(const std::string& group, const group_rule& rule, std::string_view role) {
  planned_call p{&set_group_rules,
                 group,
                 rule_call("Authorize", group, rule),
                 std::string(role) + ": allow " + describe(rule),
                 {},
                 {},
                 missing(group)};
  p.already_if = {"InvalidPermission.Duplicate"};
  return p;
}

// A stray rule of a group found in place is tampering (or a mistake) and is reported as a repair; the
// default egress rule of a group made by this run is expected.
planned_call revoke_rule(const managed_group& group, const group_rule& rule, std::string_view role) {
  const action_kind& kind = group.created_now ? set_group_rules : revoke_stray_rule;
  planned_call p{&kind,
                 group.id,
                 rule_call("Revoke", group.id, rule),
                 std::string(role) + ": remove " + describe(rule),
                 {},
                 {},
                 missing(group.id)};
  p.already_if = {"InvalidPermission.NotFound"};
  return p;
}

query_call set_interface_groups(const std::string& interface_id, const std::vector<std::string>& groups) {
  query_call call{service::ec2, "ModifyNetworkInterfaceAttribute", {}};
  call.params.add("NetworkInterfaceId", interface_id).add_list("SecurityGroupId", groups);
  return call;
}

query_call create_tags(const std::string& resource, const std::vector<aws::tag>& tags) {
  query_call call{service::ec2, "CreateTags", {}};
  call.params.add("ResourceId.1", resource).add_tags("Tag", tags);
  return call;
}

bool only_group(const interface_state& eni, const std::string& group) {
  return eni.group_ids.size() == 1 && eni.group_ids.front() == group;
}

}  // namespace

std::vector<planned_call> plan_state_reads(const instance_finding& finding,
                                           const instance_settings& settings) {
  std::vector<planned_call> reads;
  auto add = [&](query_call call) {
    reads.push_back(planned_call{&read_instance, finding.instance_id, std::move(call)});
  };
  query_call instances{service::ec2, "DescribeInstances", {}};
  instances.params.add("InstanceId.1", finding.instance_id);
  add(std::move(instances));
  for (const char* attribute : {"disableApiTermination", "instanceInitiatedShutdownBehavior"}) {
    query_call call{service::ec2, "DescribeInstanceAttribute", {}};
    call.params.add("InstanceId", finding.instance_id).add("Attribute", attribute);
    add(std::move(call));
  }
  query_call groups{service::ec2, "DescribeSecurityGroups", {}};
  groups.params.add_filter(1, std::string("tag:") + tag_role, {untrack_role, isolation_role});
  add(std::move(groups));
  query_call autoscaling{service::autoscaling, "DescribeAutoScalingInstances", {}};
  autoscaling.params.add_member_list("InstanceIds", {finding.instance_id});
  add(std::move(autoscaling));
  query_call snapshots{service::ec2, "DescribeSnapshots", {}};
  snapshots.params.add("Owner.1", "self")
      .add_filter(1, std::string("tag:") + tag_finding, {finding.finding_id});
  add(std::move(snapshots));
  if (!settings.isolation_group_ids.empty()) {
    query_call configured{service::ec2, "DescribeSecurityGroups", {}};
    configured.params.add_list("GroupId", settings.isolation_group_ids);
    add(std::move(configured));
  }
  // DescribeInstances lists no tags of an interface. Found in the answers by its kind, not its position.
  query_call interfaces{service::ec2, "DescribeNetworkInterfaces", {}};
  interfaces.params.add_filter(1, "attachment.instance-id", {finding.instance_id});
  reads.push_back(planned_call{&read_interfaces, finding.instance_id, std::move(interfaces)});
  // Reads are permission-checked in a dry run like everything else, and change nothing.
  return reads;
}

result<instance_state> state_from_reads(const instance_finding& finding, const instance_settings& settings,
                                        const execution& reads) {
  if (!reads.answers[0]) {
    const auto& failure = reads.records[0].failure;
    if (failure &&
        (failure->code == "InvalidInstanceID.NotFound" || failure->code == "InvalidInstanceID.Malformed")) {
      return error{"InstanceNotFound",
                   "instance " + finding.instance_id + " does not exist in account " + finding.account_id +
                       " (" + failure->message + ")",
                   "ec2:DescribeInstances", false};
    }
    if (failure) return *failure;
    return error{"ReadFailed", "the instance could not be read", "ec2:DescribeInstances"};
  }
  instance_state state;
  state.instance_id = finding.instance_id;
  pugi::xml_node instance;
  for (pugi::xml_node reservation : items_of(reads.answers[0]->xml().result().child("reservationSet"))) {
    for (pugi::xml_node i : items_of(reservation.child("instancesSet"))) {
      if (text_of(i, "instanceId") == finding.instance_id) instance = i;
    }
  }
  if (!instance) {
    return error{"InstanceNotFound",
                 "instance " + finding.instance_id + " does not exist in account " + finding.account_id,
                 "ec2:DescribeInstances", false};
  }
  state.state_name = text_of(instance, "instanceState/name");
  state.profile_arn = text_of(instance, "iamInstanceProfile/arn");
  for (pugi::xml_node t : items_of(instance.child("tagSet")))
    state.tags[text_of(t, "key")] = text_of(t, "value");
  for (pugi::xml_node n : items_of(instance.child("networkInterfaceSet"))) {
    interface_state eni{text_of(n, "networkInterfaceId"), text_of(n, "vpcId"), text_of(n, "subnetId"), {}};
    for (pugi::xml_node g : items_of(n.child("groupSet"))) eni.group_ids.push_back(text_of(g, "groupId"));
    for (pugi::xml_node a : items_of(n.child("privateIpAddressesSet")))
      state.private_ips.push_back(text_of(a, "privateIpAddress"));
    state.interfaces.push_back(std::move(eni));
  }
  for (pugi::xml_node b : items_of(instance.child("blockDeviceMapping"))) {
    state.volumes.push_back({text_of(b, "ebs/volumeId"), text_of(b, "deviceName"),
                             text_of(b, "ebs/deleteOnTermination") == "true"});
  }
  if (reads.answers[1]) {
    state.termination_protected =
        text_of(reads.answers[1]->xml().result(), "disableApiTermination/value") == "true";
  }
  if (reads.answers[2]) {
    state.shutdown_behavior =
        text_of(reads.answers[2]->xml().result(), "instanceInitiatedShutdownBehavior/value");
  }
  if (!reads.answers[3]) return *reads.records[3].failure;  // without the groups there is no safe plan
  for (pugi::xml_node g : items_of(reads.answers[3]->xml().result().child("securityGroupInfo"))) {
    const std::string role = tag_value(g.child("tagSet"), tag_role);
    managed_group group = group_from_xml(g);
    auto& by_vpc = role == untrack_role ? state.untrack_groups : state.isolation_groups;
    if (role == untrack_role || role == isolation_role) by_vpc.emplace(group.vpc_id, std::move(group));
  }
  state.autoscaling_read = reads.answers[4].has_value();
  state.snapshots_read = reads.answers[5].has_value();
  if (reads.answers[4]) {
    for (pugi::xml_node m : items_of(reads.answers[4]->xml().result().child("AutoScalingInstances"))) {
      state.autoscaling_group = text_of(m, "AutoScalingGroupName");
    }
  }
  if (reads.answers[5]) {
    for (pugi::xml_node s : items_of(reads.answers[5]->xml().result().child("snapshotSet"))) {
      state.finding_snapshot_ids.push_back(text_of(s, "snapshotId"));
    }
  }
  if (!settings.isolation_group_ids.empty()) {
    if (!reads.answers[6]) return *reads.records[6].failure;
    use_configured_groups(reads.answers[6]->xml().result(), settings, state);
  }
  add_interface_tags(reads, state);
  return state;
}

std::vector<planned_call> plan_group_creation(const instance_state& state, std::string_view incident_id) {
  std::vector<planned_call> plan;
  std::vector<std::string> vpcs;
  for (const auto& eni : state.interfaces) {
    if (std::find(vpcs.begin(), vpcs.end(), eni.vpc_id) == vpcs.end()) vpcs.push_back(eni.vpc_id);
  }
  for (const auto& vpc : vpcs) {
    for (const char* role : {untrack_role, isolation_role}) {
      const auto& existing =
          std::string_view(role) == untrack_role ? state.untrack_groups : state.isolation_groups;
      if (existing.contains(vpc)) continue;
      query_call call{service::ec2, "CreateSecurityGroup", {}};
      const std::string name = std::string("tourniquet-") + role + "-" + vpc;
      call.params.add("GroupName", name)
          .add("GroupDescription",
               std::string(role) == untrack_role
                   ? "Tourniquet: allows all traffic so tracked connections end before isolation"
                   : "Tourniquet: isolation, no traffic but forensics access")
          .add("VpcId", vpc)
          .add("TagSpecification.1.ResourceType", "security-group")
          .add_tags("TagSpecification.1.Tag",
                    {{tag_role, role}, {"Name", name}, {tag_incident, std::string(incident_id)}});
      plan.push_back(planned_call{&create_group, vpc, std::move(call), std::string(role) + " group"});
    }
  }
  return plan;
}

std::string describe(const group_rule& rule) {
  const bool ingress = rule.direction == rule_direction::ingress;
  std::string traffic = rule.protocol == "-1" ? "all traffic" : rule.protocol;
  if (rule.protocol != "-1" && !rule.from_port.empty()) traffic += " " + rule.from_port + "-" + rule.to_port;
  return std::string(ingress ? "ingress " : "egress ") + traffic + (ingress ? " from " : " to ") +
         rule.peer_id;
}

group_rule all_traffic(rule_direction direction, std::string cidr) {
  const rule_peer peer = cidr.find(':') != std::string::npos ? rule_peer::cidr_v6 : rule_peer::cidr_v4;
  return group_rule{direction, "-1", "", "", peer, std::move(cidr)};
}

std::vector<group_rule> untrack_rules() {
  return {all_traffic(rule_direction::ingress, "0.0.0.0/0"), all_traffic(rule_direction::ingress, "::/0"),
          all_traffic(rule_direction::egress, "0.0.0.0/0"), all_traffic(rule_direction::egress, "::/0")};
}

std::vector<group_rule> isolation_rules(const std::vector<std::string>& forensics_cidrs) {
  std::vector<group_rule> rules;
  for (const auto& cidr : forensics_cidrs) rules.push_back(all_traffic(rule_direction::ingress, cidr));
  return rules;
}

std::vector<group_rule> stray_rules(const managed_group& group, const std::vector<group_rule>& wanted) {
  std::vector<group_rule> strays;
  for (const auto& rule : group.rules) {
    const bool is_wanted =
        std::any_of(wanted.begin(), wanted.end(), [&](const group_rule& w) { return same_rule(rule, w); });
    if (!is_wanted) strays.push_back(rule);
  }
  return strays;
}

std::vector<planned_call> plan_group_rules(const instance_state& state, const instance_settings& settings) {
  std::vector<planned_call> plan;
  const auto assert_rules = [&](const managed_group& g, const std::vector<group_rule>& wanted,
                                std::string_view role) {
    for (const auto& rule : stray_rules(g, wanted)) plan.push_back(revoke_rule(g, rule, role));
    for (const auto& rule : wanted) {
      const bool present = std::any_of(g.rules.begin(), g.rules.end(),
                                       [&](const group_rule& r) { return same_rule(r, rule); });
      if (!present) plan.push_back(authorize_rule(g.id, rule, role));
    }
  };
  const auto wanted_untrack = untrack_rules();
  const auto wanted_isolation = isolation_rules(settings.forensics_cidrs);
  for (const auto& [vpc, g] : state.untrack_groups) assert_rules(g, wanted_untrack, untrack_role);
  for (const auto& [vpc, g] : state.isolation_groups) {
    const auto& configured = settings.isolation_group_ids;
    if (std::find(configured.begin(), configured.end(), g.id) != configured.end()) continue;
    assert_rules(g, wanted_isolation, isolation_role);
  }
  return plan;
}

namespace {

bool in_managed_group(const interface_state& eni, const instance_state& state) {
  return std::any_of(eni.group_ids.begin(), eni.group_ids.end(), [&](const std::string& g) {
    const auto u = state.untrack_groups.find(eni.vpc_id);
    const auto i = state.isolation_groups.find(eni.vpc_id);
    return (u != state.untrack_groups.end() && u->second.id == g) ||
           (i != state.isolation_groups.end() && i->second.id == g);
  });
}

// Tags that found no room, named, with how full the resource is.
action_record no_room(const action_kind& kind, const std::string& target,
                      const std::map<std::string, std::string>& tags, const std::vector<aws::tag>& wanted,
                      size_t fitted) {
  std::vector<std::string> left;
  for (size_t i = fitted; i < wanted.size(); ++i) left.push_back(wanted[i].key);
  return skipped_record(kind, target,
                        "no room for " + join_list(left, ", ") + ": " + target + " carries " +
                            std::to_string(ec2_tag_limit - tag_room(tags)) + " tags, EC2 allows " +
                            std::to_string(ec2_tag_limit));
}

// The record the instance should carry: each interface's groups as they are for an interface not yet moved,
// else as recorded before, so that a rewritten record never loses what only the old one still knew.
instance_record record_for(const instance_finding& finding, const instance_state& state) {
  instance_record record{finding.finding_id, finding.finding_type, {}};
  for (const auto& eni : state.interfaces) {
    if (!in_managed_group(eni, state)) {
      record.interfaces.emplace_back(eni.id, eni.group_ids);
    } else if (auto known = recorded_for(state, eni)) {
      record.interfaces.emplace_back(eni.id, known->groups);
    }
  }
  return record;
}

// Whether the instance's record already says what `wanted` says: the same interfaces and groups in a whole
// record, or, on an instance contained before the record existed, in the tags of that format.
bool record_current(const instance_state& state, const instance_record& wanted) {
  const read_record existing = record_from_tags(state.tags);
  if (existing.presence == record_presence::complete) return existing.record.interfaces == wanted.interfaces;
  if (existing.presence != record_presence::absent) return false;
  return !wanted.interfaces.empty() &&
         std::all_of(wanted.interfaces.begin(), wanted.interfaces.end(), [&](const auto& entry) {
           auto old = state.tags.find(tag_prior_groups_prefix + entry.first);
           return old != state.tags.end() && split_list(old->second) == entry.second;
         });
}

// Step 1, on each interface not yet moved: its own groups, in its own room (interfaces rarely carry tags).
// The groups come before the incident id when only one fits.
void plan_interface_records(const std::string& incident, const instance_state& state,
                            std::vector<planned_call>& plan, record_plan& out,
                            std::vector<action_record>& already) {
  for (const auto& eni : state.interfaces) {
    if (in_managed_group(eni, state)) {
      if (eni.tags.contains(tag_prior_groups)) out.interfaces.push_back(eni.id);
      continue;
    }
    const std::string groups = join_list(eni.group_ids);
    const std::vector<aws::tag> wanted{{tag_prior_groups, groups}, {tag_incident, incident}};
    const bool in_place = std::all_of(wanted.begin(), wanted.end(), [&](const aws::tag& t) {
      auto found = eni.tags.find(t.key);
      return found != eni.tags.end() && found->second == t.value;
    });
    if (state.interface_tags_read && in_place) {
      already.push_back(already_record(record_on_interface, eni.id, "prior groups " + groups));
      out.interfaces.push_back(eni.id);
      continue;
    }
    // Tags that could not be read cannot be counted: the write is tried, and EC2's answer says if it fit.
    const std::vector<aws::tag> tags = state.interface_tags_read ? fitting(eni.tags, wanted) : wanted;
    if (tags.size() < wanted.size())
      already.push_back(no_room(record_on_interface, eni.id, eni.tags, wanted, tags.size()));
    if (tags.empty()) continue;
    out.calls.push_back(plan.size());
    plan.push_back({&record_on_interface, eni.id, create_tags(eni.id, tags), "prior groups " + groups});
  }
}

// Step 1, on the instance: the incident id, then the record, as much as its room takes.
void plan_instance_record(const instance_finding& finding, const instance_state& state,
                          std::vector<planned_call>& plan, record_plan& out,
                          std::vector<action_record>& already) {
  std::vector<aws::tag> wanted;
  if (!state.tags.contains(tag_incident))
    wanted.push_back({tag_incident, incident_id_for(finding.account_id, finding.finding_id)});
  const instance_record record = record_for(finding, state);
  if (!record_current(state, record)) {
    for (auto& t : record_tags(record)) {
      auto found = state.tags.find(t.key);
      if (found == state.tags.end() || found->second != t.value) wanted.push_back(std::move(t));
    }
  }
  if (wanted.empty()) {
    already.push_back(already_record(record_prior_state, state.instance_id, "incident and record in place"));
    return;
  }
  out.instance_tags = fitting(state.tags, wanted);
  if (out.instance_tags.size() < wanted.size()) {
    out.lacks_room = true;
    already.push_back(
        no_room(record_prior_state, state.instance_id, state.tags, wanted, out.instance_tags.size()));
  }
  if (out.instance_tags.empty()) return;
  out.calls.push_back(plan.size());
  plan.push_back({&record_prior_state, state.instance_id, create_tags(state.instance_id, out.instance_tags),
                  std::to_string(out.instance_tags.size()) + " tags"});
}

// Step 1: record who this is and what each interface had, where there is room, unless a previous delivery
// did.
record_plan plan_record(const instance_finding& finding, const instance_state& state,
                        std::vector<planned_call>& plan, std::vector<action_record>& already) {
  record_plan out;
  plan_interface_records(incident_id_for(finding.account_id, finding.finding_id), state, plan, out, already);
  plan_instance_record(finding, state, plan, out, already);
  return out;
}

// The calls of a plan that assert each group's rules, by group id: every change, and the revokes alone.
struct group_assertions {
  std::map<std::string, std::vector<size_t>> changes;
  std::map<std::string, std::vector<size_t>> revokes;

  static std::vector<size_t> of(const std::map<std::string, std::vector<size_t>>& calls,
                                const std::string& group) {
    auto found = calls.find(group);
    return found == calls.end() ? std::vector<size_t>{} : found->second;
  }
};

// Step 0: the groups' rules, asserted first. When nothing was tampered with there are none, and isolation
// keeps its round trips.
group_assertions plan_assertions(const instance_state& state, const instance_settings& settings,
                                 std::vector<planned_call>& plan) {
  group_assertions out;
  for (auto& call : plan_group_rules(state, settings)) {
    out.changes[call.target].push_back(plan.size());
    if (call.query().action.starts_with("Revoke")) out.revokes[call.target].push_back(plan.size());
    plan.push_back(std::move(call));
  }
  return out;
}

// Beside the repair, for the report: which interfaces sat in an isolation group while it was open.
void plan_exposure_lookups(const instance_state& state, const group_assertions& assertions,
                           std::vector<planned_call>& plan) {
  for (const auto& [vpc, g] : state.isolation_groups) {
    if (g.created_now || group_assertions::of(assertions.revokes, g.id).empty()) continue;
    query_call call{service::ec2, "DescribeNetworkInterfaces", {}};
    call.params.add_filter(1, "group-id", {g.id});
    plan.push_back(
        {&find_exposed_interfaces, g.id, std::move(call), "interfaces isolated while it was open"});
  }
}

// Step 1 too, beside the record: untrack every interface at once. Step 2: isolate each once its untrack
// call is answered. Returns the indices of the isolation calls.
std::vector<size_t> plan_isolation(const instance_state& state, const std::vector<size_t>& record_calls,
                                   const group_assertions& assertions, std::vector<planned_call>& plan,
                                   std::vector<action_record>& already) {
  // Isolation waits for the untrack call to finish but not to succeed: an interface whose
  // untrack failed is still better isolated than left open. The prior groups are also in the report and
  // the log, so a failed record costs the release convenience, never the containment. Neither move is made
  // before the stray rules of the isolation group are gone: not into an open group, and not into the untrack
  // group for an isolation that could not follow.
  std::vector<size_t> isolation_indices;
  for (const auto& eni : state.interfaces) {
    const std::string untrack = state.untrack_groups.contains(eni.vpc_id)
                                    ? state.untrack_groups.at(eni.vpc_id).id
                                    : placeholder_group(untrack_role, eni.vpc_id);
    const std::string isolation = state.isolation_groups.contains(eni.vpc_id)
                                      ? state.isolation_groups.at(eni.vpc_id).id
                                      : placeholder_group(isolation_role, eni.vpc_id);
    if (only_group(eni, isolation)) {
      already.push_back(already_record(isolate_interface, eni.id, "only in " + isolation));
      continue;
    }
    const std::vector<size_t> closed = group_assertions::of(assertions.revokes, isolation);
    std::vector<size_t> after = record_calls;
    if (!only_group(eni, untrack)) {
      std::vector<size_t> untrack_after = group_assertions::of(assertions.changes, untrack);
      after.push_back(plan.size());
      plan.push_back({&untrack_interface, eni.id, set_interface_groups(eni.id, {untrack}),
                      join_list(eni.group_ids) + " -> " + untrack, closed, std::move(untrack_after),
                      missing(untrack)});
    }
    isolation_indices.push_back(plan.size());
    plan.push_back({&isolate_interface, eni.id, set_interface_groups(eni.id, {isolation}), "-> " + isolation,
                    closed, after, missing(isolation)});
  }
  return isolation_indices;
}

// Step 3: evidence, once every interface is isolated, so that the isolation calls do not compete with it
// for the account's EC2 request budget.
void plan_evidence(const instance_finding& finding, const instance_state& state,
                   const instance_settings& settings, const std::vector<size_t>& isolation_indices,
                   std::vector<planned_call>& plan, std::vector<action_record>& already) {
  const std::string incident = incident_id_for(finding.account_id, finding.finding_id);
  auto preserve = [&](const action_kind& kind, std::string target, query_call call, std::string detail) {
    plan.push_back({&kind, std::move(target), std::move(call), std::move(detail), {}, isolation_indices});
  };
  if (!state.termination_protected) {
    query_call call{service::ec2, "ModifyInstanceAttribute", {}};
    call.params.add("InstanceId", state.instance_id).add("DisableApiTermination.Value", "true");
    preserve(protect_termination, state.instance_id, std::move(call), "");
  } else {
    already.push_back(already_record(protect_termination, state.instance_id, "termination protection on"));
  }
  if (state.shutdown_behavior != "stop") {
    // The Attribute/Value form: moto mishandles InstanceInitiatedShutdownBehavior.Value (field guide).
    query_call call{service::ec2, "ModifyInstanceAttribute", {}};
    call.params.add("InstanceId", state.instance_id)
        .add("Attribute", "instanceInitiatedShutdownBehavior")
        .add("Value", "stop");
    preserve(stop_on_shutdown, state.instance_id, std::move(call), state.shutdown_behavior + " -> stop");
  } else {
    already.push_back(already_record(stop_on_shutdown, state.instance_id, "shutdown behaviour is stop"));
  }
  query_call keep{service::ec2, "ModifyInstanceAttribute", {}};
  keep.params.add("InstanceId", state.instance_id);
  std::vector<std::string> kept;
  for (const auto& v : state.volumes) {
    if (!v.delete_on_termination) continue;
    const std::string base = "BlockDeviceMapping." + std::to_string(kept.size() + 1);
    keep.params.add(base + ".DeviceName", v.device).add(base + ".Ebs.DeleteOnTermination", "false");
    kept.push_back(v.volume_id);
  }
  if (!kept.empty()) {
    preserve(keep_volumes, state.instance_id, std::move(keep), join_list(kept));
  } else {
    already.push_back(already_record(keep_volumes, state.instance_id, "no volume is deleted on termination"));
  }
  if (!state.autoscaling_read && settings.detach_from_autoscaling) {
    already.push_back(
        unfinished_record(detach_from_autoscaling, state.instance_id,
                          "not done: its Auto Scaling group could not be read; a retry reads it again"));
  } else if (!state.autoscaling_group.empty() && settings.detach_from_autoscaling) {
    query_call call{service::autoscaling, "DetachInstances", {}};
    call.params.add_member_list("InstanceIds", {state.instance_id})
        .add("AutoScalingGroupName", state.autoscaling_group)
        .add("ShouldDecrementDesiredCapacity", "false");  // lowering it would let the group terminate it
    preserve(detach_from_autoscaling, state.instance_id, std::move(call), "from " + state.autoscaling_group);
  }
  if (!settings.snapshots) {
    already.push_back(skipped_record(snapshot_volumes, state.instance_id, "snapshots are turned off"));
  } else if (!state.snapshots_read) {
    already.push_back(
        unfinished_record(snapshot_volumes, state.instance_id,
                          "not done: the snapshots already taken could not be read, and a second set "
                          "must not be taken; a retry reads them again"));
  } else if (!state.finding_snapshot_ids.empty()) {
    already.push_back(
        already_record(snapshot_volumes, state.instance_id, join_list(state.finding_snapshot_ids)));
  } else if (!state.volumes.empty()) {
    query_call call{service::ec2, "CreateSnapshots", {}};
    call.params.add("InstanceSpecification.InstanceId", state.instance_id)
        .add("Description", "Tourniquet evidence for " + finding.finding_type + " (" + incident + ")")
        .add("CopyTagsFromSource", "volume")
        .add("TagSpecification.1.ResourceType", "snapshot")
        .add_tags("TagSpecification.1.Tag", {{tag_incident, incident},
                                             {tag_finding, finding.finding_id},
                                             {tag_instance_id, state.instance_id}});
    call.idempotent = false;  // No ClientToken: a blind retry could take a second set
    preserve(snapshot_volumes, state.instance_id, std::move(call),
             std::to_string(state.volumes.size()) + " volumes");
  }
}

}  // namespace

containment_plan plan_instance_containment(const instance_finding& finding, const instance_state& state,
                                           const instance_settings& settings,
                                           std::vector<action_record>& already) {
  containment_plan out;
  std::vector<planned_call>& plan = out.calls;
  const group_assertions assertions = plan_assertions(state, settings, plan);
  plan_exposure_lookups(state, assertions, plan);
  out.record = plan_record(finding, state, plan, already);
  const std::vector<size_t> isolation_indices =
      plan_isolation(state, out.record.calls, assertions, plan, already);
  plan_evidence(finding, state, settings, isolation_indices, plan, already);
  return out;
}

std::vector<planned_call> plan_containment(const instance_finding& finding, const instance_state& state,
                                           const instance_settings& settings,
                                           std::vector<action_record>& already) {
  return plan_instance_containment(finding, state, settings, already).calls;
}

tag_writes plan_status(const instance_state& state, bool complete, std::string_view now_rfc3339,
                       std::vector<action_record>& already) {
  const std::string status = complete ? "contained" : "incomplete";
  auto current = state.tags.find(tag_status);
  if (current != state.tags.end() && current->second == status) {
    already.push_back(already_record(record_status, state.instance_id, status));
    return {};
  }
  std::vector<aws::tag> wanted{{tag_status, status}};
  // Contained again after a release: the new change has its own time, which a later hand-undo is judged by.
  const bool was_released = current != state.tags.end() && current->second == "released";
  if (!state.tags.contains(tag_contained_at) || was_released)
    wanted.push_back({tag_contained_at, std::string(now_rfc3339)});
  tag_writes out;
  const std::vector<aws::tag> tags = fitting(state.tags, wanted);
  if (tags.size() < wanted.size()) {
    out.lacks_room = true;
    already.push_back(no_room(record_status, state.instance_id, state.tags, wanted, tags.size()));
  }
  if (!tags.empty())
    out.calls.push_back({&record_status, state.instance_id, create_tags(state.instance_id, tags), status});
  return out;
}

std::string_view source_name(record_source source) {
  switch (source) {
    case record_source::interface:
      return "interface";
    case record_source::instance_record:
      return "instance-record";
    case record_source::instance_tags:
      return "instance-tags";
  }
  return "interface";
}

std::optional<recorded> recorded_for(const instance_state& state, const interface_state& eni) {
  if (auto own = eni.tags.find(tag_prior_groups); own != eni.tags.end() && !split_list(own->second).empty())
    return recorded{record_source::interface, split_list(own->second)};
  const read_record record = record_from_tags(state.tags);
  for (const auto& [id, groups] : record.record.interfaces) {
    if (id == eni.id) return recorded{record_source::instance_record, groups};
  }
  if (auto old = state.tags.find(tag_prior_groups_prefix + eni.id); old != state.tags.end())
    return recorded{record_source::instance_tags, split_list(old->second)};
  return std::nullopt;
}

std::string_view extent_name(record_extent extent) {
  switch (extent) {
    case record_extent::full:
      return "full";
    case record_extent::partial:
      return "partial";
    case record_extent::none:
      return "none";
  }
  return "none";
}

record_extent instance_extent(const std::map<std::string, std::string>& tags) {
  const record_presence presence = record_from_tags(tags).presence;
  const bool old_format = std::any_of(
      tags.begin(), tags.end(), [](const auto& t) { return t.first.starts_with(tag_prior_groups_prefix); });
  const bool incident = tags.contains(tag_incident);
  if (incident &&
      (presence == record_presence::complete || (presence == record_presence::absent && old_format)))
    return record_extent::full;
  if (incident || presence != record_presence::absent) return record_extent::partial;
  return record_extent::none;
}

std::vector<std::string> recorded_groups(const instance_state& state) {
  std::vector<std::string> groups;
  for (const auto& eni : state.interfaces) {
    auto found = recorded_for(state, eni);
    if (!found) continue;
    for (auto& g : found->groups) {
      if (std::find(groups.begin(), groups.end(), g) == groups.end()) groups.push_back(std::move(g));
    }
  }
  return groups;
}

namespace {

// Why the recorded groups cannot go back on this interface: a group since deleted, or one of another VPC
// (a record rewritten to attach the interface to a group of the attacker's choosing elsewhere).
std::optional<std::string> unrestorable(const std::vector<std::string>& groups, const interface_state& eni,
                                        const instance_state& state) {
  for (const auto& g : groups) {
    auto vpc = state.recorded_group_vpcs.find(g);
    if (vpc == state.recorded_group_vpcs.end()) return "recorded group " + g + " no longer exists";
    if (vpc->second != eni.vpc_id) {
      return "recorded group " + g + " sits in " + vpc->second + ", not in the interface's " + eni.vpc_id;
    }
  }
  return std::nullopt;
}

// A record naming an interface the instance does not have is never acted on: release only restores this
// instance's own interfaces.
void note_foreign_records(const instance_state& state, std::vector<action_record>& already) {
  std::vector<std::string> named;
  for (const auto& [key, value] : state.tags) {
    if (key.starts_with(tag_prior_groups_prefix))
      named.push_back(key.substr(std::string_view(tag_prior_groups_prefix).size()));
  }
  for (const auto& entry : record_from_tags(state.tags).record.interfaces) named.push_back(entry.first);
  std::sort(named.begin(), named.end());
  named.erase(std::unique(named.begin(), named.end()), named.end());
  for (const auto& eni : named) {
    const bool own = std::any_of(state.interfaces.begin(), state.interfaces.end(),
                                 [&](const interface_state& i) { return i.id == eni; });
    if (!own) already.push_back(skipped_record(restore_interface, eni, "not an interface of this instance"));
  }
}

bool says_released(const std::map<std::string, std::string>& tags) {
  auto status = tags.find(tag_status);
  return status != tags.end() && status->second == "released";
}

// The released state, on the instance when it has room for it, else on the interfaces that have: never a
// failure, since the interfaces are back either way.
void plan_release_status(const instance_state& state, const std::vector<size_t>& restores, bool refused,
                         const std::vector<aws::tag>& wanted, std::vector<planned_call>& plan,
                         std::vector<action_record>& already) {
  const bool on_interfaces = !state.interfaces.empty() &&
                             std::all_of(state.interfaces.begin(), state.interfaces.end(),
                                         [](const interface_state& i) { return says_released(i.tags); });
  if (says_released(state.tags) || on_interfaces) {
    already.push_back(already_record(record_status, state.instance_id, "released"));
    return;
  }
  if (refused) {
    already.push_back(unfinished_record(record_status, state.instance_id,
                                        "not marked released: an interface is still isolated"));
    return;
  }
  if (const auto fits = fitting(state.tags, wanted); !fits.empty()) {
    plan.push_back(
        {&record_status, state.instance_id, create_tags(state.instance_id, fits), "released", restores});
    return;
  }
  std::vector<std::string> roomy;
  for (const auto& eni : state.interfaces) {
    if (state.interface_tags_read && fitting(eni.tags, wanted).size() == wanted.size())
      roomy.push_back(eni.id);
  }
  if (roomy.empty()) {
    already.push_back(skipped_record(record_status, state.instance_id,
                                     "not tagged released: no room on the instance or its interfaces"));
    return;
  }
  query_call call{service::ec2, "CreateTags", {}};
  for (size_t i = 0; i < roomy.size(); ++i) call.params.add("ResourceId." + std::to_string(i + 1), roomy[i]);
  call.params.add_tags("Tag", wanted);
  plan.push_back(
      {&record_status, join_list(roomy), std::move(call), "released, on the interfaces", restores});
}

}  // namespace

std::vector<planned_call> plan_release(const instance_state& state, std::string_view now_rfc3339,
                                       std::string_view released_by, std::vector<action_record>& already) {
  std::vector<planned_call> plan;
  std::vector<size_t> restores;
  bool refused = false;
  for (const auto& eni : state.interfaces) {
    const auto found = recorded_for(state, eni);
    if (!found) {
      already.push_back(skipped_record(restore_interface, eni.id, "no prior groups recorded for it"));
      continue;
    }
    const std::vector<std::string>& groups = found->groups;
    if (eni.group_ids == groups) {
      already.push_back(already_record(restore_interface, eni.id, "in " + join_list(groups)));
      continue;
    }
    if (auto why = unrestorable(groups, eni, state)) {
      already.push_back(unfinished_record(restore_interface, eni.id, "not restored: " + *why));
      refused = true;
      continue;
    }
    restores.push_back(plan.size());
    plan.push_back({&restore_interface, eni.id, set_interface_groups(eni.id, groups),
                    join_list(eni.group_ids) + " -> " + join_list(groups)});
  }
  note_foreign_records(state, already);
  std::vector<aws::tag> wanted{{tag_status, "released"}, {tag_released_at, std::string(now_rfc3339)}};
  if (!released_by.empty()) wanted.push_back({tag_released_by, std::string(released_by)});
  plan_release_status(state, restores, refused, wanted, plan, already);
  return plan;
}

operator_decision decision_of(const instance_state& state) {
  operator_decision decision;
  const auto value = [](const std::map<std::string, std::string>& tags, const char* key) {
    const auto found = tags.find(key);
    return found == tags.end() ? std::string() : found->second;
  };
  decision.contained_at = value(state.tags, tag_contained_at);
  // The released state sits on the instance, or on its interfaces when the instance had no room for it.
  const std::map<std::string, std::string>* released = says_released(state.tags) ? &state.tags : nullptr;
  for (const auto& eni : state.interfaces) {
    if (released == nullptr && says_released(eni.tags)) released = &eni.tags;
  }
  if (released != nullptr) {
    decision.released_at = value(*released, tag_released_at);
    decision.released_by = value(*released, tag_released_by);
    return decision;
  }
  if (value(state.tags, tag_status) != "contained") return decision;
  bool any_recorded = false;
  bool all_back = true;
  for (const auto& eni : state.interfaces) {
    const auto found = recorded_for(state, eni);
    if (!found) continue;
    any_recorded = true;
    std::vector<std::string> now = eni.group_ids;
    std::vector<std::string> before = found->groups;
    std::sort(now.begin(), now.end());
    std::sort(before.begin(), before.end());
    all_back &= now == before;  // set back by hand in any order
  }
  decision.undone_by_hand = any_recorded && all_back;
  return decision;
}

namespace {

// Reads of another step that ride in the same batch (the attachment steps' first), and their answers.
struct riding_reads {
  std::vector<planned_call> calls;
  execution run = {};
};

// The calls [begin, end) of `from`, moved out: the share of a batch another step sent beside.
execution slice(execution& from, size_t begin, size_t end) {
  execution out;
  for (size_t i = begin; i < end; ++i) {
    out.records.push_back(std::move(from.records[i]));
    out.answers.push_back(std::move(from.answers[i]));
  }
  return out;
}

// Reads the instance and the groups Tourniquet manages, all in one round trip.
// With a confirmation still to be had, GetFindings rides in the same batch: no round trip of its own; so do
// the reads `beside` (their failures are theirs to report).
result<instance_state> read_state(const instance_finding& finding, const instance_settings& settings,
                                  const aws::client& client, aws::deadline until, playbook_report& report,
                                  finding_confirmation* confirmation = nullptr,
                                  riding_reads* beside = nullptr) {
  std::vector<planned_call> plan = plan_state_reads(finding, settings);
  const auto confirm_at = confirmation ? confirmation->add_to(plan) : std::nullopt;
  const size_t own = plan.size();
  if (beside) plan.insert(plan.end(), beside->calls.begin(), beside->calls.end());
  execution reads = execute_plan(plan, client, until, false);
  if (beside) {
    beside->run = slice(reads, own, plan.size());
    reads.records.resize(own);
    reads.answers.resize(own);
    plan.resize(own);
  }
  if (confirm_at) confirmation->absorb(reads, *confirm_at);
  report.round_trips += reads.round_trips;
  for (const auto& r : reads.records) {
    if (r.result == outcome::failed) report.actions.push_back(r);  // a failed read is part of the record
  }
  auto state = state_from_reads(finding, settings, reads);
  if (state && !settings.evidence.bucket.empty()) {
    state->as_read = instance_evidence(*state, reads_as_evidence(plan, reads));
  }
  return state;
}

// Creates the groups a VPC lacks (their rules are asserted with the containment plan). A group another
// invocation created at the same moment answers InvalidGroup.Duplicate: the state is read again and that
// group used.
status ensure_groups(const instance_finding& finding, const instance_settings& settings,
                     instance_state& state, const playbook_context& ctx, playbook_report& report) {
  const aws::client& client = ctx.client;
  const aws::deadline until = ctx.until;
  const bool dry_run = ctx.dry_run;
  const auto creation = plan_group_creation(state, report.incident_id);
  if (!creation.empty()) {
    if (dry_run) {
      for (const auto& p : creation) {
        const bool untrack = p.detail.starts_with(untrack_role);
        managed_group g{placeholder_group(untrack ? untrack_role : isolation_role, p.target),
                        p.target,
                        {all_traffic(rule_direction::egress, "0.0.0.0/0")},
                        true};
        (untrack ? state.untrack_groups : state.isolation_groups).emplace(p.target, g);
      }
    }
    execution created = execute_plan(creation, client, until, dry_run);
    bool duplicate = false;
    for (size_t i = 0; i < creation.size(); ++i) {
      if (!created.answers[i]) {
        duplicate |=
            created.records[i].failure && created.records[i].failure->code == "InvalidGroup.Duplicate";
        continue;
      }
      managed_group g;
      g.id = text_of(created.answers[i]->xml().result(), "groupId");
      g.vpc_id = creation[i].target;
      g.rules = {all_traffic(rule_direction::egress, "0.0.0.0/0")};  // a new group allows all IPv4 egress
      g.created_now = true;
      (creation[i].detail.starts_with(untrack_role) ? state.untrack_groups : state.isolation_groups)
          .emplace(g.vpc_id, std::move(g));
    }
    if (duplicate) {
      auto again = read_state(finding, settings, client, until, report);
      if (!again) return std::move(again).err();
      state = std::move(*again);
      // The group is there (an attempt whose answer was lost made it, or another invocation did): in place.
      for (size_t i = 0; i < creation.size(); ++i) {
        auto& record = created.records[i];
        if (!record.failure || record.failure->code != "InvalidGroup.Duplicate") continue;
        auto& found =
            creation[i].detail.starts_with(untrack_role) ? state.untrack_groups : state.isolation_groups;
        if (!found.contains(creation[i].target)) continue;
        // Made just now, by a lost attempt or a concurrent run: its default egress is no tampering.
        found.at(creation[i].target).created_now = true;
        record.result = outcome::already;
        record.detail += " (in place already: InvalidGroup.Duplicate)";
        record.failure.reset();
      }
    }
    append(report, created);
  }
  return {};
}

// Release's second read: where each recorded group is, if it still exists. By filter, which (unlike a list
// of ids) answers for the groups found when one is gone.
status read_recorded_groups(instance_state& state, const playbook_context& ctx, playbook_report& report) {
  const std::vector<std::string> groups = recorded_groups(state);
  if (groups.empty()) return {};
  query_call call{service::ec2, "DescribeSecurityGroups", {}};
  call.params.add_filter(1, "group-id", groups);
  const execution read =
      execute_plan({{&read_instance, state.instance_id, std::move(call)}}, ctx.client, ctx.until, false);
  report.round_trips += read.round_trips;
  if (!read.answers[0]) return *read.records[0].failure;
  for (pugi::xml_node g : items_of(read.answers[0]->xml().result().child("securityGroupInfo")))
    state.recorded_group_vpcs[text_of(g, "groupId")] = text_of(g, "vpcId");
  return {};
}

// The incident id, from the instance or, when it had no room for it, from an interface.
std::string incident_of(const instance_state& state) {
  if (auto found = state.tags.find(tag_incident); found != state.tags.end()) return found->second;
  for (const auto& eni : state.interfaces) {
    if (auto found = eni.tags.find(tag_incident); found != eni.tags.end()) return found->second;
  }
  return "";
}

playbook_report failed_report(playbook_report report, const error& why) {
  report.status = report_status::failed;
  report.reason = why.describe();
  report.failure = why;
  return report;
}

// Why Tourniquet must leave this instance alone, if it must. The exemption tag counts only when the
// finding's own view of the instance carried it: whoever holds the instance's role can often tag the
// instance, and malware that sees itself detected would exempt itself. A tag written since is reported.
std::optional<std::string> instance_exemption(const instance_finding& finding, const instance_state& state,
                                              const config& cfg, playbook_report& report) {
  if (cfg.exempt_instances.contains(finding.instance_id)) {
    return "the instance is exempt (TOURNIQUET_EXEMPT_INSTANCES)";
  }
  if (!cfg.exempt_tag) return std::nullopt;
  auto tag = state.tags.find(cfg.exempt_tag->key);
  if (tag == state.tags.end() || tag->second != cfg.exempt_tag->value) return std::nullopt;
  const std::string tag_text = cfg.exempt_tag->key + "=" + cfg.exempt_tag->value;
  if (finding.exempt_in_finding) return "the instance carries the exemption tag " + tag_text;
  report.details["exemptionRefused"] =
      "exemption tag added after detection: " + tag_text + " is on the instance but not in the finding";
  log::warn("exemption tag added after detection: contained anyway",
            {{"instance", finding.instance_id}, {"tag", tag_text}});
  return std::nullopt;
}

// What the report says of the groups: configured groups passed over, stray rules removed (each also a WARN
// line), and the interfaces found sitting in an isolation group while it was open.
void report_group_assertions(const std::vector<planned_call>& plan, const execution& run,
                             const instance_state& state, playbook_report& report) {
  for (const auto& refused : state.refused_groups) {
    report.details["refusedGroups"][refused.id] = refused.reason;
    log::warn("configured isolation group not used", {{"group", refused.id}, {"reason", refused.reason}});
  }
  for (size_t i = 0; i < plan.size(); ++i) {
    const outcome result = run.records[i].result;
    if (plan[i].kind == &revoke_stray_rule && (result == outcome::done || result == outcome::already)) {
      report.details["removedRules"][plan[i].target].push_back(plan[i].detail);
      log::warn("stray rule removed from a managed group",
                {{"group", plan[i].target}, {"rule", plan[i].detail}});
    }
    if (plan[i].kind != &find_exposed_interfaces || !run.answers[i]) continue;
    for (pugi::xml_node n : items_of(run.answers[i]->xml().result().child("networkInterfaceSet"))) {
      report.details["exposedWhileOpen"][plan[i].target].push_back(
          nlohmann::ordered_json{{"interface", text_of(n, "networkInterfaceId")},
                                 {"instance", text_of(n, "attachment/instanceId")}});
    }
  }
}

// EC2's tag limit is permanent: a write it refused for it is recorded as not done for lack of room (the
// report escalates), not as a failure a retry could mend. Returns whether a write to the instance was.
bool settle_tag_limits(const std::vector<planned_call>& plan, execution& run) {
  bool instance_refused = false;
  for (size_t i = 0; i < plan.size(); ++i) {
    const auto& failure = run.records[i].failure;
    const bool tags = plan[i].kind == &record_prior_state || plan[i].kind == &record_on_interface ||
                      plan[i].kind == &record_status;
    if (!tags || run.records[i].result != outcome::failed || !failure || failure->code != "TagLimitExceeded")
      continue;
    run.records[i].result = outcome::skipped;
    run.records[i].unfinished = false;
    run.records[i].detail += " (no room: TagLimitExceeded)";
    instance_refused |= plan[i].kind != &record_on_interface;
  }
  return instance_refused;
}

// The prior-groups record is the only copy of what each interface had: once they are isolated no later
// invocation can read it back. If it failed beside the untrack, it gets one more try now.
void retry_failed_record(const std::vector<planned_call>& plan, execution& run, const playbook_context& ctx) {
  for (size_t i = 0; i < plan.size(); ++i) {
    const bool record = plan[i].kind == &record_prior_state || plan[i].kind == &record_on_interface;
    if (!record || run.records[i].result != outcome::failed) continue;
    execution again = execute_plan({plan[i]}, ctx.client, ctx.until, ctx.dry_run);
    run.records[i] = std::move(again.records.front());
    run.round_trips += again.round_trips;
  }
}

// From the event's arrival to the answer of the last isolation call; unset when a call did not isolate
// (a replay isolates nothing). An untrack attempt that timed out may still reach EC2 after the isolation
// call and open the interface again: the isolation is then reported unverified, a failure a retry settles
// (the next pass waits until the lost call has landed, re-reads the interface and isolates it again).
void account_for_isolation(const std::vector<planned_call>& plan, const execution& run,
                           std::chrono::steady_clock::time_point arrived, playbook_report& report) {
  std::chrono::steady_clock::time_point last_isolation{};
  bool all_isolated = true;
  for (size_t i = 0; i < plan.size(); ++i) {
    if (plan[i].kind == &isolate_interface) {
      all_isolated &= run.records[i].result == outcome::done;
      last_isolation = std::max(last_isolation, run.records[i].finished);
    }
    if (plan[i].kind != &untrack_interface || !run.answers[i] || run.answers[i]->unanswered_attempts == 0)
      continue;
    action_record unverified{std::string(read_instance.name), plan[i].target, outcome::failed,
                             "isolation unverified",          std::nullopt,   {}};
    unverified.failure = error{"IsolationUnverified",
                               "an untrack attempt got no answer and may still land after the isolation; "
                               "the interface must be read again",
                               "ec2:ModifyNetworkInterfaceAttribute " + plan[i].target, true};
    report.actions.push_back(std::move(unverified));
  }
  if (all_isolated && last_isolation != std::chrono::steady_clock::time_point{}) {
    report.isolated_after_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(last_isolation - arrived).count();
  }
}

// What to act on: GuardDuty's own copy of the finding, routed again (its type, severity, archived state, who
// acted and the exemption tag it saw), when it leads to the same instance; else the report that stops here.
std::variant<instance_finding, playbook_report> confirmed_target(const instance_finding& event_finding,
                                                                 const playbook_context& ctx,
                                                                 const instance_settings& settings) {
  const std::string playbook(instance_playbook);
  if (auto stop = unconfirmed_report(ctx.confirmation, playbook, event_finding.instance_id)) return *stop;
  if (ctx.confirmation == nullptr) return event_finding;
  const guardduty_finding& real = *ctx.confirmation->confirmed();
  auto why = finding_refusal(real);
  const std::string& member = event_finding.sequence_member;  // a sequence's member: its own route's rules
  if (!why)
    why = member.empty()
              ? instance_routing_refusal(real, settings)
              : sequence_member_refusal(real, member, settings.min_severity, "TOURNIQUET_MIN_SEVERITY");
  if (why) return not_confirmed_route(playbook, event_finding.instance_id, *why);
  if (!member.empty()) {
    if (auto target = confirmed_instance_target(real, member, ctx.cfg)) return *target;
    return not_confirmed_route(playbook, event_finding.instance_id, "it names " + member + " as no instance");
  }
  return instance_target_of(real, ctx.cfg);
}

// Where the record is once step 1 ran: the interfaces that carry their groups, and how much the instance
// carries (what landed is added to the state's tags, so the status tags after it count the room left).
nlohmann::ordered_json record_placement(const containment_plan& planned, const execution& run,
                                        instance_state& state) {
  std::vector<std::string> interfaces = planned.record.interfaces;
  for (size_t i : planned.record.calls) {
    const outcome result = run.records[i].result;
    if (result != outcome::done && result != outcome::already) continue;
    if (planned.calls[i].kind == &record_on_interface) {
      interfaces.push_back(planned.calls[i].target);
    } else {
      for (const auto& t : planned.record.instance_tags) state.tags[t.key] = t.value;
    }
  }
  return {{"interfaces", interfaces}, {"instance", extent_name(instance_extent(state.tags))}};
}

// For a person, when the tag limit kept part of the record off the instance: what was done, where the record
// is, and what to do.
std::string no_room_reason(const nlohmann::ordered_json& where, const instance_state& state) {
  const std::vector<std::string> interfaces = where["interfaces"].get<std::vector<std::string>>();
  const std::string extent = where["instance"].get<std::string>();
  std::string text = "contained, but EC2's limit of " + std::to_string(ec2_tag_limit) +
                     " tags per resource kept part of Tourniquet's record off " + state.instance_id +
                     " (it carries " + std::to_string(ec2_tag_limit - tag_room(state.tags)) +
                     "). The record is ";
  text += interfaces.empty() ? "on no interface"
                             : "on the interfaces " + join_list(interfaces, ", ") + " (each its own groups)";
  text += extent == "full"      ? " and in full on the instance"
          : extent == "partial" ? "; the instance carries part of it"
                                : "; the instance carries none of it";
  text +=
      ", and in details.priorState of this report. `tourniquet release " + state.instance_id +
      "` reads it there. A person must free tag room on the instance and replay the finding, or keep this "
      "report to restore the groups by hand.";
  return text;
}

// What the attachment steps need of the instance, as read.
attached_instance attached(const instance_state& state, const instance_finding& finding = {}) {
  attached_instance out{state.instance_id, state.tags, {}, state.private_ips, state.profile_arn};
  for (const auto& eni : state.interfaces) {
    if (std::find(out.vpc_ids.begin(), out.vpc_ids.end(), eni.vpc_id) == out.vpc_ids.end())
      out.vpc_ids.push_back(eni.vpc_id);
  }
  out.account_id = finding.account_id;
  out.finding_id = finding.finding_id;
  out.finding_type = finding.finding_type;
  return out;
}

// The containment plan sent one level at a time, each as execute_plan would send it, so that a batch of the
// attachment steps can ride beside each level: a step is one batch.
class plan_levels {
 public:
  explicit plan_levels(const std::vector<planned_call>& plan) : m_plan(plan), m_settled(plan.size(), false) {
    for (const auto& call : plan) {
      m_run.records.push_back(
          {std::string(call.kind->name), call.target, outcome::planned, call.detail, std::nullopt, {}});
    }
    m_run.answers.resize(plan.size());
  }

  bool finished() const {
    return std::all_of(m_settled.begin(), m_settled.end(), [](bool s) { return s; });
  }
  bool settled(const std::vector<size_t>& calls) const {
    return std::all_of(calls.begin(), calls.end(), [&](size_t i) { return m_settled[i]; });
  }
  const execution& so_far() const { return m_run; }
  execution take() { return std::move(m_run); }

  // The plan's next level, with `writes` (their needs their own) and `reads` in the same batch; in a dry run
  // the reads go apart, without DryRun. Returns the executions of the reads and of the writes.
  std::pair<execution, execution> step(const std::vector<planned_call>& reads,
                                       const std::vector<planned_call>& writes, const playbook_context& ctx) {
    const std::vector<size_t> due = ready();
    std::vector<planned_call> batch;
    for (size_t i : due) {
      batch.push_back(m_plan[i]);
      batch.back().needs.clear();  // met: every one settled, every need succeeded
      batch.back().after.clear();
    }
    const size_t at = batch.size();
    for (planned_call call : writes) {
      for (auto& n : call.needs) n += at;
      for (auto& n : call.after) n += at;
      batch.push_back(std::move(call));
    }
    execution apart;
    if (ctx.dry_run) {
      apart = execute_plan(reads, ctx.client, ctx.until, false);
    } else {
      batch.insert(batch.end(), reads.begin(), reads.end());
    }
    execution sent = execute_plan(std::move(batch), ctx.client, ctx.until, ctx.dry_run);
    m_run.round_trips += sent.round_trips;
    for (size_t k = 0; k < due.size(); ++k) {
      m_run.records[due[k]] = std::move(sent.records[k]);
      m_run.answers[due[k]] = std::move(sent.answers[k]);
      m_settled[due[k]] = true;
    }
    execution wrote = slice(sent, at, at + writes.size());
    if (!ctx.dry_run) apart = slice(sent, at + writes.size(), sent.records.size());
    return {std::move(apart), std::move(wrote)};
  }

 private:
  bool succeeded(size_t i) const {
    const outcome r = m_run.records[i].result;
    return m_settled[i] && (r == outcome::done || r == outcome::already || r == outcome::planned);
  }

  void leave_undone(size_t i, std::string detail) {
    m_settled[i] = true;
    m_run.records[i].result = outcome::skipped;
    m_run.records[i].unfinished = true;
    m_run.records[i].detail = std::move(detail);
  }

  // The calls whose needs succeeded and whose `after` calls finished; those behind a failed need are left
  // undone, as execute_plan leaves them.
  std::vector<size_t> ready() {
    for (bool changed = true; changed;) {
      changed = false;
      for (size_t i = 0; i < m_plan.size(); ++i) {
        if (m_settled[i]) continue;
        for (size_t need : m_plan[i].needs) {
          if (!m_settled[need] || succeeded(need)) continue;
          const action_record& r = m_run.records[need];
          leave_undone(i, "not done: " + r.action + " " + r.target + " did not succeed");
          changed = true;
          break;
        }
      }
    }
    std::vector<size_t> due;
    for (size_t i = 0; i < m_plan.size(); ++i) {
      if (m_settled[i]) continue;
      const auto& p = m_plan[i];
      if (std::all_of(p.needs.begin(), p.needs.end(), [&](size_t n) { return succeeded(n); }) &&
          settled(p.after))
        due.push_back(i);
    }
    for (size_t i = 0; i < m_plan.size() && due.empty(); ++i) {
      if (!m_settled[i]) leave_undone(i, "not done: its prerequisites form a cycle");
    }
    return due;
  }

  const std::vector<planned_call>& m_plan;
  std::vector<bool> m_settled;
  execution m_run;
};

// The instance's tags once the record of step 1 is settled, with it when it landed; else the room it still
// needs goes into `reserved` (it is tried again after the plan).
std::map<std::string, std::string> tags_after_record(const containment_plan& planned, const execution& run,
                                                     const instance_state& state, bool dry_run,
                                                     std::size_t& reserved) {
  std::map<std::string, std::string> tags = state.tags;
  for (size_t i : planned.record.calls) {
    if (planned.calls[i].kind != &record_prior_state) continue;
    const outcome r = run.records[i].result;
    if (r == outcome::done || r == outcome::already || (dry_run && r == outcome::planned)) {
      for (const auto& t : planned.record.instance_tags) tags[t.key] = t.value;
    } else {
      reserved += planned.record.instance_tags.size();
    }
  }
  return tags;
}

// Step 1 to 3 and the evidence, level by level, with the attachment steps' batches beside: the profile and
// each target group's targets beside step 1, their record beside isolation (the instance's room counted
// after step 1's record), the detach, deregistrations and revoke beside the evidence, once isolation is done
// and their record landed. Nothing of the plan waits for them.
execution run_with_attachments(const containment_plan& planned, const instance_state& state,
                               attachment_progress& steps, const playbook_context& ctx) {
  plan_levels levels(planned.calls);
  std::vector<size_t> isolations;
  for (size_t i = 0; i < planned.calls.size(); ++i) {
    if (planned.calls[i].kind == &isolate_interface) isolations.push_back(i);
  }
  for (;;) {
    const bool recorded = levels.settled(planned.record.calls);
    std::size_t reserved =
        (state.tags.contains(tag_status) ? 0 : 1) + (state.tags.contains(tag_contained_at) ? 0 : 1);
    const auto tags =
        recorded ? tags_after_record(planned, levels.so_far(), state, ctx.dry_run, reserved) : state.tags;
    const attachment_batch batch =
        next_attachment_batch(steps, tags, reserved, recorded, levels.settled(isolations));
    if (levels.finished() && batch.empty()) break;
    auto [reads, writes] = levels.step(batch.reads, batch.writes, ctx);
    absorb_attachment_batch(steps, batch, std::move(reads), std::move(writes), ctx.dry_run);
  }
  return levels.take();
}

// Step 1 to 3 and the evidence with the instance's profile and load balancers beside, then the status tags
// in the room that is left. Says whether a tag the instance should carry found no room, and what a person
// must decide. `first`: the attachment steps' first reads, answered beside the instance's.
attachment_outcome execute_containment(const instance_finding& finding, instance_state& state,
                                       const instance_settings& settings, const playbook_context& ctx,
                                       playbook_report& report, execution first) {
  std::vector<action_record> already;
  const containment_plan planned = plan_instance_containment(finding, state, settings, already);
  const auto& plan = planned.calls;
  attachment_progress steps =
      start_attachments(settings.attachments, report.incident_id, attached(state, finding), std::move(first));
  execution run = run_with_attachments(planned, state, steps, ctx);
  bool lacks_room = planned.record.lacks_room;
  lacks_room |= settle_tag_limits(plan, run);
  retry_failed_record(plan, run, ctx);
  lacks_room |= settle_tag_limits(plan, run);
  append(report, run);
  report.actions.insert(report.actions.end(), already.begin(), already.end());
  account_for_isolation(plan, run, ctx.arrived, report);
  report_group_assertions(plan, run, state, report);
  report.details["record"] = record_placement(planned, run, state);
  attachment_outcome attachments = finish_attachments(steps, report);
  for (const auto& t : attachments.written) state.tags[t.key] = t.value;
  lacks_room |= attachments.lacks_room;

  if (!ctx.dry_run) {
    std::vector<action_record> status_already;
    const tag_writes status = plan_status(state, !report.incomplete(), rfc3339_now(), status_already);
    execution written = execute_plan(status.calls, ctx.client, ctx.until, false);
    lacks_room |= status.lacks_room;
    lacks_room |= settle_tag_limits(status.calls, written);
    append(report, written);
    report.actions.insert(report.actions.end(), status_already.begin(), status_already.end());
  }
  attachments.lacks_room = lacks_room;
  return attachments;
}

}  // namespace

playbook_report contain_instance(const instance_finding& event_finding, const playbook_context& ctx,
                                 const instance_settings& settings) {
  playbook_report report;
  report.playbook = std::string(instance_playbook);
  report.target = event_finding.instance_id;
  report.incident_id = incident_id_for(event_finding.account_id, event_finding.finding_id);
  auto finish = [&](playbook_report r) {
    r.total_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - ctx.arrived)
            .count();
    return r;
  };
  if (ctx.cfg.exempt_instances.contains(event_finding.instance_id)) {
    return ignored(report.playbook, event_finding.instance_id,
                   "the instance is exempt (TOURNIQUET_EXEMPT_INSTANCES)");
  }
  riding_reads attachment_reads{first_attachment_reads(event_finding.instance_id, settings.attachments)};
  auto state =
      read_state(event_finding, settings, ctx.client, ctx.until, report, ctx.confirmation, &attachment_reads);
  auto confirmed = confirmed_target(event_finding, ctx, settings);
  if (auto* stop = std::get_if<playbook_report>(&confirmed)) return finish(std::move(*stop));
  const instance_finding& finding = std::get<instance_finding>(confirmed);
  if (!state) return finish(failed_report(std::move(report), state.err()));
  if (auto why = instance_exemption(finding, *state, ctx.cfg, report))
    return ignored(report.playbook, finding.instance_id, *why);
  if (state->state_name == "terminated" || state->state_name == "shutting-down") {
    report.status = report_status::failed;
    report.reason =
        "instance " + finding.instance_id + " is " + state->state_name + "; nothing left to contain";
    return report;
  }
  // A person's decision stands against a redelivery of what they decided on; later activity is new evidence.
  const since_decision since = decision_since_release(finding.last_seen, decision_of(*state));
  if (since.verdict == decision_verdict::redelivery) {
    playbook_report r = ignored(report.playbook, finding.instance_id, since.reason);
    r.incident_id = report.incident_id;
    return finish(std::move(r));
  }
  report.details["priorState"] = nlohmann::ordered_json::object();
  for (const auto& eni : state->interfaces) report.details["priorState"][eni.id] = eni.group_ids;
  if (auto groups = ensure_groups(finding, settings, *state, ctx, report); !groups.ok()) {
    return finish(failed_report(std::move(report), groups.err()));
  }

  // Isolation never waits for the record to fit: a tag limit is for a person, after the fact.
  const attachment_outcome done =
      execute_containment(finding, *state, settings, ctx, report, std::move(attachment_reads.run));
  report.status = ctx.dry_run                                    ? report_status::dry_run
                  : report.incomplete()                          ? report_status::incomplete
                  : done.lacks_room || !done.escalations.empty() ? report_status::escalate
                                                                 : report_status::contained;
  if (report.status == report_status::escalate && done.lacks_room)
    report.reason = no_room_reason(report.details["record"], *state);
  if (report.status == report_status::escalate) {
    for (const auto& why : done.escalations) report.reason += (report.reason.empty() ? "" : " ") + why;
  } else if (since.verdict == decision_verdict::act_again) {
    report.reason = since.reason;
  }
  // After isolation and its record: a failed write is one more failed action, never a reason to hold back.
  // The load balancers and the profile were read before anything of theirs changed.
  for (const char* part : {"instanceProfile", "loadBalancers"}) {
    if (report.details.contains(part)) state->as_read["attachments"][part] = report.details[part];
  }
  write_evidence({report.incident_id, finding.finding_id, finding.instance_id, std::string(ctx.event_text),
                  state->as_read},
                 settings.evidence, ctx, report);
  if (report.incomplete() &&
      (report.status == report_status::contained || report.status == report_status::escalate))
    report.status = report_status::incomplete;
  return finish(std::move(report));
}

playbook_report release_instance(const std::string& instance_id, const playbook_context& ctx,
                                 const instance_settings& settings) {
  playbook_report report;
  report.playbook = "release";
  report.target = instance_id;
  const instance_finding lookup{"(release)", "", "", instance_id};
  auto state = read_state(lookup, settings, ctx.client, ctx.until, report);
  if (!state) return failed_report(std::move(report), state.err());
  if (!state->interface_tags_read) {
    return failed_report(std::move(report),
                         error{"ReadFailed",
                               "the tags of the instance's interfaces could not be read: where its "
                               "record is cannot be known",
                               "ec2:DescribeNetworkInterfaces", true});
  }
  report.incident_id = incident_of(*state);
  for (const auto& eni : state->interfaces) {
    if (auto found = recorded_for(*state, eni))
      report.details["recordFrom"][eni.id] = source_name(found->source);
  }
  if (report.incident_id.empty() && !report.details.contains("recordFrom")) {
    report.status = report_status::failed;
    report.reason = "instance " + instance_id + " carries no Tourniquet incident: nothing to release";
    return report;
  }
  if (auto groups = read_recorded_groups(*state, ctx, report); !groups.ok()) {
    return failed_report(std::move(report), groups.err());
  }
  std::vector<action_record> already;
  const auto plan = plan_release(*state, rfc3339_now(), ctx.caller_arn, already);
  execution run = execute_plan(plan, ctx.client, ctx.until, ctx.dry_run);
  settle_tag_limits(plan, run);  // the interfaces are back either way
  append(report, run);
  report.actions.insert(report.actions.end(), already.begin(), already.end());
  release_attachments(attached(*state), settings.attachments, ctx, report);
  report.status = ctx.dry_run           ? report_status::dry_run
                  : report.incomplete() ? report_status::incomplete
                                        : report_status::released;
  return report;
}

std::vector<std::string> default_instance_finding_types() {
  return {"Backdoor:EC2/*", "CryptoCurrency:EC2/*", "Trojan:EC2/*", "UnauthorizedAccess:EC2/*",
          "Impact:EC2/*", "Execution:EC2/*", "Backdoor:Runtime/*", "CryptoCurrency:Runtime/*",
          "Execution:Runtime/*", "Impact:Runtime/*", "PrivilegeEscalation:Runtime/*",
          "DefenseEvasion:Runtime/*",
          // Runtime Monitoring's other families on an instance: a process on it did this.
          "Trojan:Runtime/*", "UnauthorizedAccess:Runtime/*", "CredentialAccess:Runtime/*",
          "Persistence:Runtime/*", "Discovery:Runtime/*"};
}

result<instance_settings> instance_settings_from_environment(const env_reader& env) {
  instance_settings s;
  auto severity = parse_number(env, "TOURNIQUET_MIN_SEVERITY", 0.0, 10.0, s.min_severity);
  if (!severity) return std::move(severity).err();
  s.min_severity = *severity;

  auto instance_types =
      parse_type_patterns(env, "TOURNIQUET_INSTANCE_FINDING_TYPES", default_instance_finding_types());
  if (!instance_types) return std::move(instance_types).err();
  s.finding_types = std::move(*instance_types);
  if (auto cidrs = env("TOURNIQUET_FORENSICS_CIDRS")) {
    for (auto& cidr : split_list(*cidrs)) {
      if (!looks_like_cidr(cidr))
        return invalid_setting("TOURNIQUET_FORENSICS_CIDRS", "'" + cidr + "' is not a CIDR");
      if (cidr == "0.0.0.0/0" || cidr == "::/0") {
        return invalid_setting("TOURNIQUET_FORENSICS_CIDRS",
                               "'" + cidr + "' would open the isolated instance to the world");
      }
      s.forensics_cidrs.push_back(cidr);
    }
  }
  if (auto groups = env("TOURNIQUET_ISOLATION_GROUP_IDS")) {
    for (auto& g : split_list(*groups)) {
      if (!g.starts_with("sg-"))
        return invalid_setting("TOURNIQUET_ISOLATION_GROUP_IDS", "'" + g + "' is not a group id");
      s.isolation_group_ids.push_back(g);
    }
  }
  auto snapshots = parse_bool(env, "TOURNIQUET_SNAPSHOTS", true);
  if (!snapshots) return std::move(snapshots).err();
  s.snapshots = *snapshots;
  auto detach = parse_bool(env, "TOURNIQUET_DETACH_FROM_AUTOSCALING", true);
  if (!detach) return std::move(detach).err();
  s.detach_from_autoscaling = *detach;
  auto evidence = evidence_settings_from_environment(env);
  if (!evidence) return std::move(evidence).err();
  s.evidence = std::move(*evidence);
  auto attachments = attachment_settings_from_environment(env);
  if (!attachments) return std::move(attachments).err();
  s.attachments = *attachments;
  return s;
}

// --- The playbook ---------------------------------------------------------------------------------------

namespace {

bool exempt_in_finding(const guardduty_finding& finding, const config& cfg) {
  if (!cfg.exempt_tag || !finding.instance) return false;
  const auto& tags = finding.instance->tags;
  return std::find(tags.begin(), tags.end(), std::pair{cfg.exempt_tag->key, cfg.exempt_tag->value}) !=
         tags.end();
}

}  // namespace

instance_finding instance_target_of(const guardduty_finding& finding, const config& cfg) {
  return {finding.id,
          finding.type,
          finding.account_id,
          finding.instance ? finding.instance->instance_id : "",
          exempt_in_finding(finding, cfg),
          finding.last_seen};
}

namespace {

class instance_containment final : public playbook {
 public:
  explicit instance_containment(instance_settings settings) : m_settings(std::move(settings)) {}

  std::string_view name() const override { return instance_playbook; }

  void route(const decoded_event& event, const config& cfg, routing& out) const override {
    const auto* finding = std::get_if<guardduty_finding>(&event);
    if (finding == nullptr || finding->resource_type != "Instance") return;
    if (auto why = instance_routing_refusal(*finding, m_settings)) {
      out.passed.push_back({name(), 0, std::move(*why)});
      return;
    }
    const instance_finding target = instance_target_of(*finding, cfg);
    out.jobs.push_back(job{name(), 0, finding->account_id, finding->region, target.instance_id,
                           incident_id_for(target.account_id, target.finding_id), finding->type, target});
  }

  bool may_take(const finding_summary& finding, const config&, routing& out) const override {
    if (finding.resource_type != "Instance") return false;
    auto why = instance_gate_refusal(finding.type, finding.severity, m_settings);
    if (why) out.passed.push_back({name(), 0, std::move(*why)});
    return !why;
  }

  playbook_report run(const job& work, const playbook_context& ctx) const override {
    return contain_instance(*std::any_cast<instance_finding>(&work.input), ctx, m_settings);
  }

  bool releases(std::string_view target) const override { return target.starts_with("i-"); }

  playbook_report release(std::string_view target, const playbook_context& ctx) const override {
    return release_instance(std::string(target), ctx, m_settings);
  }

 private:
  instance_settings m_settings;
};

}  // namespace

namespace {

// A finding type, "ThreatPurpose:ResourceTypeAffected/ThreatFamilyName.DetectionMechanism!Artifact"
// (GuardDuty user guide, "Finding format"): "Backdoor", "EC2" or "Runtime", "C&CActivity".
struct finding_type_parts {
  std::string_view purpose;
  std::string_view resource;
  std::string_view family;
};

finding_type_parts parse_finding_type(std::string_view type) {
  finding_type_parts parts;
  const size_t colon = type.find(':');
  const size_t slash = type.find('/');
  if (colon == std::string_view::npos || slash == std::string_view::npos || slash < colon) return parts;
  parts.purpose = type.substr(0, colon);
  parts.resource = type.substr(colon + 1, slash - colon - 1);
  parts.family = type.substr(slash + 1, type.find_first_of(".!", slash + 1) - slash - 1);
  return parts;
}

// Families whose name says what the instance itself did: it ran Tor, called a C&C server, mined, sent spam,
// swept ports, flooded others, or sent data out (GuardDuty's finding type descriptions).
bool family_names_the_instance_acting(std::string_view family) {
  for (std::string_view acting :
       {"TorClient", "TorRelay", "C&CActivity", "BitcoinTool", "DGADomainRequest", "DNSDataExfiltration",
        "BlackholeTraffic", "DropPoint", "DenialOfService", "Spambot", "PortSweep"}) {
    if (family == acting) return true;
  }
  return false;
}

}  // namespace

actor_verdict who_acted(const guardduty_finding& finding) {
  const finding_type_parts type = parse_finding_type(finding.type);
  const std::string_view role = finding.resource_role;
  const std::string_view direction =
      finding.connection_direction ? std::string_view(*finding.connection_direction) : std::string_view();
  if (type.resource == "Runtime") return {actor_role::actor, "runtime monitoring saw a process on it"};
  if (type.family == "MaliciousFile") return {actor_role::actor, "malware was found on it"};
  if (family_names_the_instance_acting(type.family)) return {actor_role::actor, "its finding type names it"};
  if (finding.action_type == "DNS_REQUEST") return {actor_role::actor, "it sent the DNS request"};
  if (finding.action_type == "NETWORK_CONNECTION" && direction == "OUTBOUND")
    return {actor_role::actor, "it opened the outbound connection"};
  if (type.family.ends_with("BruteForce")) {
    // The one family whose resourceRole GuardDuty defines: ACTOR means the instance attacks others.
    if (role == "ACTOR") return {actor_role::actor, "it brute-forces others (resourceRole ACTOR)"};
    if (role == "TARGET") return {actor_role::target, "it is brute-forced (resourceRole TARGET)"};
  }
  if (finding.action_type == "NETWORK_CONNECTION" && direction == "INBOUND" && role == "TARGET")
    return {actor_role::target, "the connection came in to it (INBOUND, resourceRole TARGET)"};
  if (finding.action_type == "PORT_PROBE" && role == "TARGET")
    return {actor_role::target, "it was probed (PORT_PROBE, resourceRole TARGET)"};
  if (role == "ACTOR") return {actor_role::actor, "resourceRole ACTOR"};
  return {actor_role::unknown, "neither the action nor the type says; the type says it is compromised"};
}

std::optional<std::string> instance_gate_refusal(const std::string& type, double severity,
                                                 const instance_settings& settings) {
  if (!type_matches(settings.finding_types, type)) {
    return "type " + type + " is not in TOURNIQUET_INSTANCE_FINDING_TYPES";
  }
  if (severity < settings.min_severity) {
    char text[16];
    std::snprintf(text, sizeof text, "%.1f", severity);
    return "severity " + std::string(text) + " is under TOURNIQUET_MIN_SEVERITY";
  }
  return std::nullopt;
}

std::optional<std::string> instance_routing_refusal(const guardduty_finding& finding,
                                                    const instance_settings& settings) {
  if (auto why = instance_gate_refusal(finding.type, finding.severity, settings)) return why;
  if (const actor_verdict verdict = who_acted(finding); verdict.role == actor_role::target) {
    // The instance is what was attacked (a brute force against it, a probe): isolating it would do the
    // attacker's work. Blocking the attacker's addresses is the answer to those.
    return "the instance is the target of the activity, not its actor: " + std::string(verdict.reason);
  }
  if (!finding.instance) return "the finding names no instance";
  return std::nullopt;
}

result<std::unique_ptr<const playbook>> make_instance_containment(const env_reader& env) {
  return playbook_from<instance_containment>(instance_settings_from_environment(env));
}

}  // namespace tq::handlers
