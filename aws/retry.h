// The SDKs' "standard" retry mode: a few attempts, full-jitter exponential backoff, and a retry quota that
// stops a client from retrying its way through an outage. No retry sleeps past the invocation's deadline.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>

#include "runtime/environment.h"
#include "runtime/result.h"

namespace tq::aws {

struct retry_settings {
  int max_attempts = 3;                        // AWS_MAX_ATTEMPTS
  std::chrono::milliseconds base_delay{1000};  // botocore: rand(0,1) * min(base * 2^(n-1), cap)
  std::chrono::milliseconds max_delay{20000};
  std::chrono::milliseconds deadline_margin{300};    // kept free before the deadline to post the report
  std::chrono::milliseconds attempt_timeout{10000};  // one attempt's transfer, at most
};

// AWS_MAX_ATTEMPTS (1..10), TOURNIQUET_RETRY_BASE_MS and TOURNIQUET_ATTEMPT_TIMEOUT_MS; AWS_RETRY_MODE other
// than "standard" is accepted but treated as standard ("legacy" and "adaptive" differ in ways a responder
// does not want).
result<retry_settings> retry_settings_from_environment(const env_reader& env);

// The upper bound of the jittered delay before retry number `retry` (1 = first retry).
std::chrono::milliseconds backoff_cap(const retry_settings& s, int retry);
// A delay drawn in [0, backoff_cap]; `unit_random` returns a number in [0, 1).
std::chrono::milliseconds backoff_delay(const retry_settings& s, int retry,
                                        const std::function<double()>& unit_random);

// botocore's quota: 500 tokens, a retry costs 5 (10 after a timeout), a success gives back what its retries
// took, or 1 when it needed none. Shared by the jobs of one event, on their own threads: atomic.
class retry_quota {
 public:
  static constexpr int capacity = 500;
  static constexpr int retry_cost = 5;
  static constexpr int timeout_retry_cost = 10;

  // Takes the cost of one retry; false when the quota is spent and the call must give up.
  bool acquire(bool after_timeout);
  void release_after_success(int spent);
  int available() const { return m_available.load(); }

 private:
  std::atomic<int> m_available = capacity;
};

}  // namespace tq::aws
