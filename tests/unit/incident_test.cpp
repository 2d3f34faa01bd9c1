// The incident's time format and the rule that keeps a person's decision: a finding arriving again after a
// release (or after Tourniquet's change was undone by hand) is acted on only when its activity is later.
#include "handlers/incident.h"

#include <gtest/gtest.h>

namespace tq::handlers {
namespace {

TEST(parse_rfc3339, reads_what_rfc3339_writes_and_guardduty_sends) {
  EXPECT_EQ(parse_rfc3339("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(parse_rfc3339(rfc3339(1764581400)), 1764581400);
  EXPECT_EQ(parse_rfc3339("2025-03-07T06:02:58.000Z"), parse_rfc3339("2025-03-07T06:02:58Z"));
  EXPECT_EQ(parse_rfc3339("2024-02-29T23:59:59+00:00"), parse_rfc3339("2024-03-01T00:00:00Z").value() - 1);
}

TEST(parse_rfc3339, refuses_what_it_cannot_order) {
  for (const char* bad : {"", "2025-03-07", "2025-03-07T06:02:58", "2025-03-07T06:02:58+02:00",
                          "2025-13-07T06:02:58Z", "2025-03-07 06:02:58Z", "2025-03-07T06:02:58.Z", "soon"}) {
    EXPECT_FALSE(parse_rfc3339(bad)) << bad;
  }
}

const operator_decision released{"2026-12-01T10:00:00Z", "arn:aws:iam::111122223333:user/alice",
                                 "2026-12-01T09:00:00Z", false};

TEST(decision_since_release, nothing_decided_means_contain) {
  const auto d = decision_since_release("2026-12-01T11:00:00Z", {"", "", "2026-12-01T09:00:00Z", false});
  EXPECT_EQ(d.verdict, decision_verdict::act);
  EXPECT_EQ(d.reason, "");
}

TEST(decision_since_release, activity_up_to_the_release_is_a_redelivery) {
  for (const char* seen : {"2026-12-01T08:00:00.000Z", "2026-12-01T10:00:00Z"}) {
    const auto d = decision_since_release(seen, released);
    EXPECT_EQ(d.verdict, decision_verdict::redelivery) << seen;
    EXPECT_EQ(d.reason,
              "released at 2026-12-01T10:00:00Z by arn:aws:iam::111122223333:user/alice; no activity since");
  }
}

TEST(decision_since_release, activity_after_the_release_contains_again) {
  const auto d = decision_since_release("2026-12-01T10:00:01.000Z", released);
  EXPECT_EQ(d.verdict, decision_verdict::act_again);
  EXPECT_EQ(d.reason,
            "contained again: activity at 2026-12-01T10:00:01.000Z after release at 2026-12-01T10:00:00Z");
}

TEST(decision_since_release, undone_by_hand_compares_with_the_change) {
  const operator_decision by_hand{"", "", "2026-12-01T09:00:00Z", true};
  const auto old = decision_since_release("2026-12-01T08:59:00Z", by_hand);
  EXPECT_EQ(old.verdict, decision_verdict::redelivery);
  EXPECT_EQ(old.reason, "Tourniquet's change of 2026-12-01T09:00:00Z was undone by hand; no activity since");
  EXPECT_EQ(decision_since_release("2026-12-01T09:30:00Z", by_hand).verdict, decision_verdict::act_again);
  // Still in place: replays converge as before, whatever the activity's time.
  EXPECT_EQ(decision_since_release("2026-12-01T08:59:00Z", {"", "", "2026-12-01T09:00:00Z", false}).verdict,
            decision_verdict::act);
}

TEST(decision_since_release, times_that_cannot_be_ordered_mean_contain) {
  EXPECT_EQ(decision_since_release("", released).verdict, decision_verdict::act);
  EXPECT_EQ(decision_since_release("2026-12-01T08:00:00Z", {"yesterday", "", "", false}).verdict,
            decision_verdict::act);
}

}  // namespace
}  // namespace tq::handlers
