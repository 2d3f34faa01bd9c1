// The one shape of every playbook, and the one list of them. A playbook routes an event to jobs with a pure
// function (no I/O: the routing rules are tested as data), runs a job on the plan/execute engine, and, when
// it changes anything, releases what it changed. The responder loops over the list; nothing else knows which
// playbooks exist. Adding one: its file under handlers/playbooks/, its factory in the list (registry.cpp),
// and its tests.
#pragma once

#include <any>
#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "aws/client.h"
#include "handlers/config.h"
#include "handlers/event.h"
#include "handlers/finding_summary.h"
#include "handlers/report.h"
#include "runtime/environment.h"
#include "runtime/result.h"

namespace tq::handlers {

class finding_confirmation;

// What every playbook's run is handed: a client acting in the job's account, the shared configuration,
// the invocation's deadline, whether this is a dry run, and when the event arrived (for timings).
struct playbook_context {
  const aws::client& client;
  const config& cfg;
  aws::deadline until;
  bool dry_run = false;
  std::chrono::steady_clock::time_point arrived;
  std::string account_id;      // the account acted in
  std::string own_account_id;  // the function's own account
  // GuardDuty's word on the finding being handled (handlers/confirmation.h): null when confirmation is off
  // or the event is no finding. Playbooks add its call to their first reads and act on its copy.
  finding_confirmation* confirmation = nullptr;
  // For `release`: who releases (sts:GetCallerIdentity's ARN), recorded so a redelivered finding can say
  // whose decision it leaves standing.
  std::string caller_arn = {};
  // The event exactly as it was received (the evidence bundle's finding.json); empty for `release`.
  std::string_view event_text = {};
  // The invoked function's ARN ("" outside Lambda), and the client acting as the function itself in its own
  // account (the evidence bucket's), whichever account the job acts in; null: `client` is that one.
  std::string_view function_arn = {};
  const aws::client* own_client = nullptr;
};

// One piece of work an event calls for. A route may hand work to another playbook by naming it (a stopped
// trail's caller goes to credential containment); `input` then holds that playbook's own input type.
struct job {
  std::string_view playbook;  // the playbook that runs it
  std::size_t item = 0;       // the item of the event it came from: 0, or the record's index in a batch
  std::string account_id;     // the account it acts in ("" for the function's own)
  std::string region;         // the resource's region, as the event says ("" when it says none)
  std::string target;         // "i-0abc", "AKIA…", "sg-…", the ACLs
  std::string incident_id;
  std::string reason;  // why it was taken, for the logs
  std::any input;      // what the running playbook needs, as its route made it
  // An analyst's decision for this job alone (a Security Hub custom action, handlers/securityhub_in.h):
  bool release = false;         // run the playbook's release of `target` instead
  bool dry_run = false;         // report the plan, change nothing
  std::string decided_by = {};  // the custom action's ARN: recorded as who released
};

// An item of the event a playbook looked at and did not take, and why.
struct passed_over {
  std::string_view playbook;
  std::size_t item = 0;
  std::string reason;
};

struct routing {
  std::vector<job> jobs;
  std::vector<passed_over> passed;
};

class playbook {
 public:
  virtual ~playbook() = default;

  virtual std::string_view name() const = 0;
  // Pure: adds the jobs `event` calls for, and the items it looked at and passed over, to `out`.
  virtual void route(const decoded_event& event, const config& cfg, routing& out) const = 0;
  // Routing's first look at a GuardDuty finding, from its summary before it is decoded whole: true (the
  // default) when `route` might take it, so that it must be decoded and routed; false when `route` would
  // not, having added to `out.passed` the reason `route` would give (or nothing, when `route` would not look
  // at it). Playbooks whose routes refuse by resource type, type or severity say so here, and a finding that
  // every playbook refuses is ignored without being decoded.
  virtual bool may_take(const finding_summary& /*finding*/, const config& /*cfg*/, routing& /*out*/) const {
    return true;
  }
  // Reads the live state, plans, executes: one pass of one job, in the context's account.
  virtual playbook_report run(const job& work, const playbook_context& ctx) const = 0;
  // `tourniquet release TARGET`: whether TARGET is something this playbook contains, and putting it back.
  virtual bool releases(std::string_view /*target*/) const { return false; }
  virtual playbook_report release(std::string_view target, const playbook_context& ctx) const;
};

// Playbook P built from its settings as read from the environment, or the error naming the bad variable.
template <class P, class Settings>
result<std::unique_ptr<const playbook>> playbook_from(result<Settings> settings) {
  if (!settings) return std::move(settings).err();
  return std::unique_ptr<const playbook>(new P(std::move(*settings)));
}

using playbook_list = std::vector<std::unique_ptr<const playbook>>;

// Every playbook, each built from its settings in the environment (a bad value: an error naming it).
result<playbook_list> make_playbooks(const env_reader& env);

const playbook* find_playbook(const playbook_list& playbooks, std::string_view name);

// Why no playbook may act on `finding` whatever it is about (a sample, archived); nullopt when one may. The
// router asks it of the event, and a playbook again of GuardDuty's confirmed copy.
std::optional<std::string> finding_refusal(const guardduty_finding& finding);

// Routing from a finding's summary alone: the routing of a finding that no playbook may take (sample,
// archived, or passed over by every playbook's may_take), with the reasons route_event would give; nullopt
// when one may take it (decode it and call route_event).
std::optional<routing> route_summary(const playbook_list& playbooks, const finding_summary& finding,
                                     const config& cfg);
std::optional<playbook_report> passed_over_report(const routing& routed, const finding_summary& finding);

// Every playbook's route, in list order. Sample and archived findings are passed over before any playbook
// looks at them: acting on them could only make things worse.
routing route_event(const playbook_list& playbooks, const decoded_event& event, const config& cfg);

// The items of `event` that no job came from, as one `ignored` report saying why (the reasons of every
// playbook that looked, or that none handles this kind of event); nullopt when every item was taken.
std::optional<playbook_report> passed_over_report(const routing& routed, const decoded_event& event);

}  // namespace tq::handlers
