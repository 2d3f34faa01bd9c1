// Tourniquet's configuration, read from environment variables once at start-up and checked there: a bad
// value is an init error that names the variable. The README's configuration table lists every variable.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "aws/query.h"
#include "runtime/environment.h"
#include "runtime/result.h"

namespace tq::handlers {

// The default EC2 finding types that isolate an instance: the families whose presence means the
// instance itself is compromised.
std::vector<std::string> default_instance_finding_types();

// The default access-key finding types that contain credentials: a key used from where or how it should not
// be.
std::vector<std::string> default_credential_finding_types();

struct config {
  bool dry_run = false;                     // TOURNIQUET_DRY_RUN
  std::optional<aws::tag> exempt_tag;       // TOURNIQUET_EXEMPT_TAG=key=value
  std::set<std::string> exempt_instances;   // TOURNIQUET_EXEMPT_INSTANCES=i-1,i-2
  std::set<std::string> exempt_principals;  // TOURNIQUET_EXEMPT_PRINCIPALS=user names, role names or ARNs
  double min_severity = 7.0;                // TOURNIQUET_MIN_SEVERITY (High and above)
  // TOURNIQUET_INSTANCE_FINDING_TYPES and TOURNIQUET_CREDENTIAL_FINDING_TYPES; a trailing '*' ends a prefix.
  std::vector<std::string> instance_finding_types = default_instance_finding_types();
  std::vector<std::string> credential_finding_types = default_credential_finding_types();
  double credential_min_severity = 5.0;      // TOURNIQUET_CREDENTIAL_MIN_SEVERITY (Medium and above)
  std::vector<std::string> forensics_cidrs;  // TOURNIQUET_FORENSICS_CIDRS: ingress kept open for responders
  std::vector<std::string> isolation_group_ids;  // TOURNIQUET_ISOLATION_GROUP_IDS: use these, one per VPC
  bool snapshots = true;                         // TOURNIQUET_SNAPSHOTS
  bool detach_from_autoscaling = true;           // TOURNIQUET_DETACH_FROM_AUTOSCALING
  std::string member_role_name;                  // TOURNIQUET_MEMBER_ROLE_NAME: assumed in other accounts
  std::string account_id;                        // TOURNIQUET_ACCOUNT_ID: else taken from the function's ARN
  int max_passes = 3;  // TOURNIQUET_MAX_PASSES: runs of a playbook per invocation (1..10)
};

result<config> config_from_environment(const env_reader& env);

// "Backdoor:EC2/*" matches every Backdoor:EC2 type; a pattern without '*' must match exactly.
bool type_matches(const std::vector<std::string>& patterns, std::string_view type);

// Shared parsing helpers for the playbooks' own settings.
std::vector<std::string> split_list(std::string_view text);  // comma separated, blanks dropped
std::string join_list(const std::vector<std::string>& items, std::string_view separator = ",");
result<bool> parse_bool(const env_reader& env, std::string_view name, bool fallback);
result<double> parse_number(const env_reader& env, std::string_view name, double low, double high,
                            double fallback);

}  // namespace tq::handlers
