// libcurl behind the transport seam. One multi handle runs every batch, so independent calls share a round
// trip; its connection cache keeps connections alive per host across calls and invocations.
#include <curl/curl.h>
#include <strings.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <initializer_list>
#include <mutex>
#include <string_view>
#include <vector>

#include "aws/http.h"

namespace tq::aws {

std::string_view http_response::header(std::string_view name) const {
  for (const auto& h : headers) {
    if (h.name.size() == name.size() &&
        std::equal(h.name.begin(), h.name.end(), name.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
        })) {
      return h.value;
    }
  }
  return {};
}

namespace {

size_t write_body(char* data, size_t size, size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

size_t write_header(char* data, size_t size, size_t count, void* user) {
  auto* headers = static_cast<std::vector<http_header>*>(user);
  std::string_view line(data, size * count);
  if (line.starts_with("HTTP/")) {
    headers->clear();  // a new response (after a 100 Continue or a redirect) starts afresh
    return size * count;
  }
  const size_t colon = line.find(':');
  if (colon != std::string_view::npos) {
    if (headers->empty()) headers->reserve(16);  // an answer's dozen headers: one allocation, not five
    // isspace's set in the C locale, without a call into the locale's tables per byte
    auto blank = [](char c) { return c == ' ' || (c >= '\t' && c <= '\r'); };
    auto trim = [&blank](std::string_view s) {
      while (!s.empty() && blank(s.front())) s.remove_prefix(1);
      while (!s.empty() && blank(s.back())) s.remove_suffix(1);
      return s;
    };
    http_header& header = headers->emplace_back();  // written in place: no header made and moved
    header.name.assign(trim(line.substr(0, colon)));
    header.value.assign(trim(line.substr(colon + 1)));
  }
  return size * count;
}

error transfer_error(CURLcode code, const http_request& request) {
  error e;
  e.where = request.method + " " + request.url.substr(0, request.url.find('?'));
  e.message = curl_easy_strerror(code);
  switch (code) {
    case CURLE_OPERATION_TIMEDOUT:
      e.code = "RequestTimeout";
      e.retryable = true;
      break;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      e.code = "ConnectionError";
      e.retryable = true;
      break;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CONNECT_ERROR:
      e.code = "TlsError";  // a certificate problem does not mend itself on retry
      break;
    default:
      e.code = "TransportError";
  }
  return e;
}

// libcurl reads the proxy variables of the environment again for every transfer (a getenv scan each). When
// none of those it reads is set, telling it so up front ("" for both: no proxy, nothing exempt) is the same.
bool proxy_environment_empty() {
  for (const char* name :
       {"no_proxy", "NO_PROXY", "http_proxy", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"}) {
    if (std::getenv(name) != nullptr) return false;
  }
  return true;
}

// A request's header lines as the curl_slist that CURLOPT_HTTPHEADER takes, in storage of its own: curl
// reads the list during the transfer and copies nothing (curl_slist_append would allocate twice a line).
// "Expect:" (no 100-continue round trip) comes first, and "Content-Type:" (none) unless the request has one.
class request_header_list {
 public:
  void fill(const std::vector<http_header>& headers, bool typed) {
    std::size_t size = sizeof("Expect:") + sizeof("Content-Type:");
    for (const auto& h : headers) size += h.name.size() + 2 + h.value.size() + 1;
    m_lines.clear();
    m_lines.reserve(size);  // all of it: the nodes point into it, so it must not move once written
    m_nodes.clear();
    m_nodes.reserve(headers.size() + 2);
    add({"Expect:"});
    if (!typed) add({"Content-Type:"});
    for (const auto& h : headers) add({h.name, ": ", h.value});
    for (std::size_t i = 0; i + 1 < m_nodes.size(); ++i) m_nodes[i].next = &m_nodes[i + 1];
  }
  curl_slist* first() { return m_nodes.empty() ? nullptr : m_nodes.data(); }

 private:
  void add(std::initializer_list<std::string_view> parts) {
    const std::size_t at = m_lines.size();
    for (std::string_view part : parts) m_lines.append(part);
    m_lines.push_back('\0');
    m_nodes.push_back({m_lines.data() + at, nullptr});
  }

  std::string m_lines;  // each line followed by its NUL
  std::vector<curl_slist> m_nodes;
};

class curl_transport final : public http_transport {
 public:
  explicit curl_transport(transport_options options)
      : m_options(std::move(options)), m_no_proxy(proxy_environment_empty()) {
    static std::once_flag init;
    std::call_once(init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    m_multi = curl_multi_init();
    curl_multi_setopt(m_multi, CURLMOPT_MAXCONNECTS, 32L);
  }

  ~curl_transport() override {
    for (CURL* easy : m_idle) curl_easy_cleanup(easy);
    curl_multi_cleanup(m_multi);
  }

  curl_transport(const curl_transport&) = delete;
  curl_transport& operator=(const curl_transport&) = delete;

  std::vector<result<http_response>> send_all(std::span<const http_request> requests,
                                              std::chrono::milliseconds timeout) override {
    struct transfer {
      CURL* easy = nullptr;
      request_header_list headers;
      http_response response;
      CURLcode code = CURLE_OK;
      bool finished = false;
    };
    std::vector<transfer> transfers(requests.size());
    for (size_t i = 0; i < requests.size(); ++i) {
      transfers[i].easy = take_handle();
      prepare(transfers[i].easy, requests[i], transfers[i].response, transfers[i].headers, timeout);
      curl_easy_setopt(transfers[i].easy, CURLOPT_PRIVATE, &transfers[i]);
      curl_multi_add_handle(m_multi, transfers[i].easy);
    }

    int running = 0;
    do {
      curl_multi_perform(m_multi, &running);
      int queued = 0;
      while (CURLMsg* message = curl_multi_info_read(m_multi, &queued)) {
        if (message->msg != CURLMSG_DONE) continue;
        transfer* t = nullptr;
        curl_easy_getinfo(message->easy_handle, CURLINFO_PRIVATE, reinterpret_cast<char**>(&t));
        t->code = message->data.result;
        t->finished = true;
      }
      if (running > 0) curl_multi_poll(m_multi, nullptr, 0, 100, nullptr);
    } while (running > 0);

    std::vector<result<http_response>> out;
    out.reserve(transfers.size());
    for (size_t i = 0; i < transfers.size(); ++i) {
      transfer& t = transfers[i];
      curl_easy_getinfo(t.easy, CURLINFO_RESPONSE_CODE, &t.response.status);
      curl_multi_remove_handle(m_multi, t.easy);
      give_back(t.easy);
      if (!t.finished) t.code = CURLE_GOT_NOTHING;
      if (t.code == CURLE_OK) {
        out.emplace_back(std::move(t.response));
      } else {
        out.emplace_back(transfer_error(t.code, requests[i]));
      }
    }
    return out;
  }

 private:
  // A handle keeps the options every request shares from its creation on (no curl_easy_reset and setting
  // them again: ~3,700 instructions a request); prepare() sets every option that differs between requests.
  CURL* take_handle() {
    if (m_idle.empty()) {
      CURL* easy = curl_easy_init();
      configure(easy);
      return easy;
    }
    CURL* easy = m_idle.back();
    m_idle.pop_back();
    return easy;
  }

  void give_back(CURL* easy) { m_idle.push_back(easy); }

  // What every request of the handle shares: set once, when the handle is made.
  void configure(CURL* easy) const {
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
    if (m_no_proxy) {
      curl_easy_setopt(easy, CURLOPT_PROXY, "");
      curl_easy_setopt(easy, CURLOPT_NOPROXY, "");
    }
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 2L);
    if (!m_options.ca_bundle.empty()) curl_easy_setopt(easy, CURLOPT_CAINFO, m_options.ca_bundle.c_str());
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(m_options.connect_timeout.count()));
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, write_body);
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, write_header);
  }

