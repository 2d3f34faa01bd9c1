#include "handlers/event.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <exception>
#include <tuple>

#include "handlers/cloudwatch_logs.h"
#include "handlers/event_asff.h"
#include "runtime/json_read.h"

namespace tq::handlers {
namespace {

using nlohmann::json;

// Inside this file a decode error is thrown as decode_failure and caught at each public entry point, which
// keeps the field-by-field code readable; nothing leaves the file as an exception.
struct decode_failure {
  error err;
};

// A JSON path rendered only when an error needs it: "$.detail.resource.instanceDetails.networkInterfaces[0]".
// A path refers to its parent, so build children inside the call that uses them (never store a chain).
class json_path {
 public:
  explicit json_path(std::string_view root) : m_name(root) {}
  json_path(const json_path& parent, std::string_view key) : m_parent(&parent), m_name(key) {}
  json_path(const json_path& parent, std::size_t index)
      : m_parent(&parent), m_index(index), m_is_index(true) {}

  std::string str() const {
    std::string text = m_parent ? m_parent->str() : std::string();
    if (m_is_index) return text + "[" + std::to_string(m_index) + "]";
    if (m_parent) text += ".";
    return text + std::string(m_name);
  }

 private:
  const json_path* m_parent = nullptr;
  std::string_view m_name;
  std::size_t m_index = 0;
  bool m_is_index = false;
};

[[noreturn]] void fail(const json_path& path, const std::string& message,
                       const char* code = invalid_event_code) {
  std::string where = path.str();
  throw decode_failure{error{code, where + ": " + message, where, false}};
}

[[noreturn]] void fail_type(const json_path& path, std::string_view expected, const json& got) {
  fail(path, "expected " + std::string(expected) + ", got " + got.type_name());
}

// A member, or nullptr when it is absent or null (GuardDuty writes "platform": null for absent values).
const json* find(const json& object, std::string_view key) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

const json& expect_object(const json& value, const json_path& path) {
  if (!value.is_object()) fail_type(path, "an object", value);
  return value;
}

const json* optional_object(const json& object, const json_path& path, std::string_view key) {
  const json* member = find(object, key);
  if (member && !member->is_object()) fail_type(json_path(path, key), "an object", *member);
  return member;
}

const json& required_object(const json& object, const json_path& path, std::string_view key) {
  const json* member = optional_object(object, path, key);
  if (!member) fail(json_path(path, key), "required field is missing");
  return *member;
}

const json* optional_array(const json& object, const json_path& path, std::string_view key) {
  const json* member = find(object, key);
  if (member && !member->is_array()) fail_type(json_path(path, key), "an array", *member);
  return member;
}

std::optional<std::string> optional_string(const json& object, const json_path& path, std::string_view key) {
  const json* member = find(object, key);
  if (!member) return std::nullopt;
  if (!member->is_string()) fail_type(json_path(path, key), "a string", *member);
  return member->get<std::string>();
}

std::string string_or_empty(const json& object, const json_path& path, std::string_view key) {
  return optional_string(object, path, key).value_or(std::string());
}

std::string required_string(const json& object, const json_path& path, std::string_view key) {
  std::optional<std::string> value = optional_string(object, path, key);
  if (!value) fail(json_path(path, key), "required field is missing");
  return std::move(*value);
}

std::optional<double> optional_number(const json& object, const json_path& path, std::string_view key) {
  const json* member = find(object, key);
  if (!member) return std::nullopt;
  if (!member->is_number()) fail_type(json_path(path, key), "a number", *member);
  return member->get<double>();
}

std::optional<std::int64_t> optional_integer(const json& object, const json_path& path,
                                             std::string_view key) {
  const json* member = find(object, key);
  if (!member) return std::nullopt;
  if (member->is_number_integer()) return member->get<std::int64_t>();  // unsigned past int64 wraps: reject
  if (member->is_number_unsigned() && member->get<std::uint64_t>() <= INT64_MAX)
    return static_cast<std::int64_t>(member->get<std::uint64_t>());
  if (member->is_number()) fail(json_path(path, key), "expected an integer, got " + member->dump());
  fail_type(json_path(path, key), "an integer", *member);
}

std::optional<bool> optional_bool(const json& object, const json_path& path, std::string_view key) {
  const json* member = find(object, key);
  if (!member) return std::nullopt;
  if (!member->is_boolean()) fail_type(json_path(path, key), "a boolean", *member);
  return member->get<bool>();
}

std::vector<std::string> string_array(const json& object, const json_path& path, std::string_view key) {
  std::vector<std::string> values;
  const json* array = optional_array(object, path, key);
  if (!array) return values;
  json_path array_path(path, key);
  values.reserve(array->size());
  for (std::size_t i = 0; i < array->size(); ++i) {
    const json& item = (*array)[i];
    if (!item.is_string()) fail_type(json_path(array_path, i), "a string", item);
    values.push_back(item.get<std::string>());
  }
  return values;
}

bool starts_with(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}
bool ends_with(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

// The deepest nesting of a JSON text, found without parsing, so a hostile "[[[[…" is refused before any
// allocation. Exact for valid JSON; invalid JSON is refused by the parser afterwards anyway.
std::optional<std::size_t> find_depth_violation(std::string_view text, std::size_t limit) {
  std::size_t depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > limit) return i;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return std::nullopt;
}

// --- envelope ---

event_envelope decode_envelope(const json& event, const json_path& root) {
  event_envelope envelope;
  envelope.version = string_or_empty(event, root, "version");
  envelope.id = string_or_empty(event, root, "id");
  envelope.detail_type = required_string(event, root, "detail-type");
  envelope.source = required_string(event, root, "source");
  envelope.account = string_or_empty(event, root, "account");
  envelope.region = string_or_empty(event, root, "region");
  envelope.time = string_or_empty(event, root, "time");
  envelope.resources = string_array(event, root, "resources");
  return envelope;
}

// --- GuardDuty ---

instance_details decode_instance(const json& details, const json_path& path) {
  instance_details instance;
  instance.instance_id = required_string(details, path, "instanceId");
  instance.instance_type = optional_string(details, path, "instanceType");
  instance.instance_state = optional_string(details, path, "instanceState");
  instance.availability_zone = optional_string(details, path, "availabilityZone");
  instance.image_id = optional_string(details, path, "imageId");
  if (const json* profile = optional_object(details, path, "iamInstanceProfile"))
    instance.iam_instance_profile_arn =
        optional_string(*profile, json_path(path, "iamInstanceProfile"), "arn");

  if (const json* interfaces = optional_array(details, path, "networkInterfaces")) {
    json_path interfaces_path(path, "networkInterfaces");
    for (std::size_t i = 0; i < interfaces->size(); ++i) {
      json_path item_path(interfaces_path, i);
      const json& item = expect_object((*interfaces)[i], item_path);
      network_interface eni;
      eni.id = required_string(item, item_path, "networkInterfaceId");
      eni.subnet_id = required_string(item, item_path, "subnetId");
      eni.vpc_id = required_string(item, item_path, "vpcId");
      eni.private_ip = optional_string(item, item_path, "privateIpAddress");
      eni.public_ip = optional_string(item, item_path, "publicIp");
      eni.ipv6_addresses = string_array(item, item_path, "ipv6Addresses");
      if (const json* groups = optional_array(item, item_path, "securityGroups")) {
        json_path groups_path(item_path, "securityGroups");
        for (std::size_t g = 0; g < groups->size(); ++g) {
          json_path group_path(groups_path, g);
          eni.security_group_ids.push_back(
              required_string(expect_object((*groups)[g], group_path), group_path, "groupId"));
        }
      }
      instance.network_interfaces.push_back(std::move(eni));
    }
  }

  if (const json* tags = optional_array(details, path, "tags")) {
    json_path tags_path(path, "tags");
    for (std::size_t i = 0; i < tags->size(); ++i) {
      json_path tag_path(tags_path, i);
      const json& tag = expect_object((*tags)[i], tag_path);
      instance.tags.emplace_back(required_string(tag, tag_path, "key"),
                                 string_or_empty(tag, tag_path, "value"));
    }
  }
  return instance;
}

access_key_details decode_access_key(const json& details, const json_path& path) {
  access_key_details key;
  key.access_key_id = required_string(details, path, "accessKeyId");
  key.user_type = required_string(details, path, "userType");
  key.user_name = string_or_empty(details, path, "userName");
  key.principal_id = string_or_empty(details, path, "principalId");
  return key;
}

void add_remote_address(guardduty_finding& finding, const json& remote, const json_path& path) {
  for (const char* key : {"ipAddressV4", "ipAddressV6"}) {
    std::optional<std::string> address = optional_string(remote, path, key);
    if (!address || address->empty()) continue;
    auto& list = finding.remote_addresses;
    if (std::find(list.begin(), list.end(), *address) == list.end()) list.push_back(std::move(*address));
  }
}

void add_remote_of(guardduty_finding& finding, const json& action_detail, const json_path& path) {
  if (const json* remote = optional_object(action_detail, path, "remoteIpDetails"))
    add_remote_address(finding, *remote, json_path(path, "remoteIpDetails"));
}

// Where the remote addresses are depends on the action type (GuardDuty user guide, finding details).
void decode_action(guardduty_finding& finding, const json& action, const json_path& path) {
  finding.action_type = string_or_empty(action, path, "actionType");
  const std::string& type = finding.action_type;
  if (type == "NETWORK_CONNECTION") {
    json_path detail_path(path, "networkConnectionAction");
    const json& detail = required_object(action, path, "networkConnectionAction");
    finding.connection_direction = optional_string(detail, detail_path, "connectionDirection");
    add_remote_of(finding, detail, detail_path);
  } else if (type == "PORT_PROBE") {
    json_path detail_path(path, "portProbeAction");
    const json& detail = required_object(action, path, "portProbeAction");
    if (const json* probes = optional_array(detail, detail_path, "portProbeDetails")) {
      json_path probes_path(detail_path, "portProbeDetails");
      for (std::size_t i = 0; i < probes->size(); ++i) {
        json_path probe_path(probes_path, i);
        add_remote_of(finding, expect_object((*probes)[i], probe_path), probe_path);
      }
    }
  } else if (type == "AWS_API_CALL") {
    json_path detail_path(path, "awsApiCallAction");
    const json& detail = required_object(action, path, "awsApiCallAction");
    finding.api = optional_string(detail, detail_path, "api");
    add_remote_of(finding, detail, detail_path);
  } else if (type == "DNS_REQUEST") {
    json_path detail_path(path, "dnsRequestAction");
    const json& detail = required_object(action, path, "dnsRequestAction");
    finding.domain = optional_string(detail, detail_path, "domain");
  }
}

// additionalInfo is {"sample": true} in older findings and {"value": "{\"sample\":true}", "type": "default"}
// in newer ones; `value` is free-form JSON text, so a value we cannot read is not an error.
bool is_sample(const json& additional_info, const json_path& path) {
  if (std::optional<bool> sample = optional_bool(additional_info, path, "sample")) return *sample;
  const json* value = find(additional_info, "value");
  if (!value || !value->is_string()) return false;
  const auto& text = value->get_ref<const std::string&>();
  if (text.find("sample") == std::string::npos) return false;
  result<json> parsed = parse_json_limited(text, max_event_bytes, path.str());
  if (!parsed || !parsed->is_object()) return false;
  const json* sample = find(*parsed, "sample");
  return sample && sample->is_boolean() && sample->get<bool>();
}

// A GuardDuty finding's detail (at `path`), under its event's envelope.
guardduty_finding decode_finding_detail(event_envelope envelope, const json& detail, const json_path& path) {
  expect_object(detail, path);
  guardduty_finding finding;
  finding.envelope = std::move(envelope);
  finding.id = required_string(detail, path, "id");
  finding.arn = string_or_empty(detail, path, "arn");
  finding.type = required_string(detail, path, "type");
  finding.account_id = required_string(detail, path, "accountId");
  finding.region = required_string(detail, path, "region");
  finding.partition = optional_string(detail, path, "partition").value_or("aws");
  std::optional<double> severity = optional_number(detail, path, "severity");
  if (!severity) fail(json_path(path, "severity"), "required field is missing");
  finding.severity = *severity;
  finding.title = string_or_empty(detail, path, "title");
  finding.description = string_or_empty(detail, path, "description");
  finding.created_at = string_or_empty(detail, path, "createdAt");
  finding.updated_at = string_or_empty(detail, path, "updatedAt");

  json_path resource_path(path, "resource");
  const json& resource = required_object(detail, path, "resource");
  finding.resource_type = required_string(resource, resource_path, "resourceType");
  if (const json* instance = optional_object(resource, resource_path, "instanceDetails"))
    finding.instance = decode_instance(*instance, json_path(resource_path, "instanceDetails"));
  if (const json* key = optional_object(resource, resource_path, "accessKeyDetails"))
    finding.access_key = decode_access_key(*key, json_path(resource_path, "accessKeyDetails"));
  if (const json* buckets = find(resource, "s3BucketDetails")) {
    auto decoded = decode_s3_buckets(*buckets, json_path(resource_path, "s3BucketDetails").str());
    if (!decoded) throw decode_failure{std::move(decoded).err()};
    finding.buckets = std::move(*decoded);
  }

  if (const json* service = optional_object(detail, path, "service")) {
    json_path service_path(path, "service");
    finding.detector_id = string_or_empty(*service, service_path, "detectorId");
    finding.resource_role = string_or_empty(*service, service_path, "resourceRole");
    finding.archived = optional_bool(*service, service_path, "archived").value_or(false);
    finding.count = optional_integer(*service, service_path, "count").value_or(1);
    finding.last_seen = string_or_empty(*service, service_path, "eventLastSeen");
    if (const json* action = optional_object(*service, service_path, "action"))
      decode_action(finding, *action, json_path(service_path, "action"));
    if (const json* info = optional_object(*service, service_path, "additionalInfo"))
      finding.sample = is_sample(*info, json_path(service_path, "additionalInfo"));
    if (const json* detection = optional_object(*service, service_path, "detection")) {
      json_path detection_path(service_path, "detection");
      if (const json* sequence = optional_object(*detection, detection_path, "sequence")) {
        auto decoded = decode_attack_sequence(*sequence, json_path(detection_path, "sequence").str());
        if (!decoded) throw decode_failure{std::move(decoded).err()};
        finding.sequence = std::move(*decoded);
      }
    }
  }
  if (starts_with(finding.title, "[SAMPLE]")) finding.sample = true;
  auto families = decode_family_details(detail, path.str());
  if (!families) throw decode_failure{std::move(families).err()};
  finding.families = std::move(*families);
  return finding;
}

guardduty_finding decode_finding(const json& event, const json_path& root) {
  return decode_finding_detail(decode_envelope(event, root), required_object(event, root, "detail"),
                               json_path(root, "detail"));
}

// --- CloudTrail ---

cloudtrail_event decode_cloudtrail_record(const json& record, const json_path& path) {
  expect_object(record, path);
  cloudtrail_event event;
  event.json_path = path.str();
  event.event_source = required_string(record, path, "eventSource");
  event.event_name = required_string(record, path, "eventName");
  event.event_time = required_string(record, path, "eventTime");
  event.aws_region = required_string(record, path, "awsRegion");
  event.event_id = optional_string(record, path, "eventID");
  event.recipient_account_id = optional_string(record, path, "recipientAccountId");
  event.source_ip = optional_string(record, path, "sourceIPAddress");
  event.error_code = optional_string(record, path, "errorCode");
  event.error_message = optional_string(record, path, "errorMessage");
  if (const json* identity = optional_object(record, path, "userIdentity")) {
    json_path identity_path(path, "userIdentity");
    user_identity& user = event.user;
    user.type = required_string(*identity, identity_path, "type");
    user.arn = optional_string(*identity, identity_path, "arn");
    user.access_key_id = optional_string(*identity, identity_path, "accessKeyId");
    user.user_name = optional_string(*identity, identity_path, "userName");
    user.principal_id = optional_string(*identity, identity_path, "principalId");
    user.account_id = optional_string(*identity, identity_path, "accountId");
    if (const json* context = optional_object(*identity, identity_path, "sessionContext")) {
      json_path context_path(identity_path, "sessionContext");
      if (const json* issuer = optional_object(*context, context_path, "sessionIssuer"))
        user.session_issuer_arn = optional_string(*issuer, json_path(context_path, "sessionIssuer"), "arn");
    }
  }
  if (const json* parameters = find(record, "requestParameters")) event.request_parameters = *parameters;
  if (const json* elements = find(record, "responseElements")) event.response_elements = *elements;
  return event;
}

// CloudTrail writes EC2's lists as {"items": [...]}, and an empty list as {}.
const json* items_of(const json& object, const json_path& path, std::string_view key) {
  const json* list = optional_object(object, path, key);
  if (!list) return nullptr;
  return optional_array(*list, json_path(path, key), "items");
}

std::vector<ingress_rule> rules_from_response(const json& items, const json_path& path) {
  std::vector<ingress_rule> rules;
  for (std::size_t i = 0; i < items.size(); ++i) {
    json_path item_path(path, i);
    const json& item = expect_object(items[i], item_path);
    if (optional_bool(item, item_path, "isEgress").value_or(false)) continue;
    ingress_rule rule;
    rule.group_id = required_string(item, item_path, "groupId");
    rule.rule_id = optional_string(item, item_path, "securityGroupRuleId");
    rule.ip_protocol = required_string(item, item_path, "ipProtocol");
    rule.from_port = optional_integer(item, item_path, "fromPort");
    rule.to_port = optional_integer(item, item_path, "toPort");
    if (auto v4 = optional_string(item, item_path, "cidrIpv4")) {
      rule.cidr = std::move(*v4);
    } else if (auto v6 = optional_string(item, item_path, "cidrIpv6")) {
      rule.cidr = std::move(*v6);
      rule.ipv6 = true;
    } else {
      continue;  // a rule naming a group or a prefix list
    }
    rules.push_back(std::move(rule));
  }
  return rules;
}

std::vector<ingress_rule> rules_from_request(const json& parameters, const json_path& path) {
  std::vector<ingress_rule> rules;
  const std::string group_id = string_or_empty(parameters, path, "groupId");
  // The flat form: CidrIp, IpProtocol, FromPort, ToPort given without IpPermissions.
  if (auto cidr = optional_string(parameters, path, "cidrIp")) {
    ingress_rule rule{group_id, string_or_empty(parameters, path, "ipProtocol"),
                      optional_integer(parameters, path, "fromPort"),
                      optional_integer(parameters, path, "toPort"), std::move(*cidr)};
    rules.push_back(std::move(rule));
  }
  const json* permissions = items_of(parameters, path, "ipPermissions");
  if (!permissions) return rules;
  json_path permissions_parent(path, "ipPermissions");
  json_path permissions_path(permissions_parent, "items");
  for (std::size_t i = 0; i < permissions->size(); ++i) {
    json_path permission_path(permissions_path, i);
    const json& permission = expect_object((*permissions)[i], permission_path);
    const std::string protocol = required_string(permission, permission_path, "ipProtocol");
    const auto from_port = optional_integer(permission, permission_path, "fromPort");
    const auto to_port = optional_integer(permission, permission_path, "toPort");
    for (auto [ranges_key, cidr_key, ipv6] :
         {std::tuple{"ipRanges", "cidrIp", false}, std::tuple{"ipv6Ranges", "cidrIpv6", true}}) {
      const json* ranges = items_of(permission, permission_path, ranges_key);
      if (!ranges) continue;
      json_path ranges_parent(permission_path, ranges_key);
      json_path ranges_path(ranges_parent, "items");
      for (std::size_t r = 0; r < ranges->size(); ++r) {
        json_path range_path(ranges_path, r);
        const json& range = expect_object((*ranges)[r], range_path);
        rules.push_back(ingress_rule{group_id, protocol, from_port, to_port,
                                     required_string(range, range_path, cidr_key), ipv6, std::nullopt});
      }
    }
  }
  return rules;
}

// --- CloudWatch Logs ---

cloudwatch_logs_batch decode_logs_payload(const json& payload, const json_path& path) {
  expect_object(payload, path);
  cloudwatch_logs_batch batch;
  batch.message_type = required_string(payload, path, "messageType");
  batch.owner = string_or_empty(payload, path, "owner");
  batch.log_group = string_or_empty(payload, path, "logGroup");
  batch.log_stream = string_or_empty(payload, path, "logStream");
  batch.subscription_filters = string_array(payload, path, "subscriptionFilters");
  if (batch.message_type == "CONTROL_MESSAGE") return batch;
  if (batch.message_type != "DATA_MESSAGE")
    fail(json_path(path, "messageType"),
         "expected DATA_MESSAGE or CONTROL_MESSAGE, got " + batch.message_type);

  const json* events = optional_array(payload, path, "logEvents");
  if (!events) fail(json_path(path, "logEvents"), "required field is missing");
  json_path events_path(path, "logEvents");
  batch.records.reserve(events->size());
  for (std::size_t i = 0; i < events->size(); ++i) {
    json_path event_path(events_path, i);
    const json& log_event = expect_object((*events)[i], event_path);
    const std::string message = required_string(log_event, event_path, "message");
    // Each message is a CloudTrail record serialised as a string: a document of its own.
    json_path message_path(event_path, "message(parsed)");
    result<json> record = parse_json_limited(message, max_event_bytes, message_path.str());
    if (!record) throw decode_failure{std::move(record).err()};
    batch.records.push_back(decode_cloudtrail_record(*record, message_path));
  }
  return batch;
}

cloudwatch_logs_batch decode_logs_data(std::string_view base64_data) {
  constexpr std::string_view where = "$.awslogs.data";
  result<std::string> compressed = base64_decode(base64_data, where);
  if (!compressed) throw decode_failure{std::move(compressed).err()};
  result<std::string> text = gunzip(*compressed, max_cloudwatch_logs_bytes, where);
  if (!text) throw decode_failure{std::move(text).err()};
  result<json> payload = parse_json_limited(*text, max_cloudwatch_logs_bytes, where);
  if (!payload) throw decode_failure{std::move(payload).err()};
  return decode_logs_payload(*payload, json_path("$.awslogs.data(decoded)"));
}

// --- our own events ---

// "203.0.113.7", "198.51.100.0/24", "2001:db8::1", "2001:db8::/32".
bool is_address_or_cidr(const std::string& text) {
  const auto slash = text.find('/');
  const std::string address = text.substr(0, slash);
  unsigned char buffer[16];
  int max_prefix = 0;
  if (inet_pton(AF_INET, address.c_str(), buffer) == 1)
    max_prefix = 32;
  else if (inet_pton(AF_INET6, address.c_str(), buffer) == 1)
    max_prefix = 128;
  else
    return false;
  if (slash == std::string::npos) return true;
  const char* first = text.data() + slash + 1;
  const char* last = text.data() + text.size();
  int prefix = -1;
  auto [end, ec] = std::from_chars(first, last, prefix);
  return ec == std::errc() && end == last && first != last && prefix >= 0 && prefix <= max_prefix;
}

void expect_id_prefix(const std::string& id, std::string_view prefix, const json_path& path) {
  if (!starts_with(id, prefix) || id.size() == prefix.size())
    fail(path, "expected an id starting with \"" + std::string(prefix) + "\", got \"" + id + "\"");
}

block_request decode_block(const json& event, const json_path& root) {
  block_request request;
  request.envelope = decode_envelope(event, root);
  json_path path(root, "detail");
  const json& detail = required_object(event, root, "detail");

  if (!optional_array(detail, path, "addresses"))
    fail(json_path(path, "addresses"), "required field is missing");
  request.addresses = string_array(detail, path, "addresses");
  json_path addresses_path(path, "addresses");
  if (request.addresses.empty()) fail(addresses_path, "expected at least one address");
  for (std::size_t i = 0; i < request.addresses.size(); ++i)
    if (!is_address_or_cidr(request.addresses[i]))
      fail(json_path(addresses_path, i),
           "expected an IPv4 or IPv6 address or CIDR block, got \"" + request.addresses[i] + "\"");

  request.instance_id = optional_string(detail, path, "instanceId");
  if (request.instance_id) expect_id_prefix(*request.instance_id, "i-", json_path(path, "instanceId"));
  request.subnet_ids = string_array(detail, path, "subnetIds");
  json_path subnets_path(path, "subnetIds");
  for (std::size_t i = 0; i < request.subnet_ids.size(); ++i)
    expect_id_prefix(request.subnet_ids[i], "subnet-", json_path(subnets_path, i));
  request.network_acl_ids = string_array(detail, path, "networkAclIds");
  json_path acls_path(path, "networkAclIds");
  for (std::size_t i = 0; i < request.network_acl_ids.size(); ++i)
    expect_id_prefix(request.network_acl_ids[i], "acl-", json_path(acls_path, i));
  const int targets = (request.instance_id ? 1 : 0) + (request.subnet_ids.empty() ? 0 : 1) +
                      (request.network_acl_ids.empty() ? 0 : 1);
  if (targets != 1)
    fail(path,
         "expected exactly one of instanceId, subnetIds, networkAclIds, got " + std::to_string(targets));

  request.reason = required_string(detail, path, "reason");
  if (request.reason.empty()) fail(json_path(path, "reason"), "expected a non-empty reason");
  request.incident_id = optional_string(detail, path, "incidentId");
  return request;
}

scheduled_event decode_scheduled(const json& event, const json_path& root) {
  scheduled_event scheduled;
  scheduled.envelope = decode_envelope(event, root);
  if (!scheduled.envelope.resources.empty()) {
    const std::string& arn = scheduled.envelope.resources.front();
    const auto slash = arn.rfind(":rule/");
    if (slash != std::string::npos) scheduled.rule_name = arn.substr(slash + 6);
  }
  return scheduled;
}

decoded_event decode_any(const json& event) {
  json_path root("$");
  expect_object(event, root);
  if (event.contains("awslogs") && !event.contains("source")) {
    json_path awslogs_path(root, "awslogs");
    const json& awslogs = required_object(event, root, "awslogs");
    return decode_logs_data(required_string(awslogs, awslogs_path, "data"));
  }

  const std::string source = required_string(event, root, "source");
  const std::string detail_type = required_string(event, root, "detail-type");
  if (source == "aws.guardduty" && detail_type == "GuardDuty Finding") return decode_finding(event, root);
  if (ends_with(detail_type, "via CloudTrail")) {
    cloudtrail_event record =
        decode_cloudtrail_record(required_object(event, root, "detail"), json_path(root, "detail"));
    record.envelope = decode_envelope(event, root);
    return record;
  }
  if (source == "tourniquet" && detail_type == "Block Addresses") return decode_block(event, root);
  if (source == "aws.events" && detail_type == "Scheduled Event") return decode_scheduled(event, root);
  if (is_securityhub_detail_type(detail_type)) {
    result<securityhub_event> hub = decode_securityhub(event);
    if (!hub) throw decode_failure{std::move(hub).err()};
    return std::move(*hub);
  }
  return unknown_event{decode_envelope(event, root)};
}

// Runs a decoding step, turning whatever it throws into an error.
template <class T, class F>
result<T> guarded(F&& step) {
  try {
    return step();
  } catch (const decode_failure& failure) {
    return failure.err;
  } catch (const std::exception& e) {
    return error{invalid_event_code, std::string("$: could not decode the event: ") + e.what(), "$", false};
  }
}

}  // namespace

std::string_view severity_label(double severity) {
  if (severity >= 9) return "Critical";
  if (severity >= 7) return "High";
  if (severity >= 4) return "Medium";
  return "Low";
}

std::string_view kind_name(const decoded_event& event) {
  static constexpr std::string_view names[] = {
      "guardduty_finding", "cloudtrail_event", "cloudwatch_logs_batch", "block_request",
      "scheduled_event",   "unknown_event",    "securityhub_event"};
  return names[event.index()];
}

result<nlohmann::json> parse_json_limited(std::string_view text, std::size_t max_bytes,
                                          std::string_view where) {
  const std::string at(where);
  if (text.size() > max_bytes)
    return error{event_too_large_code,
                 at + ": " + std::to_string(text.size()) + " bytes is over the limit of " +
                     std::to_string(max_bytes) + " bytes (EventBridge delivers at most 256 KiB)",
                 at, false};
  if (auto offset = find_depth_violation(text, max_json_depth))
    return error{event_too_deep_code,
                 at + ": JSON nests deeper than " + std::to_string(max_json_depth) + " levels (at byte " +
                     std::to_string(*offset) + ")",
                 at, false};
  try {
    return json_read::parse(text);  // nlohmann's document, built quicker when the text is plain
  } catch (const json::parse_error& e) {
    std::string reason = e.what();
    if (auto bracket = reason.find("] "); bracket != std::string::npos) reason.erase(0, bracket + 2);
    return error{event_not_json_code, at + ": not valid JSON: " + reason, at, false};
  } catch (const std::exception& e) {
    return error{event_not_json_code, at + ": not valid JSON: " + e.what(), at, false};
  }
}

result<std::vector<ingress_rule>> ingress_rules(const cloudtrail_event& event) {
  return guarded<std::vector<ingress_rule>>([&]() -> std::vector<ingress_rule> {
    json_path root(event.json_path.empty() ? std::string_view("$") : std::string_view(event.json_path));
    if (event.response_elements.is_object()) {
      json_path response_path(root, "responseElements");
      json_path rule_set_path(response_path, "securityGroupRuleSet");
      if (const json* items = items_of(event.response_elements, response_path, "securityGroupRuleSet"))
        return rules_from_response(*items, json_path(rule_set_path, "items"));
    }
    if (event.request_parameters.is_null()) return {};
    json_path request_path(root, "requestParameters");
    return rules_from_request(expect_object(event.request_parameters, request_path), request_path);
  });
}

result<cloudwatch_logs_batch> decode_cloudwatch_logs(std::string_view base64_data) {
  return guarded<cloudwatch_logs_batch>([&] { return decode_logs_data(base64_data); });
}

result<decoded_event> decode_event_json(const nlohmann::json& event) {
  return guarded<decoded_event>([&] { return decode_any(event); });
}

result<guardduty_finding> decode_guardduty_detail(const event_envelope& envelope,
                                                  const nlohmann::json& detail) {
  return guarded<guardduty_finding>(
      [&] { return decode_finding_detail(envelope, detail, json_path(json_path("$"), "detail")); });
}

result<decoded_event> decode_event(std::string_view text) {
  result<json> parsed = parse_json_limited(text, max_event_bytes, "$");
  if (!parsed) return std::move(parsed).err();
  return decode_event_json(*parsed);
}

}  // namespace tq::handlers
