// GuardDuty's attack sequences (`AttackSequence:*`, Extended Threat Detection): one Critical finding that
// ties many signals to every resource, actor and remote endpoint involved, in `service.detection.sequence`
// (botocore's guardduty model: Sequence, ResourceV2, Actor, NetworkEndpoint). Decoded here, beside the
// finding's other fields; a decode error names the JSON path of the bad field, like every other.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "runtime/result.h"

namespace tq::handlers {

// data.accessKey of an ACCESS_KEY resource (its uid is the key id).
struct sequence_access_key {
  std::string principal_id;
  std::string user_name;
  std::string user_type;  // "IAMUser", "AssumedRole", "Root", ...
};

// data.ec2NetworkInterface of an EC2_NETWORK_INTERFACE resource (its uid is the interface id).
struct sequence_interface {
  std::string subnet_id;  // "subNetId", as GuardDuty spells it
  std::string vpc_id;
  std::vector<std::string> security_group_ids;
};

// One resource the sequence touched: {uid, name, accountId, resourceType, region, service, cloudPartition,
// tags, data}. Only the data Tourniquet acts on is kept.
struct sequence_resource {
  std::string uid;            // "i-0abc…", "AKIA…", "eni-…", a bucket's name, an ARN
  std::string name;           // "" when absent
  std::string account_id;     // "" when absent: the finding's account
  std::string resource_type;  // EC2_INSTANCE, EC2_NETWORK_INTERFACE, S3_BUCKET, ACCESS_KEY, ECS_TASK, …
  std::string region;         // "" when absent: the finding's region
  std::string service;
  std::string cloud_partition;
  std::vector<std::pair<std::string, std::string>> tags;  // as GuardDuty saw them
  std::vector<std::string> interface_ids;           // EC2_INSTANCE: data.ec2Instance.ec2NetworkInterfaceUids
  std::optional<std::string> instance_profile_arn;  // EC2_INSTANCE: data.ec2Instance.IamInstanceProfile.arn
  std::optional<sequence_access_key> access_key;    // ACCESS_KEY
  std::optional<sequence_interface> interface;      // EC2_NETWORK_INTERFACE
};

// Who acted: {id, user{name, uid, type, credentialUid, account{uid}}, session{uid, issuer, …}, process}.
struct sequence_actor {
  std::string id;
  std::string user_name;           // "" when the actor names no user
  std::string user_uid;            // "AIDA…", "AROA…:session"
  std::string user_type;           // "IAMUser", "AssumedRole", "Root", …
  std::string credential_uid;      // the access key used: "AKIA…", "ASIA…"
  std::string account_id;          // user.account.uid
  std::string session_issuer;      // session.issuer: the role ARN behind an assumed-role session
  std::optional<std::string> mfa;  // session.mfaStatus
};

// A remote endpoint: {id, ip, domain, port, location, autonomousSystem, connection{direction}}.
struct sequence_endpoint {
  std::string id;
  std::string ip;      // "" when the endpoint is a domain only
  std::string domain;  // "" when absent
  std::optional<std::int64_t> port;
  std::string direction;  // connection.direction: INBOUND / OUTBOUND; "" when absent
};

struct sequence_signal {
  std::string uid;
  std::string type;  // FINDING, CLOUD_TRAIL, S3_DATA_EVENTS, …
  std::string name;  // the finding type when type is FINDING
  std::vector<std::string> resource_uids;
  std::vector<std::string> actor_ids;
  std::vector<std::string> endpoint_ids;
};

struct sequence_indicator {
  std::string key;  // MALICIOUS_IP, ATTACK_TACTIC, HIGH_RISK_API, …
  std::vector<std::string> values;
  std::string title;
};

struct attack_sequence {
  std::string uid;
  std::string description;
  std::vector<sequence_actor> actors;
  std::vector<sequence_resource> resources;
  std::vector<sequence_endpoint> endpoints;
  std::vector<sequence_signal> signals;
  std::vector<sequence_indicator> indicators;  // sequenceIndicators
};

// Decodes `service.detection.sequence`; `path` is where it sits ("$.detail.service.detection.sequence").
// The error's `where` names the bad field's full path.
result<attack_sequence> decode_attack_sequence(const nlohmann::json& sequence, std::string_view path);

// Whether a finding type is an attack sequence's: "AttackSequence:…".
inline bool is_attack_sequence_type(std::string_view type) {
  return type.starts_with("AttackSequence:");
}

}  // namespace tq::handlers
