#include "handlers/incident.h"

#include <ctime>

#include "aws/crypto.h"

namespace tq::handlers {

std::string incident_id_for(std::string_view account_id, std::string_view source_id) {
  return "tq-" +
         aws::crypto::sha256_hex(std::string(account_id) + "/" + std::string(source_id)).substr(0, 16);
}

std::string rfc3339(std::int64_t epoch_seconds) {
  const auto t = static_cast<std::time_t>(epoch_seconds);
  std::tm utc{};
  gmtime_r(&t, &utc);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return buffer;
}

std::optional<std::int64_t> parse_rfc3339(std::string_view text) {
  // YYYY-MM-DDTHH:MM:SS, then optional fractional seconds, then Z or +00:00.
  if (text.size() < 20) return std::nullopt;
  int fields[6] = {};
  const size_t starts[6] = {0, 5, 8, 11, 14, 17};
  const size_t widths[6] = {4, 2, 2, 2, 2, 2};
  for (size_t f = 0; f < 6; ++f) {
    for (size_t i = starts[f]; i < starts[f] + widths[f]; ++i) {
      if (text[i] < '0' || text[i] > '9') return std::nullopt;
      fields[f] = fields[f] * 10 + (text[i] - '0');
    }
  }
  if (text[4] != '-' || text[7] != '-' || (text[10] != 'T' && text[10] != 't') || text[13] != ':' ||
      text[16] != ':')
    return std::nullopt;
  std::string_view rest = text.substr(19);
  if (rest.starts_with(".")) {
    size_t digits = 1;
    while (digits < rest.size() && rest[digits] >= '0' && rest[digits] <= '9') ++digits;
    if (digits == 1) return std::nullopt;
    rest.remove_prefix(digits);
  }
  if (rest != "Z" && rest != "z" && rest != "+00:00") return std::nullopt;
  const auto [year, month, day, hour, minute, second] = fields;
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60)
    return std::nullopt;
  // Days from the civil date (Howard Hinnant's algorithm): no time zone of the process is involved.
  const int y = year - (month <= 2 ? 1 : 0);
  const int era = (y >= 0 ? y : y - 399) / 400;
  const int yoe = y - era * 400;
  const int doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
  const int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  const std::int64_t days = std::int64_t{era} * 146097 + doe - 719468;
  return days * 86400 + hour * 3600 + minute * 60 + second;
}

since_decision decision_since_release(std::string_view last_activity, const operator_decision& decision) {
  const auto activity = parse_rfc3339(last_activity);
  const std::string& at = decision.released_at.empty() ? decision.contained_at : decision.released_at;
  const bool released = !decision.released_at.empty();
  if (!released && !decision.undone_by_hand) return {};
  const auto decided = parse_rfc3339(at);
  // A decision with no readable time, or a finding with none, cannot be ordered: containment is the default.
  if (!activity || !decided) return {};
  const std::string by = decision.released_by.empty() ? "an unknown caller" : decision.released_by;
  const std::string what =
      released ? "released at " + at + " by " + by : "Tourniquet's change of " + at + " was undone by hand";
  if (*activity <= *decided) return {decision_verdict::redelivery, what + "; no activity since"};
  return {decision_verdict::act_again,
          "contained again: activity at " + std::string(last_activity) + " after " +
              (released ? "release at " + at : "the change of " + at + " was undone by hand")};
}

std::string rfc3339_now() {
  return rfc3339(static_cast<std::int64_t>(std::time(nullptr)));
}

}  // namespace tq::handlers
