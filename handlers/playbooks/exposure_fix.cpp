#include "handlers/playbooks/exposure_fix.h"

#include <algorithm>
#include <cctype>
#include <charconv>

#include "handlers/playbooks/instance_containment.h"  // incident_id_for, rfc3339_now, the tag names
#include "runtime/log.h"

namespace tq::handlers {
namespace {

using aws::items_of;
using aws::query_call;
using aws::service;
using aws::text_of;

const action_kind& read_group = declare_action(
    exposure_playbook, "read-group", {"ec2:DescribeSecurityGroups", "ec2:DescribeSecurityGroupRules"});
const action_kind& revoke_ingress =
    declare_action(exposure_playbook, "revoke-world-ingress", {"ec2:RevokeSecurityGroupIngress"});
const action_kind& tag_group = declare_action(exposure_playbook, "tag-group", {"ec2:CreateTags"});
const action_kind& restart_logging = declare_action(exposure_playbook, "restart-logging",
                                                    {"cloudtrail:GetTrailStatus", "cloudtrail:StartLogging"});

// The table. To add a rule: a line here, a branch in fix_exposure, a row in the README.
const std::vector<exposure_rule> rules_table = {
    {"ec2.amazonaws.com", "AuthorizeSecurityGroupIngress", exposure_kind::world_admin_ingress,
     "revoke the rules that open an admin port (TOURNIQUET_ADMIN_PORTS) to 0.0.0.0/0 or ::/0; tag the group"},
    {"cloudtrail.amazonaws.com", "StopLogging", exposure_kind::trail_stopped,
     "start logging again; contain the caller's credentials, unless the caller is in "
     "TOURNIQUET_TRAIL_ADMINS"},
    {"cloudtrail.amazonaws.com", "DeleteTrail", exposure_kind::trail_deleted,
     "escalate (a deleted trail cannot be restored by API); contain the caller's credentials, unless the "
     "caller "
     "is in TOURNIQUET_TRAIL_ADMINS"},
};

std::string describe_rule(const ingress_rule& r) {
  std::string text = normalize_protocol(r.ip_protocol);
  if (text == "-1") {
    text = "all traffic";
  } else if (r.from_port && r.to_port) {
    text += " " + std::to_string(*r.from_port) +
            (*r.from_port == *r.to_port ? "" : "-" + std::to_string(*r.to_port));
  }
  text += " from " + r.cidr;
  if (r.rule_id) text += " (" + *r.rule_id + ")";
  return text;
}

std::int64_t number_or(const std::string& text, std::int64_t fallback) {
  std::int64_t value = fallback;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return ec == std::errc() && end == text.data() + text.size() ? value : fallback;
}

playbook_report new_report(std::string target, std::string incident_id) {
  playbook_report r;
  r.playbook = std::string(exposure_playbook);
  r.target = std::move(target);
  r.incident_id = std::move(incident_id);
  return r;
}

playbook_report escalate(playbook_report report, std::string reason) {
  report.status = report_status::escalate;
  report.reason = std::move(reason);
  log::error("escalation: a person must act", {{"target", report.target}, {"reason", report.reason}});
  return report;
}

std::string account_of(const cloudtrail_event& event) {
  if (event.recipient_account_id) return *event.recipient_account_id;
  if (event.envelope && !event.envelope->account.empty()) return event.envelope->account;
  return event.user.account_id.value_or("");
}

std::string event_id_of(const cloudtrail_event& event) {
  return event.event_id.value_or(event.event_name + "@" + event.event_time);
}

std::string caller_of(const cloudtrail_event& event) {
  if (event.user.arn) return *event.user.arn;
  return event.user.type + (event.user.user_name ? " " + *event.user.user_name : "");
}

}  // namespace

result<exposure_settings> exposure_settings_from_environment(const env_reader& env) {
  exposure_settings s;
  if (auto ports = env("TOURNIQUET_ADMIN_PORTS")) {
    s.admin_ports.clear();
    for (const auto& item : split_list(*ports)) {
      int port = -1;
      const auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), port);
      if (ec != std::errc() || end != item.data() + item.size() || port < 0 || port > 65535) {
        return invalid_setting("TOURNIQUET_ADMIN_PORTS", "'" + item + "' is not a port number (0-65535)");
      }
      s.admin_ports.push_back(port);
    }
    if (s.admin_ports.empty())
      return invalid_setting("TOURNIQUET_ADMIN_PORTS", "expected port numbers, e.g. 22,3389");
  }
  if (auto admins = env("TOURNIQUET_TRAIL_ADMINS")) {
    for (auto& a : split_list(*admins)) s.trail_admins.insert(a);
  }
  return s;
}

