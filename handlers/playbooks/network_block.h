// Network block: deny an attacker's addresses in the network ACLs of the subnets involved, in both
// directions, inside a window of rule numbers, and lift the denies again when they expire. The bookkeeping
// (which rule is Tourniquet's, until when) lives in tags on the network ACL itself, so the ACL and the
// record cannot disagree; a rule without Tourniquet's tag is never touched.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <pugixml.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "handlers/action.h"
#include "handlers/config.h"
#include "handlers/event.h"
#include "handlers/incident.h"
#include "handlers/ip_address.h"
#include "handlers/playbook.h"
#include "handlers/report.h"
#include "runtime/environment.h"
#include "runtime/result.h"

namespace tq::handlers {

inline constexpr std::string_view network_block_playbook = "network-block";
inline constexpr std::string_view block_expiry_playbook = "block-expiry";

// One tag per rule number, covering both directions: tourniquet:block:71 = "203.0.113.7/32|<created epoch>|
// <expires epoch>|<incident>". A network ACL holds at most 50 tags, so the window is at most 40 numbers.
inline constexpr std::size_t max_tags_per_acl = 50;
inline constexpr int max_window_size = 40;

// Error codes EC2 answers CreateNetworkAclEntry with when the number is taken or the ACL is full.
inline constexpr std::string_view entry_exists_code = "NetworkAclEntryAlreadyExists";
inline constexpr std::string_view entry_limit_code = "NetworkAclEntryLimitExceeded";

struct never_block_range {
  cidr_block block;
  std::string reason;  // "the instance metadata service", "private (RFC 1918)", "TOURNIQUET_NEVER_BLOCK"
};

struct network_block_settings {
  std::vector<std::string> finding_types;  // TOURNIQUET_BLOCK_FINDING_TYPES ('*' ends a prefix)
  double min_severity = 2.0;               // TOURNIQUET_BLOCK_MIN_SEVERITY
  int rule_low = 71;                       // TOURNIQUET_BLOCK_RULE_RANGE=71-90: below the usual allow at 100
  int rule_high = 90;
  std::chrono::seconds ttl = std::chrono::hours(24);  // TOURNIQUET_BLOCK_TTL_HOURS or _SECONDS
  bool block_private = false;  // TOURNIQUET_BLOCK_PRIVATE: allow RFC 1918 / unique-local targets
  std::vector<never_block_range> never_block;  // built-in ranges plus TOURNIQUET_NEVER_BLOCK
  std::vector<std::string> expiry_accounts;    // TOURNIQUET_BLOCK_EXPIRY_ACCOUNTS: member accounts to sweep
  int max_rounds = 6;  // attempts when concurrent invocations take the rule number we chose

