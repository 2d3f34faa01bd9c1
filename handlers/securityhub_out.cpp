#include "handlers/securityhub_out.h"

#include <map>
#include <set>

#include "aws/rest_json.h"
#include "handlers/config.h"
#include "handlers/securityhub_in.h"
#include "runtime/log.h"

namespace tq::handlers {
namespace {

constexpr std::size_t max_filter_values = 20;  // GetFindings: values per filter field

std::string cut(std::string text, std::size_t limit) {
  if (text.size() <= limit) return text;
  text.resize(limit - 3);
  return text + "...";
}

bool worth_a_note(const playbook_report& r) {
  return r.status != report_status::dry_run;
}

std::string line_of(const playbook_report& r) {
  std::string text =
      r.playbook + (r.target.empty() ? "" : " " + r.target) + " " + std::string(status_name(r.status));
  const bool says_why = r.status == report_status::ignored || r.status == report_status::escalate ||
                        r.status == report_status::failed || r.status == report_status::incomplete;
  if (says_why && !r.reason.empty()) text += " (" + r.reason + ")";
  return text;
}

aws::rest_json_call get_findings(const std::vector<const finding_outcome*>& outcomes) {
  nlohmann::json ids = nlohmann::json::array();
  for (const auto* o : outcomes) ids.push_back({{"Value", o->finding.id}, {"Comparison", "EQUALS"}});
  return {aws::service::securityhub,
          "GetFindings",
          "POST",
          "/findings",
          {},
          {{"Filters", {{"Id", ids}}}, {"MaxResults", 100}}};
}

aws::rest_json_call batch_update(const finding_outcome& o, const std::string& note) {
  nlohmann::json body = {
      {"FindingIdentifiers", {{{"Id", o.finding.id}, {"ProductArn", o.finding.product_arn}}}},
      {"Note", {{"Text", note}, {"UpdatedBy", note_author}}}};
  if (auto status = workflow_status(o)) body["Workflow"] = {{"Status", *status}};
  return {aws::service::securityhub,
          "BatchUpdateFindings",
          "PATCH",
          "/findings/batchupdate",
          {},
          std::move(body)};
}

// Security Hub's current notes, by (Id, ProductArn), from the answers to the reads; nullopt when a read
// failed.
using known_notes = std::map<std::pair<std::string, std::string>, std::string>;
std::optional<known_notes> notes_from(const execution& run, action_record& failure) {
  known_notes notes;
  for (std::size_t i = 0; i < run.records.size(); ++i) {
    if (!run.answers[i]) {
      failure = run.records[i];
      return std::nullopt;
    }
    const nlohmann::json& body = run.answers[i]->json();
    if (!body.contains("Findings") || !body["Findings"].is_array()) continue;
    for (const auto& f : body["Findings"]) {
      if (!f.is_object()) continue;
      std::string note;
      if (f.contains("Note") && f["Note"].is_object()) note = f["Note"].value("Text", "");
      notes[{f.value("Id", ""), f.value("ProductArn", "")}] = note;
    }
  }
  return notes;
}

// The record of a finding Security Hub answered about, after BatchUpdateFindings.
action_record update_record(const finding_outcome& o, const execution& run, std::size_t i) {
  action_record record = run.records[i];
  if (!run.answers[i]) return record;
  const nlohmann::json& body = run.answers[i]->json();
  if (body.contains("UnprocessedFindings") && body["UnprocessedFindings"].is_array() &&
      !body["UnprocessedFindings"].empty()) {
    const auto& first = body["UnprocessedFindings"][0];
    record.result = outcome::skipped;
    record.detail = "Security Hub did not update finding " + o.finding.id + ": " +
                    first.value("ErrorCode", "") + " " + first.value("ErrorMessage", "");
  }
  return record;
}

std::vector<action_record> update_region(const std::vector<const finding_outcome*>& outcomes,
                                         const aws::client& client, aws::deadline until) {
  std::vector<action_record> records;
  std::vector<planned_call> reads;
  for (std::size_t start = 0; start < outcomes.size(); start += max_filter_values) {
    std::vector<const finding_outcome*> chunk(
        outcomes.begin() + static_cast<long>(start),
        outcomes.begin() + static_cast<long>(std::min(start + max_filter_values, outcomes.size())));
    reads.push_back(
        {&finding_update_action(), outcomes[start]->finding.region, get_findings(chunk), "read notes"});
  }
  action_record failure;
  const auto notes = notes_from(execute_plan(reads, client, until, false), failure);
  if (!notes) return {failure};
  std::vector<planned_call> updates;
  std::vector<const finding_outcome*> updated;
  for (const auto* o : outcomes) {
    const std::string note = note_text(*o);
    const auto known = notes->find({o->finding.id, o->finding.product_arn});
    if (known == notes->end()) {
      records.push_back(skipped_record(finding_update_action(), o->finding.id,
                                       "Security Hub does not know this finding (not enabled in " +
                                           o->finding.region + ", or not yet imported): not updated"));
    } else if (known->second == note) {
      records.push_back(already_record(finding_update_action(), o->finding.id, "its note says this already"));
    } else {
      updates.push_back({&finding_update_action(), o->finding.id, batch_update(*o, note), note});
      updated.push_back(o);
    }
  }
  const execution run = execute_plan(updates, client, until, false);
  for (std::size_t i = 0; i < updates.size(); ++i) records.push_back(update_record(*updated[i], run, i));
  return records;
}

}  // namespace

result<bool> securityhub_updates_from_environment(const env_reader& env) {
  return parse_bool(env, "TOURNIQUET_SECURITYHUB_UPDATES", false);
}

finding_reference reference_of(const guardduty_finding& finding) {
  return {finding.arn,
          "arn:" + finding.partition + ":securityhub:" + finding.region + "::product/aws/guardduty",
          finding.region, finding.account_id};
}

finding_reference reference_of(const asff_finding& finding) {
  std::string region = finding.region;
  if (region.empty() && !finding.resources.empty()) region = finding.resources.front().region;
  return {finding.id, finding.product_arn, region, finding.account_id};
}

std::vector<finding_outcome> outcomes_of(const decoded_event& event,
                                         const std::vector<playbook_report>& reports,
                                         const std::vector<std::size_t>& items) {
  std::vector<finding_outcome> outcomes;
  if (const auto* finding = std::get_if<guardduty_finding>(&event)) {
    outcomes.push_back({reference_of(*finding), reports});
  } else if (const auto* hub = std::get_if<securityhub_event>(&event);
             hub && hub->kind == securityhub_kind::custom_action) {
    std::map<std::size_t, std::vector<playbook_report>> by_item;
    for (std::size_t i = 0; i < items.size() && i < reports.size(); ++i)
      by_item[items[i]].push_back(reports[i]);
    for (auto& [item, its] : by_item) {
      if (item < hub->findings.size())
        outcomes.push_back({reference_of(hub->findings[item]), std::move(its)});
    }
  }
  return outcomes;
}

std::string note_text(const finding_outcome& outcome) {
  std::vector<std::string> lines;
  std::string incident;
  for (const auto& r : outcome.reports) {
    if (!worth_a_note(r)) continue;
    if (incident.empty()) incident = r.incident_id;
    lines.push_back(line_of(r));
  }
  if (lines.empty()) return {};
  return cut(
      "Tourniquet" + (incident.empty() ? std::string() : " " + incident) + ": " + join_list(lines, "; "),
      max_note_text);
}

std::optional<std::string> workflow_status(const finding_outcome& outcome) {
  for (const auto& r : outcome.reports) {
    switch (r.status) {
      case report_status::contained:
      case report_status::blocked:
      case report_status::escalate:
      case report_status::incomplete:
      case report_status::failed:
        return "NOTIFIED";
      default:
        break;
    }
  }
  return std::nullopt;
}

std::vector<action_record> update_findings(const std::vector<finding_outcome>& outcomes,
                                           const region_client& client, aws::deadline until) {
  std::map<std::string, std::vector<const finding_outcome*>> by_region;
  for (const auto& o : outcomes) {
    if (!note_text(o).empty()) by_region[o.finding.region].push_back(&o);
  }
  std::vector<action_record> records;
  for (const auto& [region, its] : by_region) {
    auto regional = client(region);
    if (!regional) {
      action_record failed = skipped_record(finding_update_action(), region, "no client for " + region);
      failed.result = outcome::failed;
      failed.failure = std::move(regional).err();
      records.push_back(std::move(failed));
      continue;
    }
    for (auto& r : update_region(its, *regional, until)) records.push_back(std::move(r));
  }
  for (const auto& r : records) {
    // The playbooks' work stands whatever Security Hub answered: logged and reported, never a failure.
    if (r.result == outcome::failed || r.result == outcome::skipped)
      log::warn("security hub finding not updated",
                {{"finding", r.target}, {"detail", r.failure ? r.failure->describe() : r.detail}});
  }
  return records;
}

}  // namespace tq::handlers