const std::vector<exposure_rule>& exposure_rules() {
  return rules_table;
}

const exposure_rule* exposure_rule_for(const cloudtrail_event& event) {
  for (const auto& rule : rules_table) {
    if (rule.event_source == event.event_source && rule.event_name == event.event_name) return &rule;
  }
  return nullptr;
}

std::string normalize_protocol(std::string_view protocol) {
  std::string p(protocol);
  std::transform(p.begin(), p.end(), p.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (p == "6") return "tcp";
  if (p == "17") return "udp";
  if (p == "1") return "icmp";
  if (p == "58") return "icmpv6";
  if (p == "all") return "-1";
  return p;
}

bool open_to_world(const ingress_rule& rule) {
  return rule.cidr == "0.0.0.0/0" || rule.cidr == "::/0";
}

bool covers_admin_port(const ingress_rule& rule, const std::vector<int>& ports) {
  const std::string protocol = normalize_protocol(rule.ip_protocol);
  if (protocol == "-1") return !ports.empty();
  if (protocol != "tcp" && protocol != "udp") return false;
  // A TCP/UDP rule without ports would be all of them; EC2 never records one, but be safe.
  const std::int64_t from = rule.from_port.value_or(0);
  const std::int64_t to = rule.to_port.value_or(65535);
  return std::any_of(ports.begin(), ports.end(), [&](int p) { return from <= p && p <= to; });
}

std::vector<ingress_rule> world_admin_rules(const std::vector<ingress_rule>& rules,
                                            const exposure_settings& settings) {
  std::vector<ingress_rule> out;
  for (const auto& r : rules) {
    if (open_to_world(r) && covers_admin_port(r, settings.admin_ports)) out.push_back(r);
  }
  return out;
}

std::vector<planned_call> plan_group_reads(const std::string& group_id) {
  query_call groups{service::ec2, "DescribeSecurityGroups", {}};
  groups.params.add("GroupId.1", group_id);
  query_call rules{service::ec2, "DescribeSecurityGroupRules", {}};
  rules.params.add_filter(1, "group-id", {group_id});
  return {planned_call{&read_group, group_id, std::move(groups)},
          planned_call{&read_group, group_id, std::move(rules)}};
}

result<group_state> group_state_from_reads(const std::string& group_id, const execution& reads) {
  group_state state;
  state.group_id = group_id;
  if (!reads.answers[0]) {
    const auto& failure = reads.records[0].failure;
    if (failure && failure->code == "InvalidGroup.NotFound") {
      state.exists = false;
      return state;
    }
    if (failure) return *failure;
    return error{"ReadFailed", "no answer to ec2:DescribeSecurityGroups", "ec2:DescribeSecurityGroups"};
  }
  for (pugi::xml_node g : items_of(reads.answers[0]->xml().result().child("securityGroupInfo"))) {
    if (text_of(g, "groupId") != group_id) continue;
    for (pugi::xml_node t : items_of(g.child("tagSet"))) state.tags[text_of(t, "key")] = text_of(t, "value");
  }
  if (!reads.answers[1]) {
    if (reads.records[1].failure) return *reads.records[1].failure;
    return error{"ReadFailed", "no answer to ec2:DescribeSecurityGroupRules",
                 "ec2:DescribeSecurityGroupRules"};
  }
  for (pugi::xml_node r : items_of(reads.answers[1]->xml().result().child("securityGroupRuleSet"))) {
    if (text_of(r, "isEgress") == "true" || text_of(r, "groupId") != group_id) continue;
    live_rule rule;
    rule.id = text_of(r, "securityGroupRuleId");
    rule.protocol = normalize_protocol(text_of(r, "ipProtocol"));
    rule.from_port = number_or(text_of(r, "fromPort"), -1);
    rule.to_port = number_or(text_of(r, "toPort"), -1);
    rule.cidr = text_of(r, "cidrIpv4");
    if (rule.cidr.empty()) {
      rule.cidr = text_of(r, "cidrIpv6");
      rule.ipv6 = !rule.cidr.empty();
    }
    if (rule.cidr.empty()) continue;  // a rule naming a group or a prefix list: never ours to revoke
    state.ingress.push_back(std::move(rule));
  }
  return state;
}

std::optional<live_rule> live_match(const ingress_rule& rule, const group_state& state) {
  for (const auto& live : state.ingress) {
    if (rule.rule_id) {
      if (live.id == *rule.rule_id) return live;
      continue;
    }
    if (live.cidr != rule.cidr || live.protocol != normalize_protocol(rule.ip_protocol)) continue;
    if (live.protocol == "-1" ||
        (live.from_port == rule.from_port.value_or(-1) && live.to_port == rule.to_port.value_or(-1))) {
      return live;
    }
  }
  return std::nullopt;
}

std::vector<planned_call> plan_ingress_revocation(const std::vector<ingress_rule>& offending,
                                                  const group_state& state, std::string_view incident_id,
                                                  std::string_view event_id, std::string_view now_rfc3339,
                                                  std::vector<action_record>& already) {
  std::vector<planned_call> plan;
  std::vector<size_t> revokes;
  std::vector<std::string> revoked;
  std::set<std::string> seen;
  for (const auto& rule : offending) {
    const auto live = live_match(rule, state);
    if (!live) {
      already.push_back(
          already_record(revoke_ingress, state.group_id, describe_rule(rule) + ": no longer in the group"));
      continue;
    }
    if (!seen.insert(live->id).second) continue;
    query_call call{service::ec2, "RevokeSecurityGroupIngress", {}};
    call.params.add("GroupId", state.group_id);
    if (rule.rule_id) {
      call.params.add("SecurityGroupRuleId.1", *rule.rule_id);
    } else {
      const std::string protocol = normalize_protocol(rule.ip_protocol);
      call.params.add("IpPermissions.1.IpProtocol", protocol);
      if (protocol != "-1") {
        call.params.add("IpPermissions.1.FromPort", std::to_string(live->from_port))
            .add("IpPermissions.1.ToPort", std::to_string(live->to_port));
      }
      call.params.add(
          rule.ipv6 ? "IpPermissions.1.Ipv6Ranges.1.CidrIpv6" : "IpPermissions.1.IpRanges.1.CidrIp",
          rule.cidr);
    }
    revokes.push_back(plan.size());
    revoked.push_back(live->id.empty() ? describe_rule(rule) : live->id);
    planned_call revoke{&revoke_ingress, state.group_id, std::move(call), describe_rule(rule)};
    // One rule per call, so a rule gone already (an attempt whose answer was lost revoked it) is that rule
    // done.
    revoke.already_if = {"InvalidPermission.NotFound", "InvalidSecurityGroupRuleId.NotFound"};
    plan.push_back(std::move(revoke));
  }
  if (revokes.empty()) return plan;
  std::string rules_text = join_list(revoked, ",");
  if (rules_text.size() > 256) rules_text = rules_text.substr(0, 253) + "...";  // EC2's tag value limit
  query_call tags{service::ec2, "CreateTags", {}};
  tags.params.add("ResourceId.1", state.group_id)
      .add_tags("Tag", {{tag_incident, std::string(incident_id)},
                        {tag_exposure_event, std::string(event_id)},
                        {tag_revoked_rules, rules_text},
                        {tag_revoked_at, std::string(now_rfc3339)}});
  plan.push_back({&tag_group, state.group_id, std::move(tags), std::string(incident_id), revokes});
  return plan;
}

bool is_trail_admin(const user_identity& user, const exposure_settings& settings) {
  std::vector<std::string> names;
  if (user.arn) {
    names.push_back(*user.arn);
    names.push_back(identity_from_arn(*user.arn).name);
  }
  if (user.user_name) names.push_back(*user.user_name);
  if (user.session_issuer_arn) {
    names.push_back(*user.session_issuer_arn);
    names.push_back(identity_from_arn(*user.session_issuer_arn).name);
  }
  return std::any_of(names.begin(), names.end(),
                     [&](const std::string& n) { return !n.empty() && settings.trail_admins.contains(n); });
}

std::string trail_reference(const cloudtrail_event& event, std::string_view account_id) {
  if (!event.request_parameters.is_object()) return {};
  auto name = event.request_parameters.find("name");
  if (name == event.request_parameters.end() || !name->is_string()) return {};
  const std::string text = name->get<std::string>();
  // arn:aws:cloudtrail:REGION:ACCOUNT:trail/NAME
  if (!text.starts_with("arn:")) return text;
  const size_t trail = text.find(":trail/");
  if (trail == std::string::npos) return text;
  const size_t account_end = trail;
  const size_t account_start = text.rfind(':', account_end - 1) + 1;
  if (text.substr(account_start, account_end - account_start) != account_id) return text;
  return text.substr(trail + std::string_view(":trail/").size());
}

planned_call plan_trail_status_read(const std::string& trail) {
  return {&restart_logging, trail, aws::json_call{service::cloudtrail, "GetTrailStatus", {{"Name", trail}}},
          ""};
}

std::vector<planned_call> plan_logging_restart(const std::string& trail, bool is_logging,
                                               std::vector<action_record>& already) {
  if (is_logging) {
    already.push_back(already_record(restart_logging, trail, "logging"));
    return {};
  }
  return {{&restart_logging, trail, aws::json_call{service::cloudtrail, "StartLogging", {{"Name", trail}}},
           "not logging: start it"}};
}

namespace {

playbook_report fix_world_ingress(const cloudtrail_event& event, const playbook_context& ctx,
                                  const exposure_settings& settings, std::string incident) {
  auto rules = ingress_rules(event);
  const std::string group_id =
      event.request_parameters.is_object() && event.request_parameters.contains("groupId") &&
              event.request_parameters["groupId"].is_string()
          ? event.request_parameters["groupId"].get<std::string>()
          : (rules.ok() && !rules->empty() ? rules->front().group_id : std::string());
  playbook_report report = new_report(group_id, std::move(incident));
  if (!rules) {
    log::warn("ingress rules unreadable", {{"error", rules.err().describe()}});
    return ignored(report.playbook, group_id,
                   "the record's rules could not be read: " + rules.err().describe());
  }
  const auto offending = world_admin_rules(*rules, settings);
  if (offending.empty()) {
    return ignored(report.playbook, group_id, "no rule of the call opens an admin port to 0.0.0.0/0 or ::/0");
  }
  report.target = offending.front().group_id;
  if (report.target.empty()) {
    return escalate(std::move(report), "the call named its group by name, not id: revoke " +
                                           describe_rule(offending.front()) + " by hand");
  }
  report.details["caller"] = caller_of(event);
  report.details["rules"] = nlohmann::ordered_json::array();
  for (const auto& r : offending) report.details["rules"].push_back(describe_rule(r));
  if (!event.aws_region.empty() && event.aws_region != ctx.client.settings().region) {
    return escalate(std::move(report), "the group is in " + event.aws_region + " and Tourniquet runs in " +
                                           ctx.client.settings().region + ": revoke the rules there by hand");
  }

  const auto reads = plan_group_reads(report.target);
  const execution read_run = execute_plan(reads, ctx.client, ctx.until, false);
  report.round_trips += read_run.round_trips;
  auto state = group_state_from_reads(report.target, read_run);
  if (!state) {
    for (const auto& r : read_run.records) {
      if (r.result == outcome::failed) report.actions.push_back(r);
    }
    report.status = report_status::failed;
    report.reason = state.err().describe();
    report.failure = state.err();
    return report;
  }
  if (!state->exists) {
    return ignored(report.playbook, report.target,
                   "the group no longer exists: nothing is exposed through it");
  }
  if (ctx.cfg.exempt_tag) {
    auto tag = state->tags.find(ctx.cfg.exempt_tag->key);
    if (tag != state->tags.end() && tag->second == ctx.cfg.exempt_tag->value) {
      return ignored(
          report.playbook, report.target,
          "the group carries the exemption tag " + ctx.cfg.exempt_tag->key + "=" + ctx.cfg.exempt_tag->value);
    }
  }
  std::vector<action_record> already;
  const auto plan = plan_ingress_revocation(offending, *state, report.incident_id, event_id_of(event),
                                            rfc3339_now(), already);
  append(report, execute_plan(plan, ctx.client, ctx.until, ctx.dry_run));
  report.actions.insert(report.actions.end(), already.begin(), already.end());
  report.status = ctx.dry_run           ? report_status::dry_run
                  : report.incomplete() ? report_status::incomplete
                                        : report_status::contained;
  return report;
}

playbook_report fix_trail(const cloudtrail_event& event, const exposure_rule& rule,
                          const playbook_context& ctx, std::string incident) {
  const std::string trail = trail_reference(event, ctx.account_id);
  playbook_report report = new_report(trail, std::move(incident));
  report.details["caller"] = caller_of(event);
  report.details["event"] = event.event_name;
  if (trail.empty()) {
    return escalate(std::move(report), "the record of " + event.event_name + " names no trail");
  }
  if (rule.kind == exposure_kind::trail_deleted) {
    return escalate(std::move(report),
                    "trail " + trail + " was deleted by " + caller_of(event) +
                        "; a trail cannot be restored by API (its bucket, key and selectors are "
                        "not in the record): create it again");
  }
  if (!event.aws_region.empty() && event.aws_region != ctx.client.settings().region) {
    return escalate(std::move(report), "the trail's home region is " + event.aws_region +
                                           " and Tourniquet runs in " + ctx.client.settings().region +
                                           ": start logging there by hand");
  }
  const execution status = execute_plan({plan_trail_status_read(trail)}, ctx.client, ctx.until, false);
  report.round_trips += status.round_trips;
  const action_record& read = status.records.front();
  if (!status.answers.front()) {
    if (read.failure && read.failure->code == "TrailNotFoundException") {
      return escalate(std::move(report), "trail " + trail + " was stopped by " + caller_of(event) +
                                             " and no longer exists: create it again");
    }
    report.actions.push_back(read);
    report.status = report_status::failed;
    report.reason = read.failure ? read.failure->describe() : "no answer to GetTrailStatus";
    return report;
  }
  const nlohmann::json& answer = status.answers.front()->json();
  auto logging = answer.find("IsLogging");
  const bool is_logging = logging != answer.end() && logging->is_boolean() && logging->get<bool>();
  std::vector<action_record> already;
  append(report,
         execute_plan(plan_logging_restart(trail, is_logging, already), ctx.client, ctx.until, ctx.dry_run));
  report.actions.insert(report.actions.end(), already.begin(), already.end());
  report.status = ctx.dry_run           ? report_status::dry_run
                  : report.incomplete() ? report_status::incomplete
                                        : report_status::contained;
  return report;
}

}  // namespace

std::optional<std::string> exposure_routing_refusal(const cloudtrail_event& event, const exposure_rule* rule,
                                                    const exposure_settings& settings) {
  if (rule == nullptr) return "no exposure rule for " + event.event_source + " " + event.event_name;
  if (event.error_code) return event.event_name + " failed (" + *event.error_code + "): nothing changed";
  const bool trail = rule->kind == exposure_kind::trail_stopped || rule->kind == exposure_kind::trail_deleted;
  if (trail && is_trail_admin(event.user, settings)) {
    return caller_of(event) + " may " + event.event_name + " (TOURNIQUET_TRAIL_ADMINS)";
  }
  return std::nullopt;
}

playbook_report fix_exposure(const cloudtrail_event& event, const exposure_rule& rule,
                             const playbook_context& ctx, const exposure_settings& settings) {
  const auto started = std::chrono::steady_clock::now();
  const std::string incident = incident_id_for(account_of(event), event_id_of(event));
  log::set_context("eventId", event_id_of(event));
  playbook_report report = rule.kind == exposure_kind::world_admin_ingress
                               ? fix_world_ingress(event, ctx, settings, incident)
                               : fix_trail(event, rule, ctx, incident);
  report.details["event"] = event.event_name;
  if (event.event_id) report.details["eventId"] = *event.event_id;
  report.details["response"] = rule.response;
  report.total_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started)
          .count();
  return report;
}

