// Another pass within the invocation. A playbook that ended incomplete because AWS throttled or failed
// for a while runs again, while the deadline leaves room: a pass is a replay of the event, and replays
// converge, so containment lands seconds after the storm instead of at Lambda's retry a minute later.
#pragma once

#include <chrono>
#include <functional>
#include <vector>

#include "aws/client.h"
#include "handlers/report.h"

namespace tq::handlers {

struct pass_policy {
  int max_passes = 3;  // TOURNIQUET_MAX_PASSES; 1 leaves every retry to Lambda
  // The pause before pass n (n >= 2): throttling eases with time.
  std::function<std::chrono::milliseconds(int pass)> pause = [](int) { return std::chrono::milliseconds(0); };
  // Attempts given up on so far (aws::call_statistics::unanswered). Such a call may still land, and if it
  // landed after the next pass had read the state, it could undo that pass's work (an untrack landing after
  // the isolation). So after a pass that gave one up, the next waits at least `landing_horizon` (the attempt
  // timeout: AWS answers well within it, so by then the call has landed or never will) and reads it all
  // again.
  std::function<long()> unanswered = [] { return 0L; };
  std::chrono::milliseconds landing_horizon{0};
};

// True when another pass may finish what this one left: some report is incomplete and one of its
// actions failed with an error a retry may help (throttling, 5xx, a timeout). An AccessDenied is not.
bool worth_another_pass(const std::vector<playbook_report>& reports);

// The report of `earlier` and the pass after it, as one: the later pass's status, details and actions,
// after the actions earlier passes did (a later "already" for the same action and target is dropped);
// what each earlier pass left failed goes in details.passes, so the record keeps every attempt.
playbook_report merge_passes(playbook_report earlier, playbook_report later, int later_pass);

// Runs `pass` (one run of a playbook, or of several, one report each) and runs it again while
// worth_another_pass() holds, the policy allows and the deadline leaves room for one more of the same length.
// Reports that were complete stay as they were; only the incomplete ones are merged with the next pass.
std::vector<playbook_report> run_in_passes(const std::function<std::vector<playbook_report>()>& pass,
                                           aws::deadline until, const pass_policy& policy);

}  // namespace tq::handlers
