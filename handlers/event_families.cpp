#include "handlers/event_families.h"

#include <algorithm>
#include <exception>

#include "handlers/event.h"

namespace tq::handlers {
namespace {

using nlohmann::json;

// Thrown inside this file only, caught by decode_family_details.
struct bad_field {
  error err;
};

// A JSON path as text, built only along the way down: "$.detail.resource.lambdaDetails.vpcConfig".
std::string child(std::string_view path, std::string_view key) {
  return std::string(path) + "." + std::string(key);
}
std::string item(std::string_view path, std::size_t index) {
  return std::string(path) + "[" + std::to_string(index) + "]";
}

[[noreturn]] void fail_type(const std::string& path, std::string_view expected, const json& got) {
  throw bad_field{error{invalid_event_code,
                        path + ": expected " + std::string(expected) + ", got " + got.type_name(), path,
                        false}};
}

// A member, or nullptr when absent or null.
const json* member(const json& object, std::string_view key) {
  auto it = object.find(key);
  return it == object.end() || it->is_null() ? nullptr : &*it;
}

const json* object_at(const json& object, std::string_view path, std::string_view key) {
  const json* m = member(object, key);
  if (m && !m->is_object()) fail_type(child(path, key), "an object", *m);
  return m;
}

const json* array_at(const json& object, std::string_view path, std::string_view key) {
  const json* m = member(object, key);
  if (m && !m->is_array()) fail_type(child(path, key), "an array", *m);
  return m;
}

std::string text(const json& object, std::string_view path, std::string_view key) {
  const json* m = member(object, key);
  if (!m) return {};
  if (!m->is_string()) fail_type(child(path, key), "a string", *m);
  return m->get<std::string>();
}

bool flag(const json& object, std::string_view path, std::string_view key) {
  const json* m = member(object, key);
  if (!m) return false;
  if (!m->is_boolean()) fail_type(child(path, key), "a boolean", *m);
  return m->get<bool>();
}

std::int64_t integer(const json& object, std::string_view path, std::string_view key) {
  const json* m = member(object, key);
  if (!m) return 0;
  if (!m->is_number_integer()) fail_type(child(path, key), "an integer", *m);
  return m->get<std::int64_t>();
}

// Calls `each(element, its path)` for every object of the array at `key`.
template <class F>
void for_each_object(const json& object, std::string_view path, std::string_view key, F&& each) {
  const json* list = array_at(object, path, key);
  if (!list) return;
  const std::string list_path = child(path, key);
  for (std::size_t i = 0; i < list->size(); ++i) {
    const std::string at = item(list_path, i);
    if (!(*list)[i].is_object()) fail_type(at, "an object", (*list)[i]);
    each((*list)[i], at);
  }
}

std::vector<std::string> strings(const json& object, std::string_view path, std::string_view key) {
  std::vector<std::string> out;
  const json* list = array_at(object, path, key);
  if (!list) return out;
  for (std::size_t i = 0; i < list->size(); ++i) {
    if (!(*list)[i].is_string()) fail_type(item(child(path, key), i), "a string", (*list)[i]);
    out.push_back((*list)[i].get<std::string>());
  }
  return out;
}

tag_list tags_of(const json& object, std::string_view path) {
  tag_list tags;
  for_each_object(object, path, "tags", [&](const json& tag, const std::string& at) {
    tags.emplace_back(text(tag, at, "key"), text(tag, at, "value"));
  });
  return tags;
}

void add_unique(std::vector<std::string>& list, std::string value) {
  if (!value.empty() && std::find(list.begin(), list.end(), value) == list.end())
    list.push_back(std::move(value));
}

container_details decode_container(const json& c, std::string_view path) {
  container_details out{text(c, path, "containerRuntime"), text(c, path, "id"), text(c, path, "name"),
                        text(c, path, "image")};
  if (const json* context = object_at(c, path, "securityContext"))
    out.privileged = flag(*context, child(path, "securityContext"), "privileged");
  return out;
}

std::vector<container_details> containers_of(const json& object, std::string_view path) {
  std::vector<container_details> out;
  for_each_object(object, path, "containers",
                  [&](const json& c, const std::string& at) { out.push_back(decode_container(c, at)); });
  return out;
}

lambda_details decode_lambda(const json& d, std::string_view path) {
  lambda_details out;
  out.function_arn = text(d, path, "functionArn");
  out.function_name = text(d, path, "functionName");
  out.function_version = text(d, path, "functionVersion");
  out.revision_id = text(d, path, "revisionId");
  out.role = text(d, path, "role");
  if (const json* vpc = object_at(d, path, "vpcConfig")) {
    const std::string vpc_path = child(path, "vpcConfig");
    out.vpc_id = text(*vpc, vpc_path, "vpcId");
    out.subnet_ids = strings(*vpc, vpc_path, "subnetIds");
    for_each_object(*vpc, vpc_path, "securityGroups", [&](const json& g, const std::string& at) {
      add_unique(out.security_group_ids, text(g, at, "groupId"));
    });
  }
  out.tags = tags_of(d, path);
  return out;
}

ecs_details decode_ecs(const json& d, std::string_view path) {
  ecs_details out;
  out.cluster_name = text(d, path, "name");
  out.cluster_arn = text(d, path, "arn");
  if (const json* task = object_at(d, path, "taskDetails")) {
    const std::string task_path = child(path, "taskDetails");
    out.task_arn = text(*task, task_path, "arn");
    out.task_definition_arn = text(*task, task_path, "definitionArn");
    out.launch_type = text(*task, task_path, "launchType");
    out.group = text(*task, task_path, "group");
    out.started_by = text(*task, task_path, "startedBy");
    out.containers = containers_of(*task, task_path);
  }
  return out;
}

eks_details decode_eks(const json* cluster, const json* kubernetes, std::string_view resource_path) {
  eks_details out;
  if (cluster) {
    const std::string path = child(resource_path, "eksClusterDetails");
    out.cluster_name = text(*cluster, path, "name");
    out.cluster_arn = text(*cluster, path, "arn");
    out.vpc_id = text(*cluster, path, "vpcId");
  }
  if (!kubernetes) return out;
  const std::string path = child(resource_path, "kubernetesDetails");
  if (const json* user = object_at(*kubernetes, path, "kubernetesUserDetails")) {
    const std::string user_path = child(path, "kubernetesUserDetails");
    out.user_name = text(*user, user_path, "username");
    out.user_groups = strings(*user, user_path, "groups");
  }
  if (const json* workload = object_at(*kubernetes, path, "kubernetesWorkloadDetails")) {
    const std::string workload_path = child(path, "kubernetesWorkloadDetails");
    out.workload_name = text(*workload, workload_path, "name");
    out.workload_type = text(*workload, workload_path, "type");
    out.workload_namespace = text(*workload, workload_path, "namespace");
    out.service_account = text(*workload, workload_path, "serviceAccountName");
    out.host_network = flag(*workload, workload_path, "hostNetwork");
    out.containers = containers_of(*workload, workload_path);
  }
  return out;
}

// RDS: the instance (or the Limitless shard group), the user, and where the login came from.
rds_details decode_rds(const json& resource, const json& detail, std::string_view detail_path) {
  rds_details out;
  const std::string path = child(detail_path, "resource");
  if (const json* db = object_at(resource, path, "rdsDbInstanceDetails")) {
    const std::string at = child(path, "rdsDbInstanceDetails");
    out.instance_id = text(*db, at, "dbInstanceIdentifier");
    out.cluster_id = text(*db, at, "dbClusterIdentifier");
    out.instance_arn = text(*db, at, "dbInstanceArn");
    out.engine = text(*db, at, "engine");
  }
  if (const json* shard = object_at(resource, path, "rdsLimitlessDbDetails")) {
    const std::string at = child(path, "rdsLimitlessDbDetails");
    out.shard_group_id = text(*shard, at, "dbShardGroupIdentifier");
    if (out.cluster_id.empty()) out.cluster_id = text(*shard, at, "dbClusterIdentifier");
    if (out.engine.empty()) out.engine = text(*shard, at, "engine");
  }
  if (const json* user = object_at(resource, path, "rdsDbUserDetails")) {
    const std::string at = child(path, "rdsDbUserDetails");
    out.user = text(*user, at, "user");
    out.application = text(*user, at, "application");
    out.database = text(*user, at, "database");
    out.auth_method = text(*user, at, "authMethod");
  }
  const std::string service_path = child(detail_path, "service");
  const json* service = object_at(detail, detail_path, "service");
  const json* action = service ? object_at(*service, service_path, "action") : nullptr;
  const std::string action_path = child(service_path, "action");
  const json* login = action ? object_at(*action, action_path, "rdsLoginAttemptAction") : nullptr;
  const std::string login_path = child(action_path, "rdsLoginAttemptAction");
  if (const json* remote = login ? object_at(*login, login_path, "remoteIpDetails") : nullptr) {
    add_unique(out.source_addresses, text(*remote, child(login_path, "remoteIpDetails"), "ipAddressV4"));
    add_unique(out.source_addresses, text(*remote, child(login_path, "remoteIpDetails"), "ipAddressV6"));
  }
  return out;
}

// Threat names from Malware Protection's two shapes: malwareScanDetails.threats[] (S3, backup, newer EC2)
// and ebsVolumeScanDetails.scanDetections.threatDetectedByName.threatNames[] (EC2 and its containers).
void add_threats(const json& service, std::string_view path, malware_details& out) {
  if (const json* scan = object_at(service, path, "malwareScanDetails")) {
    for_each_object(
        *scan, child(path, "malwareScanDetails"), "threats",
        [&](const json& t, const std::string& at) { add_unique(out.threats, text(t, at, "name")); });
  }
  const json* ebs = object_at(service, path, "ebsVolumeScanDetails");
  const std::string ebs_path = child(path, "ebsVolumeScanDetails");
  const json* detections = ebs ? object_at(*ebs, ebs_path, "scanDetections") : nullptr;
  const std::string detections_path = child(ebs_path, "scanDetections");
  const json* by_name =
      detections ? object_at(*detections, detections_path, "threatDetectedByName") : nullptr;
  if (by_name) {
    for_each_object(
        *by_name, child(detections_path, "threatDetectedByName"), "threatNames",
        [&](const json& t, const std::string& at) { add_unique(out.threats, text(t, at, "name")); });
  }
}

std::optional<malware_details> decode_malware(const json& resource, const json& detail,
                                              std::string_view dpath) {
  malware_details out;
  const std::string path = child(dpath, "resource");
  if (const json* s = object_at(resource, path, "ebsSnapshotDetails"))
    out.snapshot_arn = text(*s, child(path, "ebsSnapshotDetails"), "snapshotArn");
  if (const json* i = object_at(resource, path, "ec2ImageDetails"))
    out.image_arn = text(*i, child(path, "ec2ImageDetails"), "imageArn");
  if (const json* r = object_at(resource, path, "recoveryPointDetails")) {
    out.recovery_point_arn = text(*r, child(path, "recoveryPointDetails"), "recoveryPointArn");
    out.backup_vault = text(*r, child(path, "recoveryPointDetails"), "backupVaultName");
  }
  if (const json* volumes = object_at(resource, path, "ebsVolumeDetails")) {
    for_each_object(
        *volumes, child(path, "ebsVolumeDetails"), "scannedVolumeDetails",
        [&](const json& v, const std::string& at) { add_unique(out.volume_arns, text(v, at, "volumeArn")); });
  }
  for_each_object(resource, path, "s3BucketDetails", [&](const json& bucket, const std::string& at) {
    for_each_object(bucket, at, "s3ObjectDetails", [&](const json& o, const std::string& object_path) {
      add_unique(out.object_arns, text(o, object_path, "objectArn"));
    });
  });
  if (const json* service = object_at(detail, dpath, "service"))
    add_threats(*service, child(dpath, "service"), out);
  const bool any = !out.snapshot_arn.empty() || !out.image_arn.empty() || !out.recovery_point_arn.empty() ||
                   !out.volume_arns.empty() || !out.object_arns.empty() || !out.threats.empty();
  if (!any) return std::nullopt;
  return out;
}

std::optional<process_details> decode_process(const json& detail, std::string_view dpath) {
  const json* service = object_at(detail, dpath, "service");
  const std::string service_path = child(dpath, "service");
  const json* runtime = service ? object_at(*service, service_path, "runtimeDetails") : nullptr;
  const std::string runtime_path = child(service_path, "runtimeDetails");
  const json* process = runtime ? object_at(*runtime, runtime_path, "process") : nullptr;
  if (!process) return std::nullopt;
  const std::string path = child(runtime_path, "process");
  return process_details{text(*process, path, "name"), text(*process, path, "executablePath"),
                         text(*process, path, "executableSha256"), integer(*process, path, "pid")};
}

family_details decode_all(const json& detail, std::string_view dpath) {
  family_details out;
  const json* resource = object_at(detail, dpath, "resource");
  if (!resource) return out;
  const std::string path = child(dpath, "resource");
  if (const json* d = object_at(*resource, path, "lambdaDetails"))
    out.lambda = decode_lambda(*d, child(path, "lambdaDetails"));
  if (const json* d = object_at(*resource, path, "ecsClusterDetails"))
    out.ecs = decode_ecs(*d, child(path, "ecsClusterDetails"));
  const json* eks = object_at(*resource, path, "eksClusterDetails");
  const json* kubernetes = object_at(*resource, path, "kubernetesDetails");
  if (eks || kubernetes) out.eks = decode_eks(eks, kubernetes, path);
  if (const json* d = object_at(*resource, path, "containerDetails"))
    out.container = decode_container(*d, child(path, "containerDetails"));
  if (member(*resource, "rdsDbInstanceDetails") || member(*resource, "rdsLimitlessDbDetails") ||
      member(*resource, "rdsDbUserDetails"))
    out.rds = decode_rds(*resource, detail, dpath);
  out.malware = decode_malware(*resource, detail, dpath);
  out.process = decode_process(detail, dpath);
  return out;
}

}  // namespace

result<family_details> decode_family_details(const nlohmann::json& detail, std::string_view path) {
  try {
    return decode_all(detail, path);
  } catch (const bad_field& bad) {
    return bad.err;
  } catch (const std::exception& e) {
    const std::string at(path);
    return error{invalid_event_code, at + ": could not decode: " + e.what(), at, false};
  }
}

}  // namespace tq::handlers
