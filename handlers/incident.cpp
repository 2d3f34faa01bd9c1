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

std::string rfc3339_now() {
  return rfc3339(static_cast<std::int64_t>(std::time(nullptr)));
}

}  // namespace tq::handlers
