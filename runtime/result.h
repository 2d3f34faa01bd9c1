// Results, not exceptions, across module boundaries. An error says what failed (`where`), why (`code`,
// `message`) and whether trying again may help (`retryable`), so callers can decide without parsing text.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace tq {

struct error {
  std::string code;        // machine-readable: "RequestLimitExceeded", "InvalidEvent", "Timeout"
  std::string message;     // for a person; never holds a secret
  std::string where;       // what failed: "ec2:DescribeInstances", "$.detail.severity", "events/x.json"
  bool retryable = false;  // true when the same request may succeed later (throttling, 5xx, timeouts)
  int http_status = 0;     // 0 when no HTTP answer was had
  std::string request_id;  // the service's request id, when it sent one

  // "where: code: message (HTTP 503, request id X, retryable)"
  std::string describe() const;

  // Adds context on the way up: "outer: inner-where".
  error&& within(std::string_view outer) &&;
};

template <class T>
class [[nodiscard]] result {
 public:
  result(T value) : m_state(std::move(value)) {}          // NOLINT: implicit by design
  result(error failure) : m_state(std::move(failure)) {}  // NOLINT
  bool ok() const { return m_state.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & {
    assert(ok());
    return std::get<0>(m_state);
  }
  const T& value() const& {
    assert(ok());
    return std::get<0>(m_state);
  }
  T&& value() && {
    assert(ok());
    return std::get<0>(std::move(m_state));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  const error& err() const& {
    assert(!ok());
    return std::get<1>(m_state);
  }
  error&& err() && {
    assert(!ok());
    return std::get<1>(std::move(m_state));
  }

 private:
  std::variant<T, error> m_state;
};

template <>
class [[nodiscard]] result<void> {
 public:
  result() = default;
  result(error failure) : m_error(std::move(failure)), m_ok(false) {}  // NOLINT
  bool ok() const { return m_ok; }
  explicit operator bool() const { return m_ok; }
  const error& err() const& {
    assert(!m_ok);
    return m_error;
  }
  error&& err() && {
    assert(!m_ok);
    return std::move(m_error);
  }

 private:
  error m_error;
  bool m_ok = true;
};

using status = result<void>;

}  // namespace tq
