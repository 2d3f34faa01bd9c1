// The two wrappers CloudWatch Logs puts around a subscription batch: base64 outside, gzip inside. Both
// decoders are strict and bounded, so a hostile payload costs at most `max_output` bytes of memory.
// Errors use the InvalidEvent.NotBase64 / NotGzip / TooLarge codes of handlers/event.h.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "runtime/result.h"

namespace tq::handlers {

// Standard alphabet with '=' padding, as CloudWatch Logs sends it; anything else (whitespace included) is
// refused.
result<std::string> base64_decode(std::string_view text, std::string_view where);

// One gzip member (RFC 1952), inflated by zlib. Output past `max_output` bytes is refused, not truncated.
result<std::string> gunzip(std::string_view compressed, std::size_t max_output, std::string_view where);

}  // namespace tq::handlers
