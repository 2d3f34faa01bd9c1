#include "handlers/playbooks/function_containment.h"

#include <algorithm>
#include <cctype>
#include <cstdio>

#include "handlers/confirmation.h"
#include "handlers/playbooks/credential_containment.h"
#include "runtime/log.h"

namespace tq::handlers {
namespace {

using aws::rest_json_call;
using aws::service;
using aws::uri_label;

const action_kind& read_function = declare_action(function_playbook, "read-function",
                                                  {"lambda:GetFunctionConcurrency", "lambda:GetFunction"});
const action_kind& list_functions =
    declare_action(function_playbook, "list-functions", {"lambda:ListFunctions"});
const action_kind& record_function =
    declare_action(function_playbook, "record-function", {"lambda:TagResource"});
const action_kind& stop_invocations =
    declare_action(function_playbook, "stop-invocations", {"lambda:PutFunctionConcurrency"});
const action_kind& restore_invocations =
    declare_action(function_playbook, "restore-invocations",
                   {"lambda:PutFunctionConcurrency", "lambda:DeleteFunctionConcurrency"});

constexpr std::string_view no_limit = "none";

std::string concurrency_path(std::string_view api_date, const std::string& name) {
  return "/" + std::string(api_date) + "/functions/" + uri_label(name) + "/concurrency";
}

std::string tag_value(const std::map<std::string, std::string>& tags, const char* key) {
  const auto found = tags.find(key);
  return found == tags.end() ? std::string() : found->second;
}

planned_call tag_call(const function_state& state, nlohmann::json tags, std::string detail,
                      std::vector<size_t> needs = {}) {
  rest_json_call call{service::lambda,
                      "TagResource",
                      "POST",
                      "/2017-03-31/tags/" + uri_label(state.function_arn),
                      {},
                      {{"Tags", std::move(tags)}}};
  return {&record_function, state.function_arn, std::move(call), std::move(detail), std::move(needs)};
}

planned_call put_concurrency(const std::string& name, long value, std::string detail) {
  rest_json_call call{service::lambda,
                      "PutFunctionConcurrency",
                      "PUT",
                      concurrency_path("2017-10-31", name),
                      {},
                      {{"ReservedConcurrentExecutions", value}}};
  return {value == 0 ? &stop_invocations : &restore_invocations, name, std::move(call), std::move(detail)};
}

std::string describe_concurrency(const std::optional<long>& reserved) {
  return reserved ? "reserved concurrency " + std::to_string(*reserved) : "no reserved concurrency";
}

// "sg-0123", "subnet-0a1b…": ids of other resources, which are valid function names too.
bool looks_like_resource_id(std::string_view text) {
  for (std::string_view prefix : {"i-", "sg-", "sgr-", "subnet-", "acl-", "vpc-", "eni-", "vol-", "snap-",
                                  "ami-", "igw-", "rtb-", "nat-"}) {
    if (!text.starts_with(prefix) || text.size() == prefix.size()) continue;
    const std::string_view rest = text.substr(prefix.size());
    if (std::all_of(rest.begin(), rest.end(),
                    [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; }))
      return true;
  }
  return false;
}

bool is_name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_';
}

}  // namespace

std::vector<std::string> default_function_finding_types() {
  return {"Backdoor:Lambda/*", "CryptoCurrency:Lambda/*", "Trojan:Lambda/*",   "UnauthorizedAccess:Lambda/*",
          "Impact:Lambda/*",   "Execution:Lambda/*",      "Discovery:Lambda/*"};
}

