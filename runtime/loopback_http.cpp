#include "runtime/loopback_http.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

namespace tq::runtime {
namespace {

constexpr std::size_t read_chunk = 16 * 1024;

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if ((static_cast<unsigned char>(a[i]) | 0x20) != (static_cast<unsigned char>(b[i]) | 0x20)) return false;
  }
  return true;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// True when the comma-separated list `value` holds `token` (case-insensitively).
bool has_token(std::string_view value, std::string_view token) {
  while (!value.empty()) {
    const auto comma = value.find(',');
    if (iequals(trim(value.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

error broken(std::string message) {
  return error{"ConnectionError", std::move(message), "", true};
}
error malformed(std::string message) {
  return error{"ProtocolError", "the Runtime API's answer is not HTTP/1.1 as expected: " + std::move(message),
               "", false};
}
error system_error(std::string_view what, int code) {
  return broken(std::string(what) + ": " + std::strerror(code));
}

}  // namespace

loopback_http::loopback_http(std::string_view endpoint, std::chrono::milliseconds connect_timeout)
    : m_connect_timeout(connect_timeout) {
  // host:port, the host possibly an IPv6 address in brackets; without a port, HTTP's 80.
  std::string_view host = endpoint;
  std::string_view port = "80";
  const auto colon = endpoint.rfind(':');
  if (colon != std::string_view::npos && endpoint.find(']', colon) == std::string_view::npos) {
    host = endpoint.substr(0, colon);
    port = endpoint.substr(colon + 1);
  }
  m_host_header.assign("Host: ").append(endpoint).append("\r\nUser-Agent: tourniquet/" TOURNIQUET_VERSION
                                                         "\r\nAccept: */*\r\n");
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  m_host = host;
  m_port = port;
  m_head.reserve(256);
}

loopback_http::~loopback_http() {
  close_now();
}

void loopback_http::close_now() {
  if (m_fd >= 0) ::close(m_fd);
  m_fd = -1;
  m_reader.clear();
}

status loopback_http::connect_now() {
  close_now();
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (const int rc = ::getaddrinfo(m_host.c_str(), m_port.c_str(), &hints, &found); rc != 0) {
    return broken("could not resolve " + m_host + ": " + ::gai_strerror(rc));
  }
  std::string last = "no address for " + m_host;
  for (const addrinfo* a = found; a != nullptr; a = a->ai_next) {
    const int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
    if (fd < 0) {
      last = std::string("socket: ") + std::strerror(errno);
      continue;
    }
    int rc = ::connect(fd, a->ai_addr, a->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      rc = ::poll(&p, 1, static_cast<int>(m_connect_timeout.count()));
      int so_error = ETIMEDOUT;
      socklen_t size = sizeof so_error;
      if (rc == 1) ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &size);
      errno = so_error;
      rc = so_error == 0 ? 0 : -1;
    }
    if (rc != 0) {
      last = "could not connect to " + m_host + " port " + m_port + ": " + std::strerror(errno);
      ::close(fd);
      continue;
    }
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    m_fd = fd;
    break;
  }
  ::freeaddrinfo(found);
  if (m_fd < 0) return broken(last);
  return {};
}

status loopback_http::wait_for(short events, deadline_t deadline) {
  if (!deadline) return {};
  for (;;) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(*deadline - clock::now()).count();
    if (left <= 0) {
      m_timed_out = true;
      return broken("the Runtime API did not answer in time");
    }
    pollfd p{m_fd, events, 0};
    const int rc = ::poll(&p, 1, static_cast<int>(left));
    if (rc > 0) return {};
    if (rc < 0 && errno != EINTR) return system_error("poll", errno);
  }
}

status loopback_http::send_all(std::string_view head, std::string_view body, deadline_t deadline) {
  iovec parts[2] = {{const_cast<char*>(head.data()), head.size()},
                    {const_cast<char*>(body.data()), body.size()}};
  std::size_t first = 0;
  while (first < 2) {
    if (parts[first].iov_len == 0) {
      ++first;
      continue;
    }
    msghdr message{};
    message.msg_iov = parts + first;
    message.msg_iovlen = 2 - first;
    // Under a deadline the send must not block: it is tried at once (the socket almost always has room),
    // and only when it has none is the deadline waited on.
    const ssize_t sent = ::sendmsg(m_fd, &message, MSG_NOSIGNAL | (deadline ? MSG_DONTWAIT : 0));
    if (sent < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        if (auto ready = wait_for(POLLOUT, deadline); !ready.ok()) return ready;
        continue;
      }
      return system_error("send", errno);
    }
    auto left = static_cast<std::size_t>(sent);
    for (; first < 2 && left >= parts[first].iov_len; ++first) left -= parts[first].iov_len;
    if (first < 2) {
      parts[first].iov_base = static_cast<char*>(parts[first].iov_base) + left;
      parts[first].iov_len -= left;
    }
  }
  return {};
}

result<std::size_t> loopback_http::receive(char* into, std::size_t capacity, deadline_t deadline) {
  for (;;) {
    if (auto ready = wait_for(POLLIN, deadline); !ready.ok()) return ready.err();
    const ssize_t got = ::recv(m_fd, into, capacity, 0);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return system_error("recv", errno);
    m_answer_bytes += static_cast<std::size_t>(got);
    return static_cast<std::size_t>(got);
  }
}

result<std::size_t> loopback_http::receive_answer(char* into, std::size_t capacity, void* self) {
  auto* http = static_cast<loopback_http*>(self);
  return http->receive(into, capacity, http->m_deadline);
}

http_answer_reader::http_answer_reader(byte_source source, void* source_context)
    : m_source(source), m_source_context(source_context) {
  m_in.resize(read_chunk);
}

status http_answer_reader::fill() {
  if (m_begin == m_end) {
    m_begin = m_end = 0;
  } else if (m_end == m_in.size()) {
    if (m_begin > 0) {
      std::memmove(m_in.data(), m_in.data() + m_begin, m_end - m_begin);
      m_end -= m_begin;
      m_begin = 0;
    } else {
      if (m_in.size() >= max_answer_head_bytes) return malformed("a header section over 1 MiB");
      m_in.resize(m_in.size() * 2);
    }
  }
  auto got = m_source(m_in.data() + m_end, m_in.size() - m_end, m_source_context);
  if (!got.ok()) return got.err();
  if (*got == 0) return broken("the Runtime API closed the connection");
  m_end += *got;
  return {};
}

result<std::string_view> http_answer_reader::read_line() {
  std::size_t scanned = m_begin;
  for (;;) {
    const void* found = std::memchr(m_in.data() + scanned, '\n', m_end - scanned);
    if (found != nullptr) {
      const std::size_t at = static_cast<std::size_t>(static_cast<const char*>(found) - m_in.data());
      std::string_view line(m_in.data() + m_begin, at - m_begin);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      m_begin = at + 1;
      return line;
    }
    const std::size_t offset = m_end - m_begin;  // fill may move the unread bytes to the front
    if (auto more = fill(); !more.ok()) return more.err();
    scanned = m_begin + offset;
  }
}

status http_answer_reader::append_body(std::string& body, std::size_t length) {
  if (body.size() + length > max_answer_body_bytes) return malformed("a body over 64 MiB");
  const std::size_t buffered = std::min(length, m_end - m_begin);
  body.append(m_in.data() + m_begin, buffered);
  m_begin += buffered;
  // Grown as the bytes come (at most doubling what arrived): a declared length is a claim, not memory to
  // commit before a byte of it is there.
  for (std::size_t have = buffered; have < length;) {
    const std::size_t at = body.size();
    body.resize(at + std::min(length - have, std::max<std::size_t>(64 * 1024, have)));
    auto got = m_source(body.data() + at, body.size() - at, m_source_context);
    if (!got.ok()) return got.err();
    if (*got == 0) return broken("the Runtime API closed the connection within an answer's body");
    body.resize(at + *got);
    have += *got;
  }
  return {};
}

status http_answer_reader::read_chunked(std::string& body) {
  for (;;) {
    auto line = read_line();
    if (!line.ok()) return line.err();
    const std::string_view size_text = trim(line->substr(0, line->find(';')));  // extensions ignored
    std::size_t size = 0;
    const auto [end, ec] = std::from_chars(size_text.data(), size_text.data() + size_text.size(), size, 16);
    if (size_text.empty() || ec != std::errc{} || end != size_text.data() + size_text.size()) {
      return malformed("a bad chunk size");
    }
    if (size == 0) break;
    if (auto taken = append_body(body, size); !taken.ok()) return taken;
    auto crlf = read_line();
    if (!crlf.ok()) return crlf.err();
    if (!crlf->empty()) return malformed("a chunk longer than its size");
  }
  for (;;) {  // trailer fields, up to the blank line
    auto trailer = read_line();
    if (!trailer.ok()) return trailer.err();
    if (trailer->empty()) return {};
  }
}

status http_answer_reader::read_to_end(std::string& body) {
  body.append(m_in.data() + m_begin, m_end - m_begin);
  m_begin = m_end = 0;
  for (;;) {
    if (body.size() > max_answer_body_bytes) return malformed("a body over 64 MiB");
    auto got = m_source(m_in.data(), m_in.size(), m_source_context);
    if (!got.ok()) return got.err();
    if (*got == 0) return {};
    body.append(m_in.data(), *got);
  }
}

// The status line and header fields of one answer. Header lines reach `sink` only for a final answer.
status http_answer_reader::read_head(answer& head, header_sink sink, void* sink_context) {
  auto status_line = read_line();
  if (!status_line.ok()) return status_line.err();
  // HTTP/1.x SSS reason
  const std::string_view line = *status_line;
  if (line.size() < 12 || !line.starts_with("HTTP/1.") || line[8] != ' ' ||
      (line.size() > 12 && line[12] != ' ')) {
    return malformed("a bad status line");
  }
  const auto [end, ec] = std::from_chars(line.data() + 9, line.data() + 12, head.status);
  if (ec != std::errc{} || end != line.data() + 12 || head.status < 100)
    return malformed("a bad status line");
  head.keep_alive = line[7] != '0';
  const bool final = head.status >= 200;
  std::size_t head_bytes = line.size();
  for (;;) {
    auto field = read_line();
    if (!field.ok()) return field.err();
    if (field->empty()) return {};
    head_bytes += field->size();
    if (head_bytes > max_answer_head_bytes) return malformed("a header section over 1 MiB");
    if (final && sink != nullptr) sink(*field, sink_context);
    const auto colon = field->find(':');
    if (colon == std::string_view::npos) continue;
    const std::string_view name = trim(field->substr(0, colon));
    const std::string_view value = trim(field->substr(colon + 1));
    if (iequals(name, "Content-Length")) {
      long long length = -1;
      const auto [e, c] = std::from_chars(value.data(), value.data() + value.size(), length);
      if (c != std::errc{} || e != value.data() + value.size() || length < 0 ||
          (head.length >= 0 && head.length != length))
        return malformed("a bad Content-Length");
      head.length = length;
    } else if (iequals(name, "Transfer-Encoding")) {
      if (!iequals(value, "chunked")) return malformed("a transfer coding other than chunked");
      head.chunked = true;
    } else if (iequals(name, "Connection")) {
      if (has_token(value, "close")) head.keep_alive = false;
      if (has_token(value, "keep-alive")) head.keep_alive = true;
    }
  }
}

result<http_answer_reader::answer> http_answer_reader::read(std::string& body, header_sink sink,
                                                            void* sink_context) {
  for (;;) {
    answer head;
    if (auto got = read_head(head, sink, sink_context); !got.ok()) return got.err();
    if (head.status < 200) continue;  // 100 Continue and the like: the answer follows
    body.clear();
    status read;
    if (head.status == 204 || head.status == 304) {
      // no body
    } else if (head.chunked) {
      read = read_chunked(body);
    } else if (head.length >= 0) {
      read = append_body(body, static_cast<std::size_t>(head.length));
    } else {
      head.keep_alive = false;
      read = read_to_end(body);
    }
    if (!read.ok()) return read.err();
    return head;
  }
}

result<int> loopback_http::exchange(const http_request& request, std::string& body, header_sink sink,
                                    void* sink_context, std::optional<std::chrono::milliseconds> timeout) {
  m_deadline.reset();
  if (timeout) m_deadline = clock::now() + *timeout;
  char length[24];
  const auto written = std::to_chars(length, length + sizeof length, request.body.size()).ptr;
  m_head.assign(request.method).append(" ").append(request.target).append(" HTTP/1.1\r\n");
  m_head.append(m_host_header).append(request.extra_headers);
  if (request.method != "GET" || !request.body.empty()) {
    m_head.append("Content-Length: ").append(length, written).append("\r\n");
  }
  m_head.append("\r\n");
  for (int attempt = 1;; ++attempt) {
    const bool reused = m_fd >= 0;
    if (!reused) {
      if (auto connected = connect_now(); !connected.ok()) return connected.err();
    }
    m_reader.clear();
    m_answer_bytes = 0;
    m_timed_out = false;
    status sent = send_all(m_head, request.body, m_deadline);
    auto answer =
        sent.ok() ? m_reader.read(body, sink, sink_context) : result<http_answer_reader::answer>(sent.err());
    if (answer.ok()) {
      // Anything after the answer was never asked for: start the next request on a clean connection.
      if (!answer->keep_alive || m_reader.buffered()) close_now();
      return answer->status;
    }
    close_now();
    // A kept-alive connection the server closed while it was idle: reopened once, as libcurl does. Not when
    // any of an answer had come: the request was then seen.
    const bool stale = reused && attempt == 1 && m_answer_bytes == 0 && !m_timed_out &&
                       answer.err().code == "ConnectionError";
    if (!stale) return answer.err();
  }
}

}  // namespace tq::runtime
