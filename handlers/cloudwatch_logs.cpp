#include "handlers/cloudwatch_logs.h"

#include <zlib.h>

#include <array>
#include <climits>
#include <cstdint>

#include "handlers/event.h"

namespace tq::handlers {
namespace {

error fail(const char* code, std::string_view where, std::string message) {
  return error{code, std::string(where) + ": " + message, std::string(where), false};
}

constexpr std::array<std::int8_t, 256> make_base64_table() {
  std::array<std::int8_t, 256> table{};
  for (auto& entry : table) entry = -1;
  constexpr std::string_view alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (std::size_t i = 0; i < alphabet.size(); ++i)
    table[static_cast<unsigned char>(alphabet[i])] = static_cast<std::int8_t>(i);
  return table;
}
constexpr auto base64_table = make_base64_table();

}  // namespace

result<std::string> base64_decode(std::string_view text, std::string_view where) {
  if (text.size() % 4 != 0)
    return fail(event_not_base64_code, where,
                "not base64: length " + std::to_string(text.size()) + " is not a multiple of 4");
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (std::size_t i = 0; i < text.size(); i += 4) {
    // '=' may only end the text: "xx==" or "xxx=".
    std::size_t padding = 0;
    if (i + 4 == text.size() && text[i + 3] == '=') padding = text[i + 2] == '=' ? 2 : 1;
    std::uint32_t group = 0;
    for (std::size_t j = 0; j < 4; ++j) {
      const std::int8_t value = j < 4 - padding ? base64_table[static_cast<unsigned char>(text[i + j])] : 0;
      if (value < 0)
        return fail(event_not_base64_code, where,
                    "not base64: unexpected character at offset " + std::to_string(i + j));
      group = (group << 6) | static_cast<std::uint32_t>(value);
    }
    out.push_back(static_cast<char>((group >> 16) & 0xff));
    if (padding < 2) out.push_back(static_cast<char>((group >> 8) & 0xff));
    if (padding < 1) out.push_back(static_cast<char>(group & 0xff));
  }
  return out;
}

result<std::string> gunzip(std::string_view compressed, std::size_t max_output, std::string_view where) {
  if (compressed.size() < 2 || static_cast<unsigned char>(compressed[0]) != 0x1f ||
      static_cast<unsigned char>(compressed[1]) != 0x8b)
    return fail(event_not_gzip_code, where,
                "not gzip: the data does not start with the gzip magic bytes 1f 8b");
  if (compressed.size() > UINT_MAX) return fail(event_too_large_code, where, "compressed data over 4 GiB");

  z_stream stream{};
  if (inflateInit2(&stream, 16 + MAX_WBITS) != Z_OK)  // 16+: expect a gzip header, not a zlib one
    return error{"InternalError", "zlib inflateInit2 failed", std::string(where), false};
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(compressed.data()));
  stream.avail_in = static_cast<uInt>(compressed.size());

  std::string out;
  std::array<char, 64 * 1024> chunk{};
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    stream.next_out = reinterpret_cast<Bytef*>(chunk.data());
    stream.avail_out = static_cast<uInt>(chunk.size());
    rc = inflate(&stream, Z_NO_FLUSH);
    const std::size_t produced = chunk.size() - stream.avail_out;
    if (rc == Z_NEED_DICT || rc == Z_DATA_ERROR || rc == Z_STREAM_ERROR || rc == Z_MEM_ERROR) {
      std::string reason = stream.msg ? stream.msg : "inflate error " + std::to_string(rc);
      inflateEnd(&stream);
      return fail(event_not_gzip_code, where, "not gzip: corrupt data (" + reason + ")");
    }
    if (out.size() + produced > max_output) {
      inflateEnd(&stream);
      return fail(event_too_large_code, where,
                  "gzip data inflates to more than " + std::to_string(max_output) + " bytes; refused");
    }
    out.append(chunk.data(), produced);
    if (rc == Z_BUF_ERROR || (rc == Z_OK && stream.avail_in == 0 && produced == 0)) {
      inflateEnd(&stream);
      return fail(event_not_gzip_code, where, "not gzip: the stream is truncated");
    }
  }
  const std::size_t trailing = stream.avail_in;
  inflateEnd(&stream);
  if (trailing != 0)
    return fail(event_not_gzip_code, where,
                "not gzip: " + std::to_string(trailing) + " bytes of trailing data after the gzip stream");
  return out;
}

}  // namespace tq::handlers
