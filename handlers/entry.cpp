#include "handlers/entry.h"

#include <nlohmann/json.hpp>

namespace tq::handlers {

// Placeholder until the event decoding and playbooks land: decodes the envelope and ignores it.
result<handler_function> make_handler(const handler_options&) {
  return handler_function([](std::string_view event, const invocation_context&) {
    nlohmann::json j = nlohmann::json::parse(event, nullptr, false);
    if (j.is_discarded()) return invocation_response::failure(invalid_event_error, "event is not valid JSON");
    if (!j.is_object()) return invocation_response::failure(invalid_event_error, "$: event is not a JSON object");
    nlohmann::json out = {{"status", "ignored"}, {"reason", "no playbook handles this event"}};
    return invocation_response::ok(out.dump());
  });
}

}  // namespace tq::handlers
