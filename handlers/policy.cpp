#include "handlers/policy.h"

#include <set>

#include "handlers/action.h"

namespace tq::handlers {

std::vector<std::string> declared_permissions() {
  std::set<std::string> all;
  for (const action_kind* kind : declared_actions()) {
    for (auto permission : kind->permissions) all.emplace(permission);
  }
  return {all.begin(), all.end()};
}

nlohmann::ordered_json policy_document(const config& cfg) {
  nlohmann::ordered_json policy;
  policy["Version"] = "2012-10-17";
  policy["Statement"] = nlohmann::ordered_json::array();
  policy["Statement"].push_back({{"Sid", "TourniquetPlaybooks"},
                                 {"Effect", "Allow"},
                                 {"Action", declared_permissions()},
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
