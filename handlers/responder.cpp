#include "handlers/responder.h"

#include <algorithm>
#include <map>
#include <optional>
#include <utility>

#include "handlers/passes.h"
#include "handlers/playbook.h"
#include "handlers/securityhub_in.h"
#include "runtime/json_read.h"
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

// A job whose client could not be made. A region that is no region name comes from a forged event (AWS
// never sends one): reported as forged, like a finding GuardDuty does not know. A region Tourniquet may not
// act in is a person's to handle there. Anything else may succeed on another try.
playbook_report refused_start(std::string playbook, std::string target, error why) {
  if (why.code == aws::invalid_region_code) {
    playbook_report r = ignored(std::move(playbook), std::move(target), why.message);
    r.failure = std::move(why);
    r.forged = true;
    return r;
  }
  if (why.code == aws::region_not_allowed_code || why.code == aws::other_partition_code) {
    playbook_report r =
        concluded(std::move(playbook), report_status::escalate, std::move(target), why.message);
    r.failure = std::move(why);
    return r;
  }
  return could_not_start(std::move(playbook), std::move(target), std::move(why));
}

// A GuardDuty finding that no playbook may take, routed from its summary without decoding it whole: its
// outline (for the metrics) and its one ignored report, saying why as route_event would.
std::optional<std::pair<decoded_event, playbook_report>> ignored_early(const finding_summary& summary,
                                                                       const playbook_list& playbooks,
                                                                       const config& cfg) {
  auto routed = route_summary(playbooks, summary, cfg);
  if (!routed) return std::nullopt;
  auto report = passed_over_report(*routed, summary);
  if (!report) return std::nullopt;
  return std::pair{decoded_event(outline_of(summary)), std::move(*report)};
}

// A summarised finding is JSON within the size and depth caps already: parsed without checking them again
// (and without exceptions), then decoded.
result<decoded_event> decode_summarised(std::string_view text) {
  const auto document = json_read::parse_or_discarded(text);
  if (document.is_discarded()) return decode_event(text);  // the summary's scan and the parser disagree
  return decode_event_json(document);
}

// The ERROR line of a forged event (said once per event, by the thread that gathers the reports).
void say_forged(const playbook_report& report) {
  if (report.failure && report.failure->code == aws::invalid_region_code) {
    log::error("event names no AWS region",
               {{"playbook", report.playbook}, {"target", report.target}, {"reason", report.reason}});
  } else {
    // Whoever invoked the function with this finding could invoke it again: an incident in its own right.
    log::error("finding not confirmed by GuardDuty",
               {{"playbook", report.playbook}, {"target", report.target}, {"reason", report.reason}});
  }
}

struct gathered_reports {
  std::vector<playbook_report> reports;
  std::vector<std::size_t> items;  // the event item each report is about
};

// The reports of the jobs, in their order, once all have ended.
gathered_reports gathered(std::vector<std::optional<playbook_report>> done, const routing& routed) {
  gathered_reports out;
  const bool forged = std::any_of(done.begin(), done.end(), [](const auto& r) { return r && r->forged; });
  bool said = false;
  for (std::size_t i = 0; i < done.size(); ++i) {
    auto& report = done[i];
    if (!report && forged) continue;  // not run: the event is forged, and one report says so
    if (!report) {  // its thread stopped on an exception (logged): failed, so that Lambda tries again
      const job& work = routed.jobs[i];
      report = concluded(std::string(work.playbook), report_status::failed, work.target,
                         "the job stopped on an internal error");
    }
    // The other jobs of a forged event were refused for the same reason: one report, one ERROR line, one
    // metric and one notification say it once.
    if (report->forged && said) continue;
    if (report->forged) say_forged(*report);
    said |= report->forged;
    out.reports.push_back(std::move(*report));
    out.items.push_back(routed.jobs[i].item);
  }
  return out;
}

