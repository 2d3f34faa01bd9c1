#include "handlers/observability.h"

#include <cstdio>
#include <ctime>
#include <variant>

#include "handlers/config.h"
#include "runtime/json_text.h"
#include "runtime/log.h"

namespace tq::handlers {
namespace {

const action_kind& notify_incident =
    declare_action("observability", "notify-incident", {"sns:Publish"}, "TOURNIQUET_SNS_TOPIC_ARN");

constexpr std::size_t max_subject = 99;          // SNS: "less than 100 characters"
constexpr std::size_t max_message = 250 * 1024;  // SNS takes 256 KiB; reports are a few KiB
constexpr std::size_t max_error_text = 240;      // per action in an outcome summary

std::string rfc3339(std::chrono::system_clock::time_point t) {
  return log::rfc3339_millis(t);
}

std::string cut(std::string text, std::size_t limit) {
  if (text.size() <= limit) return text;
  text.resize(limit - 3);
  return text + "...";
}

// Printable ASCII only: SNS refuses control characters in subjects and mail clients mangle the rest.
std::string printable(std::string_view text) {
  std::string out;
  for (char c : text) out += (c >= 0x20 && c <= 0x7e) ? c : '?';
  return out;
}

struct event_facts {
  std::string label;    // the finding type, the API call, ...
  std::string account;  // the account the event is about
};

event_facts facts_of(const decoded_event& event) {
  if (const auto* f = std::get_if<guardduty_finding>(&event)) return {f->type, f->account_id};
  if (const auto* t = std::get_if<cloudtrail_event>(&event)) {
    std::string account = t->recipient_account_id.value_or(t->envelope ? t->envelope->account : "");
    return {t->event_name, account};
  }
  if (const auto* b = std::get_if<cloudwatch_logs_batch>(&event)) {
    return {b->records.empty() ? "CloudTrail" : b->records.front().event_name, b->owner};
  }
  if (const auto* b = std::get_if<block_request>(&event)) return {"Block Addresses", b->envelope.account};
  if (const auto* s = std::get_if<scheduled_event>(&event))
    return {"schedule " + s->rule_name, s->envelope.account};
  if (const auto* h = std::get_if<securityhub_event>(&event))
    return {h->action_id.empty() ? h->envelope.detail_type : "Security Hub " + h->action_id,
            h->envelope.account};
  if (const auto* u = std::get_if<unknown_event>(&event))
    return {u->envelope.detail_type, u->envelope.account};
  return {};
}

std::string verb_for(const playbook_report& report) {
  if (report.forged) return "refused a forged finding about";
  switch (report.status) {
    case report_status::incomplete:
      return "partly contained";
    case report_status::failed:
      return "could not contain";
    case report_status::escalate:
      return "needs a person for";
    default:
      return std::string(status_name(report.status));
  }
}

}  // namespace

result<observability_settings> observability_settings_from_environment(const env_reader& env) {
  observability_settings s;
  auto topic = env("TOURNIQUET_SNS_TOPIC_ARN");
  if (!topic) return s;
  // arn:PARTITION:sns:REGION:ACCOUNT:NAME
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (;;) {
    const std::size_t colon = topic->find(':', start);
    parts.push_back(topic->substr(start, colon == std::string::npos ? std::string::npos : colon - start));
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  const auto region = env("AWS_REGION") ? env("AWS_REGION") : env("AWS_DEFAULT_REGION");
  if (parts.size() != 6 || parts[0] != "arn" || parts[2] != "sns" || parts[3].empty() ||
      parts[4].size() != 12 || parts[5].empty()) {
    return error{
        "InvalidConfiguration",
        "TOURNIQUET_SNS_TOPIC_ARN must be an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME), got '" +
            *topic + "'",
        "TOURNIQUET_SNS_TOPIC_ARN"};
  }
  if (region && parts[3] != *region) {
    return error{"InvalidConfiguration",
                 "TOURNIQUET_SNS_TOPIC_ARN names a topic in " + parts[3] + ", but the function runs in " +
                     *region + ": use a topic in the function's region",
                 "TOURNIQUET_SNS_TOPIC_ARN"};
  }
  s.sns_topic_arn = *topic;
  return s;
}

namespace {

// One report's EMF document, written as JSON text (json_text: as nlohmann would dump the same document).
void append_metric_line(std::string& out, const playbook_report& r, const invocation_figures& figures,
                        const std::string& timestamp, long long epoch_ms, bool first) {
  long done = 0;
  long failed = 0;
  for (const auto& a : r.actions) {
    if (a.result == outcome::done) ++done;
    if (a.result == outcome::failed) ++failed;
  }
  std::string metrics = "[";  // the Metrics array, written beside the values
  const auto metric = [&metrics](std::string_view name, std::string_view unit) {
    if (metrics.size() > 1) metrics += ',';
    json_text::object(metrics).string("Name", name).string("Unit", unit).close();
  };
  json_text::object doc(out);
  doc.string("timestamp", timestamp).string("level", "INFO").string("message", "metrics");
  if (!figures.request_id.empty()) doc.string("requestId", figures.request_id);
  if (!r.incident_id.empty()) doc.string("incidentId", r.incident_id);
  doc.string("Playbook", r.playbook);
  metric("ActionsDone", "Count");
  doc.number("ActionsDone", done);
  metric("ActionsFailed", "Count");
  doc.number("ActionsFailed", failed);
  // Runs of the playbook in this invocation: more than one means AWS failed it for a while
  metric("Passes", "Count");
  doc.number("Passes",
             1 + (r.details.contains("passes") ? static_cast<long>(r.details["passes"].size()) : 0L));
  if (r.forged) {
    metric("Forged", "Count");
    doc.number("Forged", 1);
  }
  if (r.isolated_after_ms >= 0) {
    metric("ContainmentMs", "Milliseconds");
    doc.number("ContainmentMs", r.isolated_after_ms);
  }
  if (first) {
    metric("Retries", "Count");
    doc.number("Retries", figures.retries);
    metric("Throttles", "Count");
    doc.number("Throttles", figures.throttles);
    metric("ColdStart", "Count");
    doc.number("ColdStart", figures.cold_start ? 1 : 0);
    if (figures.notification_failed) {
      metric("NotificationsFailed", "Count");
      doc.number("NotificationsFailed", *figures.notification_failed ? 1 : 0);
    }
  }
  metrics += ']';
  std::string aws;
  json_text::object cloudwatch(aws);
  cloudwatch.number("Timestamp", epoch_ms).raw("CloudWatchMetrics", "[");
  json_text::object(aws)
      .string("Namespace", metrics_namespace)
      .raw("Dimensions", R"([["Playbook"],[]])")
      .raw("Metrics", metrics)
      .close();
  aws += ']';
  cloudwatch.close();
  doc.raw("_aws", aws).close();
  out += '\n';
}

}  // namespace

std::string metric_lines(const std::vector<playbook_report>& reports, const invocation_figures& figures,
                         std::chrono::system_clock::time_point now) {
  std::string out;
  if (reports.empty()) return out;
  out.reserve(640 * reports.size());
  const std::string timestamp = rfc3339(now);
  const auto epoch_ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  for (std::size_t i = 0; i < reports.size(); ++i) {
    append_metric_line(out, reports[i], figures, timestamp, epoch_ms, i == 0);
  }
  return out;
}

std::vector<nlohmann::ordered_json> metric_documents(const std::vector<playbook_report>& reports,
                                                     const invocation_figures& figures,
                                                     std::chrono::system_clock::time_point now) {
  std::vector<nlohmann::ordered_json> documents;
  const std::string lines = metric_lines(reports, figures, now);
  for (std::size_t start = 0; start < lines.size();) {
    const std::size_t end = lines.find('\n', start);
    documents.push_back(nlohmann::ordered_json::parse(lines.substr(start, end - start)));
    start = end + 1;
  }
  return documents;
}

bool worth_notifying(const playbook_report& report) {
  if (report.forged) return true;  // nothing was done, but someone invoked the function with a false finding
  if (report.status == report_status::ignored || report.status == report_status::dry_run) return false;
  if (report.status == report_status::failed || report.status == report_status::escalate) return true;
  for (const auto& a : report.actions) {
    if (a.result == outcome::done || a.result == outcome::failed) return true;
  }
  return false;
}

std::string notification_subject(const playbook_report& report, const decoded_event& event) {
  const event_facts facts = facts_of(event);
  std::string label = printable(facts.label);
  std::string target = printable(report.target);
  const std::string head = "Tourniquet " + printable(verb_for(report)) + " ";
  const std::string tail = facts.account.empty() ? "" : " in " + printable(facts.account);
  auto compose = [&] { return head + target + (label.empty() ? "" : " (" + label + ")") + tail; };
  // Shortens `part` by what the subject is over the limit, keeping at least 12 characters of it.
  auto shorten = [&](std::string& part) {
    const std::size_t over = compose().size() - max_subject;
    if (part.size() > 12)
      part = cut(part, std::max<std::size_t>(12, part.size() > over ? part.size() - over : 0));
  };
  if (compose().size() > max_subject) shorten(label);
  if (compose().size() > max_subject) shorten(target);
  return cut(compose(), max_subject);
}

aws::query_call notification_call(const std::string& topic_arn, const playbook_report& report,
                                  const decoded_event& event) {
  aws::query_call call{aws::service::sns, "Publish", {}};
  std::string message = report.to_json().dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
  if (message.size() > max_message) message = cut(std::move(message), max_message);
  call.params.add("TopicArn", topic_arn)
      .add("Subject", notification_subject(report, event))
      .add("Message", std::move(message));
  return call;
}

std::string outcome_summary(const playbook_report& report) {
  std::string text = report.playbook + (report.target.empty() ? "" : " " + report.target) + ": " +
                     std::string(status_name(report.status));
  if (!report.reason.empty()) text += " (" + cut(report.reason, 2 * max_error_text) + ")";
  if (report.actions.empty()) return text;
  std::vector<std::string> done;
  std::vector<std::string> not_done;
  for (const auto& a : report.actions) {
    const std::string name = a.action + (a.target.empty() ? "" : " " + a.target);
    if (a.result == outcome::done) {
      done.push_back(name);
    } else if (a.result == outcome::failed) {
      not_done.push_back(
          name + " (" +
          cut(a.failure ? a.failure->code + ": " + a.failure->message : "failed", max_error_text) + ")");
    } else if (a.unfinished) {
      not_done.push_back(name + " (" + cut(a.detail, max_error_text) + ")");
    }
  }
  text += "; done: " + (done.empty() ? std::string("nothing") : join_list(done, ", "));
  if (!not_done.empty()) text += "; not done: " + join_list(not_done, ", ");
  return text;
}

void observer::invocation_started(const aws::client& own) {
  m_before = own.statistics();
  m_this_cold = m_first;
  m_first = false;
}

std::vector<action_record> observer::invocation_finished(const decoded_event& event,
                                                         const std::vector<playbook_report>& reports,
                                                         const invocation_context& context,
                                                         const aws::client& own, aws::deadline until,
                                                         bool dry_run) {
  std::vector<action_record> records;
  invocation_figures figures;
  figures.request_id = context.request_id;
  if (!m_settings.sns_topic_arn.empty() && !dry_run) {
    std::vector<aws::query_call> calls;
    for (const auto& r : reports) {
      if (worth_notifying(r)) calls.push_back(notification_call(m_settings.sns_topic_arn, r, event));
    }
    if (!calls.empty()) {
      const auto started = std::chrono::steady_clock::now();
      auto answers = own.call_all(calls, until);  // one round trip for all
      const auto finished = std::chrono::steady_clock::now();
      figures.notification_failed = false;
      for (std::size_t i = 0; i < calls.size(); ++i) {
        action_record record{std::string(notify_incident.name),
                             m_settings.sns_topic_arn,
                             outcome::done,
                             std::string(calls[i].params.get("Subject")),
                             std::nullopt,
                             std::chrono::duration_cast<std::chrono::milliseconds>(finished - started),
                             finished};
        if (answers[i]) {
          log::info("incident notified", {{"topic", m_settings.sns_topic_arn},
                                          {"messageId", aws::text_of(answers[i]->result(), "MessageId")}});
        } else {
          record.result = outcome::failed;
          record.failure = std::move(answers[i]).err();
          figures.notification_failed = true;
          // Containment stands whatever became of its announcement: logged and reported, never a failure.
          log::warn("incident notification failed",
                    {{"topic", m_settings.sns_topic_arn}, {"error", record.failure->describe()}});
        }
        records.push_back(std::move(record));
      }
    }
  }

  const aws::call_statistics after = own.statistics();
  figures.retries = after.retries - m_before.retries;
  figures.throttles = after.throttles - m_before.throttles;
  figures.cold_start = m_this_cold;
  // Each document is a line of its own in the log stream, where CloudWatch finds it.
  const std::string lines = metric_lines(reports, figures, std::chrono::system_clock::now());
  std::fwrite(lines.data(), 1, lines.size(), stderr);
  return records;
}

}  // namespace tq::handlers
