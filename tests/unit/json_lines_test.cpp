// The lines written on every invocation (JSON log lines, EMF metric lines) are written as text, not built
// as nlohmann documents and dumped; they must stay byte for byte what the documents gave. Each is checked
// here against the document-building code it replaced, kept as the reference.
#include <gtest/gtest.h>

#include <ctime>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "handlers/observability.h"
#include "runtime/json_text.h"
#include "runtime/log.h"

namespace tq {
namespace {

using nlohmann::ordered_json;

std::string dumped(const ordered_json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

const std::vector<std::string> awkward_strings = {
    "",
    "plain",
    "quote \" and backslash \\ and slash /",
    std::string("nul \0 inside", 12),
    "controls \b\f\n\r\t\x01\x1f and DEL \x7f",
    "UTF-8: caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x92",
    "invalid: \xff\xfe lone continuation \x80 end",
    "truncated \xe2\x82",
    "overlong \xc0\xaf surrogate \xed\xa0\x80",
    "\xf4\x90\x80\x80 above U+10FFFF",
};

TEST(json_text, strings_are_written_as_nlohmann_dumps_them) {
  for (const auto& s : awkward_strings) {
    std::string out;
    json_text::append_string(out, s);
    EXPECT_EQ(out, dumped(ordered_json(s))) << s;
  }
  // Random texts of plain bytes, any bytes and pieces of UTF-8 (whole, cut, overlong, surrogates).
  const std::vector<std::string> pieces = {"\xc3\xa9",
                                           "\xe2\x82\xac",
                                           "\xf0\x9f\x94\x92",
                                           "\xe2\x82",
                                           "\xf0\x9f",
                                           "\xc0\xaf",
                                           "\xed\xa0\x80",
                                           "\xef\xbf\xbf",
                                           "\xf4\x8f\xbf\xbf",
                                           "\xf4\x90\x80\x80",
                                           "\x80",
                                           "\"",
                                           "\\",
                                           "\n",
                                           "\x1f",
                                           "\x7f"};
  std::mt19937 random(18);
  for (int i = 0; i < 30000; ++i) {
    std::string s;
    const auto parts = random() % 24;
    for (unsigned p = 0; p < parts; ++p) {
      const auto pick = random() % 20;
      if (pick < 10) {
        s += static_cast<char>(0x20 + random() % 0x5f);
      } else if (pick < 13) {
        s += static_cast<char>(random() % 256);
      } else {
        s += pieces[random() % pieces.size()];
      }
    }
    std::string out = "prefix";
    json_text::append_string(out, s);
    ASSERT_EQ(out, "prefix" + dumped(ordered_json(s))) << testing::PrintToString(s);
  }
}

TEST(json_text, objects_and_numbers) {
  std::string out;
  json_text::object(out).close();
  EXPECT_EQ(out, "{}");
  out.clear();
  json_text::object(out)
      .string("a", "x")
      .number("n", -9223372036854775807LL - 1)
      .number("z", 0)
      .raw("r", "[1]")
      .close();
  EXPECT_EQ(out, R"({"a":"x","n":-9223372036854775808,"z":0,"r":[1]})");
}

// The timestamp as printf wrote it before.
std::string reference_rfc3339(long long millis) {
  const std::time_t seconds = static_cast<std::time_t>(millis / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char buffer[96];
  std::snprintf(buffer, sizeof buffer, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900,
                utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                static_cast<int>(millis % 1000));
  return buffer;
}

TEST(rfc3339_millis, is_what_printf_wrote) {
  std::vector<long long> times = {0,
                                  999,
                                  1000,
                                  951782400000 /* 2000-02-29 */,
                                  1709164800123 /* 2024-02-29 */,
                                  4102444799999,
                                  9223372036853 /* 2262, near what system_clock holds */};
  std::mt19937_64 random(18);
  for (int i = 0; i < 20000; ++i) times.push_back(static_cast<long long>(random() % 9223372036854ULL));
  for (const long long t : times) {
    ASSERT_EQ(log::rfc3339_millis(std::chrono::system_clock::time_point(std::chrono::milliseconds(t))),
              reference_rfc3339(t))
        << t;
  }
  EXPECT_EQ(
      log::rfc3339_millis(std::chrono::system_clock::time_point(std::chrono::milliseconds(1709164800123))),
      "2024-02-29T00:00:00.123Z");
}

// log::write's JSON line as it was built before: a document, keys set in order (a key set again keeps its
// place), dumped.
std::string reference_log_line(std::string_view message,
                               const std::vector<std::pair<std::string, std::string>>& context,
                               std::initializer_list<log::field> fields, const std::string& timestamp) {
  ordered_json j;
  j["timestamp"] = timestamp;
  j["level"] = "WARN";
  j["message"] = message;
  for (const auto& [k, v] : context) j[k] = v;
  for (const auto& [k, v] : fields) j[std::string(k)] = v;
  return dumped(j) + "\n";
}

TEST(log_write, json_lines_are_the_documents_they_replaced) {
  log::configure({true, log::level::info});
  log::clear_context();
  log::set_context("requestId", "req-\"1\"");
  log::set_context("playbook", awkward_strings[6]);
  const auto check = [](std::string_view message, std::initializer_list<log::field> fields) {
    testing::internal::CaptureStderr();
    log::warn(message, fields);
    const std::string line = testing::internal::GetCapturedStderr();
    const std::string timestamp = ordered_json::parse(line)["timestamp"];
    EXPECT_EQ(line,
              reference_log_line(message, {{"requestId", "req-\"1\""}, {"playbook", awkward_strings[6]}},
                                 fields, timestamp));
  };
  check("plain", {});
  check("fields", {{"a", "1"}, {"b", awkward_strings[4]}});
  check("a field replaces the context value in its place", {{"playbook", "x"}, {"z", "last"}});
  check("fields may even replace the fixed keys", {{"message", "m2"}, {"level", "L"}, {"timestamp", "t"}});
  check("a field given twice", {{"k", "1"}, {"k", "2"}});
  check(awkward_strings[5], {{awkward_strings[3], awkward_strings[7]}});
  log::clear_context();
  log::configure({});
}

// A JSON field (a playbook's report) is nested as it is, after the string fields; it takes the place of a
// context value or field of the same name (no key twice); in text it is key=value like any other.
TEST(log_write, a_json_field_is_nested_as_it_is) {
  log::configure({true, log::level::info});
  log::clear_context();
  log::set_context("requestId", "req-1");
  log::set_context("report", "the context's");
  const std::string report = R"({"playbook":"instance-containment","actions":[{"outcome":"done"}]})";
  testing::internal::CaptureStderr();
  log::info("playbook finished", {{"status", "contained"}}, {{"report", report}});
  const std::string line = testing::internal::GetCapturedStderr();
  const auto parsed = ordered_json::parse(line);
  EXPECT_EQ(parsed["report"], ordered_json::parse(report)) << line;
  EXPECT_EQ(parsed["status"], "contained");
  EXPECT_EQ(parsed["requestId"], "req-1");
  EXPECT_EQ(line.find("the context's"), std::string::npos) << line;
  EXPECT_EQ(line.back(), '\n');
  const std::string timestamp = parsed["timestamp"];
  EXPECT_EQ(line,
            R"({"timestamp":")" + timestamp +
                R"(","level":"INFO","message":"playbook finished","requestId":"req-1","status":"contained",)"
                R"("report":)" +
                report + "}\n");

  log::configure({false, log::level::info});
  testing::internal::CaptureStderr();
  log::info("playbook finished", {{"status", "contained"}}, {{"report", report}});
  const std::string text = testing::internal::GetCapturedStderr();
  EXPECT_NE(text.find(" status=contained report=" + report + "\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("the context's"), std::string::npos) << text;
  log::clear_context();
  log::configure({});
}

}  // namespace

namespace handlers {
namespace {

// metric_documents as they were built before (one document per report), the reference for metric_lines.
std::string reference_metric_lines(const std::vector<playbook_report>& reports,
                                   const invocation_figures& figures, const std::string& timestamp,
                                   long long epoch_ms) {
  const auto metric = [](std::string_view name, std::string_view unit) {
    return ordered_json{{"Name", name}, {"Unit", unit}};
  };
  std::string out;
  for (std::size_t i = 0; i < reports.size(); ++i) {
    const playbook_report& r = reports[i];
    long done = 0;
    long failed = 0;
    for (const auto& a : r.actions) {
      if (a.result == outcome::done) ++done;
      if (a.result == outcome::failed) ++failed;
    }
    ordered_json doc;
    doc["timestamp"] = timestamp;
    doc["level"] = "INFO";
    doc["message"] = "metrics";
    if (!figures.request_id.empty()) doc["requestId"] = figures.request_id;
    if (!r.incident_id.empty()) doc["incidentId"] = r.incident_id;
    ordered_json metrics = ordered_json::array();
    doc["Playbook"] = r.playbook;
    metrics.push_back(metric("ActionsDone", "Count"));
    doc["ActionsDone"] = done;
    metrics.push_back(metric("ActionsFailed", "Count"));
    doc["ActionsFailed"] = failed;
    metrics.push_back(metric("Passes", "Count"));
    doc["Passes"] = 1 + (r.details.contains("passes") ? static_cast<long>(r.details["passes"].size()) : 0L);
    if (r.forged) {
      metrics.push_back(metric("Forged", "Count"));
      doc["Forged"] = 1;
    }
    if (r.isolated_after_ms >= 0) {
      metrics.push_back(metric("ContainmentMs", "Milliseconds"));
      doc["ContainmentMs"] = r.isolated_after_ms;
    }
    if (i == 0) {
      metrics.push_back(metric("Retries", "Count"));
      doc["Retries"] = figures.retries;
      metrics.push_back(metric("Throttles", "Count"));
      doc["Throttles"] = figures.throttles;
      metrics.push_back(metric("ColdStart", "Count"));
      doc["ColdStart"] = figures.cold_start ? 1 : 0;
      if (figures.notification_failed) {
        metrics.push_back(metric("NotificationsFailed", "Count"));
        doc["NotificationsFailed"] = *figures.notification_failed ? 1 : 0;
      }
    }
    doc["_aws"] = {
        {"Timestamp", epoch_ms},
        {"CloudWatchMetrics",
         ordered_json::array({{{"Namespace", metrics_namespace},
                               {"Dimensions", ordered_json::array({ordered_json::array({"Playbook"}),
                                                                   ordered_json::array()})},
                               {"Metrics", std::move(metrics)}}})}};
    out += dumped(doc) + "\n";
  }
  return out;
}

playbook_report report(std::string playbook, std::string incident, bool forged, long isolated, int passes,
                       std::vector<outcome> results) {
  playbook_report r;
  r.playbook = std::move(playbook);
  r.incident_id = std::move(incident);
  r.forged = forged;
  r.isolated_after_ms = isolated;
  if (passes > 0) {
    r.details["passes"] = ordered_json::array();
    for (int i = 0; i < passes; ++i) r.details["passes"].push_back({{"pass", i + 1}});
  }
  for (outcome o : results) {
    action_record a;
    a.action = "x";
    a.result = o;
    r.actions.push_back(a);
  }
  return r;
}

TEST(metric_lines, are_the_documents_they_replaced) {
  const auto now = std::chrono::system_clock::time_point(std::chrono::milliseconds(1764547200123));
  const std::string timestamp =
      ordered_json::parse(metric_lines({report("p", "", false, -1, 0, {})}, {}, now))["timestamp"];
  const std::vector<std::vector<playbook_report>> cases = {
      {},
      {report("ignored", "", false, -1, 0, {})},
      {report("instance-containment", "tq-0123", false, 850, 0,
              {outcome::done, outcome::done, outcome::already}),
       report("credential-containment", "tq-\"4\"", true, -1, 2, {outcome::failed, outcome::done})},
      {report(awkward_strings[5], awkward_strings[6], true, 0, 1, {outcome::failed})},
  };
  const std::vector<invocation_figures> figures = {
      {}, {"req-1", 3, 2, true, false}, {"req-\x01", 0, 0, false, true}, {"r", 7, 0, false, std::nullopt}};
  for (const auto& reports : cases) {
    for (const auto& f : figures) {
      EXPECT_EQ(metric_lines(reports, f, now), reference_metric_lines(reports, f, timestamp, 1764547200123));
    }
  }
}

// The report written for the log line and the response is the document to_json() builds, dumped.
TEST(report_text, is_the_document_dumped) {
  std::vector<playbook_report> cases;
  cases.push_back(report("instance-containment", "tq-1", false, -1, 0, {}));
  cases.push_back(
      report("network-block", "tq-\"2\"", true, 120, 2, {outcome::done, outcome::failed, outcome::done}));
  playbook_report full = report("credential-containment", "tq-3", false, 0, 1,
                                {outcome::already, outcome::skipped, outcome::failed, outcome::planned});
  full.status = report_status::incomplete;
  full.reason = "why \n with a line break and caf\xc3\xa9";
  full.target = "i-0123456789abcdef0";
  full.failure = error{"AccessDenied", "not allowed", "ec2:DescribeInstances", true};
  full.round_trips = 4;
  full.total_ms = 250;
  full.actions[0].detail = "sg-1 \\ sg-2";
  full.actions[0].duration = std::chrono::milliseconds(53);
  full.actions[2].failure =
      error{"Throttling", "slow down \"now\"", "ec2:ModifyNetworkInterfaceAttribute", true};
  full.actions[2].failure->request_id = "req-9";
  full.actions[3].failure = error{"InvalidGroup.NotFound", "", "ec2:CreateTags", false};
  cases.push_back(full);
  full.isolated_after_ms = -1;
  full.status = report_status::dry_run;
  cases.push_back(full);
  for (const auto& r : cases) EXPECT_EQ(r.to_json_text(), r.to_json().dump());
}

}  // namespace
}  // namespace handlers
}  // namespace tq
