#include "handlers/evidence.h"

#include <chrono>
#include <cstdio>

#include "aws/crypto.h"
#include "aws/rest_xml.h"
#include "aws/sigv4.h"
#include "handlers/config.h"
#include "handlers/incident.h"
#include "handlers/playbooks/instance_containment.h"

namespace tq::handlers {
namespace {

std::vector<std::string> evidence_resources(const env_reader& env) {
  auto settings = evidence_settings_from_environment(env);
  if (!settings || settings->bucket.empty()) return {};
  std::string partition = "aws";
  if (auto region = env("AWS_REGION")) partition = aws::partition_of(*region).name;
  return {"arn:" + partition + ":s3:::" + settings->bucket + "/" + settings->prefix + "*"};
}

// Both only with a bucket configured. The function may add objects under its prefix and nothing else: no
// read, no delete; a replay learns what is there from the conditional put's answer.
const action_kind& read_console = declare_action(instance_playbook, "read-console-output",
                                                 {"ec2:GetConsoleOutput"}, "TOURNIQUET_EVIDENCE_BUCKET");
const action_kind& write_evidence_object = declare_scoped_action(
    instance_playbook, "write-evidence", {"s3:PutObject"}, "TOURNIQUET_EVIDENCE_BUCKET", evidence_resources);

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

// Base64 with whitespace and padding tolerated; nullopt on any other character.
std::optional<std::string> base64_decode(std::string_view text) {
  std::string out;
  unsigned buffer = 0;
  int bits = 0;
  for (char c : text) {
    if (c == '=' || c == '\n' || c == '\r' || c == ' ' || c == '\t') continue;
    const int value = base64_value(c);
    if (value < 0) return std::nullopt;
    buffer = (buffer << 6) | static_cast<unsigned>(value);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xff));
    }
  }
  return out;
}

// What became of one object's put, for the manifest.
struct put_outcome {
  std::string key;
  outcome result = outcome::planned;
  std::string version_id;
};

std::vector<put_outcome> outcomes_of(const std::vector<planned_call>& plan, const execution& run) {
  std::vector<put_outcome> out;
  for (size_t i = 0; i < plan.size(); ++i) {
    if (plan[i].kind != &write_evidence_object) continue;
    put_outcome o{plan[i].target, run.records[i].result};
    if (run.answers[i] && !run.answers[i]->is_xml()) {
      o.version_id = std::string(run.answers[i]->raw().header("x-amz-version-id"));
    }
    out.push_back(std::move(o));
  }
  return out;
}

// A later delivery's report (or manifest) goes under its own key when the first one's is taken.
bool taken(const std::vector<put_outcome>& outcomes, std::string_view key) {
  for (const auto& o : outcomes) {
    if (o.key == key) return o.result == outcome::already;
  }
  return false;
}

struct bundle {
  std::string prefix;
  std::vector<evidence_object> objects;  // in the order written
  std::vector<put_outcome> outcomes;
  std::string stamp;
  bool failed = false;
};

// Sends `plan` with `client`, adds its records to the report, and keeps what became of each put.
void send(const std::vector<planned_call>& plan, const aws::client& client, const playbook_context& ctx,
          bundle& b, playbook_report& report) {
  const execution run = execute_plan(plan, client, ctx.until, ctx.dry_run);
  append(report, run);
  for (auto& o : outcomes_of(plan, run)) {
    b.failed |= o.result == outcome::failed || o.result == outcome::skipped;
    b.outcomes.push_back(std::move(o));
  }
}

// When an earlier delivery's `object` ("report.json") is there: this delivery's goes to
// "report-<stamp>.json".
void fall_back_if_taken(const evidence_settings& settings, evidence_object object, const aws::client& writer,
                        const playbook_context& ctx, bundle& b, playbook_report& report) {
  if (!taken(b.outcomes, b.prefix + object.name)) return;
  const size_t dot = object.name.rfind('.');
  object.name = object.name.substr(0, dot) + "-" + b.stamp + object.name.substr(dot);
  b.objects.push_back(object);
  send({put_evidence(settings, b.prefix, object)}, writer, ctx, b, report);
}

std::vector<manifest_entry> written_entries(const bundle& b, std::vector<std::string>& kept) {
  std::vector<manifest_entry> written;
  for (const auto& object : b.objects) {
    const std::string key = b.prefix + object.name;
    for (const auto& o : b.outcomes) {
      if (o.key != key) continue;
      if (o.result == outcome::done) {
        written.push_back({key, object.body.size(), aws::crypto::sha256_hex(object.body), o.version_id});
      } else if (o.result == outcome::already) {
        kept.push_back(key);
      }
    }
  }
  return written;
}

}  // namespace

result<evidence_settings> evidence_settings_from_environment(const env_reader& env) {
  evidence_settings s;
  if (auto bucket = env("TOURNIQUET_EVIDENCE_BUCKET")) s.bucket = *bucket;
  if (auto prefix = env("TOURNIQUET_EVIDENCE_PREFIX")) s.prefix = *prefix;
  if (!s.bucket.empty() &&
      (s.bucket.size() < 3 || s.bucket.size() > 63 || s.bucket.find_first_of("/:* ") != std::string::npos)) {
    return invalid_setting("TOURNIQUET_EVIDENCE_BUCKET", "'" + s.bucket + "' is not a bucket name");
  }
  if (s.prefix.starts_with('/')) {
    return invalid_setting("TOURNIQUET_EVIDENCE_PREFIX", "a key prefix does not start with '/'");
  }
  return s;
}

