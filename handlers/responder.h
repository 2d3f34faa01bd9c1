// The responder: decodes an event, routes it to its playbooks, runs them in the right account and turns
// their reports into the invocation's response. Built once per process, so a warm Lambda keeps its
// connections, its assumed-role credentials and its own identity between events.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "aws/client.h"
#include "handlers/config.h"
#include "handlers/credential_containment.h"
#include "handlers/entry.h"
#include "handlers/event.h"
#include "handlers/exposure_fix.h"
#include "handlers/network_block.h"
#include "handlers/observability.h"
#include "handlers/report.h"
#include "handlers/router.h"
#include "runtime/environment.h"
#include "runtime/invocation.h"

namespace tq::handlers {

class responder {
 public:
  static result<std::shared_ptr<responder>> from_environment(const env_reader& env,
                                                             const handler_options& options);

  invocation_response handle(std::string_view event, const invocation_context& context);

  // `tourniquet release INSTANCE_ID`
  playbook_report release(const std::string& instance_id, aws::deadline until);

  const config& configuration() const { return m_config; }

 private:
  responder(config cfg, aws::client base) : m_config(std::move(cfg)), m_base(std::move(base)) {}

  std::vector<playbook_report> run(const decoded_event& event, const invocation_context& context,
                                   std::chrono::steady_clock::time_point arrived);
  // One playbook for a finding, in the finding's account: one pass of it.
  playbook_report run_playbook(playbook_id id, const guardduty_finding& finding,
                               const invocation_context& context,
                               std::chrono::steady_clock::time_point arrived);
  // The client for `account`: the function's own, or the member role assumed there.
  result<aws::client> client_for(const std::string& account, const invocation_context& context,
                                 aws::deadline until);
  result<std::string> own_account(const invocation_context& context, aws::deadline until);
  // A playbook AWS left incomplete runs again while the deadline allows (handlers/passes.h).
  std::vector<playbook_report> with_passes_all(const std::function<std::vector<playbook_report>()>& pass,
                                               aws::deadline until) const;
  playbook_report with_passes(const std::function<playbook_report()>& pass, aws::deadline until) const;

  config m_config;
  credential_settings m_credentials;        // TOURNIQUET_REMOVE_CONSOLE_ACCESS, TOURNIQUET_QUARANTINE_GROUP
  exposure_settings m_exposure;             // TOURNIQUET_ADMIN_PORTS, TOURNIQUET_TRAIL_ADMINS
  network_block_settings m_block_settings;  // network-block and block-expiry
  observer m_observer{{}};                  // Metrics and incident notifications (TOURNIQUET_SNS_TOPIC_ARN)
  aws::client m_base;
  aws::role_sessions m_sessions;
  std::optional<std::string> m_own_account;
};

}  // namespace tq::handlers