// Security Hub's word on a custom action's findings, applied before any job runs: a job whose finding it
// does not confirm gets its report now, and after the first forged one no job runs. The jobs still to run.
std::vector<bool> refuse_unconfirmed(const action_confirmation& checked, const std::vector<job>& jobs,
                                     std::vector<std::optional<playbook_report>>& done) {
  std::vector<bool> to_run(jobs.size(), true);
  bool forged = false;
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    if (forged) {
      to_run[i] = false;
    } else if (auto stop = unconfirmed_action(checked, jobs[i])) {
      forged = stop->forged;
      done[i] = std::move(*stop);
      to_run[i] = false;
    }
  }
  return to_run;
}

// The job's playbook and incident on every log line of its thread.
void name_in_log(const job& work) {
  log::set_context("playbook", std::string(work.playbook));
  if (!work.incident_id.empty()) log::set_context("incidentId", work.incident_id);
}

}  // namespace

std::vector<std::vector<std::size_t>> job_lanes(const std::vector<job>& jobs,
                                                const std::vector<bool>& to_run) {
  std::vector<std::vector<std::size_t>> lanes;
  std::map<std::string, std::size_t, std::less<>> lane_of;
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    if (!to_run[i]) continue;
    const job& work = jobs[i];
    if (work.target.empty()) {
      lanes.push_back({i});
      continue;
    }
    const auto [at, added] = lane_of.try_emplace(
        std::string(work.playbook) + '/' + work.account_id + '/' + work.region + '/' + work.target,
        lanes.size());
    if (added) lanes.emplace_back();
    lanes[at->second].push_back(i);
  }
  return lanes;
}

result<std::shared_ptr<responder>> responder::from_environment(const env_reader& env,
                                                               const handler_options& options) {
  auto cfg = config_from_environment(env);
  if (!cfg) return std::move(cfg).err();
  if (options.force_dry_run) cfg->dry_run = true;
  auto playbooks = make_playbooks(env);
  if (!playbooks) return std::move(playbooks).err();
  auto settings = aws::client_settings_from_environment(env);
  if (!settings) return std::move(settings).err();
  auto creds = aws::credentials_from_environment(env);
  if (!creds) return std::move(creds).err();
  auto observability = observability_settings_from_environment(env);
  if (!observability) return std::move(observability).err();
  auto securityhub_updates = securityhub_updates_from_environment(env);
  if (!securityhub_updates) return std::move(securityhub_updates).err();
  aws::transport_options transport;
  transport.ca_bundle = aws::find_ca_bundle(env);
  auto joint = std::make_shared<aws::joined_transport>(aws::make_curl_transport(transport));
  aws::client base(joint, std::make_shared<aws::client_settings>(std::move(*settings)), std::move(*creds));
  return std::shared_ptr<responder>(new responder(std::move(*cfg), std::move(*playbooks), std::move(joint),
                                                  std::move(base), observer(std::move(*observability)), env,
                                                  *securityhub_updates));
}

result<std::string> responder::own_account(const invocation_context& context, aws::deadline until) {
  if (!m_config.account_id.empty()) return m_config.account_id;
  if (std::string from_arn = account_of_arn(context.function_arn); !from_arn.empty()) return from_arn;
  if (std::string known = known_own_account(); !known.empty()) return known;
  // sts:GetCallerIdentity needs no permission (AWS answers it for any principal), so it is declared nowhere.
  // Asked without the lock held: a job waiting on a lock would hold back the batch (joined_transport.h).
  auto who = m_base.call({aws::service::sts, "GetCallerIdentity", {}}, until);
  if (!who) return std::move(who).err().within("finding the function's own account");
  std::lock_guard<std::mutex> lock(m_account_mutex);
  m_own_account = aws::text_of(who->result(), "Account");
  return *m_own_account;
}

std::string responder::known_own_account() const {
  std::lock_guard<std::mutex> lock(m_account_mutex);
  return m_own_account.value_or("");
}

