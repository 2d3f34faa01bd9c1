#include "aws/client.h"

#include <atomic>
#include <filesystem>
#include <random>
#include <thread>

#include "aws/joined_transport.h"
#include "aws/sigv4.h"
#include "runtime/log.h"

namespace tq::aws {

struct call_counters {
  std::atomic<long> attempts{0};
  std::atomic<long> retries{0};
  std::atomic<long> throttles{0};
  std::atomic<long> unanswered{0};
};

namespace {

std::time_t parse_iso8601(const std::string& text) {
  std::tm tm{};
  if (strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm) == nullptr) return 0;
  return timegm(&tm);
}

using clock = std::chrono::steady_clock;

// One call of a batch on its way through its attempts.
struct pending_call {
  size_t index;
  int attempt = 1;
  int spent = 0;  // retry quota its retries took, given back when it succeeds
  clock::time_point next_at;
  std::optional<error> previous;  // the answer before this attempt, for a more telling final error
  int timeouts = 0;               // attempts that got no answer in time
};

// What deciding about a failed attempt needs from the client.
struct retry_rules {
  const retry_settings& settings;
  const std::function<double()>& unit_random;
  retry_quota& quota;
  call_counters& statistics;
  clock::time_point give_up_at;  // the invocation's deadline less the margin kept for the report
};

error gave_up(const pending_call& p, error e, std::string_view why) {
  e.message +=
      " (gave up after " + std::to_string(p.attempt) + (p.attempt == 1 ? " attempt: " : " attempts: ");
  e.message += std::string(why) + ")";
  return e;
}

error no_endpoint(const api_call& call) {
  return error{"NoEndpoint", "no endpoint is configured for " + std::string(service_name(service_of(call))),
               call_name(call)};
}

clock::time_point earliest_due(const std::vector<pending_call>& pending) {
  clock::time_point earliest = clock::time_point::max();
  for (const auto& p : pending) earliest = std::min(earliest, p.next_at);
  return earliest;
}

// Moves the calls due by `now` out of `pending`, keeping the order of the rest.
std::vector<pending_call> take_due(std::vector<pending_call>& pending, clock::time_point now) {
  std::vector<pending_call> due;
  std::vector<pending_call> waiting;
  for (auto& p : pending) (p.next_at <= now ? due : waiting).push_back(std::move(p));
  pending = std::move(waiting);
  return due;
}

// After a failed attempt: the call's final error, or nothing when the call is to be sent again (then `p`
// says when).
std::optional<error> retry_or_give_up(pending_call& p, error failure, bool idempotent, bool cut_by_deadline,
                                      const retry_rules& rules, std::string_view where) {
  const bool timed_out = failure.code == "RequestTimeout";
  if (is_throttling_code(failure.code)) ++rules.statistics.throttles;
  if (timed_out) ++rules.statistics.unanswered;
  if (timed_out && cut_by_deadline) {
    // The attempt was cut short by the deadline, not by the service: what the service said before is
    // the better account of why the call did not succeed.
    return gave_up(p, p.previous ? std::move(*p.previous) : std::move(failure),
                   "the invocation's deadline came first");
  }
  if (!failure.retryable) return failure;
  // A call that must not happen twice is sent again only when it surely was not done
  if (!idempotent && !is_throttling_code(failure.code)) {
    return gave_up(p, std::move(failure), "it may have been done, and must not be done twice");
  }
  if (p.attempt >= rules.settings.max_attempts) {
    return gave_up(p, std::move(failure), "the attempts allowed are used up");
  }
  if (timed_out) ++p.timeouts;
  if (!rules.quota.acquire(timed_out)) return gave_up(p, std::move(failure), "the retry quota is spent");
  const auto delay = backoff_delay(rules.settings, p.attempt, rules.unit_random);
  const clock::time_point after = clock::now();
  if (after + delay >= rules.give_up_at) {
    return gave_up(p, std::move(failure), "the invocation's deadline is too close for another");
  }
  log::debug("retrying AWS call", {{"call", std::string(where)},
                                   {"code", failure.code},
                                   {"attempt", std::to_string(p.attempt + 1)},
                                   {"delayMs", std::to_string(delay.count())}});
  ++rules.statistics.retries;
  p.spent += timed_out ? retry_quota::timeout_retry_cost : retry_quota::retry_cost;
  ++p.attempt;
  p.next_at = after + delay;
  p.previous = std::move(failure);
  return std::nullopt;
}

}  // namespace

deadline deadline_from(std::chrono::system_clock::time_point wall_deadline) {
  return std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                                wall_deadline - std::chrono::system_clock::now());
}

deadline deadline_in(std::chrono::milliseconds from_now) {
  return std::chrono::steady_clock::now() + from_now;
}

