// The Runtime API client's answer reader (runtime/loopback_http.h) on arbitrary bytes from the server. The
// first input byte chooses where the stream is split (0: one byte at a time), the rest is the stream; up to
// four answers are read from it, as from a kept-alive connection. Properties: an answer read whole has a
// final status (200..999), a body within the 64 MiB limit and no longer than the stream, exactly
// Content-Length bytes when that framed it, none for 204/304; and the stream split at arbitrary points reads
// exactly as the stream handed over at once (statuses, header lines, bodies, errors).
// libFuzzer dictionary: http.dict
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/loopback_http.h"

namespace {

using tq::runtime::http_answer_reader;

// The stream in pieces: each at most `piece` bytes (0: as many as asked for); sizes vary with `seed`.
struct stream {
  std::string_view bytes;
  unsigned seed = 0;
  std::size_t piece = 0;
};

tq::result<std::size_t> pull(char* into, std::size_t capacity, void* context) {
  auto* from = static_cast<stream*>(context);
  std::size_t take = std::min(capacity, from->bytes.size());
  if (from->piece > 0) {
    from->seed = from->seed * 1103515245u + 12345u;
    take = std::min(take, 1 + (from->seed >> 16) % from->piece);
  }
  std::memcpy(into, from->bytes.data(), take);
  from->bytes.remove_prefix(take);
  return take;
}

void keep_line(std::string_view line, void* context) {
  if (line.find('\n') != std::string_view::npos) __builtin_trap();
  static_cast<std::string*>(context)->append(line).push_back('\n');
}

// Everything the reader says about the stream, answer after answer, as text to compare.
std::string read_all(std::string_view bytes, unsigned seed, std::size_t piece) {
  stream from{bytes, seed, piece};
  http_answer_reader reader(&pull, &from);
  std::string said;
  std::string body;
  for (int i = 0; i < 4; ++i) {
    std::string headers;
    auto answer = reader.read(body, &keep_line, &headers);
    if (!answer.ok()) return said + "error " + answer.err().code + ": " + answer.err().message;
    const auto& a = *answer;
    if (a.status < 200 || a.status > 999) __builtin_trap();
    if (body.size() > tq::runtime::max_answer_body_bytes || body.size() > bytes.size()) __builtin_trap();
    if ((a.status == 204 || a.status == 304) && !body.empty()) __builtin_trap();
    if (a.status != 204 && a.status != 304 && !a.chunked && a.length >= 0 &&
        body.size() != static_cast<std::size_t>(a.length)) {
      __builtin_trap();
    }
    if (!a.chunked && a.length < 0 && a.status != 204 && a.status != 304 && a.keep_alive) __builtin_trap();
    said += std::to_string(a.status) + " " + std::to_string(a.length) + (a.chunked ? " chunked" : "") +
            (a.keep_alive ? " keep-alive\n" : " close\n") + headers + "body " + body + "\n";
    if (!a.keep_alive) break;
  }
  return said;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::string whole = read_all(bytes, 0, 0);
  const std::string split = read_all(bytes, data[0], data[0] % 64 + 1);
  if (split != whole) __builtin_trap();
  return 0;
}