result<function_settings> function_settings_from_environment(const env_reader& env) {
  function_settings s;
  auto types =
      parse_type_patterns(env, "TOURNIQUET_FUNCTION_FINDING_TYPES", default_function_finding_types());
  if (!types) return std::move(types).err();
  s.finding_types = std::move(*types);
  auto severity = parse_number(env, "TOURNIQUET_FUNCTION_MIN_SEVERITY", 0.0, 10.0, s.min_severity);
  if (!severity) return std::move(severity).err();
  s.min_severity = *severity;
  auto shared = parse_bool(env, "TOURNIQUET_REVOKE_SHARED_FUNCTION_ROLE", false);
  if (!shared) return std::move(shared).err();
  s.revoke_shared_role = *shared;
  for (const char* name : {"AWS_LAMBDA_FUNCTION_NAME", "TOURNIQUET_FUNCTION_NAME"}) {
    if (auto own = env(name); own && !own->empty()) s.own_function_names.push_back(function_name_of(*own));
  }
  if (!env("TOURNIQUET_FUNCTION_NAME")) s.own_function_names.push_back("tourniquet");  // guardrails' default
  auto block = network_block_settings_from_environment(env);
  if (!block) return std::move(block).err();
  s.block = std::move(*block);
  return s;
}

std::string function_name_of(std::string_view text) {
  // arn:partition:lambda:region:account:function:NAME[:QUALIFIER]
  constexpr std::string_view marker = ":function:";
  if (text.starts_with("arn:")) {
    const size_t at = text.find(marker);
    if (at == std::string_view::npos || text.find(":lambda:") == std::string_view::npos) return {};
    text = text.substr(at + marker.size());
    text = text.substr(0, text.find(':'));
  } else if (looks_like_resource_id(text))
    return {};
  if (text.empty() || text.size() > 64 || !std::all_of(text.begin(), text.end(), is_name_char)) return {};
  return std::string(text);
}

function_finding function_target_of(const guardduty_finding& finding, const config& cfg) {
  function_finding f{finding.id, finding.type, finding.account_id, {}, false, finding.last_seen};
  if (const auto& lambda = finding.families.lambda) {
    f.function_name =
        function_name_of(lambda->function_name.empty() ? lambda->function_arn : lambda->function_name);
    if (cfg.exempt_tag) {
      const std::pair<std::string, std::string> exempt{cfg.exempt_tag->key, cfg.exempt_tag->value};
      f.exempt_in_finding = std::find(lambda->tags.begin(), lambda->tags.end(), exempt) != lambda->tags.end();
    }
  }
  return f;
}

std::optional<std::string> function_routing_refusal(const guardduty_finding& finding,
                                                    const function_settings& settings) {
  if (!type_matches(settings.finding_types, finding.type))
    return "type " + finding.type + " is not in TOURNIQUET_FUNCTION_FINDING_TYPES";
  if (finding.severity < settings.min_severity) {
    char severity[16];
    std::snprintf(severity, sizeof severity, "%.1f", finding.severity);
    return "severity " + std::string(severity) + " is under TOURNIQUET_FUNCTION_MIN_SEVERITY";
  }
  if (!finding.families.lambda) return "the finding names no function (no lambdaDetails)";
  if (function_target_of(finding, config{}).function_name.empty())
    return "the finding's lambdaDetails name no function";
  return std::nullopt;
}

std::vector<planned_call> plan_function_reads(const std::string& function_name) {
  rest_json_call concurrency{service::lambda, "GetFunctionConcurrency", "GET",
                             concurrency_path("2019-09-30", function_name)};
  rest_json_call function{service::lambda, "GetFunction", "GET",
                          "/2015-03-31/functions/" + uri_label(function_name)};
  return {{&read_function, function_name, std::move(concurrency)},
          {&read_function, function_name, std::move(function)}};
}

