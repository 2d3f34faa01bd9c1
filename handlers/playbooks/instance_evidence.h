// The instance as instance containment read it, for the evidence bundle's instance.json: every read's call
// and answer as AWS gave it (so a later read added to the playbook's first batch is kept too), and what the
// playbook made of them.
#pragma once

#include <nlohmann/json.hpp>
#include <vector>

#include "handlers/action.h"
#include "handlers/playbooks/instance_containment.h"

namespace tq::handlers {

// [{"call": "ec2:DescribeInstances", "target": "i-…", "answer": "<DescribeInstancesResponse…"}, …]: an XML
// answer as text, a JSON one as JSON, a failed read as its error.
nlohmann::ordered_json reads_as_evidence(const std::vector<planned_call>& plan, const execution& reads);

// instance.json, made as the reads come: the reads, the state parsed from them, the time, and whether they
// came before any change by Tourniquet (false when the instance already carried an incident: a later
// delivery's).
nlohmann::ordered_json instance_evidence(const instance_state& state, nlohmann::ordered_json reads);

}  // namespace tq::handlers
