// S3 and S3 Control requests checked against botocore in python3 on the same inputs: each request built here
// must be the one a botocore client builds for the same operation and parameters (URL with the bucket in the
// host or the path, the encoded key, the sub-resource, the XML body, the checksum and account headers), and
// its canonical request and signature must be S3SigV4Auth's (no path normalisation, the payload's SHA-256).
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "aws/api_call.h"
#include "aws/crypto.h"
#include "aws/rest_xml.h"
#include "aws/sigv4.h"

namespace tq::aws {
namespace {

using namespace std::chrono;

// Example credentials from the AWS documentation, not real ones.
constexpr std::string_view access_key = "AKIAIOSFODNN7EXAMPLE";
constexpr std::string_view secret_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
constexpr std::string_view session_token = "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQDEXAMPLE==";

// For each case: the request a botocore client makes (caught before it is signed), and S3SigV4Auth's signing
// of ours. The client asks for SHA-256 checksums where the call carries one (ChecksumAlgorithm), as ours do.
constexpr const char* botocore_script = R"PY(
import datetime, hashlib, json, sys
import botocore.auth, botocore.session
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

class recording_auth(S3SigV4Auth):
    def canonical_request(self, request):
        self.recorded_canonical = super().canonical_request(request)
        return self.recorded_canonical
    def string_to_sign(self, request, canonical_request):
        self.recorded_string_to_sign = super().string_to_sign(request, canonical_request)
        return self.recorded_string_to_sign

class caught(Exception):
    pass

session = botocore.session.get_session()
out = []
for c in json.load(open(sys.argv[1]))["cases"]:
    seen = {}
    def catch(request, **kwargs):
        body = request.body
        if hasattr(body, "read"):
            body = body.read()
        seen.update(url=request.url, method=request.method, headers=dict(request.headers),
                    body=(body or b"").decode() if isinstance(body, (bytes, type(None))) else str(body))
        raise caught()
    client = session.create_client(c["service"], region_name=c["region"], endpoint_url=c["endpoint_url"],
                                   aws_access_key_id="AKID", aws_secret_access_key="secret",
                                   config=Config(s3={"addressing_style": c["addressing"],
                                                     "us_east_1_regional_endpoint": "regional"},
                                                 request_checksum_calculation="when_required"))
    client.meta.events.register("before-sign", catch)
    try:
        getattr(client, c["operation"])(**c["params"])
    except caught:
        pass
    lower = {k.lower(): v for k, v in seen["headers"].items()}
    picked = {name: lower.get(name, "") for name in
              ["x-amz-sdk-checksum-algorithm", "x-amz-checksum-sha256", "x-amz-account-id", "if-none-match",
               "content-type", "content-md5"]}

