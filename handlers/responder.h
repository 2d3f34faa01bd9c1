// The responder: decodes an event, routes it over the playbook list, runs each job in its account (with
// passes, metrics and notifications wrapped around that one call) and turns the reports into the
// invocation's response. Built once per process, so a warm Lambda keeps its connections, its assumed-role
// credentials and its own identity between events.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "aws/client.h"
#include "aws/joined_transport.h"
#include "aws/regions.h"
#include "handlers/config.h"
#include "handlers/confirmation.h"
#include "handlers/entry.h"
#include "handlers/event.h"
#include "handlers/observability.h"
#include "handlers/playbook.h"
#include "handlers/report.h"
#include "handlers/securityhub_out.h"
#include "runtime/environment.h"
#include "runtime/invocation.h"

namespace tq::handlers {

// The jobs of an event to run (`to_run`), in lanes: each lane runs on a thread of its own, its jobs one after
// another (aws/joined_transport.h joins the lanes' batches level by level). The jobs of one playbook on one
// resource (one target in one account and region: two findings of a batch about the same instance) share a
// lane, so that a playbook never races itself. Different playbooks change different things of a resource
// (containment its interfaces, the block its subnets' ACLs), and each is already safe beside another
// invocation, since Lambda runs invocations at once.
std::vector<std::vector<std::size_t>> job_lanes(const std::vector<job>& jobs,
                                                const std::vector<bool>& to_run);

class responder {
 public:
  static result<std::shared_ptr<responder>> from_environment(const env_reader& env,
                                                             const handler_options& options);

  invocation_response handle(std::string_view event, const invocation_context& context);

  // `tourniquet release TARGET [--region R] [--account A]`: the playbook that contains such targets puts back
  // what it changed, in region R (default: the function's own) of account A (default: the function's own).
  playbook_report release(const std::string& target, aws::deadline until, const std::string& region = "",
                          const std::string& account = "");

  const config& configuration() const { return m_config; }
  const playbook_list& playbooks() const { return m_playbooks; }

 private:
  responder(config cfg, playbook_list playbooks, std::shared_ptr<aws::joined_transport> joint,
            aws::client base, observer watcher, env_reader env, bool securityhub_updates)
      : m_config(std::move(cfg)),
        m_playbooks(std::move(playbooks)),
        m_observer(std::move(watcher)),
        m_joint(std::move(joint)),
        m_base(std::move(base)),
        m_regions(std::move(env)),
        m_securityhub_updates(securityhub_updates) {}

  // The event's jobs, run together (aws/joined_transport.h): jobs about different resources each on a
  // thread of their own, their batches joined level by level; reports in the jobs' order.
  std::vector<playbook_report> run(const decoded_event& event, std::string_view text,
                                   const invocation_context& context,
                                   std::chrono::steady_clock::time_point arrived);
  // Each imported Security Hub finding run as its native event, or passed over saying why.
  std::vector<playbook_report> run_imported(const securityhub_event& event, std::string_view text,
                                            const invocation_context& context,
                                            std::chrono::steady_clock::time_point arrived);
  // One job, with its passes (on the job's own thread when it runs beside others).
  playbook_report run_with_passes(const job& work, std::string_view text, const invocation_context& context,
                                  std::chrono::steady_clock::time_point arrived,
                                  finding_confirmation* confirmation);
  // One pass of one job, in the job's account and region. `text` is the event as received.
  playbook_report run_job(const playbook& runner, const job& work, std::string_view text,
                          const invocation_context& context, std::chrono::steady_clock::time_point arrived,
                          finding_confirmation* confirmation);
  // The client for `account` in `region`: the function's own principal, or the member role assumed there
  // (sessions cached per account: they work in every region), acting in `region` ("" for the function's
  // own). The region is checked first (aws::check_region): a refused one sends nothing.
  result<aws::client> client_for(const std::string& account, const std::string& region,
                                 const invocation_context& context, aws::deadline until);
  result<std::string> own_account(const invocation_context& context, aws::deadline until);
  std::string known_own_account() const;  // m_own_account as learnt so far ("" when not)
  // A playbook AWS left incomplete runs again while the deadline allows (handlers/passes.h).
  playbook_report with_passes(const std::function<playbook_report()>& pass, aws::deadline until) const;

  config m_config;
  playbook_list m_playbooks;
  observer m_observer;  // metrics and incident notifications (TOURNIQUET_SNS_TOPIC_ARN)
  std::shared_ptr<aws::joined_transport> m_joint;  // m_base's transport: joins the batches of an event's jobs
  aws::client m_base;
  aws::role_sessions m_sessions;
  aws::regional_clients m_regions;     // settings per region, resolved once per process
  mutable std::mutex m_account_mutex;  // m_own_account, learnt by whichever job needs it first
  std::optional<std::string> m_own_account;
  bool m_securityhub_updates = false;       // TOURNIQUET_SECURITYHUB_UPDATES
  std::vector<finding_outcome> m_outcomes;  // this invocation's findings and their reports, for Security Hub
};

}  // namespace tq::handlers
