// GuardDuty's findings as Security Hub carries them (ASFF, "GuardDuty findings in Security Hub" in the
// GuardDuty user guide), turned back into the native event's shape: the finding id is the Id ARN's last part,
// the type the last part of Types[] with its "-" back to "/", the severity GuardDuty's own
// (Severity.Product), the service details GuardDuty's flattened ProductFields ("aws/guardduty/service/…").
#include <array>
#include <utility>

#include "handlers/event.h"

namespace tq::handlers {
namespace {

constexpr std::string_view service_prefix = "aws/guardduty/service/";

std::string product_field(const asff_finding& finding, std::string_view key) {
  for (const auto& [name, value] : finding.product_fields) {
    if (name.size() == service_prefix.size() + key.size() && name.starts_with(service_prefix) &&
        name.ends_with(key))
      return value;
  }
  return {};
}

// "TTPs/Command and Control/Backdoor:EC2-C&CActivity.B" -> "Backdoor:EC2/C&CActivity.B".
std::string type_of(const asff_finding& finding) {
  for (const std::string& type : finding.types) {
    std::string last = type.substr(type.rfind('/') + 1);
    const auto colon = last.find(':');
    if (colon == std::string::npos) continue;
    const auto dash = last.find('-', colon);
    if (dash != std::string::npos) last[dash] = '/';
    return last;
  }
  return {};
}

// The part of an ARN after `marker` ("instance/"), or "" when it has none.
std::string after(std::string_view text, std::string_view marker) {
  const auto found = text.find(marker);
  return found == std::string_view::npos ? std::string() : std::string(text.substr(found + marker.size()));
}

std::string text_of(const nlohmann::json& object, const char* key) {
  const auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

const nlohmann::json& details_of(const asff_resource& resource, const char* key) {
  static const nlohmann::json none = nlohmann::json::object();
  if (!resource.details.is_object()) return none;
  const auto it = resource.details.find(key);
  return it != resource.details.end() && it->is_object() ? *it : none;
}

instance_details instance_of(const asff_resource& resource) {
  const nlohmann::json& ec2 = details_of(resource, "AwsEc2Instance");
  instance_details instance;
  instance.instance_id = after(resource.id, "instance/");
  if (instance.instance_id.empty() && resource.id.starts_with("i-")) instance.instance_id = resource.id;
  if (std::string type = text_of(ec2, "Type"); !type.empty()) instance.instance_type = type;
  if (std::string image = text_of(ec2, "ImageId"); !image.empty()) instance.image_id = image;
  if (std::string profile = text_of(ec2, "IamInstanceProfileArn"); !profile.empty())
    instance.iam_instance_profile_arn = profile;
  const auto interfaces = ec2.find("NetworkInterfaces");
  if (interfaces != ec2.end() && interfaces->is_array()) {
    for (const auto& item : *interfaces) {
      if (!item.is_object() || text_of(item, "NetworkInterfaceId").empty()) continue;
      instance.network_interfaces.push_back(
          {text_of(item, "NetworkInterfaceId"), text_of(ec2, "SubnetId"), text_of(ec2, "VpcId")});
    }
  }
  instance.tags = resource.tags;
  return instance;
}

access_key_details access_key_of(const asff_resource& resource) {
  const nlohmann::json& key = details_of(resource, "AwsIamAccessKey");
  access_key_details details;
  details.access_key_id = after(resource.id, "AWS::IAM::AccessKey:");
  if (details.access_key_id.empty()) details.access_key_id = text_of(key, "AccessKeyId");
  details.user_type = text_of(key, "PrincipalType");
  details.user_name = text_of(key, "PrincipalName");
  if (details.user_name.empty()) details.user_name = text_of(key, "UserName");
  details.principal_id = text_of(key, "PrincipalId");
  return details;
}

// GuardDuty's resourceType for the first resource that names one; an access key is the resource only when
// nothing else is (an S3 finding lists the bucket and the key that touched it).
std::string resource_type_of(const asff_finding& finding) {
  constexpr std::array<std::pair<std::string_view, std::string_view>, 6> types{
      {{"AwsEc2Instance", "Instance"},
       {"AwsS3Bucket", "S3Bucket"},
       {"AwsLambdaFunction", "Lambda"},
       {"AwsEksCluster", "EKSCluster"},
       {"AwsEcsCluster", "ECSCluster"},
       {"AwsIamAccessKey", "AccessKey"}}};
  for (const auto& [asff, native] : types) {
    for (const auto& r : finding.resources)
      if (r.type == asff) return std::string(native);
  }
  return finding.resources.empty() ? std::string("Unknown") : finding.resources.front().type;
}

void add_service_fields(const asff_finding& finding, guardduty_finding& native) {
  native.detector_id = product_field(finding, "detectorId");
  native.resource_role = product_field(finding, "resourceRole");
  native.action_type = product_field(finding, "action/actionType");
  if (auto d = product_field(finding, "action/networkConnectionAction/connectionDirection"); !d.empty())
    native.connection_direction = d;
  if (auto domain = product_field(finding, "action/dnsRequestAction/domain"); !domain.empty())
    native.domain = domain;
  if (auto api = product_field(finding, "action/awsApiCallAction/api"); !api.empty()) native.api = api;
  for (const auto& [name, value] : finding.product_fields) {
    if (!name.starts_with(service_prefix) || value.empty()) continue;
    if (!name.ends_with("remoteIpDetails/ipAddressV4") && !name.ends_with("remoteIpDetails/ipAddressV6"))
      continue;
    auto& list = native.remote_addresses;
    if (std::find(list.begin(), list.end(), value) == list.end()) list.push_back(value);
  }
  native.archived = product_field(finding, "archived") == "true" || finding.record_state == "ARCHIVED";
  native.sample =
      product_field(finding, "additionalInfo/sample") == "true" || finding.title.starts_with("[SAMPLE]");
  native.last_seen = product_field(finding, "eventLastSeen");
  const std::string count = product_field(finding, "count");
  if (!count.empty() && count.size() < 15 && count.find_first_not_of("0123456789") == std::string::npos)
    native.count = std::stoll(count);
}

}  // namespace

result<guardduty_finding> native_guardduty_finding(const event_envelope& envelope,
                                                   const asff_finding& finding, std::size_t index) {
  const std::string path = "$.detail.findings[" + std::to_string(index) + "]";
  // arn:aws:guardduty:REGION:ACCOUNT:detector/DETECTOR/finding/ID
  const std::string id = after(finding.id, "/finding/");
  if (!finding.id.starts_with("arn:") || finding.id.find(":guardduty:") == std::string::npos || id.empty() ||
      id.find('/') != std::string::npos || after(finding.id, ":detector/").empty())
    return error{
        invalid_event_code,
        path + ".Id: expected a GuardDuty finding ARN (arn:…:guardduty:…:detector/…/finding/ID), got \"" +
            finding.id + "\"",
        path + ".Id", false};
  guardduty_finding native;
  native.envelope = envelope;
  native.id = id;
  native.arn = finding.id;
  native.type = type_of(finding);
  if (native.type.empty())
    return error{invalid_event_code, path + ".Types: names no GuardDuty finding type", path + ".Types",
                 false};
  native.account_id = finding.account_id;
  native.region = !finding.region.empty() ? finding.region : after(finding.id, ":guardduty:").substr(0, 0);
  if (native.region.empty()) {
    const std::string rest = after(finding.id, ":guardduty:");
    native.region = rest.substr(0, rest.find(':'));
  }
  const std::string partition = finding.id.substr(4, finding.id.find(':', 4) - 4);
  native.partition = partition.empty() ? "aws" : partition;
  native.severity = finding.severity_product.value_or(finding.severity_normalized.value_or(0) / 10.0);
  native.title = finding.title;
  native.created_at = finding.created_at;
  native.updated_at = finding.updated_at;
  native.resource_type = resource_type_of(finding);
  for (const auto& r : finding.resources) {
    if (r.type == "AwsEc2Instance" && !native.instance) native.instance = instance_of(r);
    if (r.type == "AwsIamAccessKey" && !native.access_key) native.access_key = access_key_of(r);
  }
  add_service_fields(finding, native);
  return native;
}

}  // namespace tq::handlers
