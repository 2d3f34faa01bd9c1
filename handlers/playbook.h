// What every playbook is handed: a client acting in the account the event is about, the configuration,
// the invocation's deadline, whether this is a dry run, and when the event arrived (for timings).
#pragma once

#include <chrono>
#include <string>

#include "aws/client.h"
#include "handlers/config.h"

namespace tq::handlers {

struct playbook_context {
  const aws::client& client;
  const config& cfg;
  aws::deadline until;
  bool dry_run = false;
  std::chrono::steady_clock::time_point arrived;
  std::string account_id;      // the account acted in
  std::string own_account_id;  // the function's own account
};

}  // namespace tq::handlers
