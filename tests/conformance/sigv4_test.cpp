// Runs the AWS SigV4 signing test suite (tests/conformance/sigv4, from awslabs/aws-c-auth): every stage of
// header signing and of presigned-query signing for each of the 38 cases.
#include "aws/sigv4.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

namespace tq::aws {
namespace {

namespace fs = std::filesystem;

const fs::path suite_dir = fs::path(TQ_TESTS_DIR) / "conformance" / "sigv4";

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) ADD_FAILURE() << "cannot read " << path;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<std::string> case_names() {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(suite_dir)) {
    if (entry.is_directory()) names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

// A raw request as the suite writes it: request line, headers (a line starting with whitespace continues
// the previous value), a blank line, the body. Values are kept exactly as written; trimming is the
// signer's job.
struct raw_request {
  http_request request;
  std::string target;  // path[?query] as on the request line
};

raw_request parse_request(const std::string& text) {
  raw_request raw;
  size_t position = 0;
  auto next_line = [&](std::string& line) {
    if (position >= text.size()) return false;
    size_t end = text.find('\n', position);
    if (end == std::string::npos) end = text.size();
    line = text.substr(position, end - position);
    position = std::min(end + 1, text.size());
    return true;
  };
  std::string line;
  next_line(line);
  // The target may hold spaces ("GET /example space/ HTTP/1.1"): the method ends at the first space and
  // the version starts at the last.
  size_t first = line.find(' ');
  size_t last = line.rfind(' ');
  raw.request.method = line.substr(0, first);
  raw.target = line.substr(first + 1, last - first - 1);
  bool ended_by_blank_line = false;
  while (next_line(line)) {
    if (line.empty()) {
      ended_by_blank_line = true;
      break;
    }
    if ((line[0] == ' ' || line[0] == '\t') && !raw.request.headers.empty()) {
      raw.request.headers.back().value += "\n" + line;
      continue;
    }
    size_t colon = line.find(':');
    raw.request.headers.push_back({line.substr(0, colon), line.substr(colon + 1)});
  }
  if (ended_by_blank_line) raw.request.body = text.substr(position);
  std::string host;
  for (const auto& header : raw.request.headers) {
    if (header.name == "Host") host = header.value;
  }
  raw.request.url = "https://" + host + raw.target;
  return raw;
}

// Writes a request back in the suite's form, the target taken from the (possibly presigned) URL.
std::string serialize(const http_request& request) {
  std::string url = request.url;
  std::string target = url.substr(url.find('/', url.find("://") + 3));
  std::string out = request.method + " " + target + " HTTP/1.1\n";
  for (const auto& header : request.headers) out += header.name + ":" + header.value + "\n";
  out += "\n" + request.body;
  return out;
}

std::chrono::system_clock::time_point parse_time(const std::string& text) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
  EXPECT_EQ(std::sscanf(text.c_str(), "%d-%d-%dT%d:%d:%dZ", &y, &mo, &d, &h, &mi, &s), 6) << text;
  using namespace std::chrono;
  return sys_days{year{y} / month{static_cast<unsigned>(mo)} / day{static_cast<unsigned>(d)}} + hours{h} +
         minutes{mi} + seconds{s};
}

// The context owns the strings the params view.
struct signing_case {
  nlohmann::json context;
  std::string access_key_id, secret_access_key, session_token, region, service;
  sigv4::signing_params params;
  std::chrono::seconds expires{};
  raw_request raw;
  fs::path dir;

  explicit signing_case(const std::string& name) : dir(suite_dir / name) {
    context = nlohmann::json::parse(read_file(dir / "context.json"));
    const auto& credentials = context.at("credentials");
    access_key_id = credentials.at("access_key_id");
    secret_access_key = credentials.at("secret_access_key");
    session_token = credentials.value("token", "");
    region = context.at("region");
    service = context.at("service");
    params.credentials = {access_key_id, secret_access_key, session_token};
    params.region = region;
    params.service = service;
    params.time = parse_time(context.at("timestamp"));
    params.normalize_path = context.at("normalize");
    params.sign_body = context.at("sign_body");
    params.omit_session_token = context.value("omit_session_token", false);
    expires = std::chrono::seconds(context.at("expiration_in_seconds").get<long>());
    raw = parse_request(read_file(dir / "request.txt"));
  }