result<function_state> function_state_from_reads(const std::vector<planned_call>& reads,
                                                 const execution& run) {
  function_state state;
  for (size_t i = 0; i < reads.size(); ++i) {
    const action_record& record = run.records[i];
    if (!run.answers[i]) {
      if (record.failure && record.failure->code == "ResourceNotFoundException") {
        state.exists = false;
        continue;
      }
      if (record.failure) return *record.failure;
      return error{"ReadFailed", "no answer to " + aws::call_name(reads[i].call),
                   aws::call_name(reads[i].call)};
    }
    const nlohmann::json& body = run.answers[i]->json();
    const std::string& operation = std::get<rest_json_call>(reads[i].call).operation;
    if (operation == "GetFunctionConcurrency") {
      const auto reserved = body.find("ReservedConcurrentExecutions");
      if (reserved != body.end() && reserved->is_number_integer()) state.reserved = reserved->get<long>();
    } else {
      const nlohmann::json configuration = body.value("Configuration", nlohmann::json::object());
      state.function_arn = configuration.value("FunctionArn", "");
      state.role_arn = configuration.value("Role", "");
      const nlohmann::json vpc = configuration.value("VpcConfig", nlohmann::json::object());
      if (vpc.is_object()) state.subnet_ids = vpc.value("SubnetIds", std::vector<std::string>{});
      const nlohmann::json tags = body.value("Tags", nlohmann::json::object());
      for (const auto& [key, value] : tags.items()) {
        if (value.is_string()) state.tags[key] = value.get<std::string>();
      }
    }
  }
  if (state.exists && state.function_arn.empty())
    return error{"ReadFailed", "lambda:GetFunction named no function ARN", "lambda:GetFunction"};
  return state;
}

planned_call list_functions_call(const std::string& marker) {
  rest_json_call call{
      service::lambda, "ListFunctions", "GET", "/2015-03-31/functions/", {{"MaxItems", "50"}}};
  if (!marker.empty()) call.query.push_back({"Marker", marker});
  return {&list_functions, "functions", std::move(call)};
}

void count_role_users(const nlohmann::json& page, const std::string& role_arn, const std::string& self_arn,
                      role_usage& usage) {
  ++usage.pages;
  usage.next_marker = page.value("NextMarker", "");
  const auto functions = page.find("Functions");
  if (functions == page.end() || !functions->is_array()) return;
  for (const auto& f : *functions) {
    if (!f.is_object() || f.value("Role", "") != role_arn) continue;
    const std::string arn = f.value("FunctionArn", "");
    if (arn != self_arn) usage.others.push_back(f.value("FunctionName", arn));
  }
}

operator_decision decision_of(const function_state& state) {
  operator_decision decision;
  decision.contained_at = tag_value(state.tags, tag_contained_at);
  const std::string status = tag_value(state.tags, tag_status);
  if (status == "released") {
    decision.released_at = tag_value(state.tags, tag_released_at);
    decision.released_by = tag_value(state.tags, tag_released_by);
    return decision;
  }
  decision.undone_by_hand = status == "contained" && state.reserved != 0L;
  return decision;
}

std::vector<planned_call> plan_function_containment(const function_finding& finding,
                                                    const function_state& state, std::string_view incident_id,
                                                    std::string_view now_rfc3339,
                                                    std::vector<action_record>& already) {
  std::vector<planned_call> plan;
  const bool released = tag_value(state.tags, tag_status) == "released";
  // The first record stands until a release: a later delivery finds 0, which is Tourniquet's own doing.
  std::string prior = released ? std::string() : tag_value(state.tags, tag_prior_concurrency);
  if (prior.empty()) prior = state.reserved ? std::to_string(*state.reserved) : std::string(no_limit);
  const nlohmann::json record{{tag_incident, std::string(incident_id)},
                              {tag_finding, finding.finding_id},
                              {tag_source_type, finding.finding_type},
                              {tag_prior_concurrency, prior}};
  const bool recorded = !released && tag_value(state.tags, tag_incident) == incident_id &&
                        tag_value(state.tags, tag_prior_concurrency) == prior;
  if (recorded) {
    already.push_back(
        already_record(record_function, state.function_arn, "recorded: prior concurrency " + prior));
  } else {
    plan.push_back(tag_call(state, record,
                            "record: prior concurrency " + prior + ", incident " + std::string(incident_id)));
  }
  // Beside the record, not after it: the function stops within two round trips of the event. Should the
  // record be lost while the stop lands, the status tag below writes it again, from this run's read.
  std::vector<size_t> stopped;
  if (state.reserved == 0L) {
    already.push_back(already_record(stop_invocations, finding.function_name, "reserved concurrency 0"));
  } else {
    stopped.push_back(plan.size());
    plan.push_back(put_concurrency(finding.function_name, 0, describe_concurrency(state.reserved) + " -> 0"));
  }
  if (tag_value(state.tags, tag_status) == "contained" && stopped.empty() && recorded) {
    already.push_back(already_record(record_function, state.function_arn, "contained"));
    return plan;
  }
  nlohmann::json status{{tag_status, "contained"}, {tag_contained_at, std::string(now_rfc3339)}};
  if (!recorded) status.update(record);
  plan.push_back(tag_call(state, std::move(status), "contained", stopped));
  return plan;
}

