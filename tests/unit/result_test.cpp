#include "runtime/result.h"

#include <gtest/gtest.h>

namespace tq {
namespace {

TEST(error, describe_names_where_code_status_and_retry) {
  error e{"RequestLimitExceeded", "Request limit exceeded.", "ec2:DescribeInstances", true, 503, "r-1"};
  EXPECT_EQ(e.describe(),
            "ec2:DescribeInstances: RequestLimitExceeded: Request limit exceeded. (HTTP 503, request id r-1, "
            "retryable)");
}

TEST(error, within_adds_outer_context) {
  error e{"InvalidEvent", "not a number", "$.detail.severity"};
  error outer = std::move(e).within("events/x.json");
  EXPECT_EQ(outer.where, "events/x.json: $.detail.severity");
}

TEST(result, holds_value_or_error) {
  result<int> good = 3;
  result<int> bad = error{"X", "y", "z"};
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(*good, 3);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.err().code, "X");
  status fine;
  EXPECT_TRUE(fine.ok());
}

}  // namespace
}  // namespace tq
