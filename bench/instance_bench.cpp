// What instance containment costs on the CPU between round trips: parsing the answers to its reads (a
// DescribeInstances answer alone, then all six reads and state_from_reads), and planning the containment of
// a two-interface instance. Answers are moto_server's, captured by bench/data/capture.py.
#include <benchmark/benchmark.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "handlers/playbooks/instance_containment.h"

namespace {

using namespace tq;
using namespace tq::handlers;

std::string read_data(const std::string& name) {
  std::ifstream in(std::string(TQ_SOURCE_DIR) + "/bench/data/" + name, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

struct read_answers {
  std::vector<aws::http_response> responses;
  instance_finding finding;
};

const read_answers& answers() {
  static const read_answers loaded = [] {
    read_answers a;
    for (const char* name : {"describe-instances", "describe-instance-attribute-termination",
                             "describe-instance-attribute-shutdown", "describe-security-groups",
                             "describe-auto-scaling-instances", "describe-snapshots"}) {
      a.responses.push_back({200, {}, read_data(std::string(name) + ".xml")});
    }
    std::string instance = read_data("instance-id.txt");
    while (!instance.empty() && (instance.back() == '\n' || instance.back() == '\r')) instance.pop_back();
    a.finding = {"bench-finding", "Backdoor:EC2/C&CActivity.B", "123456789012", instance};
    return a;
  }();
  return loaded;
}

// The reads as execute_plan leaves them: one record and one parsed answer per planned read.
execution parsed_reads(const std::vector<aws::http_response>& responses) {
  execution reads;
  reads.records.resize(responses.size());
  for (const auto& r : responses) {
    auto parsed = aws::parse_response(r, "bench");
    if (parsed)
      reads.answers.emplace_back(aws::api_answer{std::move(*parsed)});
    else
      reads.answers.emplace_back(std::nullopt);
  }
  return reads;
}

void parse_describe_instances(benchmark::State& state) {
  const aws::http_response& response = answers().responses.front();
  for (auto _ : state) {
    auto parsed = aws::parse_response(response, "ec2:DescribeInstances");
    if (!parsed) state.SkipWithError(parsed.err().describe().c_str());
    benchmark::DoNotOptimize(parsed);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(response.body.size()));
}
BENCHMARK(parse_describe_instances)->Unit(benchmark::kMicrosecond);

// Everything between the read batch's answers and the plan: six answers parsed, the state built from them.
void parse_reads_and_build_state(benchmark::State& state) {
  const instance_settings cfg;
  for (auto _ : state) {
    const execution reads = parsed_reads(answers().responses);
    auto built = state_from_reads(answers().finding, cfg, reads);
    if (!built)
      state.SkipWithError(built.err().describe().c_str());
    else if (built->interfaces.size() != 2)
      state.SkipWithError("expected an instance with two interfaces");
    benchmark::DoNotOptimize(built);
  }
}
BENCHMARK(parse_reads_and_build_state)->Unit(benchmark::kMicrosecond);

// The plan for a two-interface instance whose VPC already has the groups: record, untrack, isolate, evidence.
void plan_containment_two_interfaces(benchmark::State& state) {
  const instance_settings cfg;
  const execution reads = parsed_reads(answers().responses);
  auto built = state_from_reads(answers().finding, cfg, reads);
  if (!built) {
    state.SkipWithError(built.err().describe().c_str());
    return;
  }
  for (auto _ : state) {
    std::vector<action_record> already;
    auto plan = plan_containment(answers().finding, *built, cfg, already);
    if (plan.size() < 8) state.SkipWithError("the plan is shorter than a full containment");
    benchmark::DoNotOptimize(plan);
  }
}
BENCHMARK(plan_containment_two_interfaces)->Unit(benchmark::kMicrosecond);

}  // namespace
