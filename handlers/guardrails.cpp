#include "handlers/guardrails.h"

#include <algorithm>
#include <cctype>
#include <string_view>

#include "handlers/config.h"
#include "handlers/incident.h"

namespace tq::handlers {
namespace {

using json = nlohmann::ordered_json;

error invalid(std::string_view name, std::string message) {
  return error{"InvalidConfiguration", std::string(name) + ": " + std::move(message), std::string(name)};
}

bool only_characters(std::string_view text, std::string_view extra) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [extra](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || extra.find(c) != std::string_view::npos;
  });
}

// A role name (with its path, and '*' for a pattern) or a role ARN, as an aws:PrincipalArn pattern.
result<std::string> role_pattern(std::string_view variable, const std::string& role) {
  if (role.starts_with("arn:")) {
    if (role.find(":iam::") == std::string::npos || role.find(":role/") == std::string::npos) {
      return invalid(variable, "'" + role + "' is not a role ARN (arn:aws:iam::ACCOUNT:role/NAME)");
    }
    return role;
  }
  if (!only_characters(role, "+=,.@_-/*") || role.front() == '/') {
    return invalid(variable, "'" + role + "' is not a role name or ARN");
  }
  return "arn:*:iam::*:role/" + role;
}

result<std::string> name_setting(const env_reader& env, std::string_view variable, std::string fallback,
                                 std::string_view allowed_punctuation) {
  auto value = env(variable);
  if (!value) return fallback;
  if (!only_characters(*value, allowed_punctuation) || value->size() > 64) {
    return invalid(variable, "'" + *value + "' is not a valid name");
  }
  return *value;
}

json principal_not_like(const std::vector<std::string>& patterns) {
  if (patterns.empty()) return json::object();
  return {{"ArnNotLike", {{"aws:PrincipalArn", patterns}}}};
}

json deny(std::string_view sid, std::vector<std::string> actions, json resources, json condition) {
  json statement = {{"Sid", sid}, {"Effect", "Deny"}, {"Action", std::move(actions)}};
  statement["Resource"] = std::move(resources);
  if (!condition.empty()) statement["Condition"] = std::move(condition);
  return statement;
}

std::vector<std::string> joined(std::vector<std::string> first, const std::vector<std::string>& second) {
  first.insert(first.end(), second.begin(), second.end());
  return first;
}

// Tourniquet's tags record incidents and find its groups, and the exemption tag turns it away: only
// Tourniquet and the break-glass roles may write them. A DeleteTags naming no key deletes every tag.
void add_tag_statements(json& statements, const guardrail_settings& s, const json& not_tourniquet) {
  std::vector<std::string> keys = {std::string(tag_prefix) + "*"};
  if (s.exempt_tag_key) keys.push_back(*s.exempt_tag_key);
  json condition = not_tourniquet;
  condition["ForAnyValue:StringLike"] = {{"aws:TagKeys", keys}};
  statements.push_back(deny(
      "TourniquetTags",
      {"ec2:CreateTags", "ec2:DeleteTags", "iam:TagUser", "iam:UntagUser", "iam:TagRole", "iam:UntagRole",
       "lambda:TagResource", "lambda:UntagResource", "events:TagResource", "events:UntagResource"},
      "*", condition));
  json wholesale = not_tourniquet;
  wholesale["Null"] = {{"aws:TagKeys", "true"}};
  statements.push_back(deny("TourniquetTagsDeleteAll", {"ec2:DeleteTags"}, "*", wholesale));
}

void add_group_statement(json& statements, const json& not_tourniquet) {
  json condition = not_tourniquet;
  condition["Null"] = {{std::string("aws:ResourceTag/") + tag_role, "false"}};
  statements.push_back(deny("TourniquetGroupRules",
                            {"ec2:AuthorizeSecurityGroupIngress", "ec2:AuthorizeSecurityGroupEgress",
                             "ec2:RevokeSecurityGroupIngress", "ec2:RevokeSecurityGroupEgress",
                             "ec2:ModifySecurityGroupRules", "ec2:UpdateSecurityGroupRuleDescriptionsIngress",
                             "ec2:UpdateSecurityGroupRuleDescriptionsEgress", "ec2:DeleteSecurityGroup"},
                            "*", condition));
}

// EventBridge invokes the function as a service principal, which a service control policy never
// restricts; the state machine invokes it with its role, one of Tourniquet's.
void add_function_statements(json& statements, const guardrail_settings& s, const json& not_break_glass,
                             const json& not_tourniquet) {
  const std::string function = "arn:*:lambda:*:*:function:" + s.function_name;
  const json functions = {function, function + ":*"};
  statements.push_back(deny("TourniquetFunction",
                            {"lambda:Create*", "lambda:Update*", "lambda:Delete*", "lambda:Put*",
                             "lambda:AddPermission", "lambda:RemovePermission", "lambda:PublishVersion"},
                            functions, not_break_glass));
  statements.push_back(deny("TourniquetInvoke",
                            {"lambda:InvokeFunction", "lambda:InvokeAsync", "lambda:InvokeFunctionUrl"},
                            functions, not_tourniquet));
}

