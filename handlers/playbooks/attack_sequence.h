// Attack sequences: one GuardDuty finding (AttackSequence:*) naming every resource, principal and remote
// endpoint of a multi-stage attack. Its route hands each member to the playbook for its kind, in one
// invocation and one incident: instances to instance containment (and the endpoints' addresses to the network
// block of the instances' subnets), access keys and the actors' principals to credential containment, and
// anything no playbook contains to a person, one escalation per resource. The jobs it makes are the other
// playbooks' own; it runs only the escalations.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "handlers/config.h"
#include "handlers/event.h"
#include "handlers/playbook.h"
#include "handlers/playbooks/bucket_protection.h"
#include "handlers/playbooks/credential_containment.h"
#include "handlers/playbooks/instance_containment.h"
#include "handlers/playbooks/network_block.h"
#include "runtime/environment.h"

namespace tq::handlers {

inline constexpr std::string_view sequence_playbook = "attack-sequence";

// {"AttackSequence:*"}: every sequence GuardDuty defines, and those it will define.
std::vector<std::string> default_sequence_finding_types();

// The sequence's own type list, and the settings of the playbooks its members go to (their severity floors
// apply to a sequence as to any finding; their type lists describe single findings and do not).
struct sequence_settings {
  std::vector<std::string> finding_types =
      default_sequence_finding_types();  // TOURNIQUET_SEQUENCE_FINDING_TYPES
  instance_settings instance;
  credential_settings credentials;
  network_block_settings block;
  bucket_settings bucket;
};

result<sequence_settings> sequence_settings_from_environment(const env_reader& env);

// A member no playbook contains: what a person must do about it.
struct sequence_escalation {
  std::string uid;
  std::string resource_type;
  std::string account_id;
  std::string region;
  std::string what_to_do;
};

// Pure: the jobs for every member of `finding`'s sequence, and the members passed over with why. Item 0 is
// the sequence itself, item 1 + i its i-th resource, item 1 + R + j its j-th actor (R resources), so each
// member passed over is listed even when others were taken.
void route_sequence(const guardduty_finding& finding, const sequence_settings& settings, const config& cfg,
                    routing& out);

// The sequence-aware variants of each playbook's target_of: the input for one member of the sequence, in the
// sequence's incident.
instance_finding instance_target_of(const guardduty_finding& finding, const sequence_resource& instance,
                                    const config& cfg);
access_key_target key_target_of(const guardduty_finding& finding, const sequence_resource& key);
// nullopt when the actor names no principal (a process only).
std::optional<access_key_target> actor_target_of(const guardduty_finding& finding,
                                                 const sequence_actor& actor);
block_target block_target_of(const guardduty_finding& finding, const sequence_resource& instance);

// The endpoints' addresses, in order, without repeats ("" skipped: a domain-only endpoint).
std::vector<std::string> sequence_addresses(const attack_sequence& sequence);

// For a playbook confirming a job that a sequence made: why GuardDuty's copy `real` does not lead to member
// `uid` (no sequence, severity under `floor`, the member not named); nullopt when it does.
std::optional<std::string> sequence_member_refusal(const guardduty_finding& real, std::string_view uid,
                                                   double floor, std::string_view floor_variable);
// The instance job for member `uid` as GuardDuty's copy has it (its tags decide the exemption).
std::optional<instance_finding> confirmed_instance_target(const guardduty_finding& real, std::string_view uid,
                                                          const config& cfg);

result<std::unique_ptr<const playbook>> make_attack_sequence(const env_reader& env);

}  // namespace tq::handlers
