#include "aws/endpoints.h"

namespace tq::aws {
namespace {

// The SDKs' names for the per-service override variables.
std::string_view override_suffix(service s) {
  switch (s) {
    case service::ec2:
      return "EC2";
    case service::iam:
      return "IAM";
    case service::sts:
      return "STS";
    case service::autoscaling:
      return "AUTO_SCALING";
    case service::sns:
      return "SNS";
    case service::cloudtrail:
      return "CLOUDTRAIL";
    case service::guardduty:
      return "GUARDDUTY";
    case service::lambda:
      return "LAMBDA";
    case service::securityhub:
      return "SECURITYHUB";
    case service::s3:
      return "S3";
    case service::s3control:
      return "S3_CONTROL";
  }
  return "";
}

std::string iam_signing_region(const partition& p) {
  if (p.name == "aws-cn") return "cn-north-1";
  if (p.name == "aws-us-gov") return "us-gov-west-1";
  return "us-east-1";
}

}  // namespace

std::string_view service_name(service s) {
  switch (s) {
    case service::ec2:
      return "ec2";
    case service::iam:
      return "iam";
    case service::sts:
      return "sts";
    case service::autoscaling:
      return "autoscaling";
    case service::sns:
      return "sns";
    case service::cloudtrail:
      return "cloudtrail";
    case service::guardduty:
      return "guardduty";
    case service::lambda:
      return "lambda";
    case service::securityhub:
      return "securityhub";
    case service::s3:
      return "s3";
    case service::s3control:
      return "s3control";
  }
  return "";
}

partition partition_of(std::string_view region) {
  if (region.starts_with("cn-")) return {"aws-cn", "amazonaws.com.cn"};
  if (region.starts_with("us-gov-")) return {"aws-us-gov", "amazonaws.com"};
  return {"aws", "amazonaws.com"};
}

result<endpoint> resolve_endpoint(service s, std::string_view region, const env_reader& env) {
  if (region.empty()) return error{"MissingRegion", "no region: AWS_REGION is not set", "endpoints"};
  const partition p = partition_of(region);
  endpoint e;
  // S3 Control signs as S3; its host carries the account ({AccountId}.s3-control..., rest_xml.h).
  e.signing_name = s == service::s3control ? "s3" : std::string(service_name(s));
  e.signing_region = s == service::iam ? iam_signing_region(p) : std::string(region);

  const std::string specific = "AWS_ENDPOINT_URL_" + std::string(override_suffix(s));
  std::optional<std::string> url = env(specific);
  std::string_view variable = specific;
  if (!url) {
    url = env("AWS_ENDPOINT_URL");
    variable = "AWS_ENDPOINT_URL";
  }
  if (url) {
    if (!url->starts_with("http://") && !url->starts_with("https://")) {
      return error{"InvalidConfiguration", std::string(variable) + " must start with http:// or https://",
                   std::string(variable)};
    }
    while (url->ends_with('/')) url->pop_back();
    e.url = std::move(*url);
    e.overridden = true;
    return e;
  }

  if (s == service::iam) {
    if (p.name == "aws")
      e.url = "https://iam.amazonaws.com";
    else if (p.name == "aws-us-gov")
      e.url = "https://iam.us-gov.amazonaws.com";
    else
      e.url = "https://iam." + e.signing_region + "." + p.dns_suffix;
  } else if (s == service::s3control) {
    e.url = "https://s3-control." + std::string(region) + "." + p.dns_suffix;
  } else {
    e.url = "https://" + e.signing_name + "." + std::string(region) + "." + p.dns_suffix;
  }
  return e;
}

std::string host_of(std::string_view url) {
  const size_t start = url.find("://");
  const size_t from = start == std::string_view::npos ? 0 : start + 3;
  const size_t end = url.find('/', from);
  return std::string(url.substr(from, end == std::string_view::npos ? std::string_view::npos : end - from));
}

}  // namespace tq::aws
