// What ties Tourniquet's changes to an incident: the incident id (the same for every delivery of the same
// finding, so replays land on the same records), the time format of its records, and the `tourniquet:` tag
// keys it writes. The guardrail policy and `release` rely on these names: they are defined here only.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tq::handlers {

// "tq-" and 16 hex digits of SHA-256(account "/" source id): stable across deliveries and passes.
std::string incident_id_for(std::string_view account_id, std::string_view source_id);

// "2026-12-01T09:30:00Z"
std::string rfc3339_now();
std::string rfc3339(std::int64_t epoch_seconds);
// Seconds since the epoch of an RFC 3339 UTC time ("2026-12-01T09:30:00Z", GuardDuty's
// "2025-03-07T06:02:58.000Z", "+00:00"); nullopt for anything else, other offsets included.
std::optional<std::int64_t> parse_rfc3339(std::string_view text);

// What a person decided about a resource Tourniquet changed, as its tags say: released (when and by whom), or
// Tourniquet's change undone by hand (when that change was made).
struct operator_decision {
  std::string released_at;  // set while the resource is released
  std::string released_by;
  std::string contained_at;     // when Tourniquet's change was made
  bool undone_by_hand = false;  // the change is gone while the record says it stands
};

// A finding arriving again after a person's decision: a redelivery when its activity was last seen no later
// than the decision (change nothing), new evidence when later (contain again, saying so). EventBridge,
// Lambda and GuardDuty's 6-hourly re-publication all deliver the same finding again, and a responder that
// undoes its operators gets switched off.
enum class decision_verdict {
  act,         // no decision stands in the way: contain as usual
  act_again,   // activity after the decision: contain again
  redelivery,  // nothing new since the decision: change nothing
};
struct since_decision {
  decision_verdict verdict = decision_verdict::act;
  std::string reason;  // for act_again and redelivery: what the report and the notification say
};
// `last_activity` is the finding's service.eventLastSeen ("" when it carries none: then nothing shows the
// finding is old, and it is acted on).
since_decision decision_since_release(std::string_view last_activity, const operator_decision& decision);

inline constexpr std::string_view tag_prefix = "tourniquet:";  // every tag key Tourniquet writes starts so
inline constexpr const char* tag_role = "tourniquet:role";     // on the groups it manages: untrack, isolation
inline constexpr const char* tag_incident = "tourniquet:incident-id";
inline constexpr const char* tag_finding = "tourniquet:finding-id";
inline constexpr const char* tag_finding_type = "tourniquet:finding-type";  // before the record: now in it
inline constexpr const char* tag_source_type = "tourniquet:source-type";
inline constexpr const char* tag_status = "tourniquet:status";  // contained, incomplete, released
inline constexpr const char* tag_contained_at = "tourniquet:contained-at";
inline constexpr const char* tag_released_at = "tourniquet:released-at";
inline constexpr const char* tag_released_by = "tourniquet:released-by";  // the releasing caller's ARN
inline constexpr const char* tag_access_key = "tourniquet:access-key";
inline constexpr const char* tag_instance_id = "tourniquet:instance-id";
// On the instance, the format before the record (still read by release): one tag per interface id.
inline constexpr const char* tag_prior_groups_prefix = "tourniquet:prior-groups:";  // + interface id
// On an interface: the groups it had before containment, "sg-1,sg-2".
inline constexpr const char* tag_prior_groups = "tourniquet:prior-groups";
// On the instance: the versioned record (instance_record.h), spilling to "tourniquet:record:2", … when long.
inline constexpr const char* tag_record = "tourniquet:record";
inline constexpr const char* tag_exposure_event = "tourniquet:exposure-event";
inline constexpr const char* tag_revoked_rules = "tourniquet:revoked-rules";
inline constexpr const char* tag_revoked_at = "tourniquet:revoked-at";
// On a Lambda function: its reserved concurrency before containment, "none" when it had no limit.
inline constexpr const char* tag_prior_concurrency = "tourniquet:prior-concurrency";
// On the instance: the instance profile containment detached (its ARN), for release to associate again.
inline constexpr const char* tag_instance_profile = "tourniquet:instance-profile";
// On the instance profile detached, one per instance: "tourniquet:detached-from:i-0abc" = the incident id.
// Release associates a profile again only when the profile itself says so: the instance's tag alone can
// be rewritten by whoever may tag the instance, to name a more powerful profile.
inline constexpr std::string_view tag_detached_from_prefix = "tourniquet:detached-from:";
// On the instance: the load balancer registrations containment removed (instance_attachments.h), spilling
// to "tourniquet:load-balancers:2", … when long.
inline constexpr const char* tag_load_balancers = "tourniquet:load-balancers";
// One per rule number on a network ACL: "tourniquet:block:71" (see network_block.h for its value).
inline constexpr std::string_view tag_block_prefix = "tourniquet:block:";

}  // namespace tq::handlers