result<std::map<service, endpoint>> endpoints_in(std::string_view region, const env_reader& env) {
  std::map<service, endpoint> endpoints;
  for (service svc : {service::ec2, service::iam, service::sts, service::autoscaling, service::sns,
                      service::cloudtrail, service::guardduty, service::lambda, service::securityhub,
                      service::s3, service::s3control, service::elbv2, service::elb}) {
    auto e = resolve_endpoint(svc, region, env);
    if (!e) return std::move(e).err();
    endpoints.emplace(svc, std::move(*e));
  }
  return endpoints;
}

result<client_settings> client_settings_from_environment(const env_reader& env) {
  client_settings s;
  auto region = env("AWS_REGION");
  if (!region) region = env("AWS_DEFAULT_REGION");
  if (!region) return error{"InvalidConfiguration", "AWS_REGION is not set", "AWS_REGION"};
  s.region = *region;
  auto endpoints = endpoints_in(s.region, env);
  if (!endpoints) return std::move(endpoints).err();
  s.endpoints = std::move(*endpoints);
  auto retry = retry_settings_from_environment(env);
  if (!retry) return std::move(retry).err();
  s.retry = *retry;
  // One engine for every client made from these settings, drawn from by the jobs of an event on their own
  // threads: locked.
  s.unit_random = [engine = std::make_shared<std::minstd_rand>(std::random_device{}()),
                   lock = std::make_shared<std::mutex>()]() {
    std::lock_guard<std::mutex> held(*lock);
    return std::uniform_real_distribution<double>(0.0, 1.0)(*engine);
  };
  return s;
}

std::string find_ca_bundle(const env_reader& env) {
  if (auto configured = env("AWS_CA_BUNDLE")) return *configured;
  for (const char* path : {"/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/certs/ca-certificates.crt"}) {
    std::error_code ec;
    if (std::filesystem::exists(path, ec)) return path;
  }
  return {};
}

client::client(std::shared_ptr<http_transport> transport, std::shared_ptr<const client_settings> settings,
               credentials creds)
    : m_transport(std::move(transport)),
      m_settings(std::move(settings)),
      m_credentials(std::move(creds)),
      m_secret_digest(
          std::make_shared<const crypto::digest>(crypto::sha256(m_credentials.secret_access_key))),
      m_quota(std::make_shared<retry_quota>()),
      m_statistics(std::make_shared<call_counters>()) {}

call_statistics client::statistics() const {
  return {m_statistics->attempts.load(), m_statistics->retries.load(), m_statistics->throttles.load(),
          m_statistics->unanswered.load()};
}

client client::with_credentials(credentials creds) const {
  client other = *this;
  other.m_credentials = std::move(creds);
  other.m_secret_digest =
      std::make_shared<const crypto::digest>(crypto::sha256(other.m_credentials.secret_access_key));
  return other;
}

client client::in_settings(std::shared_ptr<const client_settings> settings) const {
  client other = *this;
  other.m_settings = std::move(settings);
  return other;
}

http_request client::signed_request(const api_call& call, const endpoint& e) const {
  http_request request = unsigned_request(call, e);
  request.fresh_connection = !is_idempotent(call);  // No hidden resend by libcurl
  sigv4::signing_params params;
  params.credentials = {m_credentials.access_key_id, m_credentials.secret_access_key,
                        m_credentials.session_token, m_secret_digest.get()};
  params.region = e.signing_region;
  params.service = e.signing_name;
  params.time = std::chrono::system_clock::now();
  const signing_style style = signing_style_of(call);
  params.normalize_path = style.normalize_path;
  params.double_encode_path = style.double_encode_path;
  params.sign_body = style.sign_body;
  sigv4::sign(request, params);
  return request;
}

