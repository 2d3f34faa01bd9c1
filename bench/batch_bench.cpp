// Independent calls go out together: a batch of 8 to an endpoint that answers each after 50 ms must take one
// round trip (target: <= 70 ms wall), not eight. Needs a local endpoint in TQ_BENCH_ENDPOINT, e.g.
// tests/servers/fault_server.py scripted with a default delay of 50 ms (bench/run starts one).
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <vector>

#include "aws/client.h"

namespace {

using namespace tq;

std::optional<aws::client> make_client() {
  const char* endpoint = std::getenv("TQ_BENCH_ENDPOINT");
  if (endpoint == nullptr || *endpoint == '\0') return std::nullopt;
  auto settings = aws::client_settings_from_environment(fixed_environment(
      {{"AWS_REGION", "us-east-1"}, {"AWS_ENDPOINT_URL", endpoint}, {"AWS_MAX_ATTEMPTS", "1"}}));
  if (!settings) return std::nullopt;
  return aws::client(aws::make_curl_transport({}),
                     std::make_shared<aws::client_settings>(std::move(*settings)),
                     aws::credentials{"AKIDBENCH", "bench-secret", "", std::nullopt});
}

std::vector<aws::query_call> batch_of(size_t count) {
  std::vector<aws::query_call> calls;
  for (size_t i = 0; i < count; ++i) {
    aws::query_call call{aws::service::ec2, "DescribeRegions", {}};
    call.params.add("RegionName.1", "us-east-" + std::to_string(i % 2 + 1));
    calls.push_back(std::move(call));
  }
  return calls;
}

void run_batch(benchmark::State& state, const aws::client& client,
               const std::vector<aws::query_call>& calls) {
  auto answers = client.call_all(calls, aws::deadline_in(std::chrono::seconds(30)));
  for (const auto& a : answers) {
    if (!a) state.SkipWithError(a.err().describe().c_str());
  }
}

// Wall time of one batch of `range(0)` calls on warm connections (the first batch, which opens them, is
// reported as the counter first_batch_ms).
void call_all_batch(benchmark::State& state) {
  auto client = make_client();
  if (!client) {
    state.SkipWithError("TQ_BENCH_ENDPOINT is not set: run through bench/run");
    return;
  }
  const auto calls = batch_of(static_cast<size_t>(state.range(0)));
  const auto started = std::chrono::steady_clock::now();
  run_batch(state, *client, calls);
  const std::chrono::duration<double, std::milli> first = std::chrono::steady_clock::now() - started;
  for (auto _ : state) run_batch(state, *client, calls);
  state.counters["first_batch_ms"] = first.count();
  state.counters["calls"] = static_cast<double>(calls.size());
}
BENCHMARK(call_all_batch)->Arg(1)->Arg(8)->Iterations(10)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace
