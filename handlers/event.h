// Typed decoding of everything Tourniquet is invoked with: EventBridge events (GuardDuty findings, CloudTrail
// API calls, our own "Block Addresses" requests, schedules) and CloudWatch Logs subscription batches of
// CloudTrail records. A decode error is never retryable, its code starts with "InvalidEvent", and its
// `where` (and message) name the JSON path of the bad field, e.g. "$.detail.severity: expected a number, got
// string".
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "handlers/event_families.h"
#include "handlers/event_s3.h"
#include "handlers/event_sequence.h"
#include "runtime/result.h"

namespace tq::handlers {

// What we agree to decode. EventBridge delivers at most 256 KiB per event; 1 MiB leaves room for direct
// invocations (`tourniquet invoke FILE`) and still refuses absurd input before parsing it.
inline constexpr std::size_t max_event_bytes = 1024 * 1024;
inline constexpr std::size_t max_json_depth = 64;  // no real event nests deeper than about 12
// A CloudWatch Logs batch is at most 1 MiB compressed; text compresses about 10:1, so 8 MiB of output is
// generous for real batches and refuses gzip bombs.
inline constexpr std::size_t max_cloudwatch_logs_bytes = 8 * 1024 * 1024;

// Error codes of decode errors (tq::error::code); none of them is retryable.
inline constexpr const char* invalid_event_code = "InvalidEvent";  // a field is missing or mistyped
inline constexpr const char* event_not_json_code = "InvalidEvent.NotJson";
inline constexpr const char* event_too_large_code = "InvalidEvent.TooLarge";  // size cap or gzip output cap
inline constexpr const char* event_too_deep_code = "InvalidEvent.TooDeep";
inline constexpr const char* event_not_base64_code = "InvalidEvent.NotBase64";
inline constexpr const char* event_not_gzip_code = "InvalidEvent.NotGzip";

// The EventBridge envelope around every event but CloudWatch Logs batches.
struct event_envelope {
  std::string version;      // "0"
  std::string id;           // EventBridge event id (new for every delivery of a repeated finding)
  std::string detail_type;  // "GuardDuty Finding", "AWS API Call via CloudTrail", ...
  std::string source;       // "aws.guardduty", "aws.ec2", "tourniquet", ...
  std::string account;
  std::string region;
  std::string time;                    // RFC 3339
  std::vector<std::string> resources;  // ARNs; the rule ARN for scheduled events
};

// --- GuardDuty -------------------------------------------------------------------------------------------

struct network_interface {
  std::string id;  // networkInterfaceId
  std::string subnet_id;
  std::string vpc_id;
  std::optional<std::string> private_ip;
  std::optional<std::string> public_ip;
  std::vector<std::string> ipv6_addresses;
  std::vector<std::string> security_group_ids;
};

struct instance_details {
  std::string instance_id;
  std::optional<std::string> instance_type;
  std::optional<std::string> instance_state;  // as GuardDuty saw it; re-read before acting
  std::optional<std::string> availability_zone;
  std::optional<std::string> image_id;
  std::optional<std::string> iam_instance_profile_arn;
  std::vector<network_interface> network_interfaces;
  std::vector<std::pair<std::string, std::string>> tags;
};

struct access_key_details {
  std::string access_key_id;  // AKIA… (IAM user) or ASIA… (temporary)
  std::string user_type;      // "IAMUser", "AssumedRole", "Root", "FederatedUser", ...
  std::string user_name;      // the role name for AssumedRole; "" when GuardDuty gave none
  std::string principal_id;   // "AROA…:session" for AssumedRole; "" when GuardDuty gave none
};

struct guardduty_finding {
  event_envelope envelope;
  std::string id;  // stays the same when GuardDuty re-publishes the finding with a higher count
  std::string arn;
  std::string type;  // "UnauthorizedAccess:EC2/SSHBruteForce"
  std::string account_id;
  std::string region;
  std::string partition;  // "aws" when absent
  double severity = 0;    // Low 1–3.9, Medium 4–6.9, High 7–8.9, Critical 9+
  std::string title;
  std::string description;
  std::string created_at;
  std::string updated_at;
  std::string resource_type;  // "Instance", "AccessKey", "S3Bucket", ...
  std::optional<instance_details> instance;
  std::optional<access_key_details> access_key;
  std::vector<s3_bucket_details> buckets;  // resource.s3BucketDetails (S3 findings), see event_s3.h
  std::string detector_id;
  std::string resource_role;  // "ACTOR" or "TARGET"; "" when absent
  std::string action_type;    // NETWORK_CONNECTION, PORT_PROBE, AWS_API_CALL, DNS_REQUEST, ...; "" when none
  std::vector<std::string> remote_addresses;        // IPv4/IPv6, in finding order, without repeats
  std::optional<std::string> connection_direction;  // INBOUND/OUTBOUND/UNKNOWN (NETWORK_CONNECTION only)
  std::optional<std::string> domain;                // DNS_REQUEST only
  std::optional<std::string> api;                   // AWS_API_CALL only: "ListBuckets"
  bool archived = false;
  bool sample = false;  // made by CreateSampleFindings: additionalInfo.sample or a "[SAMPLE]" title
  std::int64_t count = 1;
  std::string last_seen;    // service.eventLastSeen: when the activity was last seen ("" when absent)
  family_details families;  // Lambda, ECS, EKS, containers, RDS, malware scans (event_families.h)
  // service.detection.sequence: set on attack sequence findings (AttackSequence:*), see event_sequence.h.
  std::optional<attack_sequence> sequence;
};

// "Low", "Medium", "High" or "Critical", by GuardDuty's bands.
std::string_view severity_label(double severity);

// --- CloudTrail ------------------------------------------------------------------------------------------

struct user_identity {
  std::string type;  // "IAMUser", "AssumedRole", "Root", "AWSService", ...
  std::optional<std::string> arn;
  std::optional<std::string> access_key_id;
  std::optional<std::string> user_name;
  std::optional<std::string> principal_id;
  std::optional<std::string> account_id;
  std::optional<std::string> session_issuer_arn;  // the role behind an AssumedRole session
};

struct cloudtrail_event {
  std::optional<event_envelope> envelope;  // absent for records that came through CloudWatch Logs
  std::string json_path;                   // where the record sat: "$.detail", "$.awslogs.data(decoded)…"
  std::string event_source;                // "ec2.amazonaws.com"
  std::string event_name;                  // "AuthorizeSecurityGroupIngress"
  std::string event_time;
  std::string aws_region;
  std::optional<std::string> event_id;
  std::optional<std::string> recipient_account_id;
  std::optional<std::string> source_ip;
  std::optional<std::string> error_code;  // set when the call failed: nothing changed
  std::optional<std::string> error_message;
  user_identity user;
  nlohmann::json request_parameters;  // null when CloudTrail recorded none
  nlohmann::json response_elements;   // null when CloudTrail recorded none
};

// One rule an AuthorizeSecurityGroupIngress call granted from an address range.
struct ingress_rule {
  std::string group_id;
  std::string ip_protocol;                // "tcp", "udp", "icmp", "-1" (all traffic), or a number
  std::optional<std::int64_t> from_port;  // absent for "-1"
  std::optional<std::int64_t> to_port;
  std::string cidr;  // "0.0.0.0/0", "::/0", "10.20.0.0/16"
  bool ipv6 = false;
  std::optional<std::string> rule_id;  // "sgr-…": newer events list the created rules in responseElements
};

// The address-range rules of an AuthorizeSecurityGroupIngress event. Newer events carry
// responseElements.securityGroupRuleSet (what was created, with rule ids) and that is used when present;
// older ones only have requestParameters.ipPermissions. Rules naming other groups or prefix lists are left
// out.
result<std::vector<ingress_rule>> ingress_rules(const cloudtrail_event& event);

// --- CloudWatch Logs subscription ------------------------------------------------------------------------

struct cloudwatch_logs_batch {
  std::string
      message_type;  // "DATA_MESSAGE"; "CONTROL_MESSAGE" (sent when the subscription is made) has no records
  std::string owner;
  std::string log_group;
  std::string log_stream;
  std::vector<std::string> subscription_filters;
  std::vector<cloudtrail_event> records;  // one per logEvents[].message, in order
};

// Decodes the `awslogs.data` string: base64 -> gzip -> JSON -> each logEvents[].message as a CloudTrail
// record. The error code says which layer failed: NotBase64, NotGzip, TooLarge, NotJson, or InvalidEvent for
// a field.
result<cloudwatch_logs_batch> decode_cloudwatch_logs(std::string_view base64_data);

// --- Our own events --------------------------------------------------------------------------------------

// source "tourniquet", detail-type "Block Addresses": deny the addresses in network ACLs. Exactly one
// target: the instance's subnets, the given subnets, or the given network ACLs.
struct block_request {
  event_envelope envelope;
  std::vector<std::string> addresses;  // IPv4/IPv6 addresses or CIDR blocks, as given (checked to parse)
  std::optional<std::string> instance_id;
  std::vector<std::string> subnet_ids;
  std::vector<std::string> network_acl_ids;
  std::string reason;
  std::optional<std::string> incident_id;
};

// source "aws.events", detail-type "Scheduled Event".
struct scheduled_event {
  event_envelope envelope;
  std::string rule_name;  // from resources[0], "arn:aws:events:…:rule/NAME"; "" when absent
};

// --- Security Hub (ASFF; handlers/event_asff.cpp) ---------------------------------------------------------

inline constexpr std::size_t max_asff_findings = 100;  // BatchImportFindings' and BatchUpdateFindings' limit
inline constexpr const char* securityhub_custom_action = "Security Hub Findings - Custom Action";
inline constexpr const char* securityhub_imported = "Security Hub Findings - Imported";

// One resource of an ASFF finding: the parts the playbooks need.
struct asff_resource {
  std::string type;       // "AwsEc2Instance", "AwsIamAccessKey", "AwsIamUser", "AwsIamRole", ...
  std::string id;         // an ARN, or "AWS::IAM::AccessKey:AKIA…" for GuardDuty's access keys
  std::string region;     // "" when absent
  std::string partition;  // "aws" when absent
  std::vector<std::pair<std::string, std::string>> tags;
  nlohmann::json details;  // Details as given (an object), null when absent
};

struct asff_finding {
  std::string id;  // a GuardDuty finding's ARN for GuardDuty's findings
  std::string product_arn;
  std::string generator_id;
  std::string account_id;  // AwsAccountId
  std::string region;      // "" when absent
  std::vector<std::string> types;
  std::string severity_label;  // "" when absent
  std::optional<double> severity_normalized;
  std::optional<double> severity_product;  // the product's own severity (GuardDuty's)
  std::string title;
  std::vector<asff_resource> resources;
  std::vector<std::pair<std::string, std::string>> product_fields;  // in document order
  std::string workflow_status;                                      // NEW, NOTIFIED, ...; "" when absent
  std::string record_state;                                         // ACTIVE, ARCHIVED; "" when absent
  std::string note_text;                                            // Note.Text; "" when absent
  std::string created_at;
  std::string updated_at;
};

enum class securityhub_kind { custom_action, imported };

// source "aws.securityhub" (refused from any other source: EventBridge lets no PutEvents caller use an aws.*
// source, so these can only come from Security Hub or from a direct invocation).
struct securityhub_event {
  event_envelope envelope;
  securityhub_kind kind = securityhub_kind::imported;
  std::string action_id;               // custom action: the Id after "action/custom/" in resources[0]
  std::string action_name;             // custom action: detail.actionName
  std::vector<asff_finding> findings;  // at most max_asff_findings
};

// Whether Security Hub's copy of the finding is GuardDuty's (ProductArn
// arn:…:securityhub:…::product/aws/guardduty).
bool is_guardduty_product(const asff_finding& finding);

// A GuardDuty finding as Security Hub carries it, turned back into the native event's shape, so that it is
// routed as that event would be (and has its incident id: the finding id is the Id ARN's last part). An error
// names what it lacks, at its path ($.detail.findings[INDEX]…).
result<guardduty_finding> native_guardduty_finding(const event_envelope& envelope,
                                                   const asff_finding& finding, std::size_t index);

// Anything else: not an error, the router ignores it.
struct unknown_event {
  event_envelope envelope;
};

using decoded_event = std::variant<guardduty_finding, cloudtrail_event, cloudwatch_logs_batch, block_request,
                                   scheduled_event, unknown_event, securityhub_event>;

// "guardduty_finding", "cloudtrail_event", ... for logs.
std::string_view kind_name(const decoded_event& event);

// Parses with the size and depth caps (TooLarge, TooDeep, NotJson errors; `where` names the document).
result<nlohmann::json> parse_json_limited(std::string_view text, std::size_t max_bytes,
                                          std::string_view where);

// The entry points. Nothing throws out of them.
result<decoded_event> decode_event(std::string_view text);
result<decoded_event> decode_event_json(const nlohmann::json& event);  // for an event already parsed
// A GuardDuty finding's detail alone (GetFindings answers findings in that shape), under `envelope`: decoded
// as the detail of an event with that envelope would be, errors at $.detail….
result<guardduty_finding> decode_guardduty_detail(const event_envelope& envelope,
                                                  const nlohmann::json& detail);

}  // namespace tq::handlers
