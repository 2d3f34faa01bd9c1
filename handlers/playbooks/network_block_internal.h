// Internals the network-block files share: the EC2 calls that write a deny entry or its record, small
// readers, and the action kinds that both the planner and the playbook name. Not for other playbooks.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "aws/client.h"
#include "handlers/action.h"
#include "handlers/playbooks/network_block.h"

namespace tq::handlers::network_block_internal {

// Declared in network_block_plan.cpp beside the planner that makes these calls; the playbook names them too,
// in the records of the addresses it refuses and to tell a failed tag from a failed deny.
extern const action_kind& deny_address;
extern const action_kind& record_block;

// The whole of `text` as a decimal number; nullopt when any of it is not.
std::optional<std::int64_t> parse_int(std::string_view text);
// Now, in the epoch seconds the records keep.
std::int64_t epoch_now();
std::string direction_name(bool egress);  // "inbound", "outbound"

// The entry at (rule, direction), or nullptr.
const acl_entry* entry_at(const acl_state& acl, int rule_number, bool egress);

aws::query_call create_entry(const std::string& acl_id, int rule_number, bool egress,
                             const cidr_block& block);
aws::query_call delete_entry(const std::string& acl_id, int rule_number, bool egress);
// CreateTags or DeleteTags of `record`'s tag, key and value.
aws::query_call tag_call(std::string action, const std::string& acl_id, const block_record& record);

}  // namespace tq::handlers::network_block_internal
