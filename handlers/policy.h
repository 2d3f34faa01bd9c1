// The least-privilege IAM policy Tourniquet needs, generated from what each action declares next to its
// code (`declare_action`), so the deployed role never drifts from what the code does.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "handlers/config.h"

namespace tq::handlers {

// Every declared IAM action, sorted and without repeats, in one Allow statement; plus sts:AssumeRole on the
// member role when cross-account work is configured.
nlohmann::ordered_json policy_document(const config& cfg);
std::vector<std::string> declared_permissions();

}  // namespace tq::handlers