result<aws::client> responder::client_for(const std::string& account, const std::string& region,
                                          const invocation_context& context, aws::deadline until) {
  const std::string& home = m_base.settings().region;
  // The function's own region is always allowed; any other is checked before anything is sent for it.
  if (!region.empty() && region != home) {
    if (auto allowed = aws::check_region(region, home, m_config.regions); !allowed)
      return std::move(allowed).err();
  }
  auto own = own_account(context, until);
  if (!own) return std::move(own).err();
  if (account.empty() || account == *own) return m_regions.in_region(m_base, region);
  if (m_config.member_role_name.empty()) {
    return error{"CrossAccountNotConfigured",
                 "the event is about account " + account + ", not this function's account " + *own +
                     ", and TOURNIQUET_MEMBER_ROLE_NAME is not set",
                 "TOURNIQUET_MEMBER_ROLE_NAME"};
  }
  const std::string role_arn = "arn:" + aws::partition_of(region.empty() ? home : region).name +
                               ":iam::" + account + ":role/" + m_config.member_role_name;
  auto member = m_sessions.client_for(m_base, role_arn, until);  // STS in the function's own region
  if (!member) return std::move(member).err();
  return m_regions.in_region(*member, region);
}

playbook_report responder::run_job(const playbook& runner, const job& work, std::string_view text,
                                   const invocation_context& context,
                                   std::chrono::steady_clock::time_point arrived,
                                   finding_confirmation* confirmation) {
  const aws::deadline until = aws::deadline_from(context.deadline);
  auto client = client_for(work.account_id, work.region, context, until);  // inside the pass: may come later
  playbook_report report;
  if (!client) {
    report = refused_start(std::string(runner.name()), work.target, std::move(client).err());
  } else {
    const std::string own = known_own_account();
    const std::string account = work.account_id.empty() ? own : work.account_id;
    playbook_context ctx{*client, m_config, until, m_config.dry_run || work.dry_run,
                         arrived, account,  own,   confirmation};
    ctx.event_text = text;
    ctx.function_arn = context.function_arn;
    ctx.own_client = &m_base;
    if (work.release) {  // an analyst's release (a Security Hub custom action): recorded as the action's
      ctx.caller_arn = work.decided_by;
      return runner.release(work.target, ctx);
    }
    report = runner.run(work, ctx);
  }
  return report;
}

std::vector<playbook_report> responder::run_imported(const securityhub_event& event, std::string_view text,
                                                     const invocation_context& context,
                                                     std::chrono::steady_clock::time_point arrived) {
  std::vector<playbook_report> reports;
  for (auto& finding : imported_as_native(event)) {
    if (auto* why = std::get_if<std::string>(&finding)) {
      reports.push_back(ignored(std::string(securityhub_playbook), "", std::move(*why)));
      continue;
    }
    for (auto& r :
         run(decoded_event{std::get<guardduty_finding>(std::move(finding))}, text, context, arrived))
      reports.push_back(std::move(r));
  }
  return reports;
}

playbook_report responder::run_with_passes(const job& work, std::string_view text,
                                           const invocation_context& context,
                                           std::chrono::steady_clock::time_point arrived,
                                           finding_confirmation* confirmation) {
  const playbook* runner = find_playbook(m_playbooks, work.playbook);
  name_in_log(work);
  if (runner == nullptr) {  // a route named a playbook not in the list: a bug, reported rather than hidden
    return concluded(std::string(work.playbook), report_status::failed, work.target,
                     "no playbook of that name is in the list");
  }
  return with_passes([&] { return run_job(*runner, work, text, context, arrived, confirmation); },
                     aws::deadline_from(context.deadline));
}