namespace {

struct exposure_input {
  cloudtrail_event event;
  const exposure_rule* rule;
};

class exposure_fix final : public playbook {
 public:
  explicit exposure_fix(exposure_settings settings) : m_settings(std::move(settings)) {}

  std::string_view name() const override { return exposure_playbook; }

  // Every record of a CloudTrail event or a CloudWatch Logs batch (item: the record's index).
  void route(const decoded_event& event, const config&, routing& out) const override {
    if (const auto* trail = std::get_if<cloudtrail_event>(&event)) route_record(*trail, 0, out);
    const auto* batch = std::get_if<cloudwatch_logs_batch>(&event);
    if (batch == nullptr) return;
    if (batch->records.empty()) out.passed.push_back({name(), 0, "the batch holds no CloudTrail records"});
    for (std::size_t i = 0; i < batch->records.size(); ++i) route_record(batch->records[i], i, out);
  }

  // Its route looks at no GuardDuty finding.
  bool may_take(const finding_summary&, const config&, routing&) const override { return false; }

  playbook_report run(const job& work, const playbook_context& ctx) const override {
    const auto& input = *std::any_cast<exposure_input>(&work.input);
    return fix_exposure(input.event, *input.rule, ctx, m_settings);
  }

 private:
  void route_record(const cloudtrail_event& record, std::size_t item, routing& out) const {
    const exposure_rule* rule = exposure_rule_for(record);
    if (auto why = exposure_routing_refusal(record, rule, m_settings)) {
      out.passed.push_back({name(), item, std::move(*why)});
      return;
    }
    const std::string account = account_of(record);
    out.jobs.push_back(job{name(), item, account, record.aws_region, record.event_name,
                           incident_id_for(account, event_id_of(record)), std::string(rule->response),
                           exposure_input{record, rule}});
    // Whoever stopped or deleted a trail is contained too: that is what an intruder covering tracks does.
    if (rule->kind != exposure_kind::world_admin_ingress) {
      out.jobs.push_back(credential_job(target_from_cloudtrail(record), item, record.aws_region));
    }
  }

  exposure_settings m_settings;
};

}  // namespace

result<std::unique_ptr<const playbook>> make_exposure_fix(const env_reader& env) {
  return playbook_from<exposure_fix>(exposure_settings_from_environment(env));
}

}  // namespace tq::handlers
