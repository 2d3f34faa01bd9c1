// AWS answers on arbitrary bytes: parse_response turns any body and status into a document or an error,
// and the instance containment reader and planners cope with whatever documents come back.
// Input: one byte choosing the HTTP status, then up to seven XML bodies separated by NUL bytes, read as the
// answers to the state reads of instance containment, in plan order (an answer that is an error is a failed
// read).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "aws/xml.h"
#include "handlers/config.h"
#include "handlers/playbooks/instance_containment.h"

namespace {

using namespace tq;

const handlers::instance_settings& fuzz_config() {
  static const handlers::instance_settings cfg = [] {
    auto made = handlers::instance_settings_from_environment(
        fixed_environment({{"TOURNIQUET_ISOLATION_GROUP_IDS", "sg-0aaa,sg-0bbb"},
                           {"TOURNIQUET_FORENSICS_CIDRS", "10.9.0.0/16"}}));
    if (!made) __builtin_trap();
    return *made;
  }();
  return cfg;
}

void read_through(const aws::xml_response& doc) {
  const pugi::xml_node result = doc.result();
  (void)aws::text_of(result, "a/b/c");
  for (pugi::xml_node item : aws::items_of(result)) (void)aws::text_of(item, "groupId");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static constexpr long statuses[] = {200, 400, 403, 404, 429, 500, 503, 302};
  const long status = statuses[data[0] % (sizeof statuses / sizeof statuses[0])];
  const std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);

  std::vector<std::string> bodies;
  size_t start = 0;
  while (bodies.size() < 7) {
    const size_t end = rest.find('\0', start);
    bodies.emplace_back(
        rest.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
    if (end == std::string_view::npos) break;
    start = end + 1;
  }

  aws::http_response first;
  first.status = status;
  first.body = bodies.front();
  first.headers.push_back({"x-amzn-RequestId", "fuzz"});
  auto parsed = aws::parse_response(first, "ec2:DescribeInstances");
  if (parsed) {
    read_through(*parsed);
  } else if (parsed.err().code.empty() || parsed.err().where != "ec2:DescribeInstances") {
    __builtin_trap();  // every error names a code and the call
  }

  const handlers::instance_finding finding{"fuzz-finding", "Backdoor:EC2/C&CActivity.B", "123456789012",
                                           "i-1234567890abcdef0"};
  const auto& cfg = fuzz_config();
  const auto plan = handlers::plan_state_reads(finding, cfg);
  handlers::execution reads;
  reads.records.resize(plan.size());
  reads.answers.resize(plan.size());
  for (size_t i = 0; i < plan.size(); ++i) {
    reads.records[i].action = std::string(plan[i].kind->name);
    reads.records[i].target = plan[i].target;
    aws::http_response answer;
    answer.status = 200;
    answer.body = i < bodies.size() ? bodies[i] : std::string();
    auto read = aws::parse_response(answer, aws::call_name(plan[i].call));
    if (read) {
      reads.records[i].result = handlers::outcome::done;
      reads.answers[i] = aws::api_answer{std::move(*read)};
    } else {
      reads.records[i].result = handlers::outcome::failed;
      reads.records[i].failure = std::move(read).err();
    }
  }
  auto state = handlers::state_from_reads(finding, cfg, reads);
  if (!state) return 0;
  std::vector<handlers::action_record> already;
  (void)handlers::plan_group_creation(*state, "tq-fuzz");
  (void)handlers::plan_group_rules(*state, cfg);
  (void)handlers::plan_containment(finding, *state, cfg, already);
  (void)handlers::plan_status(*state, true, "2024-01-01T00:00:00Z", already);
  (void)handlers::plan_release(*state, "2024-01-01T00:00:00Z", "arn:aws:iam::123456789012:user/fuzz",
                               already);
  (void)handlers::decision_of(*state);
  return 0;
}
