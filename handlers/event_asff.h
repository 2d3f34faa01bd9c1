// Decoding of Security Hub's EventBridge events (ASFF findings in detail.findings[]), for event.cpp. The
// parts Tourniquet needs, by the ASFF reference; an error names the JSON path of the bad field
// ("$.detail.findings[3].Resources[0].Type: expected a string, got number").
#pragma once

#include <nlohmann/json.hpp>
#include <string_view>

#include "handlers/event.h"

namespace tq::handlers {

// "Security Hub Findings - Custom Action" or "Security Hub Findings - Imported".
bool is_securityhub_detail_type(std::string_view detail_type);

// The whole event (envelope included); its source must be aws.securityhub.
result<securityhub_event> decode_securityhub(const nlohmann::json& event);

}  // namespace tq::handlers
