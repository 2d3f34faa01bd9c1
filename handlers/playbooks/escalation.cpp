#include "handlers/playbooks/escalation.h"

#include <cstdio>

#include "handlers/confirmation.h"
#include "handlers/incident.h"
#include "handlers/playbooks/credential_containment.h"
#include "runtime/log.h"

namespace tq::handlers {
namespace {

// "arn:aws:ecs:R:A:task-definition/web:7" -> "web"; "snap-0abc" from "arn:aws:ec2:R::snapshot/snap-0abc".
std::string after_slash(std::string_view arn, bool drop_revision = false) {
  const size_t slash = arn.rfind('/');
  std::string_view tail = slash == std::string_view::npos ? arn : arn.substr(slash + 1);
  if (drop_revision) tail = tail.substr(0, tail.find(':'));
  return std::string(tail);
}

std::string or_unknown(const std::string& text) {
  return text.empty() ? std::string("(not named by the finding)") : text;
}

escalation_note ecs_note(const guardduty_finding& f, const ecs_details& ecs) {
  escalation_note n{"ecs-task", ecs.task_arn.empty() ? ecs.cluster_arn : ecs.task_arn, {}, {}};
  const std::string cluster = ecs.cluster_arn.empty() ? ecs.cluster_name : ecs.cluster_arn;
  if (ecs.task_arn.empty()) {
    n.summary = "ECS cluster " + or_unknown(cluster) + " (" + f.type + "): the finding names no task";
    n.steps.push_back(
        "list the cluster's tasks and find the one behind the finding: aws ecs list-tasks --cluster " +
        cluster);
    return n;
  }
  n.summary = "ECS task " + ecs.task_arn + " in cluster " + or_unknown(cluster) + " (" +
              (ecs.launch_type.empty() ? "launch type not named" : ecs.launch_type) + ") is compromised (" +
              f.type + "); no API isolates a task's network interface in place";
  n.steps.push_back(
      "stop the task (its record stays about an hour: save what you need first): aws ecs stop-task "
      "--cluster " +
      cluster + " --task " + ecs.task_arn + " --reason \"" + f.type + "\"");
  if (f.access_key && f.access_key->user_type == "AssumedRole" && !f.access_key->user_name.empty()) {
    n.steps.push_back("deny its task role " + f.access_key->user_name +
                      "'s sessions issued before now (credential containment does, at its severity floor)");
  } else if (!ecs.task_definition_arn.empty()) {
    n.steps.push_back(
        "deny its task role's sessions issued before now: the role is aws ecs describe-task-definition "
        "--task-definition " +
        ecs.task_definition_arn +
        " --query taskDefinition.taskRoleArn; put an inline deny on aws:TokenIssueTime on it");
  }
  if (!ecs.task_definition_arn.empty()) {
    n.steps.push_back("find the other tasks of the same task definition: aws ecs list-tasks --cluster " +
                      cluster + " --family " + after_slash(ecs.task_definition_arn, true));
  }
  if (ecs.group.starts_with("service:")) {
    const std::string service = ecs.group.substr(8);
    n.steps.push_back("service " + service +
                      " will start a replacement from the same image: aws ecs update-service "
                      "--cluster " +
                      cluster + " --service " + service + " --desired-count 0, until the image is clean");
  }
  return n;
}

std::string deny_all_policy(const eks_details& eks, std::string_view incident_id) {
  return "kubectl -n " + eks.workload_namespace +
         " apply -f - "
         "<<'EOF'\n{\"apiVersion\":\"networking.k8s.io/v1\",\"kind\":\"NetworkPolicy\",\"metadata\":"
         "{\"name\":\"tourniquet-deny-all-" +
         std::string(incident_id) +
         "\"},\"spec\":{\"podSelector\":"
         "{\"matchLabels\":{\"tourniquet/quarantine\":\"" +
         std::string(incident_id) + "\"}},\"policyTypes\":[\"Ingress\",\"Egress\"]}}\nEOF";
}

escalation_note eks_note(const guardduty_finding& f, const eks_details& eks, std::string_view incident_id) {
  const std::string workload = eks.workload_namespace + "/" + eks.workload_name;
  escalation_note n{"eks-workload", or_unknown(eks.cluster_name) + "/" + workload, {}, {}};
  n.summary = "Kubernetes " + (eks.workload_type.empty() ? std::string("workload") : eks.workload_type) +
              " " + workload + " in EKS cluster " + or_unknown(eks.cluster_name) + " is compromised (" +
              f.type + "); containment goes through the Kubernetes API, not AWS's";
  if (eks.workload_name.empty()) {
    n.summary =
        "EKS cluster " + or_unknown(eks.cluster_name) + " (" + f.type + "): the finding names no workload";
  } else {
    n.steps.push_back("apply a deny-all NetworkPolicy for the quarantine label: " +
                      deny_all_policy(eks, incident_id));
    const std::string label = "tourniquet/quarantine=" + std::string(incident_id);
    n.steps.push_back(
        eks.workload_type == "pods"
            ? "label the pod into it: kubectl -n " + eks.workload_namespace + " label pod " +
                  eks.workload_name + " " + label
            : "label its pods into it: kubectl -n " + eks.workload_namespace + " get " + eks.workload_type +
                  " " + eks.workload_name +
                  " -o jsonpath='{.spec.selector.matchLabels}' names their labels; kubectl -n " +
                  eks.workload_namespace + " label pods -l <those labels> " + label);
    n.steps.push_back("cordon the nodes they run on (kubectl -n " + eks.workload_namespace + " get pods -l " +
                      label + " -o wide; kubectl cordon NODE)");
  }
  if (eks.host_network)
    n.steps.push_back(
        "it uses the host's network, where NetworkPolicies do not apply: drain and isolate its node");
  if (!eks.user_name.empty())
    n.steps.push_back("Kubernetes user " + eks.user_name +
                      " acted: review its RBAC bindings and credentials");
  if (!eks.service_account.empty())
    n.steps.push_back("rotate the tokens of service account " + eks.workload_namespace + "/" +
                      eks.service_account);
  return n;
}

escalation_note container_note(const guardduty_finding& f, const container_details& c) {
  escalation_note n{"container", c.id.empty() ? c.name : c.id, {}, {}};
  const std::string where = f.instance ? " on instance " + f.instance->instance_id : "";
  n.summary = "container " + or_unknown(c.name) + " (" + or_unknown(c.id) + ", image " + or_unknown(c.image) +
              ")" + where + " is compromised (" + f.type + ")";
  const std::string tool = c.runtime == "containerd" ? "crictl" : "docker";
  n.steps.push_back("stop it where it runs, keeping it for analysis: " + tool + " stop " + or_unknown(c.id));
  n.steps.push_back("find the other containers of image " + or_unknown(c.image) +
                    " and check the image itself");
  if (c.privileged) n.steps.push_back("it ran privileged: treat its host" + where + " as compromised too");
  return n;
}

void rds_password_step(const rds_details& rds, escalation_note& n) {
  const bool postgres = rds.engine.find("postgres") != std::string::npos;
  const std::string user = or_unknown(rds.user);
  n.steps.push_back(
      "change user " + user + "'s password in SQL: " +
      (postgres ? "ALTER ROLE \"" + user + "\" WITH PASSWORD '…';"
                : "ALTER USER '" + user + "'@'%' IDENTIFIED BY '…';") +
      " then end its sessions: " +
      (postgres ? "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '" + user + "';"
                : "SHOW PROCESSLIST; KILL each of its connection ids"));
}

escalation_note rds_note(const guardduty_finding& f, const rds_details& rds) {
  const std::string db = !rds.instance_id.empty()      ? rds.instance_id
                         : !rds.shard_group_id.empty() ? rds.shard_group_id
                                                       : rds.cluster_id;
  escalation_note n{"rds", or_unknown(db), {}, {}};
  const std::string from =
      rds.source_addresses.empty() ? "" : " from " + join_list(rds.source_addresses, ", ");
  n.summary = "database " + or_unknown(db) +
              (rds.cluster_id.empty() ? "" : " (cluster " + rds.cluster_id + ")") + ", engine " +
              or_unknown(rds.engine) + ": user " + or_unknown(rds.user) + " on database " +
              or_unknown(rds.database) + from + (rds.application.empty() ? "" : " with " + rds.application) +
              " (" + f.type + ")";
  rds_password_step(rds, n);
  for (const auto& address : rds.source_addresses) {
    n.steps.push_back("deny " + address +
                      ": remove any rule admitting it from the database's security groups "
                      "(aws rds describe-db-instances --db-instance-identifier " +
                      or_unknown(db) + " --query DBInstances[0].VpcSecurityGroups)");
  }
  if (!rds.instance_id.empty())
    n.steps.push_back(
        "if it is reachable from the internet: aws rds modify-db-instance --db-instance-identifier " +
        rds.instance_id + " --no-publicly-accessible --apply-immediately");
  return n;
}

escalation_note malware_note(const guardduty_finding& f, const malware_details& m) {
  const std::string threats = m.threats.empty() ? "" : " (" + join_list(m.threats, ", ") + ")";
  escalation_note n{"backup-malware", {}, {}, {}};
  if (!m.object_arns.empty()) {
    n.family = "s3-object";
    n.resource = m.object_arns.front();
    n.summary = "malware" + threats + " in S3 object " + join_list(m.object_arns, ", ") + " (" + f.type + ")";
    n.steps.push_back("quarantine it: copy it to a bucket no one reads, then delete this object version");
    n.steps.push_back(
        "find who wrote it (CloudTrail PutObject data events) and treat those credentials as stolen");
    return n;
  }
  n.resource = !m.snapshot_arn.empty()         ? m.snapshot_arn
               : !m.image_arn.empty()          ? m.image_arn
               : !m.recovery_point_arn.empty() ? m.recovery_point_arn
                                               : join_list(m.volume_arns);
  n.summary = "malware" + threats + " in " + or_unknown(n.resource) + " (" + f.type + ")";
  n.steps.push_back("do not restore, launch or attach from it until it is cleaned");
  if (!m.snapshot_arn.empty())
    n.steps.push_back("stop sharing it: aws ec2 modify-snapshot-attribute --snapshot-id " +
                      after_slash(m.snapshot_arn) +
                      " --attribute createVolumePermission --operation-type remove --group-names all");
  if (!m.image_arn.empty())
    n.steps.push_back("stop launches from it: aws ec2 modify-image-attribute --image-id " +
                      after_slash(m.image_arn) +
                      " --launch-permission \"Remove=[{Group=all}]\"; and deprecate it (aws ec2 "
                      "enable-image-deprecation)");
  if (!m.recovery_point_arn.empty())
    n.steps.push_back("keep recovery point " + m.recovery_point_arn + " (vault " +
                      or_unknown(m.backup_vault) +
                      ") out of restores, and scan the ones before it for the last clean one");
  n.steps.push_back("find the instance or volume it was taken from and contain it");
  return n;
}

}  // namespace

bool is_escalation_family(const guardduty_finding& f) {
  const std::string& t = f.resource_type;
  if (t == "ECSCluster" || t == "EKSCluster" || t == "Container" || t == "RDSDBInstance" ||
      t == "RDSLimitlessDB" || t == "S3Object")
    return true;
  // Malware Protection for Backup names a snapshot, an AMI or a recovery point, whatever its type's name.
  const auto& m = f.families.malware;
  return t != "Instance" && m &&
         (!m->snapshot_arn.empty() || !m->image_arn.empty() || !m->recovery_point_arn.empty());
}

escalation_note escalation_for(const guardduty_finding& f, std::string_view incident_id) {
  const family_details& d = f.families;
  const std::string& t = f.resource_type;
  if (t == "ECSCluster" && d.ecs) return ecs_note(f, *d.ecs);
  if (t == "EKSCluster" && d.eks) return eks_note(f, *d.eks, incident_id);
  if ((t == "RDSDBInstance" || t == "RDSLimitlessDB") && d.rds) return rds_note(f, *d.rds);
  if (d.malware && is_escalation_family(f)) return malware_note(f, *d.malware);
  if (t == "Container" && d.container) return container_note(f, *d.container);
  if (d.ecs && d.ecs->task_arn.size()) return ecs_note(f, *d.ecs);
  escalation_note n{"unknown", t, {}, {}};
  n.summary = "finding " + f.id + " (" + f.type + ") is about resource type " + t +
              ", which no playbook in this build contains";
  n.steps.push_back("review it in the GuardDuty console (finding " + f.id +
                    ") and contain the resource by hand");
  return n;
}

result<escalation_settings> escalation_settings_from_environment(const env_reader& env) {
  escalation_settings s;
  auto severity = parse_number(env, "TOURNIQUET_ESCALATION_MIN_SEVERITY", 0.0, 10.0, s.min_severity);
  if (!severity) return std::move(severity).err();
  s.min_severity = *severity;
  auto credentials = credential_settings_from_environment(env);
  if (!credentials) return std::move(credentials).err();
  s.credential_min_severity = credentials->min_severity;
  return s;
}

namespace {

struct escalation_input {
  escalation_note note;
  std::string finding_type;
  double severity = 0;
};

std::string severity_text(double severity) {
  char text[16];
  std::snprintf(text, sizeof text, "%.1f", severity);
  return text;
}

std::string too_low(double severity, const std::string& resource_type) {
  return "severity " + severity_text(severity) + " is under TOURNIQUET_ESCALATION_MIN_SEVERITY (" +
         resource_type + ": no playbook contains it, and no one is paged for it)";
}

class escalation final : public playbook {
 public:
  explicit escalation(escalation_settings settings) : m_settings(settings) {}

