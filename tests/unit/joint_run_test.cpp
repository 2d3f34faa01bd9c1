// The plans of one event's jobs, run together (aws/joined_transport.h): each job executes its plan level by
// level on its own thread, and the transport sends the same level of every job as one batch. Checked without
// I/O: a stand-in for the HTTP seam answers at once and records which calls went out in which round trip.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <set>
#include <thread>

#include "aws/client.h"
#include "aws/joined_transport.h"
#include "handlers/action.h"
#include "handlers/confirmation.h"

namespace tq::handlers {
namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

const action_kind& read_instances = declare_action("joint-test", "read-instances", {"ec2:DescribeInstances"});
const action_kind& tag_instance = declare_action("joint-test", "tag-instance", {"ec2:CreateTags"});
const action_kind& read_acls = declare_action("joint-test", "read-acls", {"ec2:DescribeNetworkAcls"});
const action_kind& block_address =
    declare_action("joint-test", "block-address", {"ec2:CreateNetworkAclEntry"});

std::string action_of(const aws::http_request& r) {
  const size_t at = r.body.find("Action=");
  if (at == std::string::npos) return "?";
  return r.body.substr(at + 7, r.body.find('&', at) - at - 7);
}

aws::http_response ok_answer(const std::string& action) {
  return {200, {}, "<" + action + "Response><requestId>r</requestId></" + action + "Response>"};
}

aws::http_response ec2_error(const std::string& code) {
  return {400,
          {},
          "<Response><Errors><Error><Code>" + code + "</Code><Message>" + code +
              "</Message></Error></Errors><RequestID>r</RequestID></Response>"};
}

// The HTTP seam, answering at once: each send_all is one round trip, recorded as the set of its actions.
// `answer` may fail a call (by action and how many times that action has been sent so far).
class recording_transport : public aws::http_transport {
 public:
  std::function<result<aws::http_response>(const std::string& action, int sent_before)> answer =
      [](const std::string& action, int) { return result<aws::http_response>(ok_answer(action)); };

  std::vector<result<aws::http_response>> send_all(std::span<const aws::http_request> requests,
                                                   std::chrono::milliseconds) override {
    std::lock_guard<std::mutex> lock(m_mutex);
    std::multiset<std::string> trip;
    std::vector<result<aws::http_response>> out;
    for (const auto& r : requests) {
      const std::string action = action_of(r);
      trip.insert(action);
      out.push_back(answer(action, m_sent[action]++));
    }
    m_trips.push_back(std::move(trip));
    m_times.push_back(clock_type::now());
    return out;
  }

  std::vector<std::multiset<std::string>> trips() const {
    std::lock_guard<std::mutex> lock(m_mutex);
    return m_trips;
  }
  std::vector<clock_type::time_point> times() const {
    std::lock_guard<std::mutex> lock(m_mutex);
    return m_times;
  }

 private:
  mutable std::mutex m_mutex;
  std::vector<std::multiset<std::string>> m_trips;
  std::vector<clock_type::time_point> m_times;
  std::map<std::string, int> m_sent;
};

struct joint_world {
  std::shared_ptr<recording_transport> wire = std::make_shared<recording_transport>();
  std::shared_ptr<aws::joined_transport> joint = std::make_shared<aws::joined_transport>(wire);
  aws::client client = make_client(400ms);

