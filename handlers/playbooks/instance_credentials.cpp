// The instance's credentials: its instance profile detached (recorded for release), and its role's sessions
// issued before now denied when no other instance uses the profile — the credentials an attacker read from
// the metadata service stay valid for hours after the detach.
#include <algorithm>

#include "handlers/incident.h"
#include "handlers/playbooks/credential_containment.h"
#include "handlers/playbooks/instance_attachments_internal.h"
#include "handlers/playbooks/instance_containment.h"

namespace tq::handlers {
namespace {

using aws::items_of;
using aws::query_call;
using aws::service;
using aws::text_of;

constexpr std::string_view detach_option = "TOURNIQUET_DETACH_INSTANCE_PROFILE";

const action_kind& read_instance_profile = declare_action(
    instance_playbook, "read-instance-profile",
    {"ec2:DescribeIamInstanceProfileAssociations", "iam:GetInstanceProfile", "iam:GetRolePolicy"},
    detach_option, true);
const action_kind& detach_instance_profile =
    declare_action(instance_playbook, "detach-instance-profile", {"ec2:DisassociateIamInstanceProfile"},
                   detach_option, true);
// The profile's own record of the detach, which release requires before associating it again.
const action_kind& record_on_profile =
    declare_action(instance_playbook, "record-on-profile", {"iam:TagInstanceProfile"}, detach_option, true);
// The role's sessions: the calls are the credential playbook's (the deny policy, the incident on the role's
// tags, so that its release lifts the deny), made under this playbook's option.
const action_kind& revoke_instance_role = declare_action(
    instance_playbook, "revoke-instance-role", {"iam:PutRolePolicy", "iam:TagRole"}, detach_option, true);
// Associating a profile passes its role to EC2.
const action_kind& reassociate_instance_profile =
    declare_action(instance_playbook, "reassociate-instance-profile",
                   {"ec2:AssociateIamInstanceProfile", "iam:PassRole"}, detach_option, true);

query_call associations_of(std::string_view instance_id) {
  query_call call{service::ec2, "DescribeIamInstanceProfileAssociations", {}};
  call.params.add_filter(1, "instance-id", {std::string(instance_id)});
  return call;
}

bool holds(pugi::xml_node association) {
  const std::string state = text_of(association, "state");
  return state == "associated" || state == "associating";
}

}  // namespace

std::string profile_in_question(const profile_state& state) {
  return state.associated_arn.empty() ? state.recorded_arn : state.associated_arn;
}

std::string profile_name_of(std::string_view arn) {
  const size_t slash = arn.rfind('/');
  return std::string(slash == std::string_view::npos ? arn : arn.substr(slash + 1));
}

std::vector<planned_call> profile_reads(const attached_instance& instance, const profile_state& state) {
  std::vector<planned_call> reads;
  reads.push_back({&read_instance_profile, instance.instance_id, associations_of(instance.instance_id)});
  const std::string arn = profile_in_question(state);
  if (!arn.empty()) {
    query_call profile{service::iam, "GetInstanceProfile", {}};
    profile.params.add("InstanceProfileName", profile_name_of(arn));
    reads.push_back({&read_instance_profile, arn, std::move(profile)});
  }
  return reads;
}

// Every association in the region: those naming the profile are the instances sharing it. Associations
// exist for instances pending, running, stopping or stopped (a stopped one gets the role's credentials
// when started), and end with termination. DescribeInstances' iam-instance-profile.arn filter would
// answer the same, but moto 5.2 does not implement it.
std::optional<listing> profile_association_listing(const profile_state& state) {
  if (profile_in_question(state).empty()) return std::nullopt;
  query_call call{service::ec2, "DescribeIamInstanceProfileAssociations", {}};
  call.params.add("MaxResults", "1000");
  return listing{
      {&read_instance_profile, profile_in_question(state), std::move(call)}, "NextToken", "nextToken"};
}

void absorb_profile_reads(const std::vector<planned_call>& plan, const execution& run, profile_state& state) {
  for (size_t i = 0; i < plan.size(); ++i) {
    if (plan[i].kind != &read_instance_profile) continue;
    const bool profile = plan[i].query().action == "GetInstanceProfile";
    const auto& failure = run.records[i].failure;
    if (profile && failure && failure->code == "NoSuchEntity") state.role_read = true;  // gone: no role
    if (!run.answers[i]) continue;
    const pugi::xml_node answer = run.answers[i]->xml().result();
    if (profile) {
      state.role_read = true;
      state.role_name = text_of(answer, "InstanceProfile/Roles/member/RoleName");
      for (pugi::xml_node t : items_of(answer.child("InstanceProfile").child("Tags")))
        state.profile_tags[text_of(t, "Key")] = text_of(t, "Value");
      continue;
    }
    state.association_read = true;
    for (pugi::xml_node a : items_of(answer.child("iamInstanceProfileAssociationSet"))) {
      if (!holds(a)) continue;
      state.association_id = text_of(a, "associationId");
      state.associated_arn = text_of(a, "iamInstanceProfile/arn");
    }
  }
}

void absorb_association_listing(const listing& all, const attached_instance& instance, profile_state& state) {
  state.sharing_known = all.complete;
  state.shared_with = 0;
  const std::string arn = profile_in_question(state);
  for (const auto& page : all.pages) {
    for (pugi::xml_node a : items_of(page.xml().result().child("iamInstanceProfileAssociationSet"))) {
      if (holds(a) && text_of(a, "instanceId") != instance.instance_id &&
          text_of(a, "iamInstanceProfile/arn") == arn)
        ++state.shared_with;
    }
  }
}

std::vector<planned_call> role_reads(const profile_state& state) {
  if (state.role_name.empty()) return {};
  query_call call{service::iam, "GetRolePolicy", {}};
  call.params.add("RoleName", state.role_name).add("PolicyName", revoke_sessions_policy_name);
  return {{&read_instance_profile, state.role_name, std::move(call)}};
}

void absorb_role_reads(const std::vector<planned_call>& plan, const execution& run, profile_state& state) {
  for (size_t i = 0; i < plan.size(); ++i) {
    if (plan[i].query().action != "GetRolePolicy") continue;
    const auto& failure = run.records[i].failure;
    state.revocation_read = run.answers[i].has_value() || (failure && failure->code == "NoSuchEntity");
    state.revoked = run.answers[i].has_value();
  }
}

namespace {

// The role's sessions, denied by the credential playbook's own planner and policy document: one policy
// under one name, whichever playbook put it there.
void plan_revoke(const attached_instance& instance, const profile_state& state,
                 const attachment_settings& settings, std::string_view incident_id,
                 std::string_view now_rfc3339, profile_plan& out, std::vector<action_record>& already) {
  const std::string arn = profile_in_question(state);
  if (state.role_name.empty()) {
    if (state.role_read) {
      already.push_back(skipped_record(revoke_instance_role, arn, "the profile holds no role: no sessions"));
    } else {
      already.push_back(unfinished_record(revoke_instance_role, arn,
                                          "sessions not revoked: the profile's role could not be read"));
    }
    return;
  }
  if (!state.revocation_read || !state.sharing_known) {
    already.push_back(unfinished_record(revoke_instance_role, state.role_name,
                                        "sessions not revoked: whether the role is revoked or shared could "
                                        "not be read; a retry reads it again"));
    return;
  }
  if (state.revoked) {
    already.push_back(already_record(revoke_instance_role, state.role_name,
                                     std::string(revoke_sessions_policy_name) + " in place"));
    return;
  }
  if (state.shared_with > 0 && !settings.revoke_shared_instance_role) {
    out.escalation = "instance profile " + arn + " is used by " + std::to_string(state.shared_with) +
                     " other instance(s): the older sessions of its role " + state.role_name +
                     " were not revoked, which would cut those instances off too. A person decides; "
                     "TOURNIQUET_REVOKE_SHARED_INSTANCE_ROLE=true revokes them anyway.";
    already.push_back(skipped_record(revoke_instance_role, state.role_name,
                                     "sessions not revoked: the profile is shared by " +
                                         std::to_string(state.shared_with) + " other instance(s)"));
    return;
  }
  access_key_target role;
  role.user_type = "AssumedRole";
  role.role_name = state.role_name;
  role.account_id = instance.account_id;
  role.source_id = instance.finding_id;
  role.source_type = instance.finding_type;
  auto calls = plan_credential_containment(role, credential_state{}, credential_settings{}, incident_id,
                                           now_rfc3339, already);
  for (auto& call : calls) {
    call.kind = &revoke_instance_role;
    out.calls.push_back(std::move(call));
  }
}

}  // namespace

profile_plan plan_profile_containment(const attached_instance& instance, const profile_state& state,
                                      const attachment_settings& settings, std::string_view incident_id,
                                      std::string_view now_rfc3339, std::vector<action_record>& already) {
  profile_plan out;
  const std::string arn = profile_in_question(state);
  if (!state.association_read) {
    already.push_back(unfinished_record(detach_instance_profile, instance.instance_id,
                                        "not done: its profile association could not be read; a retry reads "
                                        "it again"));
    return out;
  }
  if (arn.empty()) {
    already.push_back(already_record(detach_instance_profile, instance.instance_id, "no instance profile"));
    return out;
  }
  if (state.recorded_arn != arn) out.record.push_back({tag_instance_profile, arn});
  const std::string vouch = std::string(tag_detached_from_prefix) + instance.instance_id;
  std::vector<size_t> vouched;
  if (!state.association_id.empty() && !state.profile_tags.contains(vouch)) {
    query_call call{service::iam, "TagInstanceProfile", {}};
    call.params.add("InstanceProfileName", profile_name_of(arn))
        .add_tags("Tags.member", {{vouch, std::string(incident_id)}});
    vouched.push_back(out.calls.size());
    out.calls.push_back({&record_on_profile, arn, std::move(call), vouch});
  }
  if (state.association_id.empty()) {
    already.push_back(already_record(detach_instance_profile, instance.instance_id, "detached: " + arn));
  } else {
    query_call call{service::ec2, "DisassociateIamInstanceProfile", {}};
    call.params.add("AssociationId", state.association_id);
    planned_call detach{&detach_instance_profile, instance.instance_id, std::move(call), arn, vouched};
    detach.without_dry_run = true;  // its API takes no DryRun
    detach.already_if = {"InvalidAssociationID.NotFound"};
    out.calls.push_back(std::move(detach));
  }
  plan_revoke(instance, state, settings, incident_id, now_rfc3339, out, already);
  return out;
}

std::vector<planned_call> plan_profile_release(const attached_instance& instance, const profile_state& state,
                                               std::vector<action_record>& already) {
  if (state.recorded_arn.empty()) return {};
  if (state.associated_arn == state.recorded_arn) {
    already.push_back(
        already_record(reassociate_instance_profile, instance.instance_id, "holds " + state.recorded_arn));
    return {};
  }
  if (!state.associated_arn.empty()) {
    already.push_back(
        skipped_record(reassociate_instance_profile, instance.instance_id,
                       "holds another profile now (" + state.associated_arn + "): left as it is"));
    return {};
  }
  if (!state.profile_tags.contains(std::string(tag_detached_from_prefix) + instance.instance_id)) {
    already.push_back(unfinished_record(
        reassociate_instance_profile, instance.instance_id,
        "not associated: " + state.recorded_arn + " does not say it was detached from this instance (" +
            std::string(tag_detached_from_prefix) + instance.instance_id +
            "); the instance's record is a tag anyone who may tag it can rewrite"));
    return {};
  }
  query_call call{service::ec2, "AssociateIamInstanceProfile", {}};
  call.params.add("InstanceId", instance.instance_id).add("IamInstanceProfile.Arn", state.recorded_arn);
  planned_call associate{&reassociate_instance_profile, instance.instance_id, std::move(call),
                         state.recorded_arn};
  associate.without_dry_run = true;
  return {std::move(associate)};
}

}  // namespace tq::handlers