  std::string_view name() const override { return escalation_playbook; }

  // From the summary, as route below: a finding another playbook looked at is not this one's.
  bool may_take(const finding_summary& finding, const config&, routing& out) const override {
    if (looked_at(out)) return false;
    if (finding.severity >= m_settings.min_severity) return true;
    out.passed.push_back({name(), 0, too_low(finding.severity, finding.resource_type)});
    return false;
  }

  void route(const decoded_event& event, const config&, routing& out) const override {
    const auto* finding = std::get_if<guardduty_finding>(&event);
    if (finding == nullptr || looked_at(out)) return;
    if (finding->severity < m_settings.min_severity) {
      out.passed.push_back({name(), 0, too_low(finding->severity, finding->resource_type)});
      return;
    }
    const std::string incident = incident_id_for(finding->account_id, finding->id);
    escalation_input input{escalation_for(*finding, incident), finding->type, finding->severity};
    job j{name(), 0, finding->account_id, finding->region, input.note.resource, incident, finding->type, {}};
    j.input = std::move(input);
    out.jobs.push_back(std::move(j));
    if (finding->access_key && finding->severity >= m_settings.credential_min_severity) {
      access_key_target principal = target_from_finding(*finding);
      principal.named_by_other_resource = true;
      out.jobs.push_back(credential_job(std::move(principal), 0, finding->region));
    }
  }

