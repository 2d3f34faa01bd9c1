// Where each service is reached and how requests to it are signed: partitions (aws, aws-cn, aws-us-gov),
// IAM's global endpoint, the regional ones of the others, and the SDKs' AWS_ENDPOINT_URL[_SERVICE] overrides.
#pragma once

#include <string>
#include <string_view>

#include "runtime/environment.h"
#include "runtime/result.h"

namespace tq::aws {

// By protocol: query (query.h), JSON 1.1 (json_protocol.h), REST-JSON (rest_json.h), REST-XML (rest_xml.h).
enum class service {
  ec2,
  iam,
  sts,
  autoscaling,
  sns,
  cloudtrail,
  guardduty,
  lambda,
  securityhub,
  s3,
  s3control
};

// The SDKs' name: "ec2", "iam", ..., "s3control" (which signs as "s3": endpoint::signing_name).
std::string_view service_name(service s);

struct partition {
  std::string name;        // "aws", "aws-cn", "aws-us-gov"
  std::string dns_suffix;  // "amazonaws.com", "amazonaws.com.cn"
};

partition partition_of(std::string_view region);

struct endpoint {
  std::string url;             // "https://ec2.eu-west-1.amazonaws.com" (no trailing slash)
  std::string signing_region;  // IAM signs with its partition's global region
  std::string signing_name;    // "ec2", "iam", ...
  bool overridden = false;     // from AWS_ENDPOINT_URL[_SERVICE]
};

// Resolves the endpoint of `s` in `region`. An override must be an http:// or https:// URL; plain http is
// accepted only there, never chosen by default.
result<endpoint> resolve_endpoint(service s, std::string_view region, const env_reader& env);

// "ec2.eu-west-1.amazonaws.com" (with its port, when it names one) of a URL: the Host header signed.
std::string host_of(std::string_view url);

}  // namespace tq::aws
