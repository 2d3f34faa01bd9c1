// Event decoding on arbitrary bytes: whatever arrives, decode_event answers an event or an error naming
// the JSON path, within its size and depth caps, and never throws.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "handlers/event.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto decoded = tq::handlers::decode_event(text);
  if (!decoded) {
    if (decoded.err().retryable || decoded.err().code.rfind("InvalidEvent", 0) != 0) __builtin_trap();
    return 0;
  }
  if (const auto* trail = std::get_if<tq::handlers::cloudtrail_event>(&*decoded)) {
    (void)tq::handlers::ingress_rules(*trail);
  }
  if (const auto* batch = std::get_if<tq::handlers::cloudwatch_logs_batch>(&*decoded)) {
    for (const auto& record : batch->records) (void)tq::handlers::ingress_rules(record);
  }
  return 0;
}
