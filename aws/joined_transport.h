// The jobs of one event, sent together. When an event calls for several playbooks, each runs on a thread of
// its own (handlers/responder.cpp) and sends its plan level by level, exactly as it does alone. Their clients
// share this transport, which holds each job's batch back while another job is still computing its own, then
// sends them all as ONE batch: the same level of every job goes out in the same round trip (independent
// reads in one, independent changes in the next), so the event takes the round trips of its longest job,
// not the sum of them all.
//
// A job "computes" from its start until it hands a batch over, and again from the moment its answers arrive.
// A job that waits for anything else (a retry's backoff, the pause before another pass, another job's
// answer) says so with an idle_scope, so that the others' batches do not wait for it; a job that ends leaves.
// Nothing may hold a lock across a call to the transport: a job blocked on it would count as computing, and
// the batch would wait for it for ever. A job that wakes another (the GetFindings verdict it took in) counts
// it as computing before it wakes it (count_woken_busy), or the others' next batch could leave in the moment
// between, without it: a round trip more for the event.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "aws/http.h"

namespace tq::aws {

class joined_transport final : public http_transport {
 public:
  explicit joined_transport(std::shared_ptr<http_transport> inner) : m_inner(std::move(inner)) {}

  // Runs every task to its end, each on a thread of its own (at most max_threads at a time), as the jobs of
  // one joint run. A single task runs alone on the calling thread, as if there were no joint run.
  void run_together(const std::vector<std::function<void()>>& tasks);

  // From a job of a joint run on this transport: waits until no job is computing, then goes out with the
  // batches of the others. From any other thread: straight to the inner transport, one caller at a time.
  std::vector<result<http_response>> send_all(std::span<const http_request> requests,
                                              std::chrono::milliseconds timeout) override;

  // Batches the inner transport was given so far: the round trips, joint or not.
  long round_trips() const;

  static constexpr std::size_t max_threads = 16;  // a batch of many findings shares them

 private:
  friend class idle_scope;
  friend void count_woken_busy(std::size_t jobs);
  struct submission;

  void run_as_job(const std::vector<std::function<void()>>& tasks, std::size_t& next);
  void become_idle();
  void become_busy(std::size_t jobs = 1);
  void leave();
  bool may_send() const;  // with m_mutex held
  void send_submissions(std::unique_lock<std::mutex>& lock);
  std::vector<result<http_response>> send_alone(std::span<const http_request> requests,
                                                std::chrono::milliseconds timeout);

  std::shared_ptr<http_transport> m_inner;
  mutable std::mutex m_mutex;
  std::condition_variable m_changed;
  int m_computing = 0;                   // jobs of the joint run neither waiting nor done
  bool m_sending = false;                // the inner transport is in use (it is not thread-safe)
  std::vector<submission*> m_submitted;  // batches waiting to go out, in the order they came
  long m_round_trips = 0;
};

// For its lifetime, the calling thread (when it is a job of a joint run) waits rather than computes: the
// other jobs' batches go out without it. Wrap every wait that does not go through the transport.
class idle_scope {
 public:
  idle_scope();
  ~idle_scope();
  idle_scope(const idle_scope&) = delete;
  idle_scope& operator=(const idle_scope&) = delete;

  // The job that woke this one counted it as computing already (count_woken_busy): the scope's end does not
  // count it again.
  void counted_by_waker() { m_counted = true; }

 private:
  joined_transport* m_joint;
  bool m_counted = false;
};

// From a job of a joint run that is about to wake `jobs` jobs waiting (idle) for it: counts them as computing
// first, so that no batch leaves between their waking and their next call (each then calls
// counted_by_waker() on its idle_scope). Outside a joint run, nothing.
void count_woken_busy(std::size_t jobs);

}  // namespace tq::aws
