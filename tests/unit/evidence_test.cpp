// The evidence bundle's pieces without I/O: its settings, where its objects go, that every put is
// conditional and counts an object already there as done, the console text, and the manifest.
#include "handlers/evidence.h"

#include <gtest/gtest.h>

#include "aws/crypto.h"
#include "aws/rest_xml.h"

namespace tq::handlers {
namespace {

std::string header_value(const aws::rest_xml_call& call, std::string_view name) {
  for (const auto& h : call.headers) {
    if (h.name == name) return h.value;
  }
  return {};
}

TEST(evidence, settings_come_from_the_environment) {
  auto none = evidence_settings_from_environment(fixed_environment({}));
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->bucket.empty());
  auto set = evidence_settings_from_environment(fixed_environment(
      {{"TOURNIQUET_EVIDENCE_BUCKET", "tq-evidence"}, {"TOURNIQUET_EVIDENCE_PREFIX", "incidents/"}}));
  ASSERT_TRUE(set.ok());
  EXPECT_EQ(evidence_prefix(*set, "tq-0123abcd"), "incidents/tq-0123abcd/");
  for (const char* bad : {"arn:aws:s3:::tq-evidence", "s3://tq", "ab"}) {
    auto refused =
        evidence_settings_from_environment(fixed_environment({{"TOURNIQUET_EVIDENCE_BUCKET", bad}}));
    ASSERT_FALSE(refused.ok()) << bad;
    EXPECT_EQ(refused.err().where, "TOURNIQUET_EVIDENCE_BUCKET");
  }
  EXPECT_FALSE(
      evidence_settings_from_environment(fixed_environment({{"TOURNIQUET_EVIDENCE_BUCKET", "tq-evidence"},
                                                            {"TOURNIQUET_EVIDENCE_PREFIX", "/x/"}}))
          .ok());
}

TEST(evidence, every_put_is_conditional_checksummed_and_already_done_when_refused) {
  const evidence_settings settings{"tq-evidence", "incidents/"};
  const planned_call put =
      put_evidence(settings, "incidents/tq-1/", {"finding.json", R"({"id":"x"})", "application/json"});
  EXPECT_EQ(put.target, "incidents/tq-1/finding.json");
  EXPECT_EQ(iam_action_of(put.call), "s3:PutObject");
  EXPECT_TRUE(declares(*put.kind, put.call));
  const auto& call = std::get<aws::rest_xml_call>(put.call);
  EXPECT_EQ(call.bucket, "tq-evidence");
  EXPECT_EQ(call.key, "incidents/tq-1/finding.json");
  EXPECT_EQ(header_value(call, "If-None-Match"), "*");
  EXPECT_EQ(header_value(call, "Content-Type"), "application/json");
  EXPECT_TRUE(call.checksum);
  EXPECT_EQ(put.already_if, std::vector<std::string_view>{"PreconditionFailed"});
  EXPECT_NE(put.detail.find("s3://tq-evidence/incidents/tq-1/finding.json"), std::string::npos);
  EXPECT_EQ(put.kind->enabled_by, "TOURNIQUET_EVIDENCE_BUCKET");
  ASSERT_NE(put.kind->resources, nullptr);

  const planned_call console = read_console_output("i-0abc");
  EXPECT_EQ(iam_action_of(console.call), "ec2:GetConsoleOutput");
  EXPECT_EQ(console.query().params.get("Latest"), "true");
  EXPECT_TRUE(declares(*console.kind, console.call));
}

TEST(evidence, console_text_is_decoded_and_absent_when_ec2_has_none) {
  aws::xml_response answer;
  ASSERT_TRUE(
      answer.document.load_string("<GetConsoleOutputResponse><instanceId>i-1</"
                                  "instanceId><output>TGludXggdmVyc2lvbiA2LjEK\nYm9vdGVk</output>"
                                  "</GetConsoleOutputResponse>"));
  EXPECT_EQ(console_text(answer), std::optional<std::string>("Linux version 6.1\nbooted"));
  aws::xml_response empty;
  ASSERT_TRUE(
      empty.document.load_string("<GetConsoleOutputResponse><instanceId>i-1</instanceId>"
                                 "</GetConsoleOutputResponse>"));
  EXPECT_FALSE(console_text(empty).has_value());
}

TEST(evidence, the_manifest_lists_what_was_written_and_what_was_kept) {
  const std::string body = "{}";
  const auto m =
      evidence_manifest({{"p/report-1.json", body.size(), aws::crypto::sha256_hex(body), "v2"}},
                        {"p/finding.json"}, "tq-1", "f-1", "2026-12-01T12:00:00Z",
                        {"arn:aws:lambda:us-east-1:123456789012:function:tourniquet", "ASIAEXAMPLE"});
  EXPECT_EQ(m["incidentId"], "tq-1");
  EXPECT_EQ(m["findingId"], "f-1");
  EXPECT_EQ(m["writer"]["functionArn"], "arn:aws:lambda:us-east-1:123456789012:function:tourniquet");
  ASSERT_EQ(m["objects"].size(), 1u);
  EXPECT_EQ(m["objects"][0]["size"], 2);
  EXPECT_EQ(m["objects"][0]["sha256"], "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
  EXPECT_EQ(m["objects"][0]["versionId"], "v2");
  EXPECT_EQ(m["keptFromEarlierDelivery"], nlohmann::ordered_json::array({"p/finding.json"}));
}

TEST(evidence, a_later_deliverys_stamp_is_the_time_to_the_millisecond) {
  using namespace std::chrono;
  const auto t = sys_days{year{2026} / 12 / 1} + hours{12} + minutes{34} + seconds{56} + milliseconds{7};
  EXPECT_EQ(evidence_stamp(t), "20261201T123456.007Z");
}

}  // namespace
}  // namespace tq::handlers
