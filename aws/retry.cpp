#include "aws/retry.h"

#include <algorithm>
#include <charconv>

namespace tq::aws {
namespace {

result<int> integer_variable(const env_reader& env, std::string_view name, int low, int high, int fallback) {
  const auto text = env(name);
  if (!text) return fallback;
  int value = 0;
  const auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (ec != std::errc() || end != text->data() + text->size() || value < low || value > high) {
    return error{"InvalidConfiguration",
                 std::string(name) + " must be a whole number from " + std::to_string(low) + " to " +
                     std::to_string(high) + ", got '" + *text + "'",
                 std::string(name)};
  }
  return value;
}

}  // namespace

result<retry_settings> retry_settings_from_environment(const env_reader& env) {
  retry_settings s;
  auto attempts = integer_variable(env, "AWS_MAX_ATTEMPTS", 1, 10, s.max_attempts);
  if (!attempts) return std::move(attempts).err();
  s.max_attempts = *attempts;
  auto base =
      integer_variable(env, "TOURNIQUET_RETRY_BASE_MS", 1, 20000, static_cast<int>(s.base_delay.count()));
  if (!base) return std::move(base).err();
  s.base_delay = std::chrono::milliseconds(*base);
  // One attempt's limit: a call stuck on a slow endpoint is abandoned and retried sooner
  auto attempt = integer_variable(env, "TOURNIQUET_ATTEMPT_TIMEOUT_MS", 100, 60000,
                                  static_cast<int>(s.attempt_timeout.count()));
  if (!attempt) return std::move(attempt).err();
  s.attempt_timeout = std::chrono::milliseconds(*attempt);
  return s;
}

std::chrono::milliseconds backoff_cap(const retry_settings& s, int retry) {
  const int exponent = std::clamp(retry - 1, 0, 20);
  const long long grown = s.base_delay.count() * (1LL << exponent);
  return std::chrono::milliseconds(std::min<long long>(grown, s.max_delay.count()));
}

std::chrono::milliseconds backoff_delay(const retry_settings& s, int retry,
                                        const std::function<double()>& unit_random) {
  const double fraction = std::clamp(unit_random(), 0.0, 1.0);
  return std::chrono::milliseconds(
      static_cast<long long>(fraction * static_cast<double>(backoff_cap(s, retry).count())));
}

bool retry_quota::acquire(bool after_timeout) {
  const int cost = after_timeout ? timeout_retry_cost : retry_cost;
  int available = m_available.load();
  do {
    if (available < cost) return false;
  } while (!m_available.compare_exchange_weak(available, available - cost));
  return true;
}

void retry_quota::release_after_success(int spent) {
  const int back = spent > 0 ? spent : 1;
  int available = m_available.load();
  while (!m_available.compare_exchange_weak(available, std::min(capacity, available + back))) {
  }
}

}  // namespace tq::aws