std::vector<planned_call> plan_function_release(const std::string& function_name, const function_state& state,
                                                std::string_view now_rfc3339, std::string_view released_by,
                                                std::vector<action_record>& already) {
  std::vector<planned_call> plan;
  std::vector<size_t> changes;
  const std::string prior = tag_value(state.tags, tag_prior_concurrency);
  char* end = nullptr;
  const long recorded = prior.empty() ? -1 : std::strtol(prior.c_str(), &end, 10);
  if (prior == no_limit) {
    if (!state.reserved) {
      already.push_back(already_record(restore_invocations, function_name, "no reserved concurrency"));
    } else {
      rest_json_call call{service::lambda, "DeleteFunctionConcurrency", "DELETE",
                          concurrency_path("2017-10-31", function_name)};
      changes.push_back(plan.size());
      plan.push_back({&restore_invocations, function_name, std::move(call),
                      describe_concurrency(state.reserved) + " -> no reserved concurrency (as recorded)"});
    }
  } else if (prior.empty() || recorded < 0 || *end != '\0') {
    already.push_back(unfinished_record(restore_invocations, function_name,
                                        "no readable record of the concurrency before containment ('" +
                                            prior + "'): left at " + describe_concurrency(state.reserved)));
    return plan;  // not marked released: the function is still held, and a person must say at what
  } else if (state.reserved == recorded) {
    already.push_back(already_record(restore_invocations, function_name, "reserved concurrency " + prior));
  } else {
    changes.push_back(plan.size());
    plan.push_back(put_concurrency(function_name, recorded,
                                   describe_concurrency(state.reserved) + " -> " + prior + " (as recorded)"));
  }
  if (tag_value(state.tags, tag_status) == "released") {
    already.push_back(already_record(record_function, state.function_arn, "released"));
    return plan;
  }
  nlohmann::json tags{{tag_status, "released"}, {tag_released_at, std::string(now_rfc3339)}};
  if (!released_by.empty()) tags[tag_released_by] = std::string(released_by);
  plan.push_back(tag_call(state, std::move(tags), "released", changes));
  return plan;
}

// --- Running it -----------------------------------------------------------------------------------------

namespace {

const action_kind& deny_role_sessions = declare_action(function_playbook, "deny-role-sessions",
                                                       {"iam:GetRole", "iam:PutRolePolicy", "iam:TagRole"});

playbook_report finish(playbook_report report, const playbook_context& ctx) {
  report.total_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - ctx.arrived)
          .count();
  return report;
}

playbook_report left_alone(const playbook_report& report, std::string reason, bool warn) {
  if (warn) log::warn("function containment skipped", {{"target", report.target}, {"reason", reason}});
  playbook_report r = ignored(report.playbook, report.target, std::move(reason));
  r.incident_id = report.incident_id;
  r.details = report.details;
  return r;
}

playbook_report failed_with(playbook_report report, const error& why) {
  report.status = report_status::failed;
  report.reason = why.describe();
  report.failure = why;
  return report;
}

// Why this function must be left alone before anything is read: Tourniquet's own, or exempt as found.
std::optional<std::string> exemption_of(const function_finding& f, const playbook_context& ctx,
                                        const function_settings& settings) {
  const bool same_account =
      ctx.own_account_id.empty() || ctx.account_id.empty() || ctx.own_account_id == ctx.account_id;
  const auto& own = settings.own_function_names;
  if (same_account && std::find(own.begin(), own.end(), f.function_name) != own.end())
    return "function " + f.function_name + " is Tourniquet's own; it never acts on itself";
  if (f.exempt_in_finding && ctx.cfg.exempt_tag) {
    return "function " + f.function_name + " is exempt: it carried " + ctx.cfg.exempt_tag->key + "=" +
           ctx.cfg.exempt_tag->value + " when the finding saw it";
  }
  return std::nullopt;
}

