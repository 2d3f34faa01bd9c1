// Acting where the resource is: which names are AWS regions, which of them Tourniquet may act in, and clients
// per region. An event names the region of its resource, and that name ends up in a hostname
// ("ec2.<region>.amazonaws.com") and a signature scope: a name that is no region is refused before any
// request is built, so a forged event cannot make Tourniquet talk to a host of the forger's choosing.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "aws/client.h"
#include "runtime/environment.h"
#include "runtime/result.h"

namespace tq::aws {

// Error codes of the region checks (tq::error::code); none is retryable.
inline constexpr const char* invalid_region_code = "InvalidRegion";            // no AWS region name: forged
inline constexpr const char* region_not_allowed_code = "RegionNotAllowed";     // outside TOURNIQUET_REGIONS
inline constexpr const char* other_partition_code = "RegionInOtherPartition";  // credentials do not cross

// Whether `region` has the shape of an AWS region name: ^[a-z]{2}(-[a-z]+)+-\d+$, at most 32 characters
// ("eu-west-1", "us-gov-west-1", "cn-north-1", "ap-southeast-5"). The isolated partitions (us-iso-…,
// us-isob-…, eu-isoe-…, us-isof-…) have other DNS suffixes Tourniquet does not know: refused too.
bool looks_like_region(std::string_view region);

// Where a job may act: a region name (looks_like_region), in the partition of the function's own region
// `home` (credentials and roles do not cross partitions), and in `allowed` when that list is not empty.
status check_region(std::string_view region, std::string_view home, const std::vector<std::string>& allowed);

// TOURNIQUET_REGIONS: a comma list of the regions Tourniquet acts in, each checked as above against `home`;
// empty (the default) when the variable is unset or blank: every region of the partition.
result<std::vector<std::string>> regions_from_environment(const env_reader& env, std::string_view home);

// The settings of `base` in `region`: the same retry settings and randomness, every endpoint resolved for
// `region` (the AWS_ENDPOINT_URL[_SERVICE] overrides still win, signed with `region`; IAM stays global).
result<client_settings> settings_in_region(const client_settings& base, std::string_view region,
                                           const env_reader& env);

// The principal of a client acting in other regions. The settings of each region are resolved once and
// kept, so a warm Lambda builds them once; every client made here shares its transport (connections),
// retry quota and statistics with the one it came from (client::in_settings). The jobs of one event ask it
// from their own threads: the cache is locked (resolving settings sends nothing, so no call waits on it).
class regional_clients {
 public:
  explicit regional_clients(env_reader env) : m_env(std::move(env)) {}

  // `who` acting in `region` ("" or who's own region: `who` itself). The region is not checked here
  // (check_region is the caller's decision, made before).
  result<client> in_region(const client& who, const std::string& region);

 private:
  env_reader m_env;
  std::mutex m_mutex;
  std::map<std::string, std::shared_ptr<const client_settings>, std::less<>> m_settings;
};

}  // namespace tq::aws
