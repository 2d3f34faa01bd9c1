// What a GuardDuty finding says about resources other than instances and access keys: Lambda functions, ECS
// tasks, EKS workloads, standalone containers, RDS databases and their users, and what Malware Protection
// scanned (EBS snapshots, AMIs, backup recovery points, S3 objects). Decoded with the finding (event.h);
// decode errors name the JSON path of the bad field, as the rest of the finding's do.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "runtime/result.h"

namespace tq::handlers {

using tag_list = std::vector<std::pair<std::string, std::string>>;

// resource.lambdaDetails
struct lambda_details {
  std::string function_arn;  // as GuardDuty gives it (possibly with a version qualifier)
  std::string function_name;
  std::string function_version;
  std::string revision_id;
  std::string role;  // the execution role's ARN
  std::string vpc_id;
  std::vector<std::string> subnet_ids;  // empty when the function runs outside a VPC
  std::vector<std::string> security_group_ids;
  tag_list tags;  // the function's tags as the finding saw them
};

// A container, in taskDetails.containers, kubernetesWorkloadDetails.containers or resource.containerDetails.
struct container_details {
  std::string runtime;  // "docker", "containerd"
  std::string id;
  std::string name;
  std::string image;
  bool privileged = false;  // securityContext.privileged
};

// resource.ecsClusterDetails (with taskDetails for a task's finding).
struct ecs_details {
  std::string cluster_name;
  std::string cluster_arn;
  std::string task_arn;  // "" when the finding names no task
  std::string task_definition_arn;
  std::string launch_type;  // "FARGATE", "EC2"
  std::string group;        // "service:web", "family:…"
  std::string started_by;
  std::vector<container_details> containers;
};

// resource.eksClusterDetails and resource.kubernetesDetails.
struct eks_details {
  std::string cluster_name;
  std::string cluster_arn;
  std::string vpc_id;
  std::string user_name;  // kubernetesUserDetails.username
  std::vector<std::string> user_groups;
  std::string workload_name;  // kubernetesWorkloadDetails
  std::string workload_type;  // "pods", "deployments", "daemonsets", …
  std::string workload_namespace;
  std::string service_account;
  bool host_network = false;
  std::vector<container_details> containers;
};

// resource.rdsDbInstanceDetails / rdsLimitlessDbDetails, rdsDbUserDetails and the login attempt's source.
struct rds_details {
  std::string instance_id;  // dbInstanceIdentifier
  std::string cluster_id;   // dbClusterIdentifier
  std::string instance_arn;
  std::string shard_group_id;  // RDSLimitlessDB: dbShardGroupIdentifier
  std::string engine;          // "aurora-postgresql", "mysql", …
  std::string user;            // rdsDbUserDetails
  std::string application;
  std::string database;
  std::string auth_method;
  std::vector<std::string> source_addresses;  // service.action.rdsLoginAttemptAction.remoteIpDetails
};

// What Malware Protection scanned and found.
struct malware_details {
  std::string snapshot_arn;        // resource.ebsSnapshotDetails
  std::string image_arn;           // resource.ec2ImageDetails
  std::string recovery_point_arn;  // resource.recoveryPointDetails
  std::string backup_vault;
  std::vector<std::string> volume_arns;  // resource.ebsVolumeDetails.scannedVolumeDetails
  std::vector<std::string> object_arns;  // S3Object: s3BucketDetails[].s3ObjectDetails[].objectArn
  std::vector<std::string> threats;      // service.malwareScanDetails / ebsVolumeScanDetails threat names
};

// service.runtimeDetails.process: what Runtime Monitoring saw run.
struct process_details {
  std::string name;
  std::string executable_path;
  std::string executable_sha256;
  std::int64_t pid = 0;
};

struct family_details {
  std::optional<lambda_details> lambda;
  std::optional<ecs_details> ecs;
  std::optional<eks_details> eks;
  std::optional<container_details> container;  // resource.containerDetails
  std::optional<rds_details> rds;
  std::optional<malware_details> malware;
  std::optional<process_details> process;
};

// Decodes the families' details from a finding's `detail` object (at JSON path `path`, "$.detail"). Absent
// details stay nullopt; a present one of the wrong shape is an InvalidEvent error naming its path.
result<family_details> decode_family_details(const nlohmann::json& detail, std::string_view path);

}  // namespace tq::handlers
