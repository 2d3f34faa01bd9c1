// AWS credentials: where they come from and how they are kept out of every log, response and error.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "runtime/environment.h"
#include "runtime/result.h"

namespace tq::aws {

struct credentials {
  std::string access_key_id;
  std::string secret_access_key;                                    // never logged, never put in an error
  std::string session_token;                                        // likewise
  std::optional<std::chrono::system_clock::time_point> expiration;  // for assumed roles
};

// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN, as Lambda sets them.
result<credentials> credentials_from_environment(const env_reader& env);

}  // namespace tq::aws
