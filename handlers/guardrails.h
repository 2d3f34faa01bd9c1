// The service control policy that keeps a responder from becoming a target: it denies everyone but
// Tourniquet's roles and the break-glass roles the changes that would blind, disarm or misuse Tourniquet
// (its tags, its groups' rules, its function, rules, event bus and roles). `tourniquet guardrails` prints it.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "runtime/environment.h"
#include "runtime/result.h"

namespace tq::handlers {

// A service control policy holds at most this many characters.
inline constexpr std::size_t scp_character_limit = 5120;

struct guardrail_settings {
  // TOURNIQUET_GUARDRAIL_EXEMPT_ROLES: break-glass roles, as aws:PrincipalArn patterns (a name becomes
  // arn:*:iam::*:role/NAME, so it matches in every account of the organization).
  std::vector<std::string> break_glass_roles;
  // TOURNIQUET_ROLE_NAME (default tourniquet/*: the template puts the function's and the state machine's
  // roles on the path /tourniquet/) and TOURNIQUET_MEMBER_ROLE_NAME, as aws:PrincipalArn patterns.
  std::vector<std::string> tourniquet_roles;
  std::string function_name = "tourniquet";                  // TOURNIQUET_FUNCTION_NAME
  std::string rule_name_prefix = "tourniquet-";              // TOURNIQUET_RULE_NAME_PREFIX
  std::string block_bus_name = "tourniquet-block-requests";  // TOURNIQUET_BLOCK_BUS_NAME
  std::optional<std::string> exempt_tag_key;                 // the key of TOURNIQUET_EXEMPT_TAG
};

result<guardrail_settings> guardrail_settings_from_environment(const env_reader& env);

// The policy, compact; an error when it would not fit in a service control policy.
result<nlohmann::ordered_json> guardrail_policy(const guardrail_settings& settings);

}  // namespace tq::handlers