std::vector<playbook_report> responder::run(const decoded_event& event, std::string_view text,
                                            const invocation_context& context,
                                            std::chrono::steady_clock::time_point arrived) {
  if (const auto* hub = std::get_if<securityhub_event>(&event);
      hub && hub->kind == securityhub_kind::imported)
    return run_imported(*hub, text, context, arrived);
  const aws::deadline until = aws::deadline_from(context.deadline);
  const routing routed = route_event(m_playbooks, event, m_config);
  // One per invocation, so that the playbooks of one finding ask GuardDuty once between them.
  std::optional<finding_confirmation> confirmation;
  if (const auto* finding = std::get_if<guardduty_finding>(&event); finding && m_config.confirm_findings)
    confirmation.emplace(*finding);
  finding_confirmation* confirming = confirmation ? &*confirmation : nullptr;
  std::vector<std::optional<playbook_report>> done(routed.jobs.size());
  std::vector<bool> to_run(routed.jobs.size(), true);
  // A custom action's findings, with Security Hub where the analyst clicked (the action goes past the floors
  // GuardDuty's confirmation would re-apply): once for all its jobs, before any of them starts.
  if (const auto* hub = std::get_if<securityhub_event>(&event);
      hub && m_config.confirm_findings && !routed.jobs.empty()) {
    auto hub_client = client_for("", hub->envelope.region, context, until);
    const action_confirmation checked =
        hub_client ? judge_action_findings(
                         *hub, execute_plan(plan_action_confirmation(*hub), *hub_client, until, false))
                   : action_confirmation{{}, std::move(hub_client).err()};
    to_run = refuse_unconfirmed(checked, routed.jobs, done);
  }
  // Learnt before the jobs start, so that they do not each ask (a failure here comes back in their reports).
  if (routed.jobs.size() > 1) (void)own_account(context, until);

  std::vector<std::function<void()>> tasks;
  const log::context_fields invocation = log::current_context();
  for (const auto& lane : job_lanes(routed.jobs, to_run)) {
    tasks.emplace_back([&, lane] {
      log::adopt_context(invocation);  // a job's thread starts from the invocation's requestId
      for (const std::size_t i : lane) {
        try {
          done[i] = run_with_passes(routed.jobs[i], text, context, arrived, confirming);
        } catch (...) {  // reported as failed by gathered(); the others must not wait for its GetFindings
          if (confirming != nullptr) confirming->abandon_if_asking();
          throw;
        }
        if (done[i]->forged) break;  // the lane's other jobs are of the same forged finding
      }
    });
  }
  m_joint->run_together(tasks);                                 // one lane: on this thread, as it always ran
  if (routed.jobs.size() > 1) name_in_log(routed.jobs.back());  // as the jobs run one by one left it

  auto [reports, items] = gathered(std::move(done), routed);
  if (auto passed = passed_over_report(routed, event)) reports.push_back(std::move(*passed));
  for (auto& outcome : outcomes_of(event, reports, items)) m_outcomes.push_back(std::move(outcome));
  return std::move(reports);  // a structured binding is not moved from by itself
}

namespace {

// {"status":…,"dryRun":…,"reports":[…],…rest}, as nlohmann::ordered_json writes it, with each report's
// text (written for the log already) put in rather than written again.
std::string response_text(std::string_view status, bool dry_run, const std::vector<std::string>& reports,
                          const nlohmann::ordered_json& rest) {
  nlohmann::ordered_json head;
  head["status"] = status;
  head["dryRun"] = dry_run;
  std::string text = head.dump();
  text.pop_back();  // its closing brace
  text += ",\"reports\":[";
  for (size_t i = 0; i < reports.size(); ++i) {
    if (i > 0) text += ',';
    text += reports[i];
  }
  text += ']';
  if (rest.is_object() && !rest.empty()) {
    const std::string more = rest.dump();
    text.push_back(',');
    text.append(more, 1, more.size() - 2);  // its members, without the braces
  }
  text += '}';
  return text;
}

}  // namespace