    ours = c["request"]
    fixed = datetime.datetime.fromtimestamp(c["epoch_seconds"], datetime.timezone.utc).replace(tzinfo=None)
    botocore.auth.get_current_datetime = lambda *args, **kwargs: fixed
    request = AWSRequest(method=ours["method"], url=ours["url"], data=ours["body"].encode(),
                         headers=ours["headers"])
    auth = recording_auth(Credentials(c["access_key_id"], c["secret_access_key"], c["session_token"] or None),
                          "s3", c["region"])
    auth.add_auth(request)
    out.append({"method": seen["method"], "url": seen["url"], "body": seen["body"], "headers": picked,
                "payload_sha256": hashlib.sha256(ours["body"].encode()).hexdigest(),
                "canonical_request": auth.recorded_canonical, "string_to_sign": auth.recorded_string_to_sign,
                "authorization": request.headers["Authorization"], "x_amz_date": request.headers["X-Amz-Date"]})
print(json.dumps(out))
)PY";

struct botocore_case {
  std::string name;
  rest_xml_call call;
  std::string boto_service;       // "s3", "s3control"
  std::string boto_operation;     // the client method
  nlohmann::ordered_json params;  // the same inputs, as botocore names them
  endpoint target;
  std::string token;
  system_clock::time_point time;
  bool compare_body_headers = true;  // false where botocore streams the body (aws-chunked over https)
};

system_clock::time_point at(int y, unsigned mo, unsigned d, int h, int mi, int s) {
  return sys_days{year{y} / month{mo} / day{d}} + hours{h} + minutes{mi} + seconds{s};
}

const endpoint moto_s3{"http://127.0.0.1:5000", "us-east-1", "s3", true};
const endpoint aws_s3{"https://s3.eu-west-1.amazonaws.com", "eu-west-1", "s3", false};
const endpoint aws_s3control{"https://s3-control.eu-west-1.amazonaws.com", "eu-west-1", "s3", false};

botocore_case put_object_case(std::string name, endpoint target, bool path_style) {
  const std::string key = "incidents/a b+c/\xc3\xbc\xe2\x82\xac/finding.json";
  const std::string body = R"({"detail":{"id":"a2b3"},"note":"caf\u00e9"})";
  rest_xml_call call = s3_put_object("tq-evidence-123456789012", key, body, "application/json");
  call.headers.push_back({"If-None-Match", "*"});
  return {std::move(name),
          call,
          "s3",
          "put_object",
          {{"Bucket", "tq-evidence-123456789012"},
           {"Key", key},
           {"Body", body},
           {"ContentType", "application/json"},
           {"IfNoneMatch", "*"},
           {"ChecksumAlgorithm", "SHA256"}},
          std::move(target),
          path_style ? std::string(session_token) : "",
          at(2026, 12, 1, 12, 34, 56),
          path_style};
}

std::vector<botocore_case> botocore_cases() {
  const public_access_block partly{true, true, true, false};
  nlohmann::ordered_json block = {{"BlockPublicAcls", true},
                                  {"IgnorePublicAcls", true},
                                  {"BlockPublicPolicy", true},
                                  {"RestrictPublicBuckets", false}};
  return {
      put_object_case("put_object_path_style_with_a_key_needing_encoding", moto_s3, true),
      put_object_case("put_object_virtual_hosted_with_a_key_needing_encoding", aws_s3, false),
      {"put_bucket_public_access_block_with_its_checksum",
       s3_put_public_access_block("tq-evidence-123456789012", partly),
       "s3",
       "put_public_access_block",
       {{"Bucket", "tq-evidence-123456789012"},
        {"PublicAccessBlockConfiguration", block},
        {"ChecksumAlgorithm", "SHA256"}},
       aws_s3,
       std::string(session_token),
       at(2024, 2, 29, 0, 0, 0)},
      {"get_bucket_public_access_block_path_style",
       s3_get_public_access_block("tq-evidence-123456789012"),
       "s3",
       "get_public_access_block",
       {{"Bucket", "tq-evidence-123456789012"}},
       moto_s3,
       "",
       at(2025, 12, 31, 23, 59, 59)},
      {"get_bucket_public_access_block_of_a_dotted_bucket_goes_in_the_path",
       s3_get_public_access_block("logs.example.com"),
       "s3",
       "get_public_access_block",
       {{"Bucket", "logs.example.com"}},
       aws_s3,
       "",
       at(2025, 6, 1, 8, 0, 0)},
      {"s3control_get_account_public_access_block",
       s3control_get_public_access_block("123456789012"),
       "s3control",
       "get_public_access_block",
       {{"AccountId", "123456789012"}},
       aws_s3control,
       std::string(session_token),
       at(2026, 1, 2, 3, 4, 5)},
      {"s3control_put_account_public_access_block",
       s3control_put_public_access_block("123456789012", public_access_block{}),
       "s3control",
       "put_public_access_block",
       {{"AccountId", "123456789012"},
        {"PublicAccessBlockConfiguration",
         {{"BlockPublicAcls", true},
          {"IgnorePublicAcls", true},
          {"BlockPublicPolicy", true},
          {"RestrictPublicBuckets", true}}}},
       aws_s3control,
       "",
       at(2026, 1, 2, 3, 4, 5)},
  };
}

struct temp_file {
  std::filesystem::path path;
  temp_file(const std::string& suffix, const std::string& content)
      : path(std::filesystem::temp_directory_path() /
             ("tq_rest_xml_" + std::to_string(::getpid()) + "_" + suffix)) {
    std::ofstream(path, std::ios::binary) << content;
  }
  ~temp_file() { std::filesystem::remove(path); }
};

std::string header_value(const http_request& r, std::string_view name) {
  for (const auto& h : r.headers) {
    if (h.name.size() == name.size() &&
        std::equal(h.name.begin(), h.name.end(), name.begin(),
                   [](char a, char b) { return std::tolower(a) == std::tolower(b); })) {
      return h.value;
    }
  }
  return {};
}

nlohmann::json run_botocore(const std::vector<botocore_case>& cases) {
  nlohmann::ordered_json spec;
  spec["cases"] = nlohmann::ordered_json::array();
  for (const auto& c : cases) {
    const http_request request = rest_xml_request(c.call, c.target);
    nlohmann::ordered_json headers = nlohmann::ordered_json::object();
    for (const auto& h : request.headers) headers[h.name] = h.value;
    spec["cases"].push_back(
        {{"service", c.boto_service},
         {"operation", c.boto_operation},
         {"params", c.params},
         {"endpoint_url", c.target.overridden ? nlohmann::ordered_json(c.target.url) : nullptr},
         {"addressing", c.target.overridden ? "path" : "virtual"},
         {"request",
          {{"method", request.method}, {"url", request.url}, {"headers", headers}, {"body", request.body}}},
         {"region", c.target.signing_region},
         {"access_key_id", access_key},
         {"secret_access_key", secret_key},
         {"session_token", c.token},
         {"epoch_seconds", duration_cast<seconds>(c.time.time_since_epoch()).count()}});
  }
  temp_file script("botocore.py", botocore_script);
  temp_file input("input.json", spec.dump());
  const std::string command = "python3 " + script.path.string() + " " + input.path.string();
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return nullptr;
  std::string output;
  char buffer[4096];
  while (size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) output.append(buffer, n);
  if (::pclose(pipe) != 0) return nullptr;
  return nlohmann::json::parse(output, nullptr, false);
}

TEST(rest_xml_botocore, requests_are_built_and_signed_exactly_as_botocore_does) {
  const std::vector<botocore_case> cases = botocore_cases();
  const nlohmann::json expected = run_botocore(cases);
  ASSERT_TRUE(expected.is_array()) << "python3 with botocore failed";
  ASSERT_EQ(expected.size(), cases.size());

  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(cases[i].name);
    const botocore_case& c = cases[i];
    const nlohmann::json& want = expected[i];
    http_request request = rest_xml_request(c.call, c.target);
    EXPECT_EQ(request.method, want["method"].get<std::string>());
    EXPECT_EQ(request.url, want["url"].get<std::string>());
    for (const auto& [name, value] : want["headers"].items()) {
      if (!c.compare_body_headers && name == "x-amz-checksum-sha256") continue;  // a trailer there
      EXPECT_EQ(header_value(request, name), value.get<std::string>()) << name;
    }
    if (c.compare_body_headers) {
      EXPECT_EQ(request.body, want["body"].get<std::string>());
    }

    sigv4::signing_params params;
    params.credentials = {access_key, secret_key, c.token};
    params.region = c.target.signing_region;
    params.service = c.target.signing_name;
    params.time = c.time;
    const signing_style style = signing_style_of(api_call(c.call));
    params.normalize_path = style.normalize_path;
    params.double_encode_path = style.double_encode_path;
    params.sign_body = style.sign_body;
    sigv4::sign(request, params);
    EXPECT_EQ(header_value(request, "x-amz-content-sha256"), want["payload_sha256"].get<std::string>());
    const sigv4::canonical_result canonical = sigv4::canonical_request(request, params);
    EXPECT_EQ(canonical.canonical_request, want["canonical_request"].get<std::string>());
    EXPECT_EQ(sigv4::string_to_sign(canonical.canonical_request, params),
              want["string_to_sign"].get<std::string>());
    EXPECT_EQ(header_value(request, "X-Amz-Date"), want["x_amz_date"].get<std::string>());
    EXPECT_EQ(header_value(request, "Authorization"), want["authorization"].get<std::string>());
  }
  // The key is encoded once, '/' kept: S3 does not encode its path a second time when signing.
  EXPECT_NE(expected[0]["canonical_request"].get<std::string>().find(
                "\n/tq-evidence-123456789012/incidents/a%20b%2Bc/%C3%BC%E2%82%AC/finding.json\n"),
            std::string::npos);
  // The checksum S3 requires on PutPublicAccessBlock, and no Content-MD5 beside it.
  EXPECT_FALSE(expected[2]["headers"]["x-amz-checksum-sha256"].get<std::string>().empty());
  EXPECT_TRUE(expected[2]["headers"]["content-md5"].get<std::string>().empty());
}

TEST(rest_xml_botocore, a_path_with_dot_segments_is_signed_as_sent) {
  // A key such as "a/../b" must reach S3 as written and be signed so: normalising it would sign another path.
  rest_xml_call call = s3_put_object("bucket-name", "a/./../b//c", "x", "");
  http_request request = rest_xml_request(call, moto_s3);
  EXPECT_EQ(request.url, "http://127.0.0.1:5000/bucket-name/a/./../b//c");
  sigv4::signing_params params;
  params.credentials = {access_key, secret_key, ""};
  params.region = "us-east-1";
  params.service = "s3";
  params.time = at(2026, 1, 1, 0, 0, 0);
  const signing_style style = signing_style_of(api_call(call));
  params.normalize_path = style.normalize_path;
  params.double_encode_path = style.double_encode_path;
  params.sign_body = style.sign_body;
  sigv4::sign(request, params);
  EXPECT_NE(sigv4::canonical_request(request, params).canonical_request.find("\n/bucket-name/a/./../b//c\n"),
            std::string::npos);
}

}  // namespace
}  // namespace tq::aws
