// The guardrail service control policy: valid policy JSON within the SCP size limit, each statement with
// the actions and condition keys it needs, and a bad setting answered with an error naming its variable.
#include "handlers/guardrails.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <string>
#include <string_view>

namespace tq::handlers {
namespace {

using json = nlohmann::ordered_json;
using variables = std::map<std::string, std::string, std::less<>>;

json policy_for(variables vars) {
  auto settings = guardrail_settings_from_environment(fixed_environment(std::move(vars)));
  EXPECT_TRUE(settings.ok()) << settings.err().describe();
  if (!settings) return {};
  auto policy = guardrail_policy(*settings);
  EXPECT_TRUE(policy.ok()) << policy.err().describe();
  return policy ? *policy : json{};
}

const variables everything = {
    {"TOURNIQUET_GUARDRAIL_EXEMPT_ROLES", "BreakGlass, arn:aws:iam::111122223333:role/admin/IncidentLead"},
    {"TOURNIQUET_MEMBER_ROLE_NAME", "tourniquet-member"},
    {"TOURNIQUET_EXEMPT_TAG", "security:exempt=true"}};

json statement(const json& policy, std::string_view sid) {
  for (const auto& s : policy["Statement"]) {
    if (s["Sid"] == sid) return s;
  }
  ADD_FAILURE() << "no statement " << sid;
  return json::object();
}

std::vector<std::string> strings(const json& value) {
  if (value.is_string()) return {value.get<std::string>()};
  return value.get<std::vector<std::string>>();
}

// IAM's wildcard match: '*' any run of characters, '?' one (glob matching, backtracking to the last '*').
bool iam_matches(std::string_view pattern, std::string_view value) {
  size_t p = 0;
  size_t v = 0;
  size_t star = std::string_view::npos;
  size_t resume = 0;
  while (v < value.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == value[v])) {
      ++p;
      ++v;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = v;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      v = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

bool covers(const json& s, const std::string& action) {
  const auto actions = strings(s["Action"]);
  return std::any_of(actions.begin(), actions.end(), [&](const auto& a) { return iam_matches(a, action); });
}

std::vector<std::string> excluded_principals(const json& s) {
  return strings(s["Condition"]["ArnNotLike"]["aws:PrincipalArn"]);
}

// The checks below lean on this matcher: it must refuse as well as accept.
TEST(guardrails, the_wildcard_matcher_matches_as_iam_does) {
  EXPECT_TRUE(iam_matches("lambda:Update*", "lambda:UpdateFunctionCode"));
  EXPECT_FALSE(iam_matches("lambda:Update*", "lambda:DeleteFunction"));
  EXPECT_TRUE(iam_matches("ec2:?reateTags", "ec2:CreateTags"));
  EXPECT_TRUE(iam_matches("a*b*c", "axxbyyc"));
  EXPECT_FALSE(iam_matches("a*b*c", "axxbyy"));
  EXPECT_FALSE(iam_matches("ec2:CreateTags", "ec2:CreateTagsX"));
}

TEST(guardrails, is_valid_policy_json_within_the_scp_limit) {
  const json policy = policy_for(everything);
  const std::string text = policy.dump();
  EXPECT_LE(text.size(), scp_character_limit);
  const json parsed = json::parse(text);
  EXPECT_EQ(parsed["Version"], "2012-10-17");
  ASSERT_TRUE(parsed["Statement"].is_array());
  std::vector<std::string> sids;
  for (const auto& s : parsed["Statement"]) {
    EXPECT_EQ(s["Effect"], "Deny");
    EXPECT_FALSE(s.contains("Principal")) << "a service control policy names no principal";
    EXPECT_TRUE(s.contains("Action") && s.contains("Resource") && s.contains("Condition")) << s.dump();
    sids.push_back(s["Sid"]);
  }
  std::sort(sids.begin(), sids.end());
  EXPECT_EQ(std::adjacent_find(sids.begin(), sids.end()), sids.end()) << "Sids are unique";
  EXPECT_EQ(sids.size(), 7u);
}

TEST(guardrails, tag_statement_denies_writing_tourniquet_and_exemption_tags) {
  const json s = statement(policy_for(everything), "TourniquetTags");
  for (const char* action : {"ec2:CreateTags", "ec2:DeleteTags", "iam:TagUser", "iam:UntagUser",
                             "iam:TagRole", "iam:UntagRole", "lambda:TagResource", "lambda:UntagResource"}) {
    EXPECT_TRUE(covers(s, action)) << action;
  }
  EXPECT_FALSE(covers(s, "ec2:DescribeTags"));
  EXPECT_EQ(s["Resource"], "*");
  const auto keys = strings(s["Condition"]["ForAnyValue:StringLike"]["aws:TagKeys"]);
  EXPECT_EQ(keys, (std::vector<std::string>{"tourniquet:*", "security:exempt"}));
  EXPECT_TRUE(iam_matches(keys[0], "tourniquet:status"));
  const json wholesale = statement(policy_for(everything), "TourniquetTagsDeleteAll");
  EXPECT_TRUE(covers(wholesale, "ec2:DeleteTags"));
  EXPECT_EQ(wholesale["Condition"]["Null"]["aws:TagKeys"], "true");
}

TEST(guardrails, group_statement_denies_rule_changes_on_tourniquet_groups) {
  const json s = statement(policy_for({}), "TourniquetGroupRules");
  for (const char* action : {"ec2:AuthorizeSecurityGroupIngress", "ec2:AuthorizeSecurityGroupEgress",
                             "ec2:RevokeSecurityGroupIngress", "ec2:RevokeSecurityGroupEgress",
                             "ec2:ModifySecurityGroupRules", "ec2:UpdateSecurityGroupRuleDescriptionsIngress",
                             "ec2:UpdateSecurityGroupRuleDescriptionsEgress", "ec2:DeleteSecurityGroup"}) {
    EXPECT_TRUE(covers(s, action)) << action;
  }
  EXPECT_EQ(s["Condition"]["Null"]["aws:ResourceTag/tourniquet:role"], "false");
}

TEST(guardrails, function_statements_deny_changes_and_invocations) {
  const json policy = policy_for(everything);
  const json change = statement(policy, "TourniquetFunction");
  for (const char* action : {"lambda:UpdateFunctionCode", "lambda:UpdateFunctionConfiguration",
                             "lambda:DeleteFunction", "lambda:PutFunctionConcurrency", "lambda:AddPermission",
                             "lambda:RemovePermission", "lambda:PutFunctionEventInvokeConfig",
                             "lambda:CreateFunctionUrlConfig", "lambda:DeleteFunctionConcurrency"}) {
    EXPECT_TRUE(covers(change, action)) << action;
  }
  EXPECT_FALSE(covers(change, "lambda:GetFunction"));
  EXPECT_FALSE(covers(change, "lambda:InvokeFunction")) << "invocations have their own statement";
  const json invoke = statement(policy, "TourniquetInvoke");
  for (const char* action : {"lambda:InvokeFunction", "lambda:InvokeAsync", "lambda:InvokeFunctionUrl"}) {
    EXPECT_TRUE(covers(invoke, action)) << action;
  }
  for (const json* s : {&change, &invoke}) {
    const auto resources = strings((*s)["Resource"]);
    EXPECT_TRUE(std::any_of(resources.begin(), resources.end(), [](const auto& r) {
      return iam_matches(r, "arn:aws:lambda:eu-west-1:123456789012:function:tourniquet");
    }));
    EXPECT_TRUE(std::any_of(resources.begin(), resources.end(), [](const auto& r) {
      return iam_matches(r, "arn:aws:lambda:eu-west-1:123456789012:function:tourniquet:live");
    }));
    EXPECT_FALSE(std::any_of(resources.begin(), resources.end(), [](const auto& r) {
      return iam_matches(r, "arn:aws:lambda:eu-west-1:123456789012:function:payments");
    }));
  }
}

TEST(guardrails, rule_statement_covers_the_rules_the_bus_and_their_targets) {
  const json s = statement(policy_for({}), "TourniquetRules");
  for (const char* action : {"events:PutRule", "events:DeleteRule", "events:DisableRule", "events:PutTargets",
                             "events:RemoveTargets", "events:PutPermission", "events:DeleteEventBus"}) {
    EXPECT_TRUE(covers(s, action)) << action;
  }
  const auto resources = strings(s["Resource"]);
  auto covered = [&](const std::string& arn) {
    return std::any_of(resources.begin(), resources.end(),
                       [&](const auto& r) { return iam_matches(r, arn); });
  };
  EXPECT_TRUE(covered("arn:aws:events:us-east-1:123456789012:rule/tourniquet-guardduty-findings"));
  EXPECT_TRUE(covered("arn:aws:events:us-east-1:123456789012:rule/tourniquet-block-requests/any-rule"));
  EXPECT_TRUE(covered("arn:aws:events:us-east-1:123456789012:event-bus/tourniquet-block-requests"));
  EXPECT_FALSE(covered("arn:aws:events:us-east-1:123456789012:rule/payments-nightly"));
}

TEST(guardrails, role_statement_protects_tourniquets_roles) {
  const json s = statement(policy_for(everything), "TourniquetRoles");
  for (const char* action : {"iam:PutRolePolicy", "iam:DeleteRolePolicy", "iam:AttachRolePolicy",
                             "iam:DetachRolePolicy", "iam:UpdateAssumeRolePolicy", "iam:DeleteRole",
                             "iam:PutRolePermissionsBoundary", "iam:CreateRole", "iam:PassRole"}) {
    EXPECT_TRUE(covers(s, action)) << action;
  }
  EXPECT_EQ(strings(s["Resource"]), (std::vector<std::string>{"arn:*:iam::*:role/tourniquet/*",
                                                              "arn:*:iam::*:role/tourniquet-member"}));
}

TEST(guardrails, only_tourniquet_and_break_glass_roles_are_excluded) {
  const json policy = policy_for(everything);
  const std::vector<std::string> break_glass = {"arn:*:iam::*:role/BreakGlass",
                                                "arn:aws:iam::111122223333:role/admin/IncidentLead"};
  const std::vector<std::string> tourniquet = {"arn:*:iam::*:role/tourniquet/*",
                                               "arn:*:iam::*:role/tourniquet-member"};
  std::vector<std::string> both = tourniquet;
  both.insert(both.end(), break_glass.begin(), break_glass.end());
  // Tourniquet tags and changes group rules, and its state machine invokes the function.
  for (const char* sid :
       {"TourniquetTags", "TourniquetTagsDeleteAll", "TourniquetGroupRules", "TourniquetInvoke"}) {
    EXPECT_EQ(excluded_principals(statement(policy, sid)), both) << sid;
  }
  // Tourniquet never changes itself: its own roles are not excluded there.
  for (const char* sid : {"TourniquetFunction", "TourniquetRules", "TourniquetRoles"}) {
    EXPECT_EQ(excluded_principals(statement(policy, sid)), break_glass) << sid;
  }
  EXPECT_TRUE(
      iam_matches(tourniquet[0], "arn:aws:iam::123456789012:role/tourniquet/prod-ResponderRole-1A2B3C"));
  EXPECT_FALSE(iam_matches(tourniquet[0], "arn:aws:iam::123456789012:role/tourniquet-impostor"));
}

TEST(guardrails, without_break_glass_roles_the_self_protection_denies_everyone) {
  const json s = statement(policy_for({}), "TourniquetFunction");
  EXPECT_FALSE(s.contains("Condition"));
  EXPECT_EQ(excluded_principals(statement(policy_for({}), "TourniquetTags")),
            (std::vector<std::string>{"arn:*:iam::*:role/tourniquet/*"}));
}

TEST(guardrails, names_follow_their_settings) {
  const json policy = policy_for({{"TOURNIQUET_FUNCTION_NAME", "responder"},
                                  {"TOURNIQUET_RULE_NAME_PREFIX", "ir-"},
                                  {"TOURNIQUET_BLOCK_BUS_NAME", "ir-blocks"},
                                  {"TOURNIQUET_ROLE_NAME", "ir/*"}});
  EXPECT_EQ(strings(statement(policy, "TourniquetInvoke")["Resource"])[0],
            "arn:*:lambda:*:*:function:responder");
  EXPECT_EQ(strings(statement(policy, "TourniquetRules")["Resource"]),
            (std::vector<std::string>{"arn:*:events:*:*:rule/ir-*", "arn:*:events:*:*:rule/ir-blocks/*",
                                      "arn:*:events:*:*:event-bus/ir-blocks"}));
  EXPECT_EQ(strings(statement(policy, "TourniquetRoles")["Resource"]),
            (std::vector<std::string>{"arn:*:iam::*:role/ir/*"}));
}

void expect_error_naming(variables vars, const std::string& variable) {
  auto settings = guardrail_settings_from_environment(fixed_environment(std::move(vars)));
  ASSERT_FALSE(settings.ok()) << variable;
  EXPECT_EQ(settings.err().where, variable);
  EXPECT_NE(settings.err().message.find(variable), std::string::npos) << settings.err().message;
}

TEST(guardrails, a_bad_setting_is_an_error_naming_its_variable) {
  expect_error_naming({{"TOURNIQUET_GUARDRAIL_EXEMPT_ROLES", "ops, arn:aws:s3:::bucket"}},
                      "TOURNIQUET_GUARDRAIL_EXEMPT_ROLES");
  expect_error_naming({{"TOURNIQUET_GUARDRAIL_EXEMPT_ROLES", "break glass"}},
                      "TOURNIQUET_GUARDRAIL_EXEMPT_ROLES");
  expect_error_naming({{"TOURNIQUET_ROLE_NAME", "/rooted"}}, "TOURNIQUET_ROLE_NAME");
  expect_error_naming({{"TOURNIQUET_MEMBER_ROLE_NAME", "member role"}}, "TOURNIQUET_MEMBER_ROLE_NAME");
  expect_error_naming({{"TOURNIQUET_FUNCTION_NAME", "tourniquet:*"}}, "TOURNIQUET_FUNCTION_NAME");
  expect_error_naming({{"TOURNIQUET_RULE_NAME_PREFIX", "a*"}}, "TOURNIQUET_RULE_NAME_PREFIX");
  expect_error_naming({{"TOURNIQUET_BLOCK_BUS_NAME", "bus name"}}, "TOURNIQUET_BLOCK_BUS_NAME");
  expect_error_naming({{"TOURNIQUET_EXEMPT_TAG", "no-value"}}, "TOURNIQUET_EXEMPT_TAG");
}

TEST(guardrails, a_policy_over_the_scp_limit_is_an_error) {
  std::string roles;
  for (int i = 0; i < 60; ++i)
    roles += "arn:aws:iam::111122223333:role/break-glass-" + std::to_string(i) + ",";
  auto settings =
      guardrail_settings_from_environment(fixed_environment({{"TOURNIQUET_GUARDRAIL_EXEMPT_ROLES", roles}}));
  ASSERT_TRUE(settings.ok()) << settings.err().describe();
  auto policy = guardrail_policy(*settings);
  ASSERT_FALSE(policy.ok());
  EXPECT_EQ(policy.err().where, "TOURNIQUET_GUARDRAIL_EXEMPT_ROLES");
  EXPECT_NE(policy.err().message.find("5120"), std::string::npos) << policy.err().message;
}

}  // namespace
}  // namespace tq::handlers
