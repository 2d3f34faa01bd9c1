// tourniquet: the Lambda bootstrap (no command, AWS_LAMBDA_RUNTIME_API set: the runtime loop) and a small
// command line for local use. Commands live in one table: adding one is a function and a row.
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "handlers/entry.h"
#include "handlers/guardrails.h"
#include "handlers/policy.h"
#include "handlers/responder.h"
#include "runtime/local_invoke.h"
#include "runtime/log.h"
#include "runtime/runtime_loop.h"

namespace {

using arguments = std::span<const std::string_view>;

struct command {
  std::string_view name;
  std::string_view synopsis;
  std::string_view summary;
  int (*run)(arguments args);
};

int run_invoke(arguments args) {
  return tq::runtime::invoke_command(
      args, [](bool dry_run) { return tq::handlers::make_handler({.force_dry_run = dry_run}); });
}

// `tourniquet release TARGET [--dry-run] [--region R] [--account A]`: the playbook that contains such targets
// puts back what it changed, in region R of account A (default: the function's own region and account).
int run_release(arguments args) {
  constexpr std::string_view usage =
      "release takes one target (an instance id i-…, an access key id AKIA…, a role ARN, a function, "
      "s3://BUCKET, s3://* for the account) and optionally "
      "--dry-run, --region REGION and --account ACCOUNT_ID";
  bool dry_run = false;
  std::string target, region, account;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string_view a = args[i];
    if (a == "--dry-run") {
      dry_run = true;
    } else if ((a == "--region" || a == "--account") && i + 1 < args.size()) {
      (a == "--region" ? region : account) = args[++i];
    } else if (target.empty() && !a.starts_with("-")) {
      target = a;
    } else {
      return tq::runtime::usage_error(std::string(usage));
    }
  }
  if (target.empty())
    return tq::runtime::usage_error(
        "release needs a target (an instance id i-…, an access key id AKIA…, a role ARN, a function, "
        "s3://BUCKET, s3://* for the account)");
  if (!region.empty() && !tq::aws::looks_like_region(region))
    return tq::runtime::usage_error("--region: '" + region + "' is no AWS region name");
  if (!account.empty() &&
      (account.size() != 12 || account.find_first_not_of("0123456789") != std::string::npos))
    return tq::runtime::usage_error("--account: expected 12 digits, got '" + account + "'");
  auto responder =
      tq::handlers::responder::from_environment(tq::process_environment(), {.force_dry_run = dry_run});
  if (!responder) return tq::runtime::usage_error("configuration error: " + responder.err().describe());
  const auto report =
      (*responder)->release(target, tq::aws::deadline_in(std::chrono::seconds(60)), region, account);
  std::puts(report.to_json().dump(2).c_str());
  using tq::handlers::report_status;
  return report.status == report_status::released || report.status == report_status::dry_run
             ? tq::runtime::exit_ok
             : 1;
}

// `tourniquet policy`: the IAM policy the configured playbooks need, from what each action declares.
int run_policy(arguments args) {
  if (!args.empty()) return tq::runtime::usage_error("policy takes no arguments");
  auto cfg = tq::handlers::config_from_environment(tq::process_environment());
  if (!cfg) return tq::runtime::usage_error("configuration error: " + cfg.err().describe());
  std::puts(tq::handlers::policy_document(*cfg, tq::process_environment()).dump(2).c_str());
  return tq::runtime::exit_ok;
}

// `tourniquet guardrails`: the service control policy that keeps everyone else away from Tourniquet.
int run_guardrails(arguments args) {
  if (!args.empty()) return tq::runtime::usage_error("guardrails takes no arguments");
  auto settings = tq::handlers::guardrail_settings_from_environment(tq::process_environment());
  if (!settings) return tq::runtime::usage_error("configuration error: " + settings.err().describe());
  auto policy = tq::handlers::guardrail_policy(*settings);
  if (!policy) return tq::runtime::usage_error("configuration error: " + policy.err().describe());
  std::puts(policy->dump().c_str());
  return tq::runtime::exit_ok;
}

constexpr command commands[] = {
    {"invoke", "invoke FILE|- [--dry-run]",
     "run the handler once on the event in FILE (- reads standard input) and print its response", run_invoke},
    {"release", "release TARGET [--dry-run] [--region R] [--account A]",
     "put back what containment changed, recording who and when: an instance's recorded groups (i-…), an "
     "access key (AKIA…: Active again, the session deny deleted), a role (its ARN: the session deny "
     "deleted); "
     "in region R of account A (default: the function's own region and account)",
     run_release},
    {"policy", "policy", "print the least-privilege IAM policy the playbooks need", run_policy},
    {"guardrails", "guardrails",
     "print the service control policy that denies everyone else changes to Tourniquet", run_guardrails},
};

void print_help() {
  std::fputs(
      "Usage: tourniquet                 (under Lambda: serves AWS_LAMBDA_RUNTIME_API)\n"
      "       tourniquet COMMAND [ARGS]\n"
      "       tourniquet --help | --version\n\nCommands:\n",
      stdout);
  for (const command& c : commands) {
    std::printf("  %-28.*s %.*s\n", static_cast<int>(c.synopsis.size()), c.synopsis.data(),
                static_cast<int>(c.summary.size()), c.summary.data());
  }
  std::fputs(
      "\nEnvironment: AWS_LAMBDA_LOG_FORMAT (JSON|Text), AWS_LAMBDA_LOG_LEVEL, TOURNIQUET_LOCAL_TIMEOUT_MS\n"
      "(invoke's deadline, default 60000), TOURNIQUET_RUNTIME_API_RETRY_MS (how long the loop retries an\n"
      "unreachable Runtime API, default 10000).\n"
      "Exit status: 0 success, 1 the handler reported a failure, 2 bad usage, unreadable input, malformed\n"
      "event or configuration error.\n",
      stdout);
}

}  // namespace

int main(int argc, char** argv) {
  tq::log::configure(tq::log::settings_from_environment());
  const std::vector<std::string_view> args(argv + 1, argv + argc);

  if (args.empty()) {
    const char* endpoint = std::getenv("AWS_LAMBDA_RUNTIME_API");
    if (endpoint == nullptr || *endpoint == '\0') {
      return tq::runtime::usage_error(
          "no command given and AWS_LAMBDA_RUNTIME_API is not set (not under Lambda)");
    }
    return tq::runtime::serve_lambda([] { return tq::handlers::make_handler({}); });
  }

  const std::string_view first = args.front();
  if (first == "--help" || first == "-h" || first == "help") {
    print_help();
    return tq::runtime::exit_ok;
  }
  if (first == "--version") {
    std::printf("tourniquet %s\n", TOURNIQUET_VERSION);
    return tq::runtime::exit_ok;
  }
  for (const command& c : commands) {
    if (c.name == first) return c.run(arguments(args).subspan(1));
  }
  return tq::runtime::usage_error("unknown command '" + std::string(first) + "'");
}
