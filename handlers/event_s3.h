// The buckets a GuardDuty S3 finding names: `resource.s3BucketDetails[]` (botocore's guardduty model,
// S3BucketDetail), decoded beside the finding's other fields; a decode error names the JSON path.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "runtime/result.h"

namespace tq::handlers {

struct s3_bucket_details {
  std::string arn;   // "arn:aws:s3:::name"
  std::string name;  // "" when only the ARN is given: then the ARN's last part
  std::string type;  // "Destination", "Source"
  std::vector<std::pair<std::string, std::string>> tags;  // as GuardDuty saw them
  std::string effective_permission;  // publicAccess.effectivePermission: PUBLIC, NOT_PUBLIC
};

// Decodes the array at `path` ("$.detail.resource.s3BucketDetails").
result<std::vector<s3_bucket_details>> decode_s3_buckets(const nlohmann::json& details,
                                                         std::string_view path);

}  // namespace tq::handlers
