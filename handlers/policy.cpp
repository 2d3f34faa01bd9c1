#include "handlers/policy.h"

#include <set>

#include "handlers/action.h"

namespace tq::handlers {

std::vector<std::string> declared_permissions(const env_reader& env) {
  std::set<std::string> all;
  for (const action_kind* kind : declared_actions()) {
    if (!kind->enabled_by.empty()) {
      const auto value = env(kind->enabled_by);
      if (!value || *value == "false" || *value == "0") continue;
    }
    for (auto permission : kind->permissions) all.emplace(permission);
  }
  return {all.begin(), all.end()};
}

nlohmann::ordered_json policy_document(const config& cfg, const env_reader& env) {
  nlohmann::ordered_json policy;
  policy["Version"] = "2012-10-17";
  policy["Statement"] = nlohmann::ordered_json::array();
  policy["Statement"].push_back({{"Sid", "TourniquetPlaybooks"},
                                 {"Effect", "Allow"},
                                 {"Action", declared_permissions(env)},
                                 {"Resource", "*"}});
  if (!cfg.member_role_name.empty()) {
    policy["Statement"].push_back({{"Sid", "TourniquetMemberAccounts"},
                                   {"Effect", "Allow"},
                                   {"Action", "sts:AssumeRole"},
                                   {"Resource", "arn:aws:iam::*:role/" + cfg.member_role_name}});
  }
  return policy;
}

}  // namespace tq::handlers
