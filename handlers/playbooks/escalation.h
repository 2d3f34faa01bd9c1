// Escalation: the deliberate answer for every finding no API can contain safely — ECS tasks, EKS workloads,
// standalone containers, RDS databases, malware in snapshots, AMIs, backup recovery points and S3 objects,
// and any resource type GuardDuty adds later. The report's status is `escalate`, with what a person must do
// for this finding (the task ARN and the command that stops it, the NetworkPolicy for the workload, the
// database user and the source address); a principal the finding names goes to credential containment.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "handlers/config.h"
#include "handlers/event.h"
#include "handlers/playbook.h"
#include "runtime/environment.h"

namespace tq::handlers {

inline constexpr std::string_view escalation_playbook = "escalation";

struct escalation_settings {
  double min_severity = 4.0;  // TOURNIQUET_ESCALATION_MIN_SEVERITY: below it, recorded and passed over
  // A principal named by the finding (accessKeyDetails) is contained at credential containment's floor
  // (TOURNIQUET_CREDENTIAL_MIN_SEVERITY).
  double credential_min_severity = 5.0;
};

result<escalation_settings> escalation_settings_from_environment(const env_reader& env);

// What a person must do about one finding.
struct escalation_note {
  std::string
      family;  // "ecs-task", "eks-workload", "container", "rds", "backup-malware", "s3-object", "unknown"
  std::string resource;  // the task ARN, "cluster/namespace/workload", the database, the snapshot ARN…
  std::string summary;   // one sentence: what is compromised
  std::vector<std::string> steps;  // what to do, commands included
};

// Pure: the note for `finding`; `incident_id` names the quarantine label and the NetworkPolicy.
escalation_note escalation_for(const guardduty_finding& finding, std::string_view incident_id);

// Whether the finding's resource is one of the families only a person can contain (not instances, access
// keys, functions or buckets, which have playbooks of their own).
bool is_escalation_family(const guardduty_finding& finding);

// Last in the list: it takes its families, and any finding no playbook before it took or looked at (a
// resource type added after this was written, or one whose playbook is not in this build).
result<std::unique_ptr<const playbook>> make_escalation(const env_reader& env);

}  // namespace tq::handlers
