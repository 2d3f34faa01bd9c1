// The AWS client: signs calls of every protocol (query, JSON 1.1, REST-JSON, REST-XML) with SigV4, sends
// independent calls together (one round trip for a batch), retries what may succeed later within the
// invocation's deadline, and parses the answers.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "aws/api_call.h"
#include "aws/credentials.h"
#include "aws/crypto.h"
#include "aws/endpoints.h"
#include "aws/http.h"
#include "aws/query.h"
#include "aws/retry.h"
#include "aws/xml.h"
#include "runtime/environment.h"

namespace tq::aws {

using deadline = std::chrono::steady_clock::time_point;

// Turns the invocation's wall-clock deadline into a steady-clock one, safe from clock steps.
deadline deadline_from(std::chrono::system_clock::time_point wall_deadline);
deadline deadline_in(std::chrono::milliseconds from_now);

// Counters an operator wants in metrics: every attempt sent, retries, and throttling answers seen.
struct call_statistics {
  long attempts = 0;
  long retries = 0;
  long throttles = 0;
  // Attempts given up on (timed out) while the service may still be working on them: such a call may land
  // later than anything sent after it.
  long unanswered = 0;
};

// The counters behind call_statistics, shared by every client made from one (aws/client.cpp): the jobs of
// one event count into them from their own threads.
struct call_counters;

struct client_settings {
  std::string region;
  std::map<service, endpoint> endpoints;
  retry_settings retry;
  std::function<double()> unit_random;  // [0, 1), for backoff jitter
};

// The endpoint of every service in `region` (resolve_endpoint).
result<std::map<service, endpoint>> endpoints_in(std::string_view region, const env_reader& env);

// Region from AWS_REGION (or AWS_DEFAULT_REGION), endpoints for every service, retry settings.
result<client_settings> client_settings_from_environment(const env_reader& env);

// AWS_CA_BUNDLE, else Amazon Linux's bundle, else Debian's; empty when none exists (libcurl's default).
std::string find_ca_bundle(const env_reader& env);

class client {
 public:
  client(std::shared_ptr<http_transport> transport, std::shared_ptr<const client_settings> settings,
         credentials creds);

  // Sends the calls together, whatever their protocols, and answers in the same order; each is retried on
  // its own (the SDKs' standard mode, the shared retry quota, never past `until`).
  std::vector<result<api_answer>> send_all(std::span<const api_call> calls, deadline until) const;

  // The same, for callers that know their calls' protocol.
  result<xml_response> call(const query_call& call, deadline until) const;
  std::vector<result<xml_response>> call_all(std::span<const query_call> calls, deadline until) const;
  result<nlohmann::json> call_json(const json_call& call, deadline until) const;

  // The same transport, settings and retry quota, acting as another principal (an assumed role).
  client with_credentials(credentials creds) const;
  // The same transport, principal and retry quota, with other settings (another region: aws/regions.h).
  client in_settings(std::shared_ptr<const client_settings> settings) const;

  const client_settings& settings() const { return *m_settings; }
  const credentials& identity() const { return m_credentials; }
  call_statistics statistics() const;

 private:
  http_request signed_request(const api_call& call, const endpoint& e) const;

  std::shared_ptr<http_transport> m_transport;
  std::shared_ptr<const client_settings> m_settings;
  credentials m_credentials;
  std::shared_ptr<const crypto::digest> m_secret_digest;  // of m_credentials' secret, set with it
  std::shared_ptr<retry_quota> m_quota;
  std::shared_ptr<call_counters> m_statistics;
};

// Clients for roles in other accounts, by STS AssumeRole; credentials are reused until shortly before they
// expire, so a warm Lambda assumes each member role once an hour rather than once per event. Safe to share
// between the jobs of one event: the cache is locked, never across the AssumeRole call (two jobs for one
// new account may both assume the role, in the same round trip).
class role_sessions {
 public:
  result<client> client_for(const client& base, const std::string& role_arn, deadline until);

 private:
  std::mutex m_mutex;
  std::map<std::string, credentials> m_cache;
};

// EC2 dry runs answer with an error either way: DryRunOperation means the call would have been allowed.
inline bool is_dry_run_success(const error& e) {
  return e.code == "DryRunOperation";
}

}  // namespace tq::aws
