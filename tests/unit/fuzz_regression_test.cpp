// Inputs the fuzz targets (tests/fuzz/) found to crash, kept as plain tests so the fix stays. The raw
// crashing files are also under tests/fuzz/regressions/, from where scripts/fuzz puts them back in the
// corpora, and where the unit tests fuzz_replay_NAME (tests/fuzz/replay_main.cpp) run every one of them
// through its target, with the committed corpus; bench/fuzz-depth adds each crash it finds there.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <sstream>

#include "runtime/runtime_api.h"

namespace tq::runtime {
namespace {

using std::chrono::milliseconds;
using std::chrono::system_clock;

std::string regression(const std::string& name) {
  std::ifstream in(std::string(TQ_TESTS_DIR) + "/fuzz/regressions/" + name, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// fuzz_runtime_headers: "Lambda-Runtime-Deadline-Ms: 15424097068889" (a digit too many) overflowed
// system_clock's nanoseconds in the conversion (UBSan: signed integer overflow in chrono).
TEST(fuzz_regression, a_deadline_beyond_the_clock_is_refused) {
  invocation_context context;
  ASSERT_TRUE(apply_invocation_header("Lambda-Runtime-Deadline-Ms: 1542409706888\r\n", context));
  EXPECT_FALSE(apply_invocation_header("Lambda-Runtime-Deadline-Ms: 15424097068889\r\n", context));
  EXPECT_FALSE(apply_invocation_header("Lambda-Runtime-Deadline-Ms: 9223372036854775807\r\n", context));
  EXPECT_EQ(context.deadline, system_clock::time_point(milliseconds(1542409706888)));
  // The largest deadline the clock holds is still taken.
  const auto latest = std::chrono::duration_cast<milliseconds>(system_clock::duration::max()).count();
  EXPECT_TRUE(apply_invocation_header("Lambda-Runtime-Deadline-Ms: " + std::to_string(latest), context));
}

TEST(fuzz_regression, the_crashing_header_block_is_read_line_by_line_without_harm) {
  const std::string input = regression("fuzz_runtime_headers/deadline-overflow");
  ASSERT_FALSE(input.empty());
  invocation_context context;
  size_t start = 0;
  while (start < input.size()) {
    const size_t end = input.find('\n', start);
    (void)apply_invocation_header(
        std::string_view(input).substr(start, end == std::string::npos ? end : end - start + 1), context);
    if (end == std::string::npos) break;
    start = end + 1;
  }
  EXPECT_EQ(context.deadline,
            system_clock::time_point{});  // every deadline line in it was malformed or too large
}

}  // namespace
}  // namespace tq::runtime