// The report that stops here when GuardDuty's copy of the finding does not lead to this function.
std::optional<playbook_report> confirmed_function(const function_finding& f, const playbook_context& ctx,
                                                  const function_settings& settings) {
  const std::string name(function_playbook);
  if (auto stop = unconfirmed_report(ctx.confirmation, name, f.function_name)) return stop;
  if (ctx.confirmation == nullptr) return std::nullopt;
  const guardduty_finding& real = *ctx.confirmation->confirmed();
  auto why = finding_refusal(real);
  if (!why) why = function_routing_refusal(real, settings);
  if (!why && function_target_of(real, ctx.cfg).function_name != f.function_name)
    why = "it names another function";
  if (why) return not_confirmed_route(name, f.function_name, *why);
  return std::nullopt;
}

// Every ListFunctions page after the first, up to the bound; false when a page could not be read.
bool read_other_pages(const function_state& state, const playbook_context& ctx, role_usage& usage,
                      playbook_report& report) {
  while (!usage.next_marker.empty() && usage.pages < max_function_pages) {
    const execution page =
        execute_plan({list_functions_call(usage.next_marker)}, ctx.client, ctx.until, false);
    report.round_trips += page.round_trips;
    if (!page.answers[0]) {
      report.actions.push_back(page.records[0]);
      return false;
    }
    count_role_users(page.answers[0]->json(), state.role_arn, state.function_arn, usage);
  }
  return true;
}

// Credential containment's deny of the role's older sessions (and its tag, exemptions, and respect of a
// release of the role), run for this function's finding; its confirmation is this playbook's.
void deny_older_sessions(const function_finding& f, const std::string& role, const playbook_context& ctx,
                         nlohmann::ordered_json& details, playbook_report& report) {
  access_key_target target;
  target.account_id = f.account_id;
  target.source_id = f.finding_id;
  target.source_type = f.finding_type;
  target.user_type = "AssumedRole";
  target.role_name = role;
  target.last_seen = f.last_seen;
  playbook_context role_ctx = ctx;
  role_ctx.confirmation = nullptr;
  playbook_report r = contain_credentials(target, role_ctx, credential_settings{});
  report.round_trips += r.round_trips;
  report.actions.insert(report.actions.end(), r.actions.begin(), r.actions.end());
  details["outcome"] = std::string(status_name(r.status));
  if (!r.reason.empty()) details["reason"] = r.reason;
  if (r.status == report_status::failed && r.actions.empty())
    report.actions.push_back(unfinished_record(deny_role_sessions, role, r.reason));
}