  // Everything that may differ between two requests is set for each, the method and body above all: the
  // handle's previous request must not lend its method, body or "no body" to this one.
  void prepare(CURL* easy, const http_request& request, http_response& response, request_header_list& headers,
               std::chrono::milliseconds timeout) const {
    curl_easy_setopt(easy, CURLOPT_URL, request.url.c_str());
    curl_easy_setopt(easy, CURLOPT_FRESH_CONNECT, request.fresh_connection ? 1L : 0L);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, std::max(1L, static_cast<long>(timeout.count())));
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, &response.body);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, &response.headers);
    // Back to a plain GET first: no body (POSTFIELDS would make it a POST, so it goes before HTTPGET), no
    // custom method, the answer's body read (HTTPGET clears NOBODY).
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, static_cast<const char*>(nullptr));
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(-1));
    curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, static_cast<const char*>(nullptr));
    if (request.method == "POST") {
      curl_easy_setopt(easy, CURLOPT_POST, 1L);
      curl_easy_setopt(easy, CURLOPT_POSTFIELDS, request.body.data());
      curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
    } else if (request.method == "HEAD") {
      curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);  // a HEAD answer has no body to wait for
    } else if (request.method != "GET") {
      curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, request.method.c_str());
      if (!request.body.empty()) {
        curl_easy_setopt(easy, CURLOPT_POSTFIELDS, request.body.data());
        curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
      }
    }
    // libcurl calls any body it sends a form unless told otherwise: an S3 object or XML body is none
    const bool typed = std::any_of(request.headers.begin(), request.headers.end(), [](const http_header& h) {
      return strcasecmp(h.name.c_str(), "content-type") == 0;
    });
    headers.fill(request.headers, typed);
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers.first());
  }

  transport_options m_options;
  bool m_no_proxy = false;  // see proxy_environment_empty
  CURLM* m_multi = nullptr;
  std::vector<CURL*> m_idle;
};

}  // namespace

std::unique_ptr<http_transport> make_curl_transport(const transport_options& options) {
  return std::make_unique<curl_transport>(options);
}

}  // namespace tq::aws