  std::string expected(const std::string& file) const { return read_file(dir / file); }
};

std::string authorization_of(const http_request& request) {
  std::string value;
  int count = 0;
  for (const auto& header : request.headers) {
    if (header.name == "Authorization") {
      value = header.value;
      ++count;
    }
  }
  EXPECT_EQ(count, 1);
  return value;
}

std::string expected_authorization(const std::string& signed_request) {
  const std::string prefix = "\nAuthorization:";
  size_t start = signed_request.find(prefix);
  if (start == std::string::npos) return "(no Authorization line)";
  start += prefix.size();
  return signed_request.substr(start, signed_request.find('\n', start) - start);
}

TEST(sigv4_conformance, suite_has_all_38_cases) {
  EXPECT_EQ(case_names().size(), 38u);
}

class header_signing : public testing::TestWithParam<std::string> {};

TEST_P(header_signing, every_stage_matches) {
  signing_case c(GetParam());
  http_request request = c.raw.request;
  sigv4::sign(request, c.params);

  // The stages, recomputed from the signed request (which now carries X-Amz-Date and friends).
  sigv4::canonical_result canonical = sigv4::canonical_request(request, c.params);
  EXPECT_EQ(canonical.canonical_request, c.expected("header-canonical-request.txt"));
  std::string to_sign = sigv4::string_to_sign(canonical.canonical_request, c.params);
  EXPECT_EQ(to_sign, c.expected("header-string-to-sign.txt"));
  EXPECT_EQ(sigv4::signature(to_sign, c.params), c.expected("header-signature.txt"));

  std::string signed_request = c.expected("header-signed-request.txt");
  EXPECT_EQ(authorization_of(request), expected_authorization(signed_request));
  EXPECT_EQ(serialize(request), signed_request);
}

class query_signing : public testing::TestWithParam<std::string> {};

TEST_P(query_signing, every_stage_matches) {
  signing_case c(GetParam());
  http_request request = c.raw.request;
  http_request before = request;
  sigv4::presign(request, c.params, c.expires);
  EXPECT_EQ(serialize(request), c.expected("query-signed-request.txt"));

  // The stages, from the request as it stood just before X-Amz-Signature (and, when the token is not
  // signed, X-Amz-Security-Token) were appended.
  http_request unsigned_request = request;
  std::string& url = unsigned_request.url;
  url.erase(url.rfind("&X-Amz-Signature="));
  if (c.params.omit_session_token && !c.session_token.empty()) url.erase(url.rfind("&X-Amz-Security-Token="));
  sigv4::canonical_result canonical = sigv4::canonical_request(unsigned_request, c.params);
  EXPECT_EQ(canonical.canonical_request, c.expected("query-canonical-request.txt"));
  std::string to_sign = sigv4::string_to_sign(canonical.canonical_request, c.params);
  EXPECT_EQ(to_sign, c.expected("query-string-to-sign.txt"));
  EXPECT_EQ(sigv4::signature(to_sign, c.params), c.expected("query-signature.txt"));
  EXPECT_EQ(request.headers.size(), before.headers.size())
      << "presigning adds no header when Host is present";
}

std::string case_label(const testing::TestParamInfo<std::string>& info) {
  std::string label = info.param;
  std::replace(label.begin(), label.end(), '-', '_');
  return label;
}

INSTANTIATE_TEST_SUITE_P(aws_c_auth_v4, header_signing, testing::ValuesIn(case_names()), case_label);
INSTANTIATE_TEST_SUITE_P(aws_c_auth_v4, query_signing, testing::ValuesIn(case_names()), case_label);

}  // namespace
}  // namespace tq::aws
