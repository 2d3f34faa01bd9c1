#include "aws/client.h"

#include <filesystem>
#include <random>
#include <thread>

#include "aws/sigv4.h"
#include "runtime/log.h"

namespace tq::aws {
namespace {

std::time_t parse_iso8601(const std::string& text) {
  std::tm tm{};
  if (strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm) == nullptr) return 0;
  return timegm(&tm);
}

}  // namespace

deadline deadline_from(std::chrono::system_clock::time_point wall_deadline) {
  return std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                                wall_deadline - std::chrono::system_clock::now());
}

deadline deadline_in(std::chrono::milliseconds from_now) {
  return std::chrono::steady_clock::now() + from_now;
}

result<client_settings> client_settings_from_environment(const env_reader& env) {
  client_settings s;
  auto region = env("AWS_REGION");
  if (!region) region = env("AWS_DEFAULT_REGION");
  if (!region) return error{"InvalidConfiguration", "AWS_REGION is not set", "AWS_REGION"};
  s.region = *region;
  for (service svc : {service::ec2, service::iam, service::sts, service::autoscaling, service::sns,
                      service::cloudtrail, service::guardduty, service::lambda, service::securityhub}) {
    auto e = resolve_endpoint(svc, s.region, env);
    if (!e) return std::move(e).err();
    s.endpoints.emplace(svc, std::move(*e));
  }
  auto retry = retry_settings_from_environment(env);
  if (!retry) return std::move(retry).err();
  s.retry = *retry;
  s.unit_random = [engine = std::make_shared<std::minstd_rand>(std::random_device{}())]() {
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
      m_quota(std::make_shared<retry_quota>()),
      m_statistics(std::make_shared<call_statistics>()) {}

client client::with_credentials(credentials creds) const {
  client other = *this;
  other.m_credentials = std::move(creds);
  return other;
}

http_request client::signed_request(const query_call& call) const {
  const endpoint& e = m_settings->endpoints.at(call.target);
  http_request request;
  request.method = "POST";
  request.url = e.url + "/";
  request.headers.push_back({"Host", host_of(e.url)});
  request.headers.push_back({"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"});
  request.body = form_body(call);
  request.fresh_connection = !call.idempotent;  // No hidden resend by libcurl
  sigv4::signing_params params;
  params.credentials = {m_credentials.access_key_id, m_credentials.secret_access_key,
                        m_credentials.session_token};
  params.region = e.signing_region;
  params.service = e.signing_name;
  params.time = std::chrono::system_clock::now();
  sigv4::sign(request, params);
  return request;
}

result<xml_response> client::call(const query_call& call, deadline until) const {
  return std::move(call_all(std::span(&call, 1), until).front());
}

std::vector<result<xml_response>> client::call_all(std::span<const query_call> calls, deadline until) const {
  using clock = std::chrono::steady_clock;
  struct pending_call {
    size_t index;
    int attempt = 1;
    int spent = 0;
    clock::time_point next_at;
    std::optional<error> previous;  // the answer before this attempt, for a more telling final error
    int timeouts = 0;               // attempts that got no answer in time
  };
  const retry_settings& retry = m_settings->retry;
  const clock::time_point give_up_at = until - retry.deadline_margin;

  std::vector<std::optional<result<xml_response>>> answers(calls.size());
  std::vector<pending_call> pending;
  for (size_t i = 0; i < calls.size(); ++i) pending.push_back({i, 1, 0, clock::now()});

  auto finish = [&](const pending_call& p, error e, std::string_view why) {
    e.message +=
        " (gave up after " + std::to_string(p.attempt) + (p.attempt == 1 ? " attempt: " : " attempts: ");
    e.message += std::string(why) + ")";
    answers[p.index] = std::move(e);
  };

  while (!pending.empty()) {
    clock::time_point now = clock::now();
    if (now >= give_up_at) {
      for (const auto& p : pending) {
        finish(p,
               error{"DeadlineExceeded", "no time left before the invocation's deadline",
                     call_name(calls[p.index]), true},
               "the deadline is too close");
      }
      break;
    }
    clock::time_point earliest = clock::time_point::max();
    for (const auto& p : pending) earliest = std::min(earliest, p.next_at);
    if (earliest > now) {
      std::this_thread::sleep_until(std::min(earliest, give_up_at));
      continue;
    }

    std::vector<pending_call> due;
    std::vector<pending_call> waiting;
    for (auto& p : pending) (p.next_at <= now ? due : waiting).push_back(p);
    std::vector<http_request> requests;
    requests.reserve(due.size());
    for (const auto& p : due) requests.push_back(signed_request(calls[p.index]));

    const auto budget = std::chrono::duration_cast<std::chrono::milliseconds>(give_up_at - now);
    const bool cut_by_deadline = budget < retry.attempt_timeout;
    auto responses = m_transport->send_all(requests, std::min(retry.attempt_timeout, budget));
    m_statistics->attempts += static_cast<long>(requests.size());

    pending = std::move(waiting);
    for (size_t i = 0; i < due.size(); ++i) {
      pending_call p = due[i];
      const std::string where = call_name(calls[p.index]);
      result<xml_response> answer = responses[i].ok()
                                        ? parse_response(*responses[i], where)
                                        : result<xml_response>(std::move(responses[i]).err().within(where));
      if (answer.ok()) {
        m_quota->release_after_success(p.spent);
        answer->unanswered_attempts = p.timeouts;
        answers[p.index] = std::move(answer);
        continue;
      }
      error failure = std::move(answer).err();
      if (is_throttling_code(failure.code)) ++m_statistics->throttles;
      if (failure.code == "RequestTimeout") ++m_statistics->unanswered;
      if (failure.code == "RequestTimeout" && cut_by_deadline) {
        // The attempt was cut short by the deadline, not by the service: what the service said before is
        // the better account of why the call did not succeed.
        finish(p, p.previous ? std::move(*p.previous) : std::move(failure),
               "the invocation's deadline came first");
        continue;
      }
      if (!failure.retryable) {
        answers[p.index] = std::move(failure);
        continue;
      }
      // A call that must not happen twice is sent again only when it surely was not done
      if (!calls[p.index].idempotent && !is_throttling_code(failure.code)) {
        finish(p, std::move(failure), "it may have been done, and must not be done twice");
        continue;
      }
      if (p.attempt >= retry.max_attempts) {
        finish(p, std::move(failure), "the attempts allowed are used up");
        continue;
      }
      const bool timed_out = failure.code == "RequestTimeout";
      if (timed_out) ++p.timeouts;
      if (!m_quota->acquire(timed_out)) {
        finish(p, std::move(failure), "the retry quota is spent");
        continue;
      }
      const auto delay = backoff_delay(retry, p.attempt, m_settings->unit_random);
      const clock::time_point after = clock::now();
      if (after + delay >= give_up_at) {
        finish(p, std::move(failure), "the invocation's deadline is too close for another");
        continue;
      }
      log::debug("retrying AWS call", {{"call", where},
                                       {"code", failure.code},
                                       {"attempt", std::to_string(p.attempt + 1)},
                                       {"delayMs", std::to_string(delay.count())}});
      ++m_statistics->retries;
      p.spent += timed_out ? retry_quota::timeout_retry_cost : retry_quota::retry_cost;
      ++p.attempt;
      p.next_at = after + delay;
      p.previous = std::move(failure);
      pending.push_back(p);
    }
  }

  std::vector<result<xml_response>> out;
  out.reserve(answers.size());
  for (auto& a : answers) out.push_back(std::move(*a));
  return out;
}

result<client> role_sessions::client_for(const client& base, const std::string& role_arn, deadline until) {
  const auto now = std::chrono::system_clock::now();
  auto cached = m_cache.find(role_arn);
  if (cached != m_cache.end() && cached->second.expiration &&
      *cached->second.expiration - std::chrono::minutes(5) > now) {
    return base.with_credentials(cached->second);
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
  m_cache[role_arn] = assumed;
  return base.with_credentials(std::move(assumed));
}

}  // namespace tq::aws