  network_block_settings();  // the documented defaults
};

// The default finding types: those whose remote address is an attacker (or its server) talking to the
// instance over the network, where a deny in the subnet's ACL stops the traffic.
std::vector<std::string> default_block_finding_types();

// Loopback, unspecified, link-local, multicast, the metadata addresses, and (unless `block_private`) the
// private and unique-local ranges.
std::vector<never_block_range> built_in_never_block(bool block_private);

result<network_block_settings> network_block_settings_from_environment(const env_reader& env);

// Why a GuardDuty finding does not call for a network block; nullopt when it does. For the router.
std::optional<std::string> network_block_refusal(const guardduty_finding& finding,
                                                 const network_block_settings& settings);
// Its gates that a finding's summary can answer: type and severity.
std::optional<std::string> network_block_gate_refusal(const std::string& type, double severity,
                                                      const network_block_settings& settings);

// Why `block` must not be denied in an ACL of a VPC with `vpc_cidrs`; nullopt when it may be.
std::optional<std::string> never_block_reason(const cidr_block& block, const network_block_settings& settings,
                                              const std::vector<cidr_block>& vpc_cidrs);

// --- The network ACL as read ----------------------------------------------------------------------------

struct acl_entry {
  int rule_number = 0;
  bool egress = false;
  bool deny = false;
  bool all_protocols = false;       // protocol -1
  std::optional<cidr_block> block;  // cidrBlock or ipv6CidrBlock
};

// A deny Tourniquet created, as its tag records it.
struct block_record {
  int rule_number = 0;
  cidr_block block;
  std::int64_t created = 0;  // epoch seconds
  std::int64_t expires = 0;
  std::string incident;
  std::string tag_value;  // as stored, for a DeleteTags that only removes this exact record
};

std::string block_tag_key(int rule_number);
std::string block_tag_value(const block_record& record);
// nullopt when the key is not one of ours; an error when it is ours but its value cannot be read.
std::optional<result<block_record>> parse_block_tag(std::string_view key, std::string_view value);

struct acl_state {
  std::string id;
  std::string vpc_id;
  std::vector<std::string> subnet_ids;  // associated subnets
  std::vector<acl_entry> entries;
  std::map<int, block_record> blocks;        // our tags, by rule number
  std::vector<std::string> unreadable_tags;  // our prefix, unreadable value: left alone
  std::size_t tag_count = 0;
  std::vector<cidr_block> vpc_cidrs;  // from DescribeVpcs
  bool entry_limit_reached = false;   // EC2 answered NetworkAclEntryLimitExceeded: evict instead
};

// The networkAclSet of a DescribeNetworkAcls answer.
std::vector<acl_state> acls_from_xml(pugi::xml_node result);
// The CIDR blocks of each VPC in a DescribeVpcs answer, by VPC id.
std::map<std::string, std::vector<cidr_block>> vpc_cidrs_from_xml(pugi::xml_node result);

// Whether the entry at (rule, direction) is one Tourniquet made: its tag exists and names the entry's CIDR.
bool is_ours(const acl_state& acl, const acl_entry& entry);

// The entry that decides traffic from (or to) every address of `block`, when that is a deny of all
// protocols: entries are evaluated lowest number first, and an allow that overlaps the block first lets
// some of it through. nullopt when the block is not wholly denied.
std::optional<acl_entry> effective_deny(const acl_state& acl, const cidr_block& block, bool egress);

// --- Planning (pure) ------------------------------------------------------------------------------------

// The reads: the instance (for its subnets), the ACLs of subnets or by id, the VPCs' CIDR blocks, and the
// ACLs that carry our tags (for expiry).
planned_call read_instance_call(const std::string& instance_id);
planned_call read_acls_call(const std::vector<std::string>& subnet_ids,
                            const std::vector<std::string>& acl_ids);
planned_call read_vpcs_call(const std::vector<std::string>& vpc_ids);
planned_call read_tagged_acls_call();

struct address_to_block {
  std::string given;  // as the event named it
  cidr_block block;
};

enum class block_step {
  already,   // denied both ways already (extend_index set when our record's expiry was pushed back)
  create,    // a new deny pair at rule_number
  repair,    // our record at rule_number lacks one direction: add it
  evict,     // our oldest deny at rule_number is removed and the number reused
  no_room,   // the window holds only rules Tourniquet did not make, or the ACL's tags are full
  shadowed,  // an allow rule below the window would let the address through anyway
};

struct block_intent {
  address_to_block address;
  block_step step = block_step::create;
  int rule_number = 0;
  std::int64_t expires = 0;
  std::string detail;  // why, for the report
  std::optional<block_record> evicted;
  std::optional<std::size_t>
      claim_index;  // the first CreateNetworkAclEntry: whoever creates it owns the number
  std::vector<std::size_t> other_indices;  // the other direction, the tag, the evicting deletes
};

struct block_plan {
  std::vector<planned_call> calls;
  std::vector<block_intent> intents;  // one per address, in order
};

// The rule number tried first for a block: spread over the window by a hash of the address (and of the
// attempt, so that invocations which lost a race for one number do not all go for the same next one).
int preferred_rule_number(const cidr_block& block, const network_block_settings& settings, int attempt = 0);

// Turns (ACL, addresses, settings, now) into calls. Every address here has passed the never-block check.
// Creates go ingress first: that entry is the lock on the number (EC2 refuses a second one), the egress
// entry and the tag follow it.
block_plan plan_blocks(const acl_state& acl, const std::vector<address_to_block>& addresses,
                       const network_block_settings& settings, std::int64_t now, std::string_view incident_id,
                       int attempt = 0);

struct expiry_intent {
  std::string acl_id;
  block_record record;
  std::vector<std::size_t> delete_indices;  // its entries still present
};

struct expiry_plan {
  std::vector<planned_call> calls;  // DeleteNetworkAclEntry only; tags go once these are answered
  std::vector<expiry_intent> intents;
  std::vector<action_record> left_alone;  // unreadable tags
};

// Our records whose expiry is at or before `now`: delete their entries that are still ours.
expiry_plan plan_expiry(const std::vector<acl_state>& acls, std::int64_t now);
// DeleteTags (key and value, so a record rewritten meanwhile stays) for the records whose entries are gone.
planned_call plan_forget(const std::string& acl_id, const block_record& record);

// --- The playbooks --------------------------------------------------------------------------------------

// What to block and where: the instance's subnets, the given subnets, or the given ACLs.
struct block_target {
  std::string account_id;
  std::string incident_id;
  std::string source;  // "finding Recon:EC2/PortProbeUnprotectedPort …" or the request's reason
  std::vector<std::string> addresses;  // as given
  std::optional<std::string> instance_id;
  std::vector<std::string> subnet_ids;  // with an instance: the finding's, used if the instance is gone
  std::vector<std::string> network_acl_ids;
  // The instance's uid in the attack sequence whose endpoints these are (attack_sequence.h); "" otherwise.
  std::string sequence_member = {};
};

block_target block_target_of(const guardduty_finding& finding);
block_target block_target_of(const block_request& request);

playbook_report block_addresses(const block_target& target, const playbook_context& ctx,
                                const network_block_settings& settings);

// Removes the expired denies in every network ACL of the context's account that carries our tags.
playbook_report expire_blocks(const playbook_context& ctx);

result<std::unique_ptr<const playbook>> make_network_block(const env_reader& env);
result<std::unique_ptr<const playbook>> make_block_expiry(const env_reader& env);

}  // namespace tq::handlers
