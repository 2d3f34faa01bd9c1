// The AWS query protocol: a form-encoded POST of Action, Version and parameters. EC2 flattens lists as
// `Name.N`; IAM, STS, Auto Scaling and SNS as `Name.member.N`. Builders here keep those conventions in one
// place.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "aws/endpoints.h"
#include "aws/http.h"

namespace tq::aws {

struct tag {
  std::string key;
  std::string value;
};

class query_params {
 public:
  query_params& add(std::string name, std::string value);
  // EC2's flattened list: Name.1, Name.2, ...
  query_params& add_list(std::string_view name, const std::vector<std::string>& values);
  // IAM/STS/Auto Scaling/SNS lists: Name.member.1, ...
  query_params& add_member_list(std::string_view name, const std::vector<std::string>& values);
  // EC2 filter number `index` (1-based): Filter.N.Name and Filter.N.Value.M.
  query_params& add_filter(int index, std::string_view name, const std::vector<std::string>& values);
  // EC2 Tag.N.Key / Tag.N.Value (CreateTags), or with a prefix such as "TagSpecification.1.Tag".
  query_params& add_tags(std::string_view prefix, const std::vector<tag>& tags);

  const std::vector<std::pair<std::string, std::string>>& entries() const { return m_entries; }
  std::string_view get(std::string_view name) const;  // empty when absent

 private:
  std::vector<std::pair<std::string, std::string>> m_entries;
};

struct query_call {
  service target = service::ec2;
  std::string action;  // "DescribeInstances"
  query_params params;
  bool dry_run = false;  // EC2 only: DryRun=true; the answer DryRunOperation means "would have succeeded"
  // False for a call that must not happen twice (CreateSnapshots): it is sent again only after
  // an answer that proves it was not done (throttling), never after a timeout, a lost connection or a 5xx.
  bool idempotent = true;
};

std::string_view api_version(service s);

// RFC 3986 percent-encoding: everything but A-Z a-z 0-9 - _ . ~
std::string percent_encode(std::string_view text);

// The form body: Action=...&Version=...&params (in the order added).
std::string form_body(const query_call& call);

// The unsigned request: a form POST to the endpoint's root.
http_request query_request(const query_call& call, const endpoint& e);

// "ec2:DescribeInstances", for errors and logs.
std::string call_name(const query_call& call);

}  // namespace tq::aws
