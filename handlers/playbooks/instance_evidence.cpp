#include "handlers/playbooks/instance_evidence.h"

#include <sstream>

#include "handlers/incident.h"

namespace tq::handlers {
namespace {

std::string xml_text(const aws::xml_response& answer) {
  std::ostringstream out;
  answer.document.save(out, "", pugi::format_raw);
  return out.str();
}

bool carries_an_incident(const instance_state& state) {
  if (state.tags.contains(tag_incident)) return true;
  for (const auto& eni : state.interfaces) {
    if (eni.tags.contains(tag_incident)) return true;
  }
  return false;
}

nlohmann::ordered_json parsed_state(const instance_state& state) {
  nlohmann::ordered_json s;
  s["state"] = state.state_name;
  s["tags"] = state.tags;
  s["interfaces"] = nlohmann::ordered_json::array();
  for (const auto& eni : state.interfaces) {
    s["interfaces"].push_back(
        {{"id", eni.id}, {"vpcId", eni.vpc_id}, {"subnetId", eni.subnet_id}, {"groups", eni.group_ids}});
  }
  s["volumes"] = nlohmann::ordered_json::array();
  for (const auto& v : state.volumes) {
    s["volumes"].push_back(
        {{"volumeId", v.volume_id}, {"device", v.device}, {"deleteOnTermination", v.delete_on_termination}});
  }
  s["terminationProtected"] = state.termination_protected;
  s["shutdownBehavior"] = state.shutdown_behavior;
  s["autoScalingGroup"] = state.autoscaling_group;
  return s;
}

}  // namespace

nlohmann::ordered_json reads_as_evidence(const std::vector<planned_call>& plan, const execution& reads) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (size_t i = 0; i < plan.size() && i < reads.answers.size(); ++i) {
    nlohmann::ordered_json read = {{"call", iam_action_of(plan[i].call)}, {"target", plan[i].target}};
    const auto& answer = reads.answers[i];
    if (!answer) {
      const auto& failure = reads.records[i].failure;
      read["error"] = failure ? failure->describe() : reads.records[i].detail;
    } else if (answer->is_xml()) {
      read["answer"] = xml_text(answer->xml());
    } else if (answer->body.index() == 1) {
      read["answer"] = answer->json();
    }
    out.push_back(std::move(read));
  }
  return out;
}

nlohmann::ordered_json instance_evidence(const instance_state& state, nlohmann::ordered_json reads) {
  nlohmann::ordered_json doc;
  doc["instanceId"] = state.instance_id;
  doc["readAt"] = rfc3339_now();
  doc["readBeforeChanges"] = !carries_an_incident(state);
  doc["parsed"] = parsed_state(state);
  doc["reads"] = std::move(reads);
  return doc;
}

}  // namespace tq::handlers
