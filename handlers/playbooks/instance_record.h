// The record instance containment leaves on the instance, so that release can put each interface's groups
// back: one compact, versioned tag beside the incident id, spilling to numbered tags only past EC2's limit on
// a value. EC2 allows 50 user tags per resource, so every plan that tags counts the room first.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "aws/query.h"

namespace tq::handlers {

inline constexpr std::size_t ec2_tag_limit = 50;         // user tags per resource; "aws:" tags do not count
inline constexpr std::size_t ec2_tag_value_limit = 256;  // characters in one tag value

// How many more tags a resource carrying `tags` can take.
std::size_t tag_room(const std::map<std::string, std::string>& tags);
// How many of the keys of `wanted` a resource carrying `tags` does not carry yet: the room writing them takes
// (CreateTags on a key already there replaces its value and takes none).
std::size_t new_keys(const std::map<std::string, std::string>& tags, const std::vector<aws::tag>& wanted);
// The head of `wanted` that fits in the room a resource carrying `tags` has left, in order.
std::vector<aws::tag> fitting(const std::map<std::string, std::string>& tags,
                              const std::vector<aws::tag>& wanted);

// Version 1 of the instance's record, one value:
//   "v1;n=<tags>;f=<finding id>;t=<finding type>;i=<eni>:<sg>+<sg>,<eni>:<sg>"
// n is how many tags hold it, so that a record cut short by the tag limit is known to be cut.
struct instance_record {
  std::string finding_id;
  std::string finding_type;
  std::vector<std::pair<std::string, std::vector<std::string>>> interfaces;  // interface id, its groups
  bool operator==(const instance_record&) const = default;
};

// The record as tags: "tourniquet:record" and, past 256 characters, "tourniquet:record:2", … in order.
std::vector<aws::tag> record_tags(const instance_record& record);

enum class record_presence {
  absent,    // no record tag
  complete,  // every tag the record says it spans, of a version this build reads
  partial,   // some of its tags are missing (the limit stopped them): never acted on
  unknown,   // a version this build does not read, or a value it cannot parse
};

struct read_record {
  record_presence presence = record_presence::absent;
  instance_record record;  // set when complete
};

read_record record_from_tags(const std::map<std::string, std::string>& tags);

// Any versioned record kept the same way: "v1;n=<tags>;<body>" under `key`, spilling to "<key>:2", … past
// EC2's limit on a value.
std::vector<aws::tag> spilled_tags(std::string_view key, const std::string& body);
struct spilled_value {
  record_presence presence = record_presence::absent;
  std::string body;  // set when complete
};
spilled_value spilled_from_tags(const std::map<std::string, std::string>& tags, std::string_view key);

}  // namespace tq::handlers