invocation_response responder::handle(std::string_view text, const invocation_context& context) {
  const auto arrived = std::chrono::steady_clock::now();
  m_observer.invocation_started(m_base);
  if (log::enabled(log::level::debug)) log::debug("event", {{"payload", std::string(text)}});
  m_outcomes.clear();
  decoded_event event;
  std::vector<playbook_report> reports;
  long round_trips = 0;  // the event's, all its jobs together (each report counts its own)
  const auto first_look = summarize_finding(text);
  if (auto early = first_look ? ignored_early(*first_look, m_playbooks, m_config) : std::nullopt) {
    event = std::move(early->first);
    reports.push_back(std::move(early->second));
  } else {
    auto decoded = first_look ? decode_summarised(text) : decode_event(text);
    if (!decoded) {
      log::warn("event refused", {{"error", decoded.err().describe()}});
      return invocation_response::failure(invalid_event_error, decoded.err().describe());
    }
    event = std::move(*decoded);
    const long before = m_joint->round_trips();
    reports = run(event, text, context, arrived);
    round_trips = m_joint->round_trips() - before;
  }
  bool incomplete = false;
  std::string summary;
  std::vector<std::string> report_texts;  // written once, for the log and the response
  report_texts.reserve(reports.size());
  for (const auto& r : reports) {
    incomplete |= r.incomplete();
    // The error message says what was and was not done, action by action
    summary += (summary.empty() ? "" : "; ") + outcome_summary(r);
    report_texts.push_back(r.to_json_text());
    log::info(
        "playbook finished",
        {{"playbook", r.playbook}, {"target", r.target}, {"status", std::string(status_name(r.status))}},
        {{"report", report_texts.back()}});
  }
  // Notifications and metrics; a notification that failed is reported, never fatal
  const auto notifications = m_observer.invocation_finished(
      event, reports, context, m_base, aws::deadline_from(context.deadline), m_config.dry_run);
  const std::string_view status =
      reports.size() == 1 ? status_name(reports.front().status) : (incomplete ? "incomplete" : "done");
  nlohmann::ordered_json response;  // what follows the reports
  response["roundTrips"] = round_trips;
  for (const auto& n : notifications) response["notifications"].push_back(to_json(n));
  if (m_securityhub_updates && !m_config.dry_run) {
    // In the finding's region, as the function's own principal (a delegated administrator sees its members').
    const aws::deadline until = aws::deadline_from(context.deadline);
    const auto hub_client = [&](const std::string& region) { return client_for("", region, context, until); };
    for (const auto& u : update_findings(m_outcomes, hub_client, until))
      response["securityHubUpdates"].push_back(to_json(u));
  }
  if (incomplete) {
    // The report went to the log above; the error tells Lambda to retry, which converges (replays are safe).
    return invocation_response::failure(containment_incomplete_error, "containment incomplete: " + summary);
  }
  return invocation_response::ok(response_text(status, m_config.dry_run, report_texts, response));
}

playbook_report responder::with_passes(const std::function<playbook_report()>& pass,
                                       aws::deadline until) const {
  pass_policy policy;
  policy.max_passes = m_config.dry_run ? 1 : m_config.max_passes;  // a dry run changes nothing to retry
  const aws::client_settings& settings = m_base.settings();
  policy.pause = [&settings](int n) {
    return aws::backoff_delay(settings.retry, n - 1, settings.unit_random);
  };
  policy.unanswered = [this] { return m_base.statistics().unanswered; };  // shared by the member-role clients
  policy.landing_horizon = settings.retry.attempt_timeout;
  auto reports = run_in_passes(
      [&] {
        std::vector<playbook_report> one;  // not {pass()}: an initializer list is copied from
        one.push_back(pass());
        return one;
      },
      until, policy);
  return std::move(reports.front());
}

playbook_report responder::release(const std::string& target, aws::deadline until, const std::string& region,
                                   const std::string& account) {
  for (const auto& p : m_playbooks) {
    if (!p->releases(target)) continue;
    // A release is a person's decision that later deliveries of the finding must respect: whose it is goes on
    // record. sts:GetCallerIdentity needs no permission.
    auto who = m_base.call({aws::service::sts, "GetCallerIdentity", {}}, until);
    if (!who) {
      return concluded("release", report_status::failed, target,
                       "who releases could not be found: " + who.err().describe());
    }
    if (m_config.account_id.empty()) {
      std::lock_guard<std::mutex> lock(m_account_mutex);
      m_own_account = aws::text_of(who->result(), "Account");
    }
    auto client = client_for(account, region, invocation_context{}, until);
    if (!client) return refused_start("release", target, std::move(client).err());
    const std::string known = known_own_account();
    const std::string own = known.empty() ? m_config.account_id : known;
    playbook_context ctx{*client,
                         m_config,
                         until,
                         m_config.dry_run,
                         std::chrono::steady_clock::now(),
                         account.empty() ? own : account,
                         own};
    ctx.caller_arn = aws::text_of(who->result(), "Arn");
    return p->release(target, ctx);
  }
  return concluded(
      "release", report_status::failed, target,
      "no playbook releases '" + target +
          "': give an instance id (i-…), an access key id (AKIA…, ASIA…), a role ARN, a "
          "function name or ARN, "
          "a bucket (s3://BUCKET, arn:aws:s3:::BUCKET), or s3://* for the account's public access "
          "block");
}

}  // namespace tq::handlers