std::string evidence_prefix(const evidence_settings& settings, std::string_view incident_id) {
  return settings.prefix + std::string(incident_id) + "/";
}

std::string evidence_stamp(std::chrono::system_clock::time_point time) {
  using namespace std::chrono;
  const auto ms = duration_cast<milliseconds>(time.time_since_epoch()).count() % 1000;
  char suffix[8];
  std::snprintf(suffix, sizeof suffix, ".%03dZ", static_cast<int>(ms));
  const std::string date = aws::sigv4::amz_date(time);  // "20261201T123456Z"
  return date.substr(0, date.size() - 1) + suffix;
}

planned_call put_evidence(const evidence_settings& settings, const std::string& prefix,
                          const evidence_object& object) {
  aws::rest_xml_call put =
      aws::s3_put_object(settings.bucket, prefix + object.name, object.body, object.content_type);
  put.headers.push_back({"If-None-Match", "*"});  // never over an object already there
  planned_call call{&write_evidence_object, prefix + object.name, std::move(put)};
  call.detail = "s3://" + settings.bucket + "/" + prefix + object.name + " (" +
                std::to_string(object.body.size()) + " bytes)";
  call.already_if = {"PreconditionFailed"};
  return call;
}

planned_call read_console_output(const std::string& instance_id) {
  aws::query_call call{aws::service::ec2, "GetConsoleOutput", {}};
  call.params.add("InstanceId", instance_id).add("Latest", "true");
  return {&read_console, instance_id, std::move(call)};
}

std::optional<std::string> console_text(const aws::xml_response& answer) {
  const std::string encoded = aws::text_of(answer.result(), "output");
  if (encoded.empty()) return std::nullopt;
  auto text = base64_decode(encoded);
  if (!text || text->empty()) return std::nullopt;
  return text;
}

nlohmann::ordered_json evidence_manifest(const std::vector<manifest_entry>& written,
                                         const std::vector<std::string>& kept, std::string_view incident_id,
                                         std::string_view finding_id, std::string_view now_rfc3339,
                                         const evidence_identity& identity) {
  nlohmann::ordered_json m;
  m["incidentId"] = incident_id;
  m["findingId"] = finding_id;
  m["writtenAt"] = now_rfc3339;
  m["writer"] = {{"functionArn", identity.function_arn}, {"accessKeyId", identity.access_key_id}};
  m["objects"] = nlohmann::ordered_json::array();
  for (const auto& e : written) {
    nlohmann::ordered_json entry = {{"key", e.key}, {"size", e.size}, {"sha256", e.sha256}};
    if (!e.version_id.empty()) entry["versionId"] = e.version_id;
    m["objects"].push_back(std::move(entry));
  }
  // Written by an earlier delivery and left as they were: that delivery's manifest describes them.
  m["keptFromEarlierDelivery"] = kept;
  return m;
}

void write_evidence(const evidence_input& input, const evidence_settings& settings,
                    const playbook_context& ctx, playbook_report& report) {
  if (settings.bucket.empty()) return;
  const aws::client& writer = ctx.own_client != nullptr ? *ctx.own_client : ctx.client;
  bundle b{evidence_prefix(settings, input.incident_id)};
  b.stamp = evidence_stamp(std::chrono::system_clock::now());

  // The console first: its text is one of the objects.
  const std::vector<planned_call> read = {read_console_output(input.instance_id)};
  const execution console = execute_plan(read, ctx.client, ctx.until, ctx.dry_run);
  append(report, console);
  std::optional<std::string> text;
  if (console.answers[0]) text = console_text(console.answers[0]->xml());
  b.failed |= console.records[0].result == outcome::failed;

  b.objects = {{"finding.json", input.event_text, "application/json"},
               {"instance.json", input.instance.dump(2), "application/json"}};
  if (text) b.objects.push_back({"console-output.txt", *text, "text/plain; charset=utf-8"});
  // The report as it stands: containment's actions and the console read (these puts' own outcomes are in
  // the manifest).
  const evidence_object report_object{"report.json", report.to_json().dump(2), "application/json"};
  b.objects.push_back(report_object);
  std::vector<planned_call> puts;
  for (const auto& object : b.objects) puts.push_back(put_evidence(settings, b.prefix, object));
  send(puts, writer, ctx, b, report);
  fall_back_if_taken(settings, report_object, writer, ctx, b, report);

  const bool later = taken(b.outcomes, b.prefix + "report.json");
  report.details["evidence"] = {{"bucket", settings.bucket}, {"prefix", b.prefix}, {"later", later}};
  if (b.failed && !ctx.dry_run) {
    report.actions.push_back(
        unfinished_record(write_evidence_object, b.prefix + "manifest.json",
                          "not written: an object of the bundle is not in the bucket yet; "
                          "a retry writes both"));
    return;
  }
  std::vector<std::string> kept;
  const std::vector<manifest_entry> written = written_entries(b, kept);
  const evidence_identity identity{std::string(ctx.function_arn), writer.identity().access_key_id};
  const nlohmann::ordered_json manifest =
      evidence_manifest(written, kept, input.incident_id, input.finding_id, rfc3339_now(), identity);
  const evidence_object m{later ? "manifest-" + b.stamp + ".json" : "manifest.json", manifest.dump(2),
                          "application/json"};
  b.objects.push_back(m);
  send({put_evidence(settings, b.prefix, m)}, writer, ctx, b, report);
  fall_back_if_taken(settings, m, writer, ctx, b, report);
  report.details["evidence"]["manifest"] = b.prefix + b.objects.back().name;
}

}  // namespace tq::handlers