  playbook_report run(const job& work, const playbook_context& ctx) const override {
    const auto& input = *std::any_cast<escalation_input>(&work.input);
    playbook_report report;
    report.playbook = std::string(name());
    report.target = input.note.resource;
    report.incident_id = work.incident_id;
    // Paging a person is an action too: it waits on GuardDuty's word.
    confirm_alone(ctx.confirmation, ctx.client, ctx.until, report);
    if (auto stop = unconfirmed_report(ctx.confirmation, report.playbook, report.target)) return *stop;
    if (ctx.confirmation) {
      if (auto why = finding_refusal(*ctx.confirmation->confirmed()))
        return not_confirmed_route(report.playbook, report.target, *why);
    }
    report.status = report_status::escalate;
    report.reason = input.note.summary + ". A person must: " + join_list(input.note.steps, "; ");
    report.details["family"] = input.note.family;
    report.details["resource"] = input.note.resource;
    report.details["findingType"] = input.finding_type;
    report.details["severity"] = input.severity;
    report.details["steps"] = input.note.steps;
    log::error("escalation: a person must act", {{"target", report.target}, {"reason", input.note.summary}});
    return report;
  }

 private:
  // Whether a playbook before this one in the list took or passed over the finding.
  static bool looked_at(const routing& out) {
    for (const auto& j : out.jobs)
      if (j.item == 0) return true;
    for (const auto& p : out.passed)
      if (p.item == 0) return true;
    return false;
  }

  escalation_settings m_settings;
};

}  // namespace

result<std::unique_ptr<const playbook>> make_escalation(const env_reader& env) {
  return playbook_from<escalation>(escalation_settings_from_environment(env));
}

}  // namespace tq::handlers
