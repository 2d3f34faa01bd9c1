#include "aws/query.h"

#include <array>

namespace tq::aws {

query_params& query_params::add(std::string name, std::string value) {
  m_entries.emplace_back(std::move(name), std::move(value));
  return *this;
}

query_params& query_params::add_list(std::string_view name, const std::vector<std::string>& values) {
  for (size_t i = 0; i < values.size(); ++i) add(std::string(name) + "." + std::to_string(i + 1), values[i]);
  return *this;
}

query_params& query_params::add_member_list(std::string_view name, const std::vector<std::string>& values) {
  for (size_t i = 0; i < values.size(); ++i) {
    add(std::string(name) + ".member." + std::to_string(i + 1), values[i]);
  }
  return *this;
}

query_params& query_params::add_filter(int index, std::string_view name,
                                       const std::vector<std::string>& values) {
  const std::string prefix = "Filter." + std::to_string(index);
  add(prefix + ".Name", std::string(name));
  return add_list(prefix + ".Value", values);
}

query_params& query_params::add_tags(std::string_view prefix, const std::vector<tag>& tags) {
  for (size_t i = 0; i < tags.size(); ++i) {
    const std::string base = std::string(prefix) + "." + std::to_string(i + 1);
    add(base + ".Key", tags[i].key);
    add(base + ".Value", tags[i].value);
  }
  return *this;
}

std::string_view query_params::get(std::string_view name) const {
  for (const auto& [k, v] : m_entries) {
    if (k == name) return v;
  }
  return {};
}

std::string_view api_version(service s) {
  switch (s) {
    case service::ec2:
      return "2016-11-15";
    case service::iam:
      return "2010-05-08";
    case service::sts:
      return "2011-06-15";
    case service::autoscaling:
      return "2011-01-01";
    case service::sns:
      return "2010-03-31";
    case service::cloudtrail:
      return "2013-11-01";
    case service::elbv2:
      return "2015-12-01";
    case service::elb:
      return "2012-06-01";
    case service::guardduty:
    case service::lambda:
    case service::securityhub:
    case service::s3:
    case service::s3control:
      return "";  // REST-JSON and REST-XML: each operation's URI carries its own version, if any
  }
  return "";
}

namespace {

// RFC 3986's unreserved bytes: one lookup a byte rather than seven comparisons.
constexpr std::array<bool, 256> unreserved_bytes = [] {
  std::array<bool, 256> table{};
  for (int c = 0; c < 256; ++c) {
    table[c] = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
               c == '_' || c == '.' || c == '~';
  }
  return table;
}();

// RFC 3986 percent-encoding appended to `out`; a space is '+' when `space_as_plus`
// (application/x-www-form-urlencoded as botocore writes it: Python's quote_plus).
void append_encoded(std::string& out, std::string_view text, bool space_as_plus) {
  static constexpr char hex[] = "0123456789ABCDEF";
  // Encoded into a buffer on the stack and appended a piece at a time: a policy document is a third
  // reserved characters, each an append of its own otherwise.
  char chunk[256];
  std::size_t used = 0;
  for (const char byte : text) {
    if (used > sizeof chunk - 3) {
      out.append(chunk, used);
      used = 0;
    }
    const auto c = static_cast<unsigned char>(byte);
    if (unreserved_bytes[c]) {
      chunk[used++] = byte;
    } else if (space_as_plus && c == ' ') {
      chunk[used++] = '+';
    } else {
      chunk[used] = '%';
      chunk[used + 1] = hex[c >> 4];
      chunk[used + 2] = hex[c & 0x0F];
      used += 3;
    }
  }
  out.append(chunk, used);
}

}  // namespace

std::string percent_encode(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 4);
  append_encoded(out, text, false);
  return out;
}

// A space is '+': AWS accepts either; emulators that re-encode the parsed form before checking the
// signature (moto) only agree with this one.
std::string form_body(const query_call& call) {
  const std::string_view version = api_version(call.target);
  size_t size = 16 + call.action.size() + version.size();
  for (const auto& [name, value] : call.params.entries()) size += name.size() + value.size() + 8;
  std::string body;
  body.reserve(size + size / 4);
  body.append("Action=");
  append_encoded(body, call.action, true);
  body.append("&Version=").append(version);
  for (const auto& [name, value] : call.params.entries()) {
    body.push_back('&');
    append_encoded(body, name, true);
    body.push_back('=');
    append_encoded(body, value, true);
  }
  if (call.dry_run) body += "&DryRun=true";
  return body;
}

http_request query_request(const query_call& call, const endpoint& e) {
  http_request request;
  request.method = "POST";
  request.url = e.url + "/";
  request.headers.push_back({"Host", host_of(e.url)});
  request.headers.push_back({"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"});
  request.body = form_body(call);
  return request;
}

std::string call_name(const query_call& call) {
  return std::string(service_name(call.target)) + ":" + call.action;
}

}  // namespace tq::aws
