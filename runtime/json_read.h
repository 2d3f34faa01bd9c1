// A quicker way to the same nlohmann::json document for the JSON read on every containment (the event, the
// GetFindings answer): nlohmann's lexer copies every character of every string one push_back at a time,
// about half the cost of a whole containment's JSON. read_plain() builds the document directly, and
// declines (nullopt) whatever it does not handle exactly as nlohmann::json::parse would: invalid JSON,
// \u escapes, bytes of 0x80 and above (UTF-8 is left to nlohmann to check), integers beyond 18 digits,
// nesting deeper than 64. The caller then parses with nlohmann, which also words the errors.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>

namespace tq::json_read {

// The document nlohmann::json::parse(text) gives, or nullopt when the text is not plain enough (see above).
std::optional<nlohmann::json> read_plain(std::string_view text);

// read_plain, else nlohmann::json::parse (which may throw its parse_error).
nlohmann::json parse(std::string_view text);

// read_plain, else nlohmann::json::parse without exceptions: a discarded value when the text is not JSON.
nlohmann::json parse_or_discarded(std::string_view text);

}  // namespace tq::json_read
