// The CloudWatch Logs subscription payload on arbitrary bytes, at each of its three layers: the input is
// taken as the base64 text itself, as the gzip member inside it, or as the JSON document inside that
// (the first byte chooses), so the fuzzer reaches the inner layers without having to forge a CRC.
#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "handlers/event.h"

namespace {

std::string base64(std::string_view bytes) {
  static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const unsigned n = (static_cast<unsigned char>(bytes[i]) << 16) |
                       (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                       static_cast<unsigned char>(bytes[i + 2]);
    out += {alphabet[(n >> 18) & 63], alphabet[(n >> 12) & 63], alphabet[(n >> 6) & 63], alphabet[n & 63]};
  }
  if (i + 1 == bytes.size()) {
    const unsigned n = static_cast<unsigned char>(bytes[i]) << 16;
    out += {alphabet[(n >> 18) & 63], alphabet[(n >> 12) & 63], '=', '='};
  } else if (i + 2 == bytes.size()) {
    const unsigned n =
        (static_cast<unsigned char>(bytes[i]) << 16) | (static_cast<unsigned char>(bytes[i + 1]) << 8);
    out += {alphabet[(n >> 18) & 63], alphabet[(n >> 12) & 63], alphabet[(n >> 6) & 63], '='};
  }
  return out;
}

// One compressor for the whole run, reset for each input: setting one up allocates and clears about 256 kB,
// which cost more than the rest of an input's run.
z_stream& compressor() {
  static z_stream z{};  // initialised in place: zlib's state points back at its stream
  static const bool ready =
      deflateInit2(&z, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK;
  if (!ready || deflateReset(&z) != Z_OK) __builtin_trap();
  return z;
}

std::string gzip(std::string_view bytes) {
  z_stream& z = compressor();
  std::string out(deflateBound(&z, static_cast<uLong>(bytes.size())) + 32, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
  z.avail_in = static_cast<uInt>(bytes.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  if (deflate(&z, Z_FINISH) != Z_STREAM_END) __builtin_trap();
  out.resize(z.total_out);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0 || size > 256 * 1024) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  std::string text;
  switch (data[0] % 3) {
    case 0:
      text = rest;
      break;
    case 1:
      text = base64(rest);
      break;
    default:
      text = base64(gzip(rest));
      break;
  }
  auto batch = tq::handlers::decode_cloudwatch_logs(text);
  if (!batch) {
    if (batch.err().retryable || batch.err().code.rfind("InvalidEvent", 0) != 0) __builtin_trap();
    return 0;
  }
  for (const auto& record : batch->records) (void)tq::handlers::ingress_rules(record);
  return 0;
}
