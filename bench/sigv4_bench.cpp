// Cost of signing a typical EC2 query-protocol request (target: 10 µs or less), and of its stages.
#include <benchmark/benchmark.h>

#include <chrono>

#include "aws/crypto.h"
#include "aws/sigv4.h"

namespace {

using namespace std::chrono;
using tq::aws::http_request;
namespace sigv4 = tq::aws::sigv4;

sigv4::signing_params ec2_params() {
  sigv4::signing_params params;
  params.credentials = {"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                        "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQDEXAMPLEtokenAAAA+bbb/ccc=="};
  params.region = "us-east-1";
  params.service = "ec2";
  params.time = sys_days{year{2024} / 3 / 9} + hours{21} + minutes{7} + seconds{42};
  return params;
}

http_request ec2_request() {
  http_request request;
  request.method = "POST";
  request.url = "https://ec2.us-east-1.amazonaws.com/";
  request.headers.push_back({"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"});
  request.headers.push_back({"User-Agent", "tourniquet/0.1.0"});
  request.body =
      "Action=ModifyInstanceAttribute&Version=2016-11-15&InstanceId=i-0123456789abcdef0"
      "&GroupId.1=sg-0fedcba9876543210";
  return request;
}

// The whole of sign() with a warm key cache, as a warm Lambda signs its calls.
void sign_ec2_request(benchmark::State& state) {
  const sigv4::signing_params params = ec2_params();
  const http_request original = ec2_request();
  for (auto _ : state) {
    http_request request = original;
    sigv4::sign(request, params);
    benchmark::DoNotOptimize(request.headers.back().value.data());
  }
}
BENCHMARK(sign_ec2_request);

// The first request of a new day: the signing key is derived again (four more HMACs).
void sign_ec2_request_cold_key(benchmark::State& state) {
  sigv4::signing_params params = ec2_params();
  const http_request original = ec2_request();
  for (auto _ : state) {
    params.time += days{1};
    http_request request = original;
    sigv4::sign(request, params);
    benchmark::DoNotOptimize(request.headers.back().value.data());
  }
}
BENCHMARK(sign_ec2_request_cold_key);

void canonical_request_stage(benchmark::State& state) {
  const sigv4::signing_params params = ec2_params();
  http_request request = ec2_request();
  sigv4::sign(request, params);
  for (auto _ : state) benchmark::DoNotOptimize(sigv4::canonical_request(request, params));
}
BENCHMARK(canonical_request_stage);

void hmac_sha256(benchmark::State& state) {
  const tq::aws::crypto::digest key{};
  for (auto _ : state)
    benchmark::DoNotOptimize(tq::aws::crypto::hmac_sha256(key, "a string to sign of about 120 bytes"));
}
BENCHMARK(hmac_sha256);

}  // namespace
