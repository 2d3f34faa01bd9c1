// Which playbooks an event calls for, as one table: pure, so the routing rules are tested without I/O.
// An event no playbook takes is answered with success and the reason it was ignored.
#pragma once

#include <string>
#include <vector>

#include "handlers/config.h"
#include "handlers/event.h"
#include "handlers/network_block.h"  // network-block: its settings decide its routing

namespace tq::handlers {

enum class playbook_id {
  instance_containment,
  credential_containment,
  exposure_fix,
  network_block,
  block_expiry
};
std::string_view playbook_name(playbook_id id);

struct routing {
  std::vector<playbook_id> playbooks;
  std::vector<std::string> ignored_because;  // why each playbook that could have applied did not
};

// `block` holds the network block's settings (handlers/network_block.h); its defaults when not given.
routing route_finding(const guardduty_finding& finding, const config& cfg,
                      const network_block_settings& block = network_block_settings{});

}  // namespace tq::handlers