// The role step: denied when no other function uses the role (or the option says anyway). Returns why a
// person must decide about it, or "".
std::string contain_role(const function_finding& f, const function_state& state, const execution& first,
                         size_t list_at, const playbook_context& ctx, const function_settings& settings,
                         playbook_report& report) {
  nlohmann::ordered_json details{{"roleArn", state.role_arn}};
  const principal_identity id = identity_from_arn(state.role_arn);
  if (id.kind != "role" || id.name.empty()) {
    report.details["role"] = details;
    return "the function's role '" + state.role_arn + "' is no role ARN: its sessions were not revoked";
  }
  role_usage usage;
  if (!first.answers[list_at]) {
    report.actions.push_back(first.records[list_at]);
    report.details["role"] = details;
    return "";
  }
  count_role_users(first.answers[list_at]->json(), state.role_arn, state.function_arn, usage);
  if (!read_other_pages(state, ctx, usage, report)) return "";
  const bool bound_hit = !usage.next_marker.empty();
  details["otherFunctions"] = usage.others.size();
  if (!usage.others.empty())
    details["sharedWith"] = std::vector<std::string>(
        usage.others.begin(), usage.others.begin() + std::min<size_t>(usage.others.size(), 10));
  if (bound_hit)
    details["listingBound"] = std::to_string(max_function_pages * 50) + " functions read, more exist";
  std::string escalation;
  if ((bound_hit || !usage.others.empty()) && !settings.revoke_shared_role) {
    escalation = "role " + id.name + " is also the role of " +
                 (bound_hit ? "possibly " + std::string("more functions (only ") +
                                  std::to_string(max_function_pages * 50) + " were read)"
                            : std::to_string(usage.others.size()) + " other function(s)") +
                 ": its sessions were not revoked, since that would stop them too; revoke them by hand "
                 "(an inline deny on aws:TokenIssueTime) or set TOURNIQUET_REVOKE_SHARED_FUNCTION_ROLE=true";
    report.actions.push_back(skipped_record(deny_role_sessions, id.name, "role shared: " + escalation));
  } else {
    deny_older_sessions(f, id.name, ctx, details, report);
  }
  report.details["role"] = details;
  return escalation;
}

}  // namespace

playbook_report contain_function(const function_finding& f, const playbook_context& ctx,
                                 const function_settings& settings) {
  playbook_report report;
  report.playbook = std::string(function_playbook);
  report.target = f.function_name;
  report.incident_id = incident_id_for(f.account_id, f.finding_id);
  report.details["source"] = f.finding_type;
  if (auto exempt = exemption_of(f, ctx, settings))
    return finish(left_alone(report, std::move(*exempt), true), ctx);

  const auto reads = plan_function_reads(f.function_name);
  std::vector<planned_call> batch =
      reads;  // and the first ListFunctions page, and GetFindings: one round trip
  const size_t list_at = batch.size();
  batch.push_back(list_functions_call(""));
  const auto confirm_at = ctx.confirmation ? ctx.confirmation->add_to(batch) : std::nullopt;
  const execution first = execute_plan(batch, ctx.client, ctx.until, false);
  if (confirm_at) ctx.confirmation->absorb(first, *confirm_at);
  report.round_trips += first.round_trips;
  if (auto stop = confirmed_function(f, ctx, settings)) return finish(std::move(*stop), ctx);
  auto state = function_state_from_reads(reads, first);
  if (!state) {
    for (size_t i = 0; i < reads.size(); ++i)
      if (first.records[i].result == outcome::failed) report.actions.push_back(first.records[i]);
    return finish(failed_with(std::move(report), state.err()), ctx);
  }
  if (!state->exists)
    return finish(left_alone(report, "function " + f.function_name + " no longer exists", false), ctx);
  report.details["functionArn"] = state->function_arn;
  report.details["priorConcurrency"] = state->reserved ? nlohmann::ordered_json(*state->reserved) : "none";
  const since_decision since = decision_since_release(f.last_seen, decision_of(*state));
  if (since.verdict == decision_verdict::redelivery)
    return finish(left_alone(report, since.reason, false), ctx);

  std::vector<action_record> already;
  const auto plan = plan_function_containment(f, *state, report.incident_id, rfc3339_now(), already);
  const execution stop = execute_plan(plan, ctx.client, ctx.until, ctx.dry_run);
  append(report, stop);
  report.actions.insert(report.actions.end(), already.begin(), already.end());
  const long stopped_ms = finish(report, ctx).total_ms;
  // The stop waits on nothing in its plan: it went in the plan's first batch, after the reads' one.
  for (const auto& r : stop.records) {
    if (r.action == stop_invocations.name && r.result == outcome::done)
      report.details["stoppedAfterRoundTrips"] = first.round_trips + 1;
  }
  const std::string escalation = contain_role(f, *state, first, list_at, ctx, settings, report);
  report.status = ctx.dry_run           ? report_status::dry_run
                  : report.incomplete() ? report_status::incomplete
                  : !escalation.empty() ? report_status::escalate
                                        : report_status::contained;
  if (report.status == report_status::escalate) {
    report.reason = "function " + f.function_name + " contained (concurrency 0), but " + escalation;
    log::error("escalation: a person must act", {{"target", report.target}, {"reason", report.reason}});
  } else if (since.verdict == decision_verdict::act_again) {
    report.reason = since.reason;
  }
  if (!ctx.dry_run && !report.incomplete()) report.details["containedAfterMs"] = stopped_ms;
  return finish(std::move(report), ctx);
}

