// The Runtime API's HTTP/1.1 client against a real TCP server on loopback that answers each connection from
// a script, byte for byte: Content-Length and chunked answers, bodies of 6 MB, answers cut by the end of the
// connection, interim 1xx answers, Connection: close, a kept-alive connection the server closed, timeouts
// and malformed answers. runtime_api_client's `next` and posts are checked through the same server.
#include "runtime/loopback_http.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "runtime/runtime_api.h"

namespace tq::runtime {
namespace {

using std::chrono::milliseconds;

// Reads one request (head and Content-Length body) from `fd`; "" when the client closed first.
std::string read_request(int fd) {
  std::string in;
  char buffer[65536];
  for (;;) {
    const auto end = in.find("\r\n\r\n");
    if (end != std::string::npos) {
      std::size_t length = 0;
      const auto at = in.find("Content-Length: ");
      if (at != std::string::npos && at < end) length = std::stoul(in.substr(at + 16));
      if (in.size() >= end + 4 + length) return in;
    }
    const ssize_t got = ::recv(fd, buffer, sizeof buffer, 0);
    if (got <= 0) return {};
    in.append(buffer, static_cast<std::size_t>(got));
  }
}

void send_text(int fd, std::string_view text) {
  while (!text.empty()) {
    const ssize_t sent = ::send(fd, text.data(), text.size(), MSG_NOSIGNAL);
    if (sent <= 0) return;
    text.remove_prefix(static_cast<std::size_t>(sent));
  }
}

// Sends `text` in pieces of `piece` bytes, each on its own (so that the client sees split reads).
void send_in_pieces(int fd, std::string_view text, std::size_t piece) {
  for (std::size_t at = 0; at < text.size(); at += piece) {
    send_text(fd, text.substr(at, piece));
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
}

// Accepts connections one after another and hands each to the next script; records every request.
class script_server {
 public:
  using script = std::function<void(int fd, std::vector<std::string>& requests)>;

  explicit script_server(std::vector<script> scripts) : m_scripts(std::move(scripts)) {
    m_listener = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(m_listener, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    EXPECT_EQ(::listen(m_listener, 8), 0);
    socklen_t size = sizeof address;
    ::getsockname(m_listener, reinterpret_cast<sockaddr*>(&address), &size);
    m_port = ntohs(address.sin_port);
    m_thread = std::thread([this] {
      for (auto& run : m_scripts) {
        const int fd = ::accept(m_listener, nullptr, nullptr);
        if (fd < 0) return;
        ++m_connections;
        run(fd, m_requests);
        ::close(fd);
      }
    });
  }
  ~script_server() { join(); }
  // Stops accepting and waits for the scripts to end (a client must have closed any connection still open).
  void join() {
    if (!m_thread.joinable()) return;
    ::shutdown(m_listener, SHUT_RDWR);
    m_thread.join();
    ::close(m_listener);
  }
  std::string endpoint() const { return "127.0.0.1:" + std::to_string(m_port); }
  int connections() const { return m_connections; }
  // Read after join().
  const std::vector<std::string>& requests() const { return m_requests; }

 private:
  std::vector<script> m_scripts;
  std::vector<std::string> m_requests;
  int m_listener = -1;
  int m_port = 0;
  std::atomic<int> m_connections = 0;
  std::thread m_thread;
};

// Answers `count` requests on one connection with `answer`.
script_server::script answer_each(std::vector<std::string> answers) {
  return [answers](int fd, std::vector<std::string>& requests) {
    for (const auto& answer : answers) {
      requests.push_back(read_request(fd));
      if (requests.back().empty()) return;
      send_text(fd, answer);
    }
  };
}

void collect(std::string_view line, void* lines) {
  static_cast<std::vector<std::string>*>(lines)->emplace_back(line);
}

constexpr std::string_view ok_hello = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";

TEST(loopback_http, keeps_one_connection_for_content_length_answers) {
  script_server server(
      {answer_each({"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    "Lambda-Runtime-Aws-Request-Id: abc\r\ncontent-length: 7\r\n\r\n{\"a\":1}",
                    "HTTP/1.1 202 Accepted\r\nContent-Length: 16\r\n\r\n{\"status\":\"OK\"}\n"})});
  loopback_http http(server.endpoint(), milliseconds(2000));
  std::string body;
  std::vector<std::string> lines;
  auto first =
      http.exchange({"GET", "/2018-06-01/runtime/invocation/next", {}, {}}, body, &collect, &lines, {});
  ASSERT_TRUE(first.ok()) << first.err().describe();
  EXPECT_EQ(*first, 200);
  EXPECT_EQ(body, "{\"a\":1}");
  EXPECT_EQ(lines, (std::vector<std::string>{"Content-Type: application/json",
                                             "Lambda-Runtime-Aws-Request-Id: abc", "content-length: 7"}));
  EXPECT_TRUE(http.connected());
  auto second = http.exchange({"POST", "/r", "Content-Type: application/json\r\n", "{\"x\":true}"}, body,
                              nullptr, nullptr, milliseconds(2000));
  ASSERT_TRUE(second.ok()) << second.err().describe();
  EXPECT_EQ(*second, 202);
  EXPECT_EQ(body, "{\"status\":\"OK\"}\n");
}

TEST(loopback_http, sends_well_formed_requests) {
  script_server server({answer_each({std::string(ok_hello), std::string(ok_hello)})});
  {
    loopback_http http(server.endpoint(), milliseconds(2000));
    std::string body;
    ASSERT_TRUE(http.exchange({"GET", "/a/next", {}, {}}, body, nullptr, nullptr, {}).ok());
    ASSERT_TRUE(http.exchange({"POST", "/a/b/error", "X-One: 1\r\n", "payload"}, body, nullptr, nullptr,
                              milliseconds(2000))
                    .ok());
    EXPECT_EQ(server.connections(), 1);
  }
  server.join();
  const auto& seen = server.requests();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_TRUE(seen[0].starts_with("GET /a/next HTTP/1.1\r\nHost: 127.0.0.1:")) << seen[0];
  EXPECT_EQ(seen[0].find("Content-Length"), std::string::npos) << seen[0];
  EXPECT_TRUE(seen[0].ends_with("\r\n\r\n"));
  EXPECT_TRUE(seen[1].starts_with("POST /a/b/error HTTP/1.1\r\nHost: 127.0.0.1:")) << seen[1];
  EXPECT_NE(seen[1].find("\r\nX-One: 1\r\nContent-Length: 7\r\n\r\npayload"), std::string::npos) << seen[1];
  EXPECT_NE(seen[1].find("\r\nUser-Agent: tourniquet/"), std::string::npos);
}

TEST(loopback_http, decodes_chunked_answers_sent_in_pieces) {
  const std::string answer =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nLambda-Runtime-Trace-Id: Root=1\r\n\r\n"
      "4\r\n{\"a\"\r\n1;ext=1\r\n:\r\nA\r\n\"0123456\"}\r\n0\r\nX-Trailer: t\r\n\r\n";
  script_server server({[&](int fd, std::vector<std::string>& requests) {
    requests.push_back(read_request(fd));
    send_in_pieces(fd, answer, 3);
    requests.push_back(read_request(fd));  // the connection stays usable: a second answer follows
    send_text(fd, ok_hello);
    read_request(fd);
  }});
  loopback_http http(server.endpoint(), milliseconds(2000));
  std::string body;
  std::vector<std::string> lines;
  auto got = http.exchange({"GET", "/next", {}, {}}, body, &collect, &lines, {});
  ASSERT_TRUE(got.ok()) << got.err().describe();
  EXPECT_EQ(body, "{\"a\":\"0123456\"}");
  EXPECT_EQ(lines,
            (std::vector<std::string>{"Transfer-Encoding: chunked", "Lambda-Runtime-Trace-Id: Root=1"}));
  got = http.exchange({"GET", "/next", {}, {}}, body, nullptr, nullptr, {});
  ASSERT_TRUE(got.ok()) << got.err().describe();
  EXPECT_EQ(body, "hello");
  EXPECT_EQ(server.connections(), 1);
}

std::string six_megabytes() {
  std::string event(6 * 1024 * 1024, 'e');
  for (std::size_t i = 0; i < event.size(); i += 4099) event[i] = static_cast<char>('a' + i % 26);
  return event;
}

TEST(loopback_http, reads_six_megabyte_events_by_length_and_chunked) {
  const std::string event = six_megabytes();
  std::string chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (std::size_t at = 0; at < event.size(); at += 1000000) {
    const std::string piece = event.substr(at, 1000000);
    char size[16];
    std::snprintf(size, sizeof size, "%zx\r\n", piece.size());
    chunked.append(size).append(piece).append("\r\n");
  }
  chunked += "0\r\n\r\n";
  script_server server({answer_each(
      {"HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(event.size()) + "\r\n\r\n" + event, chunked})});
  loopback_http http(server.endpoint(), milliseconds(2000));
  std::string body;
  auto got = http.exchange({"GET", "/next", {}, {}}, body, nullptr, nullptr, {});
  ASSERT_TRUE(got.ok()) << got.err().describe();
  EXPECT_TRUE(body == event) << body.size();
  got = http.exchange({"POST", "/response", {}, event}, body, nullptr, nullptr, milliseconds(10000));
  ASSERT_TRUE(got.ok()) << got.err().describe();
  EXPECT_TRUE(body == event) << body.size();
  server.join();
  ASSERT_EQ(server.requests().size(), 2u);
  EXPECT_TRUE(server.requests()[1].ends_with(event));  // a 6 MB post arrived whole
}

TEST(loopback_http, an_answer_without_length_ends_with_the_connection) {
  script_server server({[](int fd, std::vector<std::string>& requests) {
                          requests.push_back(read_request(fd));
                          send_text(fd, "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end");
                        },
                        answer_each({std::string(ok_hello)})});
  loopback_http http(server.endpoint(), milliseconds(2000));
  std::string body;
  auto got = http.exchange({"GET", "/next", {}, {}}, body, nullptr, nullptr, {});
  ASSERT_TRUE(got.ok()) << got.err().describe();
  EXPECT_EQ(body, "until the end");
  EXPECT_FALSE(http.connected());
  got = http.exchange({"GET", "/next", {}, {}}, body, nullptr, nullptr, {});  // on a new connection
  ASSERT_TRUE(got.ok()) << got.err().describe();
  EXPECT_EQ(body, "hello");
  EXPECT_EQ(server.connections(), 2);
}

TEST(loopback_http, connection_close_and_http_1_0_are_honoured_and_1xx_skipped) {
  script_server server(
      {answer_each({"HTTP/1.1 100 Continue\r\nLambda-Runtime-Aws-Request-Id: interim\r\n\r\n"
                    "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"}),
       answer_each({"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok"}),
       answer_each({"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n\r\nok"})});
  loopback_http http(server.endpoint(), milliseconds(2000));
  std::string body;
  std::vector<std::string> lines;
  auto got = http.exchange({"GET", "/next", {}, {}}, body, &collect, &lines, {});
  ASSERT_TRUE(got.ok()) << got.err().describe();
  EXPECT_EQ(*got, 200);
  EXPECT_EQ(body, "ok");
  EXPECT_EQ(lines, (std::vector<std::string>{"Connection: close", "Content-Length: 2"}));  // not the 100's
  EXPECT_FALSE(http.connected());
  ASSERT_TRUE(http.exchange({"GET", "/next", {}, {}}, body, nullptr, nullptr, {}).ok());
  EXPECT_FALSE(http.connected());
  ASSERT_TRUE(http.exchange({"GET", "/next", {}, {}}, body, nullptr, nullptr, {}).ok());
  EXPECT_TRUE(http.connected());
  EXPECT_EQ(server.connections(), 3);
}

TEST(loopback_http, a_kept_alive_connection_closed_by_the_server_is_reopened_once) {
  std::atomic<bool> closed = false;
  script_server server({[&](int fd, std::vector<std::string>& requests) {
                          requests.push_back(read_request(fd));
                          send_text(fd, ok_hello);
                          ::shutdown(fd, SHUT_RDWR);  // idle keep-alive connection closed by the server
                          closed = true;
                        },
                        answer_each({std::string(ok_hello)})});
  loopback_http http(server.endpoint(), milliseconds(2000));
  std::string body;
  ASSERT_TRUE(http.exchange({"GET", "/next", {}, {}}, body, nullptr, nullptr, {}).ok());
  EXPECT_TRUE(http.connected());
  while (!closed) std::this_thread::sleep_for(milliseconds(1));
  auto got = http.exchange({"POST", "/response", {}, "{}"}, body, nullptr, nullptr, milliseconds(2000));
  ASSERT_TRUE(got.ok()) << got.err().describe();
  EXPECT_EQ(body, "hello");
  EXPECT_EQ(server.connections(), 2);
}

TEST(loopback_http, a_server_that_drops_requests_gives_a_connection_error) {
  const auto drop = [](int fd, std::vector<std::string>& requests) { requests.push_back(read_request(fd)); };
  // A fresh connection dropped: no second try. A kept-alive one dropped: one new connection, dropped too.
  script_server server({drop, answer_each({std::string(ok_hello)}), drop, drop});  // the last one unused
  loopback_http http(server.endpoint(), milliseconds(2000));
  std::string body;
  auto got = http.exchange({"GET", "/next", {}, {}}, body, nullptr, nullptr, {});
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.err().code, "ConnectionError");
  EXPECT_TRUE(got.err().retryable);
  ASSERT_TRUE(http.exchange({"GET", "/next", {}, {}}, body, nullptr, nullptr, {}).ok());
  got = http.exchange({"GET", "/next", {}, {}}, body, nullptr, nullptr, {});
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.err().code, "ConnectionError");
  EXPECT_FALSE(http.connected());
  server.join();
  EXPECT_EQ(server.connections(), 3);
}

TEST(loopback_http, a_body_cut_short_is_an_error_and_the_connection_is_dropped) {
  script_server server({[](int fd, std::vector<std::string>& requests) {
    requests.push_back(read_request(fd));
    send_text(fd, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly a part");
  }});
  loopback_http http(server.endpoint(), milliseconds(2000));
  std::string body;
  auto got = http.exchange({"GET", "/next", {}, {}}, body, nullptr, nullptr, {});
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.err().code, "ConnectionError");
  EXPECT_FALSE(http.connected());
}

TEST(loopback_http, a_post_without_answer_times_out) {
  std::atomic<bool> done = false;
  script_server server({[&](int fd, std::vector<std::string>& requests) {
    requests.push_back(read_request(fd));
    while (!done) std::this_thread::sleep_for(milliseconds(5));
  }});
  loopback_http http(server.endpoint(), milliseconds(2000));
  std::string body;
  const auto started = std::chrono::steady_clock::now();
  auto got = http.exchange({"POST", "/response", {}, "{}"}, body, nullptr, nullptr, milliseconds(200));
  const auto took = std::chrono::steady_clock::now() - started;
  done = true;
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.err().code, "ConnectionError");
  EXPECT_GE(took, milliseconds(190));
  EXPECT_LT(took, milliseconds(2000));
  EXPECT_FALSE(http.connected());
}

TEST(loopback_http, malformed_answers_are_protocol_errors) {
  for (const std::string answer :
       {"SMTP/1.1 200 OK\r\n\r\n", "HTTP/1.1 2x0 OK\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc",
        "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"}) {
    script_server server({answer_each({answer})});
    loopback_http http(server.endpoint(), milliseconds(2000));
    std::string body;
    auto got = http.exchange({"GET", "/next", {}, {}}, body, nullptr, nullptr, {});
    ASSERT_FALSE(got.ok()) << answer;
    EXPECT_EQ(got.err().code, "ProtocolError") << answer;
    EXPECT_FALSE(http.connected());
  }
}

TEST(loopback_http, an_unreachable_endpoint_is_a_connection_error) {
  script_server server({});
  const std::string endpoint = server.endpoint();
  server.join();  // nothing listens there any more
  loopback_http http(endpoint, milliseconds(500));
  std::string body;
  auto got = http.exchange({"GET", "/next", {}, {}}, body, nullptr, nullptr, {});
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.err().code, "ConnectionError");
  EXPECT_NE(got.err().message.find("could not connect"), std::string::npos) << got.err().message;
}

// The client of the Runtime API over the same server: every invocation header, a chunked event, the posts.
TEST(runtime_api_client, reads_an_invocation_and_posts_its_answer) {
  const std::string next =
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nLambda-Runtime-Aws-Request-Id: req-1\r\n"
      "lambda-runtime-deadline-ms: 4102444800000\r\n"
      "Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:123456789012:function:t\r\n"
      "Lambda-Runtime-Trace-Id: Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1\r\n"
      "Transfer-Encoding: chunked\r\n\r\n3\r\n{\"a\r\n4\r\n\":1}\r\n0\r\n\r\n";
  const std::string accepted = "HTTP/1.1 202 Accepted\r\nContent-Length: 16\r\n\r\n{\"status\":\"OK\"}\n";
  script_server server({answer_each({next, accepted, next, accepted})});
  {
    runtime_api_client api(client_options{server.endpoint()});
    ASSERT_TRUE(api.next().ok());
    EXPECT_EQ(api.event(), "{\"a\":1}");
    EXPECT_EQ(api.context().request_id, "req-1");
    EXPECT_EQ(api.context().function_arn, "arn:aws:lambda:us-east-1:123456789012:function:t");
    EXPECT_EQ(api.context().trace_id, "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1");
    EXPECT_EQ(api.context().deadline.time_since_epoch(), milliseconds(4102444800000));
    auto posted = api.post_response("req-1", "{\"ok\":true}");
    ASSERT_TRUE(posted.ok()) << posted.err().describe();
    EXPECT_EQ(*posted, post_outcome::accepted);
    ASSERT_TRUE(api.next().ok());
    posted = api.post_error("req-1", "Function.InvalidEvent", "bad");
    ASSERT_TRUE(posted.ok()) << posted.err().describe();
  }
  server.join();
  ASSERT_EQ(server.requests().size(), 4u);
  EXPECT_TRUE(server.requests()[0].starts_with("GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\n"));
  const std::string& response = server.requests()[1];
  EXPECT_TRUE(response.starts_with("POST /2018-06-01/runtime/invocation/req-1/response HTTP/1.1\r\n"))
      << response;
  EXPECT_NE(response.find("\r\nContent-Type: application/json\r\n"), std::string::npos) << response;
  EXPECT_TRUE(response.ends_with("\r\nContent-Length: 11\r\n\r\n{\"ok\":true}")) << response;
  const std::string& failure = server.requests()[3];
  EXPECT_TRUE(failure.starts_with("POST /2018-06-01/runtime/invocation/req-1/error HTTP/1.1\r\n")) << failure;
  EXPECT_NE(failure.find("\r\nLambda-Runtime-Function-Error-Type: Function.InvalidEvent\r\n"),
            std::string::npos);
  EXPECT_EQ(server.connections(), 1);
}

}  // namespace
}  // namespace tq::runtime
