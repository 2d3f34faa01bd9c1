// The one transport seam: send HTTP requests, get responses. libcurl sits behind it (curl_transport.cpp);
// tests point it at real local servers rather than replacing it.
#pragma once

#include <chrono>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/result.h"

namespace tq::aws {

struct http_header {
  std::string name;
  std::string value;
};

struct http_request {
  std::string method = "POST";
  std::string url;  // scheme://host[:port]/path[?query]
  std::vector<http_header> headers;
  std::string body;
  // On a new connection: libcurl silently sends a request again when the kept-alive connection
  // it went out on closes without an answer, which a call that must not happen twice cannot afford.
  bool fresh_connection = false;
};

struct http_response {
  long status = 0;
  std::vector<http_header> headers;  // names as sent by the server
  std::string body;

  // The first header of that name, compared case-insensitively; empty when absent.
  std::string_view header(std::string_view name) const;
};

struct transport_options {
  std::chrono::milliseconds connect_timeout{3000};
  std::string ca_bundle;  // empty: libcurl's default
};

class http_transport {
 public:
  virtual ~http_transport() = default;

  // Sends every request at once and answers in the same order. A request that got no HTTP answer
  // (refused, reset, timed out) is a retryable error with code "ConnectionError" or "RequestTimeout".
  // `timeout` bounds each transfer as a whole.
  virtual std::vector<result<http_response>> send_all(std::span<const http_request> requests,
                                                      std::chrono::milliseconds timeout) = 0;

  result<http_response> send(const http_request& request, std::chrono::milliseconds timeout) {
    return std::move(send_all(std::span(&request, 1), timeout).front());
  }
};

// Connections are kept alive per host across calls (a warm Lambda pays no TLS handshake per call).
std::unique_ptr<http_transport> make_curl_transport(const transport_options& options);

}  // namespace tq::aws