playbook_report release_function(std::string_view target, const playbook_context& ctx) {
  playbook_report report;
  report.playbook = "release";
  report.target = std::string(target);
  const std::string name = function_name_of(target);
  if (name.empty()) {
    return concluded("release", report_status::failed, report.target,
                     "'" + report.target + "' is neither a function name nor a function ARN");
  }
  const auto reads = plan_function_reads(name);
  const execution run = execute_plan(reads, ctx.client, ctx.until, false);
  report.round_trips += run.round_trips;
  auto state = function_state_from_reads(reads, run);
  if (!state) return failed_with(std::move(report), state.err());
  report.incident_id = state->exists ? tag_value(state->tags, tag_incident) : "";
  if (report.incident_id.empty()) {
    report.status = report_status::failed;
    report.reason = "function " + name +
                    (state->exists ? " carries no Tourniquet incident" : " does not exist") +
                    ": nothing to release";
    return report;
  }
  std::vector<action_record> already;
  const auto plan = plan_function_release(name, *state, rfc3339_now(), ctx.caller_arn, already);
  append(report, execute_plan(plan, ctx.client, ctx.until, ctx.dry_run));
  report.actions.insert(report.actions.end(), already.begin(), already.end());
  report.status = ctx.dry_run           ? report_status::dry_run
                  : report.incomplete() ? report_status::incomplete
                                        : report_status::released;
  return report;
}

// --- The playbook ---------------------------------------------------------------------------------------

namespace {

class function_containment final : public playbook {
 public:
  explicit function_containment(function_settings settings) : m_settings(std::move(settings)) {}

  std::string_view name() const override { return function_playbook; }

  bool may_take(const finding_summary& finding, const config&, routing&) const override {
    return finding.resource_type == "Lambda";
  }

  // A finding about a function; its remote addresses, when it runs in a VPC, to the network block too.
  void route(const decoded_event& event, const config& cfg, routing& out) const override {
    const auto* finding = std::get_if<guardduty_finding>(&event);
    if (finding == nullptr || finding->resource_type != "Lambda") return;
    if (auto why = function_routing_refusal(*finding, m_settings)) {
      out.passed.push_back({name(), 0, std::move(*why)});
      return;
    }
    const function_finding target = function_target_of(*finding, cfg);
    const std::string incident = incident_id_for(target.account_id, target.finding_id);
    out.jobs.push_back(job{name(), 0, finding->account_id, finding->region, target.function_name, incident,
                           finding->type, target});
    if (target.exempt_in_finding || network_block_refusal(*finding, m_settings.block)) return;
    block_target block = block_target_of(*finding);
    job j{network_block_playbook,
          0,
          block.account_id,
          finding->region,
          join_list(block.subnet_ids),
          block.incident_id,
          block.source,
          {}};
    j.input = std::move(block);
    out.jobs.push_back(std::move(j));
  }

  playbook_report run(const job& work, const playbook_context& ctx) const override {
    return contain_function(*std::any_cast<function_finding>(&work.input), ctx, m_settings);
  }

  // After the instance and credential playbooks in the list: i-…, AKIA…, ASIA… and role ARNs are theirs.
  bool releases(std::string_view target) const override { return !function_name_of(target).empty(); }

  playbook_report release(std::string_view target, const playbook_context& ctx) const override {
    return release_function(target, ctx);
  }

 private:
  function_settings m_settings;
};

}  // namespace

result<std::unique_ptr<const playbook>> make_function_containment(const env_reader& env) {
  return playbook_from<function_containment>(function_settings_from_environment(env));
}

}  // namespace tq::handlers
