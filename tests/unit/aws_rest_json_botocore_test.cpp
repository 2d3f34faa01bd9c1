// REST-JSON requests checked against botocore in python3 on the same inputs: each request built here must be
// the one botocore's serializer builds from the service model (method, URL with its encoded labels and
// query, JSON body, content type), and its canonical request and signature must be SigV4Auth's.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "aws/rest_json.h"
#include "aws/sigv4.h"

namespace tq::aws {
namespace {

using namespace std::chrono;

// Example credentials from the AWS documentation, not real ones.
constexpr std::string_view access_key = "AKIAIOSFODNN7EXAMPLE";
constexpr std::string_view secret_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
constexpr std::string_view session_token = "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQDEXAMPLE==";

// For each case: the request botocore's serializer makes from the model, and SigV4Auth's signing of ours.
constexpr const char* botocore_script = R"PY(
import datetime, json, sys
import botocore.auth, botocore.serialize, botocore.session
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest, prepare_request_dict
from botocore.credentials import Credentials

class recording_auth(SigV4Auth):
    def canonical_request(self, request):
        self.recorded_canonical = super().canonical_request(request)
        return self.recorded_canonical
    def string_to_sign(self, request, canonical_request):
        self.recorded_string_to_sign = super().string_to_sign(request, canonical_request)
        return self.recorded_string_to_sign

session = botocore.session.get_session()
out = []
for c in json.load(open(sys.argv[1]))["cases"]:
    model = session.get_service_model(c["service"])
    serializer = botocore.serialize.create_serializer(model.metadata["protocol"])
    built = serializer.serialize_to_request(c["params"], model.operation_model(c["operation"]))
    prepare_request_dict(built, c["endpoint_url"])
    body = built["body"].decode() if isinstance(built["body"], bytes) else built["body"]

