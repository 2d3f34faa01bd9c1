#include "handlers/router.h"

#include <cstdio>

namespace tq::handlers {

std::string_view playbook_name(playbook_id id) {
  switch (id) {
    case playbook_id::instance_containment:
      return "instance-containment";
    case playbook_id::credential_containment:
      return "credential-containment";
    case playbook_id::exposure_fix:
      return "exposure-fix";
    case playbook_id::network_block:
      return "network-block";
    case playbook_id::block_expiry:
      return "block-expiry";
  }
  return "unknown";
}

routing route_finding(const guardduty_finding& finding, const config& cfg,
                      const network_block_settings& block) {
  routing r;
  if (finding.sample) {
    r.ignored_because.push_back("a sample finding (made by CreateSampleFindings), not a real one");
    return r;
  }
  if (finding.archived) {
    r.ignored_because.push_back("the finding is archived");
    return r;
  }
  char severity[16];
  std::snprintf(severity, sizeof severity, "%.1f", finding.severity);

  if (finding.resource_type == "Instance") {
    if (!type_matches(cfg.instance_finding_types, finding.type)) {
      r.ignored_because.push_back("instance-containment: type " + finding.type +
                                  " is not in TOURNIQUET_INSTANCE_FINDING_TYPES");
    } else if (finding.severity < cfg.min_severity) {
      r.ignored_because.push_back("instance-containment: severity " + std::string(severity) +
                                  " is under TOURNIQUET_MIN_SEVERITY");
    } else if (finding.resource_role == "TARGET") {
      // The instance is what was attacked (a brute force against it, a probe): isolating it would do the
      // attacker's work. Blocking the attacker's addresses is the answer to those.
      r.ignored_because.push_back(
          "instance-containment: the instance is the target of the activity, not its actor");
    } else if (!finding.instance) {
      r.ignored_because.push_back("instance-containment: the finding names no instance");
    } else {
      r.playbooks.push_back(playbook_id::instance_containment);
    }
    // network-block: deny the remote addresses in the subnets' network ACLs (may run with containment).
    if (auto why = network_block_refusal(finding, block)) {
      r.ignored_because.push_back("network-block: " + *why);
    } else {
      r.playbooks.push_back(playbook_id::network_block);
    }
  } else if (finding.resource_type == "AccessKey") {
    const bool root = finding.access_key && finding.access_key->user_type == "Root";
    if (root) {
      // Nothing can be done to root by API; the playbook escalates loudly, whatever the type or severity.
      r.playbooks.push_back(playbook_id::credential_containment);
    } else if (!type_matches(cfg.credential_finding_types, finding.type)) {
      r.ignored_because.push_back("credential-containment: type " + finding.type +
                                  " is not in TOURNIQUET_CREDENTIAL_FINDING_TYPES");
    } else if (finding.severity < cfg.credential_min_severity) {
      r.ignored_because.push_back("credential-containment: severity " + std::string(severity) +
                                  " is under TOURNIQUET_CREDENTIAL_MIN_SEVERITY");
    } else {
      r.playbooks.push_back(playbook_id::credential_containment);
    }
  } else {
    r.ignored_because.push_back("no playbook handles resource type " + finding.resource_type);
  }
  return r;
}

}  // namespace tq::handlers
