#include "aws/credentials.h"

namespace tq::aws {

result<credentials> credentials_from_environment(const env_reader& env) {
  credentials c;
  auto key = env("AWS_ACCESS_KEY_ID");
  auto secret = env("AWS_SECRET_ACCESS_KEY");
  if (!key || !secret) {
    return error{"MissingCredentials",
                 std::string("no AWS credentials: ") +
                     (!key ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY") + " is not set",
                 "environment"};
  }
  c.access_key_id = std::move(*key);
  c.secret_access_key = std::move(*secret);
  if (auto token = env("AWS_SESSION_TOKEN")) c.session_token = std::move(*token);
  return c;
}

}  // namespace tq::aws