std::vector<result<api_answer>> client::send_all(std::span<const api_call> calls, deadline until) const {
  const retry_rules rules{m_settings->retry, m_settings->unit_random, *m_quota, *m_statistics,
                          until - m_settings->retry.deadline_margin};
  std::vector<std::optional<result<api_answer>>> answers(calls.size());
  std::vector<pending_call> pending;
  for (size_t i = 0; i < calls.size(); ++i) {
    if (m_settings->endpoints.contains(service_of(calls[i]))) {
      pending.push_back({i, 1, 0, clock::now()});
    } else {
      answers[i] = no_endpoint(calls[i]);
    }
  }

  while (!pending.empty()) {
    const clock::time_point now = clock::now();
    if (now >= rules.give_up_at) {
      // A call waiting for its retry keeps what the service last said, the better account of its failure.
      for (auto& p : pending) {
        answers[p.index] =
            gave_up(p,
                    p.previous ? std::move(*p.previous)
                               : error{"DeadlineExceeded", "no time left before the invocation's deadline",
                                       call_name(calls[p.index]), true},
                    "the deadline is too close");
      }
      break;
    }
    if (const clock::time_point earliest = earliest_due(pending); earliest > now) {
      const idle_scope backing_off;  // the other jobs of the event do not wait for this one's backoff
      std::this_thread::sleep_until(std::min(earliest, rules.give_up_at));
      continue;
    }

    std::vector<pending_call> due = take_due(pending, now);
    std::vector<http_request> requests;
    requests.reserve(due.size());
    for (const auto& p : due) {
      const api_call& call = calls[p.index];
      requests.push_back(signed_request(call, m_settings->endpoints.at(service_of(call))));
    }
    const auto budget = std::chrono::duration_cast<std::chrono::milliseconds>(rules.give_up_at - now);
    const bool cut_by_deadline = budget < rules.settings.attempt_timeout;
    auto responses = m_transport->send_all(requests, std::min(rules.settings.attempt_timeout, budget));
    m_statistics->attempts += static_cast<long>(requests.size());

    for (size_t i = 0; i < due.size(); ++i) {
      pending_call& p = due[i];
      const api_call& call = calls[p.index];
      const std::string where = call_name(call);
      result<api_answer> answer = responses[i].ok()
                                      ? read_answer(call, *responses[i], where)
                                      : result<api_answer>(std::move(responses[i]).err().within(where));
      if (answer.ok()) {
        m_quota->release_after_success(p.spent);
        answer->unanswered_attempts = p.timeouts;
        if (answer->is_xml()) answer->xml().unanswered_attempts = p.timeouts;
        answers[p.index] = std::move(answer);
      } else if (auto final_error = retry_or_give_up(p, std::move(answer).err(), is_idempotent(call),
                                                     cut_by_deadline, rules, where)) {
        answers[p.index] = std::move(*final_error);
      } else {
        pending.push_back(std::move(p));
      }
    }
  }

  std::vector<result<api_answer>> out;
  out.reserve(answers.size());
  for (auto& a : answers) out.push_back(std::move(*a));
  return out;
}

result<xml_response> client::call(const query_call& call, deadline until) const {
  return std::move(call_all(std::span(&call, 1), until).front());
}

std::vector<result<xml_response>> client::call_all(std::span<const query_call> calls, deadline until) const {
  const std::vector<api_call> batch(calls.begin(), calls.end());
  std::vector<result<xml_response>> out;
  out.reserve(batch.size());
  for (auto& answer : send_all(batch, until)) {
    if (answer.ok()) {
      out.push_back(std::move(answer->xml()));
    } else {
      out.push_back(std::move(answer).err());
    }
  }
  return out;
}

result<nlohmann::json> client::call_json(const json_call& call, deadline until) const {
  const api_call one = call;
  auto answer = std::move(send_all(std::span(&one, 1), until).front());
  if (!answer.ok()) return std::move(answer).err();
  return std::move(answer->json());
}

result<client> role_sessions::client_for(const client& base, const std::string& role_arn, deadline until) {
  const auto now = std::chrono::system_clock::now();
  {
    std::lock_guard<std::mutex> lock(m_mutex);  // released before AssumeRole: see the class comment
    auto cached = m_cache.find(role_arn);
    if (cached != m_cache.end() && cached->second.expiration &&
        *cached->second.expiration - std::chrono::minutes(5) > now) {
      return base.with_credentials(cached->second);
    }
  }
  query_call assume{service::sts, "AssumeRole", {}};
  assume.params.add("RoleArn", role_arn).add("RoleSessionName", "tourniquet").add("DurationSeconds", "3600");
  auto answer = base.call(assume, until);
  if (!answer) return std::move(answer).err().within("assume role " + role_arn);
  const pugi::xml_node creds = answer->result().child("Credentials");
  credentials assumed;
  assumed.access_key_id = text_of(creds, "AccessKeyId");
  assumed.secret_access_key = text_of(creds, "SecretAccessKey");
  assumed.session_token = text_of(creds, "SessionToken");
  assumed.expiration = std::chrono::system_clock::from_time_t(parse_iso8601(text_of(creds, "Expiration")));
  if (assumed.access_key_id.empty() || assumed.secret_access_key.empty()) {
    return error{"MalformedResponse", "AssumeRole answered without credentials",
                 "sts:AssumeRole " + role_arn};
  }
  {
    std::lock_guard<std::mutex> lock(m_mutex);
    m_cache[role_arn] = assumed;
  }
  return base.with_credentials(std::move(assumed));
}

}  // namespace tq::aws