void add_rule_and_role_statements(json& statements, const guardrail_settings& s,
                                  const json& not_break_glass) {
  statements.push_back(deny(
      "TourniquetRules",
      {"events:PutRule", "events:DeleteRule", "events:DisableRule", "events:PutTargets",
       "events:RemoveTargets", "events:PutPermission", "events:RemovePermission", "events:UpdateEventBus",
       "events:DeleteEventBus"},
      {"arn:*:events:*:*:rule/" + s.rule_name_prefix + "*",
       "arn:*:events:*:*:rule/" + s.block_bus_name + "/*", "arn:*:events:*:*:event-bus/" + s.block_bus_name},
      not_break_glass));
  // CreateRole and PassRole too: a role made or passed under Tourniquet's name would be exempt.
  statements.push_back(deny(
      "TourniquetRoles",
      {"iam:PutRolePolicy", "iam:DeleteRolePolicy", "iam:AttachRolePolicy", "iam:DetachRolePolicy",
       "iam:UpdateAssumeRolePolicy", "iam:PutRolePermissionsBoundary", "iam:DeleteRolePermissionsBoundary",
       "iam:UpdateRole", "iam:DeleteRole", "iam:CreateRole", "iam:PassRole"},
      s.tourniquet_roles, not_break_glass));
}

}  // namespace

result<guardrail_settings> guardrail_settings_from_environment(const env_reader& env) {
  auto cfg = config_from_environment(env);
  if (!cfg) return std::move(cfg).err();
  guardrail_settings s;
  if (cfg->exempt_tag) s.exempt_tag_key = cfg->exempt_tag->key;
  for (const auto& role : split_list(env("TOURNIQUET_GUARDRAIL_EXEMPT_ROLES").value_or(""))) {
    auto pattern = role_pattern("TOURNIQUET_GUARDRAIL_EXEMPT_ROLES", role);
    if (!pattern) return std::move(pattern).err();
    s.break_glass_roles.push_back(std::move(*pattern));
  }
  auto own = role_pattern("TOURNIQUET_ROLE_NAME", env("TOURNIQUET_ROLE_NAME").value_or("tourniquet/*"));
  if (!own) return std::move(own).err();
  s.tourniquet_roles.push_back(std::move(*own));
  if (!cfg->member_role_name.empty()) {
    auto member = role_pattern("TOURNIQUET_MEMBER_ROLE_NAME", cfg->member_role_name);
    if (!member) return std::move(member).err();
    s.tourniquet_roles.push_back(std::move(*member));
  }
  auto function = name_setting(env, "TOURNIQUET_FUNCTION_NAME", s.function_name, "_-");
  if (!function) return std::move(function).err();
  s.function_name = std::move(*function);
  auto prefix = name_setting(env, "TOURNIQUET_RULE_NAME_PREFIX", s.rule_name_prefix, "._-");
  if (!prefix) return std::move(prefix).err();
  s.rule_name_prefix = std::move(*prefix);
  auto bus = name_setting(env, "TOURNIQUET_BLOCK_BUS_NAME", s.block_bus_name, "._-");
  if (!bus) return std::move(bus).err();
  s.block_bus_name = std::move(*bus);
  return s;
}

result<nlohmann::ordered_json> guardrail_policy(const guardrail_settings& settings) {
  const json not_tourniquet =
      principal_not_like(joined(settings.tourniquet_roles, settings.break_glass_roles));
  const json not_break_glass = principal_not_like(settings.break_glass_roles);
  json statements = json::array();
  add_tag_statements(statements, settings, not_tourniquet);
  add_group_statement(statements, not_tourniquet);
  add_function_statements(statements, settings, not_break_glass, not_tourniquet);
  add_rule_and_role_statements(statements, settings, not_break_glass);
  json policy = {{"Version", "2012-10-17"}, {"Statement", std::move(statements)}};
  if (const auto size = policy.dump().size(); size > scp_character_limit) {
    return invalid(
        "TOURNIQUET_GUARDRAIL_EXEMPT_ROLES",
        "the guardrail policy would be " + std::to_string(size) + " characters, over the " +
            std::to_string(scp_character_limit) +
            " a service control policy may hold: name fewer break-glass roles, or shorter patterns");
  }
  return policy;
}

}  // namespace tq::handlers