  aws::client make_client(std::chrono::milliseconds backoff_base) const {
    auto settings =
        aws::client_settings_from_environment(
            fixed_environment({{"AWS_REGION", "us-east-1"}, {"AWS_ENDPOINT_URL", "http://127.0.0.1:9"}}))
            .value();
    settings.retry.base_delay = backoff_base;
    settings.unit_random = [] { return 0.999; };  // the whole backoff: the test knows how long it sleeps
    return aws::client(joint, std::make_shared<aws::client_settings>(std::move(settings)),
                       aws::credentials{"AKIDEXAMPLE", "secret", ""});
  }
};

planned_call query(const action_kind& kind, const std::string& action, std::vector<size_t> needs = {}) {
  planned_call p{&kind, "target", aws::query_call{aws::service::ec2, action, {}}, ""};
  p.needs = std::move(needs);
  return p;
}

// A read, then a change that needs it: two levels, two round trips when run alone.
std::vector<planned_call> plan_a() {
  return {query(read_instances, "DescribeInstances"), query(tag_instance, "CreateTags", {0})};
}
std::vector<planned_call> plan_b() {
  return {query(read_acls, "DescribeNetworkAcls"), query(block_address, "CreateNetworkAclEntry", {0})};
}

execution run_plan(const std::vector<planned_call>& plan, const aws::client& client) {
  return execute_plan(plan, client, aws::deadline_in(20s), false);
}

using trip = std::multiset<std::string>;

TEST(joint_run, two_jobs_of_two_levels_take_two_round_trips_not_four) {
  joint_world w;
  execution a, b;
  w.joint->run_together(
      {[&] { a = run_plan(plan_a(), w.client); }, [&] { b = run_plan(plan_b(), w.client); }});
  ASSERT_TRUE(a.all_succeeded());
  ASSERT_TRUE(b.all_succeeded());
  EXPECT_EQ(w.wire->trips(), (std::vector<trip>{{"DescribeInstances", "DescribeNetworkAcls"},
                                                {"CreateNetworkAclEntry", "CreateTags"}}))
      << "the reads of both jobs in one round trip, their changes in the next";
  EXPECT_EQ(w.joint->round_trips(), 2);
  EXPECT_EQ(a.round_trips, 2) << "each job's own count is its own levels";
  EXPECT_EQ(b.round_trips, 2);
}

TEST(joint_run, jobs_of_unequal_depth_take_the_round_trips_of_the_longest) {
  joint_world w;
  std::vector<planned_call> deep = plan_a();
  deep.push_back(query(tag_instance, "CreateTags", {1}));
  deep.push_back(query(tag_instance, "CreateTags", {2}));
  execution a, b;
  w.joint->run_together({[&] { a = run_plan(deep, w.client); }, [&] { b = run_plan(plan_b(), w.client); }});
  EXPECT_EQ(w.wire->trips().size(), 4u) << "4 levels beside 2: 4 round trips, not 6";
  EXPECT_EQ(a.round_trips, 4);
  EXPECT_EQ(b.round_trips, 2);
}

TEST(joint_run, a_job_whose_read_fails_never_delays_the_others_change) {
  joint_world w;
  w.wire->answer = [](const std::string& action, int) -> result<aws::http_response> {
    if (action == "DescribeInstances") return ec2_error("UnauthorizedOperation");
    return ok_answer(action);
  };
  execution a, b;
  w.joint->run_together(
      {[&] { a = run_plan(plan_a(), w.client); }, [&] { b = run_plan(plan_b(), w.client); }});
  EXPECT_EQ(a.records[0].result, outcome::failed);
  EXPECT_EQ(a.records[1].result, outcome::skipped) << "its change needed the read";
  ASSERT_TRUE(b.all_succeeded());
  EXPECT_EQ(w.wire->trips(),
            (std::vector<trip>{{"DescribeInstances", "DescribeNetworkAcls"}, {"CreateNetworkAclEntry"}}))
      << "the other job's change goes out in the second round trip all the same";
}

TEST(joint_run, a_job_in_backoff_does_not_hold_the_others_level) {
  joint_world w;
  w.wire->answer = [](const std::string& action, int sent_before) -> result<aws::http_response> {
    if (action == "DescribeInstances" && sent_before == 0) return ec2_error("RequestLimitExceeded");
    return ok_answer(action);
  };
  const auto start = clock_type::now();
  execution a, b;
  w.joint->run_together(
      {[&] { a = run_plan(plan_a(), w.client); }, [&] { b = run_plan(plan_b(), w.client); }});
  ASSERT_TRUE(a.all_succeeded()) << "the throttled read succeeded on its retry";
  ASSERT_TRUE(b.all_succeeded());
  const auto trips = w.wire->trips();
  ASSERT_EQ(trips.size(), 4u);
  EXPECT_EQ(trips[0], (trip{"DescribeInstances", "DescribeNetworkAcls"}));
  EXPECT_EQ(trips[1], (trip{"CreateNetworkAclEntry"})) << "sent while the other job sleeps in its backoff";
  EXPECT_EQ(trips[2], (trip{"DescribeInstances"}));
  EXPECT_EQ(trips[3], (trip{"CreateTags"}));
  // The four trips show the change did not wait for the backoff: had it waited, it would have gone out with
  // the retry. Only a lower bound on time, which a loaded machine cannot break.
  const auto times = w.wire->times();
  EXPECT_GE(times[2] - start, 350ms) << "the retry came after its backoff";
}

TEST(joint_run, a_pass_pause_or_any_idle_wait_does_not_hold_the_others) {
  joint_world w;
  execution b;
  std::atomic<clock_type::time_point> pause_ended{};
  w.joint->run_together({[&] {
                           const aws::idle_scope pausing;
                           std::this_thread::sleep_for(1s);
                           pause_ended = clock_type::now();
                         },
                         [&] { b = run_plan(plan_b(), w.client); }});
  ASSERT_TRUE(b.all_succeeded());
  const auto times = w.wire->times();
  ASSERT_EQ(times.size(), 2u);
  // Both of the other job's levels went out during the pause: compared with the pause's own end, not with a
  // fixed time, so a slow machine does not decide it (it would have to stall for most of a second).
  EXPECT_LT(times[1], pause_ended.load()) << "the other job waited for the pausing one";
}

TEST(joint_run, one_job_runs_alone_on_the_calling_thread) {
  joint_world w;
  std::thread::id ran_on;
  execution a;
  w.joint->run_together({[&] {
    ran_on = std::this_thread::get_id();
    a = run_plan(plan_a(), w.client);
  }});
  EXPECT_EQ(ran_on, std::this_thread::get_id());
  EXPECT_EQ(w.wire->trips().size(), 2u);
}

TEST(joint_run, many_jobs_share_a_bounded_number_of_threads_and_still_join_their_levels) {
  joint_world w;
  std::vector<execution> runs(40);
  std::vector<std::function<void()>> tasks;
  for (size_t i = 0; i < runs.size(); ++i)
    tasks.push_back([&, i] { runs[i] = run_plan(plan_a(), w.client); });
  w.joint->run_together(tasks);
  for (const auto& r : runs) EXPECT_TRUE(r.all_succeeded());
  // 16 threads at a time: 40 jobs in three waves of up to 16, two levels each, at most 6 round trips.
  EXPECT_LE(w.wire->trips().size(), 6u);
}

TEST(joint_run, outside_a_joint_run_calls_go_straight_through) {
  joint_world w;
  const execution a = run_plan(plan_a(), w.client);
  EXPECT_TRUE(a.all_succeeded());
  EXPECT_EQ(w.joint->round_trips(), 2);
}

// A C&C finding as GuardDuty holds it (`detail`), and as decoded from its event.
const nlohmann::json cc_detail = {
    {"schemaVersion", "2.0"},
    {"accountId", "123456789012"},
    {"region", "us-east-1"},
    {"id", "f1"},
    {"arn", "arn:aws:guardduty:us-east-1:123456789012:detector/d1/finding/f1"},
    {"type", "Backdoor:EC2/C&CActivity.B!DNS"},
    {"severity", 8},
    {"resource", {{"resourceType", "Instance"}, {"instanceDetails", {{"instanceId", "i-0abc"}}}}},
    {"service", {{"archived", false}}}};

guardduty_finding cc_finding() {
  const nlohmann::json event = {{"version", "0"},
                                {"id", "e1"},
                                {"account", "123456789012"},
                                {"region", "us-east-1"},
                                {"time", "2026-01-01T00:00:00Z"},
                                {"source", "aws.guardduty"},
                                {"detail-type", "GuardDuty Finding"},
                                {"detail", cc_detail}};
  auto decoded = decode_event_json(event);
  EXPECT_TRUE(decoded.ok()) << decoded.err().describe();
  return std::get<guardduty_finding>(*decoded);
}

// The playbooks of one finding share its confirmation: one asks GuardDuty, the other waits for the verdict.
TEST(joint_run, getfindings_is_asked_by_one_job_and_its_verdict_is_the_others) {
  const nlohmann::json& detail = cc_detail;
  finding_confirmation shared(cc_finding());
  std::atomic<int> asked{0};
  std::atomic<confirmation_verdict> seen_by_other = confirmation_verdict::pending;
  std::vector<planned_call> first;
  ASSERT_TRUE(shared.add_to(first).has_value());
  std::thread other([&] {
    std::vector<planned_call> reads;
    if (shared.add_to(reads)) ++asked;
    seen_by_other = shared.verdict();  // waits for the asker's answer
  });
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(seen_by_other.load(), confirmation_verdict::pending) << "still waiting: the answer is not in";
  shared.absorb(result<nlohmann::json>(nlohmann::json{{"findings", {detail}}}));
  other.join();
  EXPECT_EQ(asked.load(), 0) << "GetFindings went out once, for both";
  EXPECT_EQ(seen_by_other.load(), confirmation_verdict::confirmed);
}

// A job that stops (an exception) after adding GetFindings to its reads never strands the others waiting for
// the verdict: the next to need it asks.
TEST(joint_run, a_job_that_stops_while_asking_leaves_the_question_to_the_others) {
  finding_confirmation shared(cc_finding());
  std::vector<planned_call> first;
  ASSERT_TRUE(shared.add_to(first).has_value());
  std::atomic<bool> asked_again{false};
  std::thread other([&] {
    (void)shared.verdict();  // waits while the first job is asking
    std::vector<planned_call> reads;
    asked_again = shared.add_to(reads).has_value();
  });
  std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(asked_again.load());
  shared.abandon_if_asking();  // what the responder does for a job that throws
  other.join();
  EXPECT_TRUE(asked_again.load()) << "the waiting job asks GuardDuty itself";
}

}  // namespace
}  // namespace tq::handlers
