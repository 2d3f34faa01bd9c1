#include "handlers/responder.h"

#include <algorithm>

#include "handlers/instance_containment.h"
#include "handlers/network_block.h"
#include "handlers/passes.h"
#include "handlers/playbook.h"
#include "handlers/router.h"
#include "runtime/log.h"

namespace tq::handlers {
namespace {

// arn:aws:lambda:us-east-1:123456789012:function:tourniquet -> 123456789012
std::string account_of_arn(std::string_view arn) {
  size_t start = 0;
  for (int field = 0; field < 4; ++field) {
    start = arn.find(':', start);
    if (start == std::string_view::npos) return {};
    ++start;
  }
  const size_t end = arn.find(':', start);
  return std::string(arn.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
}

}  // namespace

result<std::shared_ptr<responder>> responder::from_environment(const env_reader& env,
                                                               const handler_options& options) {
  auto cfg = config_from_environment(env);
  if (!cfg) return std::move(cfg).err();
  if (options.force_dry_run) cfg->dry_run = true;
  // The credential and exposure playbooks' own settings
  auto credential = credential_settings_from_environment(env);
  if (!credential) return std::move(credential).err();
  auto exposure = exposure_settings_from_environment(env);
  if (!exposure) return std::move(exposure).err();
  auto block_settings = network_block_settings_from_environment(env);  // network-block
  if (!block_settings) return std::move(block_settings).err();
  auto settings = aws::client_settings_from_environment(env);
  if (!settings) return std::move(settings).err();
  auto creds = aws::credentials_from_environment(env);
  if (!creds) return std::move(creds).err();
  aws::transport_options transport;
  transport.ca_bundle = aws::find_ca_bundle(env);
  aws::client base(aws::make_curl_transport(transport),
                   std::make_shared<aws::client_settings>(std::move(*settings)), std::move(*creds));
  auto observability = observability_settings_from_environment(env);
  if (!observability) return std::move(observability).err();
  std::shared_ptr<responder> r(new responder(std::move(*cfg), std::move(base)));
  r->m_block_settings = std::move(*block_settings);  // network-block
  r->m_credentials = std::move(*credential);
  r->m_exposure = std::move(*exposure);
  r->m_observer = observer(std::move(*observability));
  return r;
}

result<std::string> responder::own_account(const invocation_context& context, aws::deadline until) {
  if (!m_config.account_id.empty()) return m_config.account_id;
  if (std::string from_arn = account_of_arn(context.function_arn); !from_arn.empty()) return from_arn;
  if (m_own_account) return *m_own_account;
  // sts:GetCallerIdentity needs no permission (AWS answers it for any principal), so it is declared nowhere.
  auto who = m_base.call({aws::service::sts, "GetCallerIdentity", {}}, until);
  if (!who) return std::move(who).err().within("finding the function's own account");
  m_own_account = aws::text_of(who->result(), "Account");
  return *m_own_account;
}

result<aws::client> responder::client_for(const std::string& account, const invocation_context& context,
                                          aws::deadline until) {
  auto own = own_account(context, until);
  if (!own) return std::move(own).err();
  if (account.empty() || account == *own) return m_base;
  if (m_config.member_role_name.empty()) {
    return error{"CrossAccountNotConfigured",
                 "the event is about account " + account + ", not this function's account " + *own +
                     ", and TOURNIQUET_MEMBER_ROLE_NAME is not set",
                 "TOURNIQUET_MEMBER_ROLE_NAME"};
  }
  const std::string role_arn = "arn:" + aws::partition_of(m_base.settings().region).name +
                               ":iam::" + account + ":role/" + m_config.member_role_name;
  return m_sessions.client_for(m_base, role_arn, until);
}

playbook_report responder::run_playbook(playbook_id id, const guardduty_finding& finding,
                                        const invocation_context& context,
                                        std::chrono::steady_clock::time_point arrived) {
  const aws::deadline until = aws::deadline_from(context.deadline);
  auto client = client_for(finding.account_id, context, until);  // inside the pass: a pass may get it later
  if (!client) return could_not_start(std::string(playbook_name(id)), finding.id, std::move(client).err());
  playbook_context ctx{
      *client, m_config, until, m_config.dry_run, arrived, finding.account_id, m_own_account.value_or("")};
  switch (id) {
    case playbook_id::instance_containment: {
      const instance_finding target{finding.id, finding.type, finding.account_id,
                                    finding.instance->instance_id};
      log::set_context("incidentId", incident_id_for(target.account_id, target.finding_id));
      return contain_instance(target, ctx.client, m_config, until, ctx.dry_run, arrived);
    }
    case playbook_id::credential_containment: {
      const access_key_target target = target_from_finding(finding);
      log::set_context("incidentId", incident_id_for(target.account_id, target.source_id));
      return contain_credentials(target, ctx, m_credentials);
    }
    case playbook_id::network_block: {
      const block_target target = block_target_of(finding);
      log::set_context("incidentId", target.incident_id);
      return block_addresses(target, ctx, m_block_settings);
    }
    default:
      return concluded(std::string(playbook_name(id)), "failed", finding.id,
                       "this playbook is not built yet");
  }
}

std::vector<playbook_report> responder::run(const decoded_event& event, const invocation_context& context,
                                            std::chrono::steady_clock::time_point arrived) {
  const aws::deadline until = aws::deadline_from(context.deadline);
  std::vector<playbook_report> reports;

  if (const auto* finding = std::get_if<guardduty_finding>(&event)) {
    log::set_context("findingId", finding->id);
    const routing r = route_finding(*finding, m_config, m_block_settings);
    if (r.playbooks.empty()) {
      std::string why;
      for (const auto& reason : r.ignored_because) why += (why.empty() ? "" : "; ") + reason;
      reports.push_back(ignored("router", finding->id, why));
      return reports;
    }
    for (playbook_id id : r.playbooks) {
      log::set_context("playbook", std::string(playbook_name(id)));
      reports.push_back(with_passes([&] { return run_playbook(id, *finding, context, arrived); }, until));
    }
    return reports;
  }
  // CloudTrail records, from EventBridge (one) or a CloudWatch Logs subscription (a batch).
  const auto* trail = std::get_if<cloudtrail_event>(&event);
  const auto* batch = std::get_if<cloudwatch_logs_batch>(&event);
  if (trail != nullptr || batch != nullptr) {
    const auto records = trail != nullptr ? std::span(trail, 1) : std::span(batch->records);
    log::set_context("playbook", std::string(exposure_playbook));
    const exposure_invocation inv{
        m_config, until, m_config.dry_run, arrived,
        [&](const std::string& account) { return client_for(account, context, until); }};
    return with_passes_all([&] { return fix_exposures(records, inv, m_exposure, m_credentials); }, until);
  }
  // network-block: a "Block Addresses" request from another detector, in the account it names.
  if (const auto* request = std::get_if<block_request>(&event)) {
    const block_target target = block_target_of(*request);
    log::set_context("playbook", std::string(network_block_playbook));
    log::set_context("incidentId", target.incident_id);
    reports.push_back(with_passes(
        [&] {
          auto client = client_for(target.account_id, context, until);
          if (!client)
            return could_not_start(std::string(network_block_playbook), target.incident_id,
                                   std::move(client).err());
          playbook_context ctx{*client,
                               m_config,
                               until,
                               m_config.dry_run,
                               arrived,
                               target.account_id,
                               m_own_account.value_or("")};
          return block_addresses(target, ctx, m_block_settings);
        },
        until));
    return reports;
  }
  // block-expiry: the schedule sweeps this account and the member accounts listed for it.
  if (const auto* schedule = std::get_if<scheduled_event>(&event)) {
    log::set_context("playbook", std::string(block_expiry_playbook));
    std::vector<std::string> accounts{schedule->envelope.account};
    for (const auto& a : m_block_settings.expiry_accounts) {
      if (std::find(accounts.begin(), accounts.end(), a) == accounts.end()) accounts.push_back(a);
    }
    for (const auto& account : accounts) {
      reports.push_back(with_passes(
          [&] {
            auto client = client_for(account, context, until);
            if (!client)
              return could_not_start(std::string(block_expiry_playbook), account, std::move(client).err());
            playbook_context ctx{
                *client, m_config, until, m_config.dry_run, arrived, account, m_own_account.value_or("")};
            return expire_blocks(ctx);
          },
          until));
    }
    return reports;
  }
  std::string what(kind_name(event));
  if (const auto* unknown = std::get_if<unknown_event>(&event)) {
    what += " (" + unknown->envelope.source + " / " + unknown->envelope.detail_type + ")";
  }
  reports.push_back(ignored("router", "", "no playbook handles " + what));
  return reports;
}

invocation_response responder::handle(std::string_view text, const invocation_context& context) {
  const auto arrived = std::chrono::steady_clock::now();
  m_observer.invocation_started(m_base);
  log::debug("event", {{"payload", std::string(text)}});
  auto event = decode_event(text);
  if (!event) {
    log::warn("event refused", {{"error", event.err().describe()}});
    return invocation_response::failure(invalid_event_error, event.err().describe());
  }

  const std::vector<playbook_report> reports = run(*event, context, arrived);
  nlohmann::ordered_json response;
  bool incomplete = false;
  std::string summary;
  for (const auto& r : reports) {
    incomplete |= r.incomplete();
    // The error message says what was and was not done, action by action
    summary += (summary.empty() ? "" : "; ") + outcome_summary(r);
    log::info("playbook finished", {{"playbook", r.playbook},
                                    {"target", r.target},
                                    {"status", r.status},
                                    {"report", r.to_json().dump()}});
  }
  // Notifications and metrics; a notification that failed is reported, never fatal
  const auto notifications = m_observer.invocation_finished(
      *event, reports, context, m_base, aws::deadline_from(context.deadline), m_config.dry_run);
  response["status"] = reports.size() == 1 ? reports.front().status : (incomplete ? "incomplete" : "done");
  response["dryRun"] = m_config.dry_run;
  response["reports"] = nlohmann::ordered_json::array();
  for (const auto& r : reports) response["reports"].push_back(r.to_json());
  for (const auto& n : notifications) response["notifications"].push_back(to_json(n));
  if (incomplete) {
    // The report went to the log above; the error tells Lambda to retry, which converges (replays are safe).
    return invocation_response::failure(containment_incomplete_error, "containment incomplete: " + summary);
  }
  return invocation_response::ok(response.dump());
}

std::vector<playbook_report> responder::with_passes_all(
    const std::function<std::vector<playbook_report>()>& pass, aws::deadline until) const {
  pass_policy policy;
  policy.max_passes = m_config.dry_run ? 1 : m_config.max_passes;  // a dry run changes nothing to retry
  const aws::client_settings& settings = m_base.settings();
  policy.pause = [&settings](int n) {
    return aws::backoff_delay(settings.retry, n - 1, settings.unit_random);
  };
  policy.unanswered = [this] { return m_base.statistics().unanswered; };  // shared by the member-role clients
  policy.landing_horizon = settings.retry.attempt_timeout;
  return run_in_passes(pass, until, policy);
}

playbook_report responder::with_passes(const std::function<playbook_report()>& pass,
                                       aws::deadline until) const {
  auto reports = with_passes_all([&] { return std::vector<playbook_report>{pass()}; }, until);
  return std::move(reports.front());
}

playbook_report responder::release(const std::string& instance_id, aws::deadline until) {
  return release_instance(instance_id, m_base, m_config, until, m_config.dry_run);
}

}  // namespace tq::handlers
