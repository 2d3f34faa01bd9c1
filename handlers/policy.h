// The least-privilege IAM policy Tourniquet needs, generated from what each action declares next to its
// code (`declare_action`), so the deployed role never drifts from what the code does.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "handlers/config.h"
#include "runtime/environment.h"

namespace tq::handlers {

// Every IAM action the configuration uses, sorted and without repeats, in one Allow statement on "*"
// (optional actions only when `env` turns them on); a statement of its own for a permission allowed only
// under a condition (iam:PassRole, to EC2 alone) and for each kind limited to some resources (the evidence
// bucket's prefix); plus sts:AssumeRole on the member role when cross-account work
// is configured.
nlohmann::ordered_json policy_document(const config& cfg, const env_reader& env);
// The actions of the statement on "*": those of the kinds limited to some resources, and those allowed only
// under a condition, are not among them.
std::vector<std::string> declared_permissions(const env_reader& env);

}  // namespace tq::handlers
