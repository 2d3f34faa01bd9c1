// What the Runtime API hands the loop, on arbitrary bytes: header lines of a `next` answer, and error types
// and messages on their way to an error post. Properties: a sanitized error type is always one the API
// accepts, and an error body is always valid JSON of the expected shape.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "runtime/runtime_api.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  tq::invocation_context context;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t end = text.find('\n', start);
    const std::string_view line =
        text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start + 1);
    (void)tq::runtime::apply_invocation_header(line, context);
    if (end == std::string_view::npos) break;
    start = end + 1;
  }

  const size_t split = text.find('\n');
  const std::string_view type = text.substr(0, split);
  const std::string_view message =
      split == std::string_view::npos ? std::string_view() : text.substr(split + 1);
  const std::string sanitized = tq::runtime::sanitize_error_type(type);
  if (!tq::runtime::valid_error_type(sanitized)) __builtin_trap();
  if (tq::runtime::valid_error_type(type) && sanitized != type) __builtin_trap();

  const std::string body = tq::runtime::error_body(sanitized, message);
  const auto parsed = nlohmann::json::parse(body, nullptr, false);
  if (parsed.is_discarded() || !parsed.is_object() || parsed.size() != 3 ||
      !parsed["errorMessage"].is_string() || parsed["errorType"] != sanitized ||
      !parsed["stackTrace"].is_array()) {
    __builtin_trap();
  }
  return 0;
}
