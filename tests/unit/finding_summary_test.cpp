// The summary routing reads before decoding (handlers/finding_summary.h): it agrees with decode_event on
// every field it gives, it is given only for texts nlohmann's parser accepts, and routing from it passes
// over exactly the findings route_event passes over, saying the same.
#include "handlers/finding_summary.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "handlers/playbook.h"

namespace tq::handlers {
namespace {

using variables = std::map<std::string, std::string, std::less<>>;

std::string read(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<std::string> samples(const std::string& directory) {
  std::vector<std::string> texts;
  for (const auto& entry :
       std::filesystem::directory_iterator(std::string(TQ_SOURCE_DIR) + "/events/" + directory)) {
    if (entry.path().extension() == ".json") texts.push_back(read(entry.path()));
  }
  EXPECT_FALSE(texts.empty()) << directory;
  return texts;
}

std::vector<std::string> all_samples() {
  std::vector<std::string> texts;
  for (const auto& entry :
       std::filesystem::recursive_directory_iterator(std::string(TQ_SOURCE_DIR) + "/events")) {
    if (entry.path().extension() == ".json" && entry.path().parent_path().filename() != "tools")
      texts.push_back(read(entry.path()));
  }
  return texts;
}

// The summary of `text` against what decode_event makes of it; a summary is only ever given for JSON the
// parser accepts, and for a finding whose routing fields decode.
void expect_agrees(const std::string& text) {
  const auto summary = summarize_finding(text);
  if (!summary) return;
  ASSERT_FALSE(nlohmann::json::parse(text, nullptr, false).is_discarded()) << text;
  const auto decoded = decode_event(text);
  if (!decoded) {
    // Only fields the summary does not read may be refused.
    for (const char* read_field : {"$.source", "$.detail-type", "$.account", "$.region", "$.detail.type",
                                   "$.detail.severity", "$.detail.resource.resourceType", "$.detail.service",
                                   "$.detail.service.archived", "$.detail.title"}) {
      EXPECT_NE(decoded.err().where, read_field) << decoded.err().describe() << "\n" << text;
    }
    return;
  }
  const auto* finding = std::get_if<guardduty_finding>(&*decoded);
  ASSERT_NE(finding, nullptr) << text;
  EXPECT_EQ(summary->source, finding->envelope.source);
  EXPECT_EQ(summary->detail_type, finding->envelope.detail_type);
  EXPECT_EQ(summary->account, finding->envelope.account);
  EXPECT_EQ(summary->region, finding->envelope.region);
  EXPECT_EQ(summary->type, finding->type);
  EXPECT_EQ(std::signbit(summary->severity), std::signbit(finding->severity)) << text;
  EXPECT_EQ(summary->severity, finding->severity);
  EXPECT_EQ(summary->resource_type, finding->resource_type);
  EXPECT_EQ(summary->archived, finding->archived);
  EXPECT_EQ(summary->sample, finding->sample) << text;
  if (finding->access_key) {
    EXPECT_EQ(summary->user_type, finding->access_key->user_type);
  }
}

TEST(finding_summary, every_sample_finding_is_summarised_as_decode_event_reads_it) {
  for (const auto& text : samples("guardduty")) {
    ASSERT_TRUE(summarize_finding(text).has_value()) << text.substr(0, 400);
    expect_agrees(text);
  }
}

TEST(finding_summary, other_events_have_no_summary) {
  for (const auto& directory : {"cloudtrail", "custom", "scheduled"}) {
    for (const auto& text : samples(directory)) EXPECT_FALSE(summarize_finding(text)) << text.substr(0, 300);
  }
}

const std::string minimal =
    R"({"source": "aws.guardduty", "detail-type": "GuardDuty Finding", "account": "123456789012",
        "detail": {"id": "f1", "accountId": "123456789012", "region": "us-east-1", "type": "Recon:EC2/Portscan",
                   "severity": 2, "resource": {"resourceType": "Instance"}, "service": {"archived": false}}})";

std::string with(std::string text, const std::string& from, const std::string& to) {
  const auto at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  return text.replace(at, from.size(), to);
}

// The scanner goes eight bytes at a time through strings and runs of spaces: a byte that needs a look, at
// any place of such a run, is seen all the same.
TEST(finding_summary, a_special_byte_anywhere_in_a_run_is_seen) {
  const std::vector<std::string> specials = {"\\\"", "\\\\", "\\u00e9", "\xc3\xa9", "\x7f", "\x01",
                                             "\t",   "\xff", "\xc3",    "\"x",      "\x1f"};
  for (std::size_t before = 0; before < 20; ++before) {
    for (const auto& special : specials) {
      const std::string type = std::string(before, 'a') + special + "Portscan";
      const std::string text = with(minimal, "Recon:EC2/Portscan", type);
      const bool parses = !nlohmann::json::parse(text, nullptr, false).is_discarded();
      const auto summary = summarize_finding(text);
      EXPECT_EQ(summary.has_value(), parses) << testing::PrintToString(type);
      if (summary) expect_agrees(text);
      if (summary && special == "\xc3\xa9") {
        EXPECT_EQ(summary->type, type);
      }
    }
    for (const std::string tail : {"", "\n", "\t", "\r\n  ", "\x0b", "x"}) {
      const std::string text =
          with(minimal, R"("severity": 2)", "\"severity\":" + std::string(before, ' ') + tail + "2");
      const auto summary = summarize_finding(text);
      EXPECT_EQ(summary.has_value(), tail.size() != 1 || tail == "\n" || tail == "\t" || tail.empty())
          << before << testing::PrintToString(tail);
      if (summary) {
        EXPECT_EQ(summary->severity, 2.0);
      }
    }
  }
}

TEST(finding_summary, reads_the_fields_as_the_parser_and_decoder_do) {
  auto s = summarize_finding(minimal);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->type, "Recon:EC2/Portscan");
  EXPECT_EQ(s->severity, 2.0);
  EXPECT_FALSE(s->archived);
  EXPECT_FALSE(s->sample);
  EXPECT_FALSE(s->user_type);
  // A repeated key: the last value counts, and a repeated object replaces what the first one held.
  s = summarize_finding(with(minimal, R"("severity": 2,)", R"("severity": 2, "severity": 8.5,)"));
  ASSERT_TRUE(s);
  EXPECT_EQ(s->severity, 8.5);
  EXPECT_FALSE(summarize_finding(with(minimal, R"("service": {"archived": false})",
                                      R"("service": {"archived": false}, "resource": {"x": 1})")))
      << "the second resource has no resourceType";
  // Escapes in values are decoded; "-0" is the integer 0.
  s = summarize_finding(
      with(with(minimal, "Recon:EC2", R"(Recon\u003aEC2\/)"), R"("severity": 2)", R"("severity": -0)"));
  ASSERT_TRUE(s);
  EXPECT_EQ(s->type, "Recon:EC2//Portscan");
  EXPECT_FALSE(std::signbit(s->severity));
  // Samples, both ways GuardDuty says it, and archived.
  EXPECT_TRUE(
      summarize_finding(with(minimal, R"("archived": false)",
                             R"("archived": true, "additionalInfo": {"value": "{\"sample\":true}"})")));
  s = summarize_finding(with(minimal, R"("archived": false)",
                             R"("archived": true, "additionalInfo": {"value": "{\"sample\":true}"})"));
  EXPECT_TRUE(s->sample && s->archived);
  s = summarize_finding(with(minimal, R"("type":)", R"("title": "[SAMPLE] x", "type":)"));
  EXPECT_TRUE(s->sample);
  s = summarize_finding(with(minimal, R"({"resourceType": "Instance"})",
                             R"({"resourceType": "AccessKey", "accessKeyDetails": {"userType": "Root"}})"));
  EXPECT_EQ(s->user_type, "Root");
}

TEST(finding_summary, gives_none_for_what_the_decoder_refuses_or_it_is_unsure_of) {
  for (const auto& [from, to] : std::vector<std::pair<std::string, std::string>>{
           {R"("severity": 2)", R"("severity": "2")"},       // mistyped: decode_event names the field
           {R"("archived": false)", R"("archived": "no")"},  // mistyped
           {R"("type": "Recon:EC2/Portscan",)", ""},         // missing
           {R"("id": "f1",)", ""},                           // missing, though routing does not need it
           {R"("severity": 2)", R"("severity": 2,)"},        // trailing comma: not JSON
           {R"("severity": 2)", R"("severity": 02)"},        // not JSON
           {R"("severity": 2)", R"("severity": 1e400)"},     // overflows a double: the parser refuses it
           {R"("severity": 2)", R"("severity": 1e-400)"},    // underflows: the parser takes it, unsure
           {R"(Recon:EC2)", "Recon\xC0\xAF"},                // overlong UTF-8
           {R"(Recon:EC2)", "Recon\xED\xA0\x80"},            // a surrogate in UTF-8
           {R"(Recon:EC2)", R"(Recon\uDC00)"},               // a lone low surrogate
           {R"(Recon:EC2)", R"(Recon\uD800x)"},              // a high surrogate alone
           {R"(Recon:EC2)", "Recon\tEC2"},                   // a raw control character
           {R"("source")", R"("sourc\u0065")"},              // an escaped key: unsure
           {R"("detail-type": "GuardDuty Finding")", R"("detail-type": "Scheduled Event")"},
       }) {
    EXPECT_FALSE(summarize_finding(with(minimal, from, to))) << to;
  }
  EXPECT_FALSE(summarize_finding(minimal + " x"));
  EXPECT_FALSE(summarize_finding("\xEF\xBB\xBF" + minimal)) << "a byte-order mark: left to the parser";
  EXPECT_FALSE(summarize_finding(""));
  // The document, detail and service are 3 levels: 61 more is the decoder's cap of 64, 62 is over it.
  const auto nested = [](std::size_t n) {
    return with(minimal, R"("archived": false)",
                R"("archived": false, "x": )" + std::string(n, '[') + std::string(n, ']'));
  };
  EXPECT_TRUE(summarize_finding(nested(61)));
  EXPECT_TRUE(decode_event(nested(61)));
  EXPECT_FALSE(summarize_finding(nested(62)));
  EXPECT_EQ(decode_event(nested(62)).err().code, event_too_deep_code);
  // Members elsewhere with the tracked names are not read.
  auto s = summarize_finding(with(minimal, R"("archived": false)",
                                  R"("archived": false, "action": {"type": "x", "severity": "high"})"));
  ASSERT_TRUE(s);
  EXPECT_EQ(s->type, "Recon:EC2/Portscan");
}

// Random byte edits of the sample findings: wherever a summary is given, it agrees with the parser and the
// decoder (fuzz_finding_summary checks the same at depth).
TEST(finding_summary, edited_samples_agree_with_the_decoder) {
  std::mt19937 random(20261201);
  const std::string alphabet = "{}[]\",:\\u0123456789.eE-+ tfnlrsa\xC3\xA9\xED\xF4";
  int summarised = 0;
  for (const auto& original : samples("guardduty")) {
    for (int round = 0; round < 300; ++round) {
      std::string text = original;
      const int edits = 1 + static_cast<int>(random() % 3);
      for (int e = 0; e < edits; ++e) {
        const std::size_t at = random() % text.size();
        const char c = alphabet[random() % alphabet.size()];
        switch (random() % 3) {
          case 0:
            text[at] = c;
            break;
          case 1:
            text.insert(at, 1, c);
            break;
          default:
            text.erase(at, 1);
        }
      }
      if (summarize_finding(text)) ++summarised;
      expect_agrees(text);
    }
  }
  EXPECT_GT(summarised, 100) << "most edits fall in values the summary does not read";
}

// Routing from the summary passes over a finding exactly when route_event does, with the same reasons and
// report; otherwise it leaves the finding to be decoded.
TEST(finding_summary, routing_from_the_summary_agrees_with_route_event) {
  const std::vector<variables> settings = {
      {},
      {{"TOURNIQUET_MIN_SEVERITY", "9.5"}, {"TOURNIQUET_BLOCK_MIN_SEVERITY", "9.5"}},
      {{"TOURNIQUET_INSTANCE_FINDING_TYPES", "CryptoCurrency:EC2/*"},
       {"TOURNIQUET_CREDENTIAL_MIN_SEVERITY", "9"}},
      {{"TOURNIQUET_BLOCK_FINDING_TYPES", "Recon:*"}, {"TOURNIQUET_CREDENTIAL_FINDING_TYPES", "Policy:*"}},
  };
  int early = 0;
  int decoded = 0;
  std::vector<std::string> texts = samples("guardduty");
  texts.push_back(with(minimal, R"("severity": 2)", R"("severity": 9.9)"));
  texts.push_back(with(minimal, "Instance", "S3Bucket"));
  for (const auto& env : settings) {
    const auto playbooks = make_playbooks(fixed_environment(env)).value();
    for (const auto& text : texts) {
      const auto summary = summarize_finding(text);
      ASSERT_TRUE(summary);
      const auto event = decode_event(text).value();
      const routing full = route_event(playbooks, event, config{});
      const auto fast = route_summary(playbooks, *summary, config{});
      if (!fast) {
        ++decoded;
        continue;
      }
      ++early;
      EXPECT_TRUE(full.jobs.empty()) << "passed over early, yet " << full.jobs.front().playbook
                                     << " takes it";
      ASSERT_EQ(fast->passed.size(), full.passed.size()) << text.substr(0, 300);
      for (std::size_t i = 0; i < full.passed.size(); ++i) {
        EXPECT_EQ(fast->passed[i].playbook, full.passed[i].playbook);
        EXPECT_EQ(fast->passed[i].reason, full.passed[i].reason);
      }
      const auto a = passed_over_report(*fast, *summary).value();
      const auto b = passed_over_report(full, event).value();
      EXPECT_EQ(a.to_json().dump(), b.to_json().dump());
    }
  }
  EXPECT_GT(early, 10);
  EXPECT_GT(decoded, 10);
}

TEST(finding_summary, the_archived_sample_bench_finding_is_passed_over_early) {
  const auto text = read(std::string(TQ_SOURCE_DIR) + "/events/guardduty/archived-recon-ec2-portscan.json");
  const auto playbooks = make_playbooks(fixed_environment({})).value();
  const auto fast = route_summary(playbooks, summarize_finding(text).value(), config{});
  ASSERT_TRUE(fast);
  EXPECT_EQ(passed_over_report(*fast, summarize_finding(text).value())->reason, "the finding is archived");
}

TEST(finding_summary, every_sample_event_text_gives_a_summary_only_when_it_is_a_finding) {
  for (const auto& text : all_samples()) {
    const auto decoded = decode_event(text);
    ASSERT_TRUE(decoded) << text.substr(0, 200);
    EXPECT_EQ(summarize_finding(text).has_value(), std::holds_alternative<guardduty_finding>(*decoded));
  }
}

}  // namespace
}  // namespace tq::handlers