    ours = c["request"]
    fixed = datetime.datetime.fromtimestamp(c["epoch_seconds"], datetime.timezone.utc).replace(tzinfo=None)
    botocore.auth.get_current_datetime = lambda *args, **kwargs: fixed
    request = AWSRequest(method=ours["method"], url=ours["url"], data=ours["body"].encode(),
                         headers=ours["headers"])
    auth = recording_auth(Credentials(c["access_key_id"], c["secret_access_key"], c["session_token"] or None),
                          model.signing_name, c["region"])
    auth.add_auth(request)
    out.append({"method": built["method"], "url": built["url"], "body": json.loads(body) if body else None,
                "content_type": built["headers"].get("Content-Type", ""),
                "canonical_request": auth.recorded_canonical, "string_to_sign": auth.recorded_string_to_sign,
                "authorization": request.headers["Authorization"], "x_amz_date": request.headers["X-Amz-Date"]})
print(json.dumps(out))
)PY";

struct botocore_case {
  std::string name;
  rest_json_call call;
  nlohmann::ordered_json params;  // the same inputs, named as in botocore's operation model, in order
  endpoint target;
  std::string token;
  system_clock::time_point time;
};

system_clock::time_point at(int y, unsigned mo, unsigned d, int h, int mi, int s) {
  return sys_days{year{y} / month{mo} / day{d}} + hours{h} + minutes{mi} + seconds{s};
}

std::vector<botocore_case> botocore_cases() {
  const std::string detector = "12abc34d567e8fa901bc2d34e56789f0";
  rest_json_call get_findings{service::guardduty, "GetFindings", "POST",
                              "/detector/" + uri_label(detector) + "/findings/get"};
  get_findings.body = {{"findingIds", {"a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7"}},
                       {"sortCriteria", {{"attributeName", "severity"}, {"orderBy", "DESC"}}}};
  const std::string function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:web-api:prod";
  rest_json_call concurrency{service::lambda, "GetFunctionConcurrency", "GET",
                             "/2019-09-30/functions/" + uri_label(function_arn) + "/concurrency"};
  rest_json_call list{service::lambda, "ListFunctions", "GET", "/2015-03-31/functions"};
  list.query = {{"MasterRegion", "ALL"}, {"FunctionVersion", "ALL"}, {"Marker", "a b/c+d&e=f~"}};
  rest_json_call hub_findings{service::securityhub, "GetFindings", "POST", "/findings"};
  hub_findings.body = {{"Filters", {{"Id", {{{"Comparison", "EQUALS"}, {"Value", "arn:aws:x/y z"}}}}}},
                       {"MaxResults", 1}};

  return {
      {"guardduty_get_findings_post_with_a_json_body",
       get_findings,
       {{"DetectorId", detector},
        {"FindingIds", {"a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7"}},
        {"SortCriteria", {{"AttributeName", "severity"}, {"OrderBy", "DESC"}}}},
       {"https://guardduty.us-east-1.amazonaws.com", "us-east-1", "guardduty"},
       std::string(session_token),
       at(2024, 3, 9, 21, 7, 42)},
      {"lambda_get_concurrency_of_an_arn_that_needs_encoding",
       concurrency,
       {{"FunctionName", function_arn}},
       {"https://lambda.eu-west-1.amazonaws.com", "eu-west-1", "lambda"},
       "",
       at(2025, 12, 31, 23, 59, 59)},
      {"lambda_list_functions_with_a_query_string_and_a_port",
       list,
       {{"MasterRegion", "ALL"}, {"FunctionVersion", "ALL"}, {"Marker", "a b/c+d&e=f~"}},
       {"http://127.0.0.1:5000", "us-east-1", "lambda", true},
       std::string(session_token),
       at(2024, 2, 29, 0, 0, 0)},
      {"securityhub_get_findings_with_a_filter",
       hub_findings,
       {{"Filters", {{"Id", {{{"Comparison", "EQUALS"}, {"Value", "arn:aws:x/y z"}}}}}}, {"MaxResults", 1}},
       {"https://securityhub.us-west-2.amazonaws.com", "us-west-2", "securityhub"},
       "",
       at(2026, 1, 2, 3, 4, 5)},
  };
}

struct temp_file {
  std::filesystem::path path;
  temp_file(const std::string& suffix, const std::string& content)
      : path(std::filesystem::temp_directory_path() /
             ("tq_rest_json_" + std::to_string(::getpid()) + "_" + suffix)) {
    std::ofstream(path, std::ios::binary) << content;
  }
  ~temp_file() { std::filesystem::remove(path); }
};

std::string header_value(const http_request& r, std::string_view name) {
  for (const auto& h : r.headers) {
    if (h.name == name) return h.value;
  }
  return {};
}

nlohmann::json run_botocore(const std::vector<botocore_case>& cases) {
  nlohmann::ordered_json spec;  // in order, so botocore writes the query in the order given
  spec["cases"] = nlohmann::ordered_json::array();
  for (const auto& c : cases) {
    const http_request request = rest_json_request(c.call, c.target);
    nlohmann::ordered_json headers = nlohmann::ordered_json::object();
    for (const auto& h : request.headers) headers[h.name] = h.value;
    spec["cases"].push_back(
        {{"service", service_name(c.call.target)},
         {"operation", c.call.operation},
         {"params", c.params},
         {"endpoint_url", c.target.url},
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

TEST(rest_json_botocore, requests_are_built_and_signed_exactly_as_botocore_does) {
  const std::vector<botocore_case> cases = botocore_cases();
  const nlohmann::json expected = run_botocore(cases);
  ASSERT_TRUE(expected.is_array()) << "python3 with botocore failed";
  ASSERT_EQ(expected.size(), cases.size());

  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(cases[i].name);
    const botocore_case& c = cases[i];
    http_request request = rest_json_request(c.call, c.target);
    EXPECT_EQ(request.method, expected[i]["method"].get<std::string>());
    EXPECT_EQ(request.url, expected[i]["url"].get<std::string>());
    EXPECT_EQ(header_value(request, "Content-Type"), expected[i]["content_type"].get<std::string>());
    // botocore writes ", " between members; the bytes differ, the document must not.
    EXPECT_EQ(request.body.empty() ? nlohmann::json() : nlohmann::json::parse(request.body),
              expected[i]["body"]);

    sigv4::signing_params params;
    params.credentials = {access_key, secret_key, c.token};
    params.region = c.target.signing_region;
    params.service = c.target.signing_name;
    params.time = c.time;
    sigv4::sign(request, params);
    const sigv4::canonical_result canonical = sigv4::canonical_request(request, params);
    EXPECT_EQ(canonical.canonical_request, expected[i]["canonical_request"].get<std::string>());
    EXPECT_EQ(sigv4::string_to_sign(canonical.canonical_request, params),
              expected[i]["string_to_sign"].get<std::string>());
    EXPECT_EQ(header_value(request, "X-Amz-Date"), expected[i]["x_amz_date"].get<std::string>());
    EXPECT_EQ(header_value(request, "Authorization"), expected[i]["authorization"].get<std::string>());
  }
  // The path is encoded once more in the canonical request, as for every service but S3.
  EXPECT_NE(expected[1]["canonical_request"].get<std::string>().find(
                "/2019-09-30/functions/arn%253Aaws%253Alambda%253Aeu-west-1"),
            std::string::npos);
}

}  // namespace
}  // namespace tq::aws
