// Reading configuration from environment variables through one seam, so tests can hand in their own
// variables without touching the process environment.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace tq {

// Answers the value of a variable, or nullopt when it is unset. An empty value counts as unset.
using env_reader = std::function<std::optional<std::string>(std::string_view name)>;

env_reader process_environment();
env_reader fixed_environment(std::map<std::string, std::string, std::less<>> variables);

}  // namespace tq
