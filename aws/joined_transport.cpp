#include "aws/joined_transport.h"

#include <algorithm>
#include <exception>
#include <system_error>
#include <thread>

#include "runtime/log.h"

namespace tq::aws {
namespace {

// The joint run the calling thread is a job of, if any. Per thread: a job is a thread, and what the
// transport must know at each call is whether its caller is one of the jobs whose batches it joins.
thread_local joined_transport* t_joint = nullptr;

}  // namespace

// One job's batch, waiting at the rendezvous for its answers (it lives on that job's stack).
struct joined_transport::submission {
  std::span<const http_request> requests;
  std::chrono::milliseconds timeout;
  std::vector<result<http_response>> answers = {};
  bool answered = false;
};

void joined_transport::run_together(const std::vector<std::function<void()>>& tasks) {
  if (tasks.size() <= 1) {  // nothing to join: today's path, on this thread
    for (const auto& task : tasks) task();
    return;
  }
  std::size_t next = 0;  // the next task to take, under m_mutex
  const std::size_t threads = std::min(tasks.size(), max_threads);
  // Every worker is counted before the first starts: one counted as it starts would let the first worker's
  // batch leave before the others have had their say (a round trip split in two).
  {
    std::lock_guard<std::mutex> lock(m_mutex);
    m_computing += static_cast<int>(threads);
  }
  std::vector<std::thread> workers;
  for (std::size_t i = 0; i < threads; ++i) {
    try {
      workers.emplace_back([this, &tasks, &next] { run_as_job(tasks, next); });
    } catch (const std::system_error&) {  // no thread to be had: the workers started take its tasks
      for (std::size_t never = i; never < threads; ++never) leave();
      break;
    }
  }
  for (auto& w : workers) w.join();
  if (workers.empty()) {
    for (const auto& task : tasks) task();
  }
}

void joined_transport::run_as_job(const std::vector<std::function<void()>>& tasks, std::size_t& next) {
  t_joint = this;
  for (;;) {
    std::size_t mine = 0;
    {
      std::lock_guard<std::mutex> lock(m_mutex);
      if (next >= tasks.size()) break;
      mine = next++;
    }
    // A task reports its failures in its result; should one throw all the same, the others still finish
    // (and the caller finds that task's result missing).
    try {
      tasks[mine]();
    } catch (const std::exception& e) {
      log::error("a job stopped on an exception", {{"error", e.what()}});
    } catch (...) {
      log::error("a job stopped on an exception", {{"error", "unknown"}});
    }
  }
  t_joint = nullptr;
  leave();
}

void joined_transport::become_idle() {
  std::lock_guard<std::mutex> lock(m_mutex);
  --m_computing;
  m_changed.notify_all();  // it may have been the last one the others waited for
}

void joined_transport::become_busy(std::size_t jobs) {
  std::lock_guard<std::mutex> lock(m_mutex);
  m_computing += static_cast<int>(jobs);
}

void joined_transport::leave() {
  become_idle();
}

bool joined_transport::may_send() const {
  return !m_sending && m_computing == 0 && !m_submitted.empty();
}

std::vector<result<http_response>> joined_transport::send_all(std::span<const http_request> requests,
                                                              std::chrono::milliseconds timeout) {
  if (requests.empty()) return {};
  if (t_joint != this) return send_alone(requests, timeout);
  submission mine{requests, timeout};
  std::unique_lock<std::mutex> lock(m_mutex);
  m_submitted.push_back(&mine);
  --m_computing;
  // Whichever waiting job sees the moment first sends every batch; the others wait for their answers.
  while (!mine.answered) {
    if (may_send()) {
      send_submissions(lock);
    } else {
      m_changed.wait(lock);
    }
  }
  return std::move(mine.answers);
}

void joined_transport::send_submissions(std::unique_lock<std::mutex>& lock) {
  const std::vector<submission*> batch = std::move(m_submitted);
  m_submitted.clear();
  m_sending = true;
  lock.unlock();

  std::vector<http_request> all;
  // The jobs share the invocation's deadline and their retry settings, so their timeouts differ by the
  // microseconds between their computations; the shortest never outlasts any job's budget.
  std::chrono::milliseconds timeout = batch.front()->timeout;
  for (const submission* s : batch) {
    all.insert(all.end(), s->requests.begin(), s->requests.end());
    timeout = std::min(timeout, s->timeout);
  }
  std::vector<result<http_response>> answers;
  try {
    answers = m_inner->send_all(all, timeout);
  } catch (const std::exception& e) {  // never strand the jobs waiting for their answers
    answers.assign(all.size(), error{"TransportError", e.what(), "joined transport", true});
  }

  lock.lock();
  ++m_round_trips;
  std::size_t at = 0;
  for (submission* s : batch) {
    for (std::size_t k = 0; k < s->requests.size(); ++k) s->answers.push_back(std::move(answers[at++]));
    s->answered = true;
  }
  // Each job computes again from the moment its answers are in: counted here, before any of them has
  // woken, so that no batch leaves without the next level of the jobs just answered.
  m_computing += static_cast<int>(batch.size());
  m_sending = false;
  m_changed.notify_all();
}

std::vector<result<http_response>> joined_transport::send_alone(std::span<const http_request> requests,
                                                                std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(m_mutex);
  m_changed.wait(lock, [this] { return !m_sending; });
  m_sending = true;
  lock.unlock();
  std::vector<result<http_response>> answers = m_inner->send_all(requests, timeout);
  lock.lock();
  ++m_round_trips;
  m_sending = false;
  m_changed.notify_all();
  return answers;
}

long joined_transport::round_trips() const {
  std::lock_guard<std::mutex> lock(m_mutex);
  return m_round_trips;
}

idle_scope::idle_scope() : m_joint(t_joint) {
  if (m_joint != nullptr) m_joint->become_idle();
}

idle_scope::~idle_scope() {
  if (m_joint != nullptr && !m_counted) m_joint->become_busy();
}

void count_woken_busy(std::size_t jobs) {
  if (t_joint == nullptr) return;
  t_joint->become_busy(jobs);
}

}  // namespace tq::aws
