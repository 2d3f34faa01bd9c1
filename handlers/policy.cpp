#include "handlers/policy.h"

#include <array>
#include <set>

#include "handlers/action.h"
#include "handlers/config.h"

namespace tq::handlers {

namespace {

bool turned_on(const action_kind& kind, const env_reader& env) {
  if (kind.enabled_by.empty()) return true;
  // Set to anything but a false word is on (a topic ARN, a group name); unset is the option's default.
  const auto value = env(kind.enabled_by);
  const auto as_bool = parse_bool(env, kind.enabled_by, true);
  return value ? !(as_bool.ok() && !*as_bool) : kind.on_by_default;
}

// "write-evidence" -> "TourniquetWriteEvidence": a statement id (alphanumeric).
std::string statement_id(std::string_view name) {
  std::string id = "Tourniquet";
  bool upper = true;
  for (char c : name) {
    if (c == '-') {
      upper = true;
      continue;
    }
    id.push_back(upper && c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c);
    upper = false;
  }
  return id;
}

// A permission allowed only under a StringEquals condition, in a statement of its own.
struct conditioned_permission {
  std::string_view permission;
  std::string_view sid;
  std::string_view key;
  std::string_view value;
};

// Passing a role is needed for one thing: giving a released instance its profile back, which passes the
// profile's role to EC2. Unconditioned, the role's holder could pass any role to any service.
constexpr std::array<conditioned_permission, 1> conditioned_permissions{
    {{"iam:PassRole", "TourniquetPassRoleToEc2", "iam:PassedToService", "ec2.amazonaws.com"}}};

const conditioned_permission* condition_of(std::string_view permission) {
  for (const auto& c : conditioned_permissions) {
    if (c.permission == permission) return &c;
  }
  return nullptr;
}

// Every permission of the kinds on "*" that `env` turns on, sorted and without repeats.
std::set<std::string> permissions_on_everything(const env_reader& env) {
  std::set<std::string> all;
  for (const action_kind* kind : declared_actions()) {
    if (kind->resources != nullptr || !turned_on(*kind, env)) continue;
    for (auto permission : kind->permissions) all.emplace(permission);
  }
  return all;
}

}  // namespace

std::vector<std::string> declared_permissions(const env_reader& env) {
  std::vector<std::string> unconditioned;
  for (const auto& permission : permissions_on_everything(env)) {
    if (condition_of(permission) == nullptr) unconditioned.push_back(permission);
  }
  return unconditioned;
}

nlohmann::ordered_json policy_document(const config& cfg, const env_reader& env) {
  nlohmann::ordered_json policy;
  policy["Version"] = "2012-10-17";
  policy["Statement"] = nlohmann::ordered_json::array();
  policy["Statement"].push_back({{"Sid", "TourniquetPlaybooks"},
                                 {"Effect", "Allow"},
                                 {"Action", declared_permissions(env)},
                                 {"Resource", "*"}});
  for (const auto& permission : permissions_on_everything(env)) {
    const conditioned_permission* c = condition_of(permission);
    if (c == nullptr) continue;
    policy["Statement"].push_back({{"Sid", c->sid},
                                   {"Effect", "Allow"},
                                   {"Action", c->permission},
                                   {"Resource", "*"},
                                   {"Condition", {{"StringEquals", {{c->key, c->value}}}}}});
  }
  for (const action_kind* kind : declared_actions()) {
    if (kind->resources == nullptr || !turned_on(*kind, env)) continue;
    const std::vector<std::string> resources = kind->resources(env);
    if (resources.empty()) continue;
    policy["Statement"].push_back(
        {{"Sid", statement_id(kind->name)},
         {"Effect", "Allow"},
         {"Action", std::vector<std::string>(kind->permissions.begin(), kind->permissions.end())},
         {"Resource", resources}});
  }
  if (!cfg.member_role_name.empty()) {
    policy["Statement"].push_back({{"Sid", "TourniquetMemberAccounts"},
                                   {"Effect", "Allow"},
                                   {"Action", "sts:AssumeRole"},
                                   {"Resource", "arn:aws:iam::*:role/" + cfg.member_role_name}});
  }
  return policy;
}

}  // namespace tq::handlers
