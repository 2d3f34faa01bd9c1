// The evidence bundle: what a containment saw and did, written where tags cannot reach it — objects in an S3
// bucket (Object Lock in compliance mode when the template makes it) under <prefix><incident-id>/:
// finding.json (the event as received), instance.json (the instance as read before any change),
// console-output.txt, report.json and manifest.json (each object's key, size and SHA-256). Every put is
// conditional (If-None-Match: *): a replay never overwrites the first delivery's objects, and adds its own
// report-<stamp>.json and manifest-<stamp>.json. Written after isolation; a failed write is a failed action,
// never a reason to hold back or undo containment.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "handlers/action.h"
#include "handlers/playbook.h"
#include "handlers/report.h"
#include "runtime/environment.h"
#include "runtime/result.h"

namespace tq::handlers {

struct evidence_settings {
  std::string bucket;  // TOURNIQUET_EVIDENCE_BUCKET: empty = no bundle
  std::string prefix;  // TOURNIQUET_EVIDENCE_PREFIX: "" or ending in '/' as given ("incidents/")
};

result<evidence_settings> evidence_settings_from_environment(const env_reader& env);

// One object of the bundle.
struct evidence_object {
  std::string name;  // "finding.json": the key under the incident's prefix
  std::string body;
  std::string content_type;
};

// Who wrote the bundle, for the manifest.
struct evidence_identity {
  std::string function_arn;   // the invoked function's ARN ("" outside Lambda)
  std::string access_key_id;  // the credentials the writes are signed with (not a secret)
};

// "<prefix><incident-id>/"
std::string evidence_prefix(const evidence_settings& settings, std::string_view incident_id);
// "20261201T123456.789Z": the suffix of a later delivery's report and manifest.
std::string evidence_stamp(std::chrono::system_clock::time_point time);

// A conditional PutObject of `object` under `prefix` (kind write-evidence): PreconditionFailed, an object
// already there, counts as already done.
planned_call put_evidence(const evidence_settings& settings, const std::string& prefix,
                          const evidence_object& object);
// ec2:GetConsoleOutput (latest) of the instance (kind read-console-output).
planned_call read_console_output(const std::string& instance_id);
// The console text of a GetConsoleOutput answer (its <output>, base64); nullopt when EC2 has none.
std::optional<std::string> console_text(const aws::xml_response& answer);

struct manifest_entry {
  std::string key;
  size_t size = 0;
  std::string sha256;      // hex
  std::string version_id;  // x-amz-version-id of the put, when the bucket is versioned
};

// manifest.json: the objects this delivery wrote (key, size, SHA-256, version) and the keys it found written
// by an earlier one, with the incident, the finding, the time and the writer's identity.
nlohmann::ordered_json evidence_manifest(const std::vector<manifest_entry>& written,
                                         const std::vector<std::string>& kept, std::string_view incident_id,
                                         std::string_view finding_id, std::string_view now_rfc3339,
                                         const evidence_identity& identity);

// What the bundle is made from: the finding's ids, the event's text, the instance as read (instance.json).
struct evidence_input {
  std::string incident_id;
  std::string finding_id;
  std::string instance_id;
  std::string event_text;
  nlohmann::ordered_json instance;
};

// Writes the bundle (when a bucket is configured), adding its records and a "evidence" detail to the report;
// a failed write leaves the report incomplete so that a pass or Lambda's retry writes it again. In a dry run
// the puts are listed as planned and nothing is written.
void write_evidence(const evidence_input& input, const evidence_settings& settings,
                    const playbook_context& ctx, playbook_report& report);

}  // namespace tq::handlers
