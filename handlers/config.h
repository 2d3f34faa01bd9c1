// Tourniquet's shared configuration (dry run, exemptions, accounts, passes), read from environment variables
// once at start-up and checked there: a bad value is an init error that names the variable. Each playbook
// reads its own settings beside its code. The README's configuration table lists every variable.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "aws/query.h"
#include "runtime/environment.h"
#include "runtime/result.h"

namespace tq::handlers {

struct config {
  bool dry_run = false;                     // TOURNIQUET_DRY_RUN
  std::optional<aws::tag> exempt_tag;       // TOURNIQUET_EXEMPT_TAG=key=value
  std::set<std::string> exempt_instances;   // TOURNIQUET_EXEMPT_INSTANCES=i-1,i-2
  std::set<std::string> exempt_principals;  // TOURNIQUET_EXEMPT_PRINCIPALS=user names, role names or ARNs
  std::string member_role_name;             // TOURNIQUET_MEMBER_ROLE_NAME: assumed in other accounts
  std::string account_id;                   // TOURNIQUET_ACCOUNT_ID: else taken from the function's ARN
  int max_passes = 3;  // TOURNIQUET_MAX_PASSES: runs of a playbook per invocation (1..10)
  bool confirm_findings =
      true;                 // TOURNIQUET_CONFIRM_FINDINGS: read each finding from GuardDuty before acting
  std::string home_region;  // AWS_REGION: where the function runs, and acts when an event names none
  std::vector<std::string>
      regions;  // TOURNIQUET_REGIONS: where it may act (empty: any region of its partition)
};

result<config> config_from_environment(const env_reader& env);

// "Backdoor:EC2/*" matches every Backdoor:EC2 type; a pattern without '*' must match exactly.
bool type_matches(const std::vector<std::string>& patterns, std::string_view type);

// Shared parsing helpers for the playbooks' own settings. A bad value is an error naming the variable.
error invalid_setting(std::string_view name, std::string message);
// A list of finding type patterns: '*' may only end one.
result<std::vector<std::string>> parse_type_patterns(const env_reader& env, std::string_view name,
                                                     std::vector<std::string> fallback);
// "10.0.0.0/8", "2001:db8::/32": an address, a slash and a prefix length (checked loosely).
bool looks_like_cidr(std::string_view text);
std::vector<std::string> split_list(std::string_view text);  // comma separated, blanks dropped
std::string join_list(const std::vector<std::string>& items, std::string_view separator = ",");
result<bool> parse_bool(const env_reader& env, std::string_view name, bool fallback);
result<double> parse_number(const env_reader& env, std::string_view name, double low, double high,
                            double fallback);

}  // namespace tq::handlers
