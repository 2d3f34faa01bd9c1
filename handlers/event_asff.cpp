#include "handlers/event_asff.h"

#include <algorithm>
#include <exception>

namespace tq::handlers {
namespace {

using nlohmann::json;

// As in event.cpp: thrown inside this file only, caught at decode_securityhub.
struct asff_failure {
  error err;
};

[[noreturn]] void fail(const std::string& path, const std::string& message) {
  throw asff_failure{error{invalid_event_code, path + ": " + message, path, false}};
}

[[noreturn]] void fail_type(const std::string& path, std::string_view expected, const json& got) {
  fail(path, "expected " + std::string(expected) + ", got " + got.type_name());
}

std::string at(const std::string& path, std::string_view key) {
  return path + "." + std::string(key);
}
std::string at(const std::string& path, std::size_t index) {
  return path + "[" + std::to_string(index) + "]";
}

const json* find(const json& object, std::string_view key) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

const json& expect_object(const json& value, const std::string& path) {
  if (!value.is_object()) fail_type(path, "an object", value);
  return value;
}

const json* optional_of(const json& object, const std::string& path, std::string_view key,
                        bool object_wanted) {
  const json* member = find(object, key);
  if (member && object_wanted && !member->is_object()) fail_type(at(path, key), "an object", *member);
  if (member && !object_wanted && !member->is_array()) fail_type(at(path, key), "an array", *member);
  return member;
}

const json& required_of(const json& object, const std::string& path, std::string_view key,
                        bool object_wanted) {
  const json* member = optional_of(object, path, key, object_wanted);
  if (!member) fail(at(path, key), "required field is missing");
  return *member;
}

std::optional<std::string> optional_string(const json& object, const std::string& path,
                                           std::string_view key) {
  const json* member = find(object, key);
  if (!member) return std::nullopt;
  if (!member->is_string()) fail_type(at(path, key), "a string", *member);
  return member->get<std::string>();
}

std::string string_or_empty(const json& object, const std::string& path, std::string_view key) {
  return optional_string(object, path, key).value_or(std::string());
}

std::string required_string(const json& object, const std::string& path, std::string_view key) {
  std::optional<std::string> value = optional_string(object, path, key);
  if (!value || value->empty()) fail(at(path, key), "required field is missing");
  return std::move(*value);
}

std::optional<double> optional_number(const json& object, const std::string& path, std::string_view key) {
  const json* member = find(object, key);
  if (!member) return std::nullopt;
  if (!member->is_number()) fail_type(at(path, key), "a number", *member);
  return member->get<double>();
}

// A string-to-string map ({"Name": "web-1"}): Resources[].Tags, ProductFields.
std::vector<std::pair<std::string, std::string>> string_map(const json& object, const std::string& path,
                                                            std::string_view key) {
  std::vector<std::pair<std::string, std::string>> entries;
  const json* map = optional_of(object, path, key, true);
  if (!map) return entries;
  for (const auto& [name, value] : map->items()) {
    if (!value.is_string()) fail_type(at(at(path, key), name), "a string", value);
    entries.emplace_back(name, value.get<std::string>());
  }
  return entries;
}

std::vector<std::string> string_array(const json& object, const std::string& path, std::string_view key) {
  std::vector<std::string> values;
  const json* array = optional_of(object, path, key, false);
  if (!array) return values;
  for (std::size_t i = 0; i < array->size(); ++i) {
    if (!(*array)[i].is_string()) fail_type(at(at(path, key), i), "a string", (*array)[i]);
    values.push_back((*array)[i].get<std::string>());
  }
  return values;
}

asff_resource decode_resource(const json& item, const std::string& path) {
  expect_object(item, path);
  asff_resource resource;
  resource.type = required_string(item, path, "Type");
  resource.id = required_string(item, path, "Id");
  resource.region = string_or_empty(item, path, "Region");
  resource.partition = optional_string(item, path, "Partition").value_or("aws");
  resource.tags = string_map(item, path, "Tags");
  if (const json* details = optional_of(item, path, "Details", true)) resource.details = *details;
  return resource;
}

void decode_severity(const json& finding, const std::string& path, asff_finding& out) {
  const json* severity = optional_of(finding, path, "Severity", true);
  if (!severity) return;
  const std::string severity_path = at(path, "Severity");
  out.severity_label = string_or_empty(*severity, severity_path, "Label");
  out.severity_normalized = optional_number(*severity, severity_path, "Normalized");
  out.severity_product = optional_number(*severity, severity_path, "Product");
}

asff_finding decode_asff(const json& item, const std::string& path) {
  expect_object(item, path);
  asff_finding finding;
  finding.id = required_string(item, path, "Id");
  finding.product_arn = required_string(item, path, "ProductArn");
  finding.generator_id = string_or_empty(item, path, "GeneratorId");
  finding.account_id = required_string(item, path, "AwsAccountId");
  finding.region = string_or_empty(item, path, "Region");
  finding.types = string_array(item, path, "Types");
  decode_severity(item, path, finding);
  finding.title = string_or_empty(item, path, "Title");
  const json& resources = required_of(item, path, "Resources", false);
  const std::string resources_path = at(path, "Resources");
  for (std::size_t i = 0; i < resources.size(); ++i)
    finding.resources.push_back(decode_resource(resources[i], at(resources_path, i)));
  finding.product_fields = string_map(item, path, "ProductFields");
  if (const json* workflow = optional_of(item, path, "Workflow", true))
    finding.workflow_status = string_or_empty(*workflow, at(path, "Workflow"), "Status");
  finding.record_state = string_or_empty(item, path, "RecordState");
  if (const json* note = optional_of(item, path, "Note", true))
    finding.note_text = string_or_empty(*note, at(path, "Note"), "Text");
  finding.created_at = string_or_empty(item, path, "CreatedAt");
  finding.updated_at = string_or_empty(item, path, "UpdatedAt");
  return finding;
}

event_envelope decode_envelope(const json& event) {
  event_envelope envelope;
  envelope.version = string_or_empty(event, "$", "version");
  envelope.id = string_or_empty(event, "$", "id");
  envelope.detail_type = required_string(event, "$", "detail-type");
  envelope.source = required_string(event, "$", "source");
  envelope.account = string_or_empty(event, "$", "account");
  envelope.region = string_or_empty(event, "$", "region");
  envelope.time = string_or_empty(event, "$", "time");
  envelope.resources = string_array(event, "$", "resources");
  return envelope;
}

// arn:aws:securityhub:us-east-1:123456789012:action/custom/TourniquetContain -> TourniquetContain
std::string action_id_of(const event_envelope& envelope) {
  constexpr std::string_view marker = ":action/custom/";
  if (envelope.resources.empty()) fail("$.resources", "expected the custom action's ARN, got none");
  const std::string& arn = envelope.resources.front();
  const auto found = arn.find(marker);
  if (!arn.starts_with("arn:") || found == std::string::npos || found + marker.size() == arn.size())
    fail("$.resources[0]", "expected a custom action ARN (arn:…:action/custom/ID), got \"" + arn + "\"");
  return arn.substr(found + marker.size());
}

securityhub_event decode_hub_event(const json& event) {
  expect_object(event, "$");
  securityhub_event hub;
  hub.envelope = decode_envelope(event);
  if (hub.envelope.source != "aws.securityhub")
    fail("$.source", "expected aws.securityhub for detail-type \"" + hub.envelope.detail_type + "\", got \"" +
                         hub.envelope.source + "\"");
  const json& detail = required_of(event, "$", "detail", true);
  if (hub.envelope.detail_type == securityhub_custom_action) {
    hub.kind = securityhub_kind::custom_action;
    hub.action_id = action_id_of(hub.envelope);
    hub.action_name = string_or_empty(detail, "$.detail", "actionName");
  }
  const json& findings = required_of(detail, "$.detail", "findings", false);
  if (findings.size() > max_asff_findings)
    fail("$.detail.findings", std::to_string(findings.size()) + " findings is over the limit of " +
                                  std::to_string(max_asff_findings) + " per event");
  for (std::size_t i = 0; i < findings.size(); ++i)
    hub.findings.push_back(decode_asff(findings[i], at(std::string("$.detail.findings"), i)));
  return hub;
}

}  // namespace

bool is_securityhub_detail_type(std::string_view detail_type) {
  return detail_type == securityhub_custom_action || detail_type == securityhub_imported;
}

result<securityhub_event> decode_securityhub(const json& event) {
  try {
    return decode_hub_event(event);
  } catch (const asff_failure& failure) {
    return failure.err;
  } catch (const std::exception& e) {
    return error{invalid_event_code, std::string("$: could not decode the event: ") + e.what(), "$", false};
  }
}

bool is_guardduty_product(const asff_finding& finding) {
  // arn:<partition>:securityhub:<region>::product/aws/guardduty
  return finding.product_arn.starts_with("arn:") &&
         finding.product_arn.find(":securityhub:") != std::string::npos &&
         finding.product_arn.ends_with(":product/aws/guardduty");
}

}  // namespace tq::handlers
