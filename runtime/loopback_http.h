// A small HTTP/1.1 client for the Lambda Runtime API alone: plain HTTP to the sandbox's own endpoint
// ($AWS_LAMBDA_RUNTIME_API, host:port, loopback), one kept-alive connection, one request at a time. It
// does what that API needs and no more: requests with a Content-Length body; answers framed by
// Content-Length, chunked transfer coding or the connection's end; 1xx answers skipped; `Connection: close`
// and HTTP/1.0 honoured; a kept-alive connection the server has closed meanwhile is reopened and the
// request sent again once (as libcurl does), when nothing of an answer had arrived. No proxy, no TLS, no
// redirects, no compression. libcurl did this before for about 75 k instructions per request (URL parsing
// and printf-built headers every time); this takes a few thousand.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "runtime/result.h"

namespace tq::runtime {

// Larger answers are refused (the connection is closed): the Runtime API hands events of at most 6 MB.
inline constexpr std::size_t max_answer_body_bytes = 64 * 1024 * 1024;
// Larger header sections are refused: Lambda's headers (client context, Cognito identity) are a few kB.
inline constexpr std::size_t max_answer_head_bytes = 1024 * 1024;

struct http_request {
  std::string_view method;         // "GET" or "POST"
  std::string_view target;         // "/2018-06-01/runtime/invocation/next"
  std::string_view extra_headers;  // whole "Name: value\r\n" lines, or empty
  std::string_view body;           // sent with a Content-Length (none for a GET without body)
};

// Each header line of the final answer, without its line end; the status line is not passed.
using header_sink = void (*)(std::string_view line, void* context);

// Reads answers from a byte stream, one at a time: the status line and header fields, 1xx answers skipped,
// a body framed by Content-Length, chunked transfer coding or the stream's end. It owns the read buffer and
// pulls bytes from `source` as it needs them; loopback_http feeds it from its socket, a fuzz target from
// memory (tests/fuzz/fuzz_loopback_http.cpp).
class http_answer_reader {
 public:
  // Up to `capacity` bytes into `into`; 0 at the stream's end.
  using byte_source = result<std::size_t> (*)(char* into, std::size_t capacity, void* context);
  struct answer {
    int status = 0;
    long long length = -1;  // Content-Length, -1 when absent
    bool chunked = false;
    bool keep_alive = true;  // false also for a body that ended with the stream
  };

  http_answer_reader(byte_source source, void* source_context);

  // One final answer: its body written to `body` (replaced), its header lines handed to `sink`. Errors:
  // "ConnectionError" (retryable) when the source fails or ends early, "ProtocolError" for an answer that is
  // not HTTP/1.x as described above or over the size limits.
  result<answer> read(std::string& body, header_sink sink, void* sink_context);
  // Bytes received after the last answer read (never asked for).
  bool buffered() const { return m_begin != m_end; }
  // Forgets the buffered bytes (a new connection).
  void clear() { m_begin = m_end = 0; }

 private:
  status fill();
  result<std::string_view> read_line();
  status read_head(answer& head, header_sink sink, void* sink_context);
  status append_body(std::string& body, std::size_t length);
  status read_chunked(std::string& body);
  status read_to_end(std::string& body);

  byte_source m_source;
  void* m_source_context;
  std::string m_in;  // read buffer, always at its full size; unread bytes are m_in[m_begin, m_end)
  std::size_t m_begin = 0;
  std::size_t m_end = 0;
};

class loopback_http {
 public:
  // `endpoint` is host:port ("127.0.0.1:9001", "localhost:9001", "[::1]:9001").
  loopback_http(std::string_view endpoint, std::chrono::milliseconds connect_timeout);
  ~loopback_http();
  loopback_http(const loopback_http&) = delete;
  loopback_http& operator=(const loopback_http&) = delete;

  // Sends `request` and reads the answer: its status is returned, its body written to `body` (replaced),
  // its header lines handed to `sink`. `timeout` bounds the whole exchange (none: wait for ever, as `next`
  // must). Errors: code "ConnectionError" (retryable) for a connection that could not be made or broke,
  // a timeout, or an answer that is not HTTP/1.x as described above (then not retryable).
  result<int> exchange(const http_request& request, std::string& body, header_sink sink, void* sink_context,
                       std::optional<std::chrono::milliseconds> timeout);

  // The connection is open (a test's view: it shows whether an answer kept it alive).
  bool connected() const { return m_fd >= 0; }

 private:
  using clock = std::chrono::steady_clock;
  using deadline_t = std::optional<clock::time_point>;

  status connect_now();
  void close_now();
  status send_all(std::string_view head, std::string_view body, deadline_t deadline);
  status wait_for(short events, deadline_t deadline);
  result<std::size_t> receive(char* into, std::size_t capacity, deadline_t deadline);
  static result<std::size_t> receive_answer(char* into, std::size_t capacity, void* self);

  std::string m_host;  // for getaddrinfo (an IPv6 address without its brackets)
  std::string m_port;
  std::string m_host_header;  // "Host: host:port\r\nUser-Agent: ...\r\nAccept: */*\r\n"
  std::chrono::milliseconds m_connect_timeout;
  int m_fd = -1;
  http_answer_reader m_reader{&loopback_http::receive_answer, this};
  deadline_t m_deadline;           // of the exchange under way
  std::size_t m_answer_bytes = 0;  // bytes received since the request was sent
  bool m_timed_out = false;
  std::string m_head;  // the request head, reused
};

}  // namespace tq::runtime
