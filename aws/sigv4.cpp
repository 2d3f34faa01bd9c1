#include "aws/sigv4.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "aws/crypto.h"

namespace tq::aws::sigv4 {
namespace {

constexpr std::string_view algorithm = "AWS4-HMAC-SHA256";

struct url_parts {
  std::string_view scheme;
  std::string_view authority;  // host[:port]
  std::string_view path;       // as written, may be empty
  std::string_view query;      // without the '?'
};

url_parts split_url(std::string_view url) {
  url_parts parts;
  if (auto hash = url.find('#'); hash != std::string_view::npos) url = url.substr(0, hash);
  if (auto colon = url.find("://"); colon != std::string_view::npos) {
    parts.scheme = url.substr(0, colon);
    url.remove_prefix(colon + 3);
  }
  auto authority_end = url.find_first_of("/?");
  parts.authority = url.substr(0, authority_end);
  if (authority_end == std::string_view::npos) return parts;
  url.remove_prefix(authority_end);
  auto question = url.find('?');
  parts.path = url.substr(0, question);
  if (question != std::string_view::npos) parts.query = url.substr(question + 1);
  return parts;
}

char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return lower(x) == lower(y); });
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

bool is_unreserved(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_' || c == '~';
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// %XX -> byte; a '%' not followed by two hex digits stays as it is. '+' is not a space here: SigV4
// encodes a literal '+' as %2B, and callers encode spaces as %20.
std::string percent_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size()) {
      int high = hex_value(text[i + 1]);
      int low = hex_value(text[i + 2]);
      if (high >= 0 && low >= 0) {
        out.push_back(static_cast<char>(high * 16 + low));
        i += 2;
        continue;
      }
    }
    out.push_back(text[i]);
  }
  return out;
}

// Removes "." and ".." segments and empty segments (repeated slashes), keeping a trailing slash, as
// the SDKs do for every service but S3.
std::string normalize_path(std::string_view path) {
  std::vector<std::string_view> segments;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    std::string_view segment = path.substr(start, end - start);
    if (segment == "..") {
      if (!segments.empty()) segments.pop_back();
    } else if (!segment.empty() && segment != ".") {
      segments.push_back(segment);
    }
    start = end + 1;
  }
  std::string out = "/";
  for (size_t i = 0; i < segments.size(); ++i) {
    if (i > 0) out.push_back('/');
    out.append(segments[i]);
  }
  if (!segments.empty() && path.ends_with('/')) out.push_back('/');
  return out;
}

std::string canonical_uri(std::string_view path, const signing_params& params) {
  std::string normalized =
      params.normalize_path ? normalize_path(path) : std::string(path.empty() ? "/" : path);
  return params.double_encode_path ? uri_encode(normalized, false) : normalized;
}

// Every parameter decoded and encoded again (so "%e1" and a raw byte both become "%E1"), then sorted by
// key and value; a parameter without '=' has an empty value.
std::string canonical_query(std::string_view query) {
  std::vector<std::pair<std::string, std::string>> pairs;
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (pair.empty()) continue;
    auto equals = pair.find('=');
    std::string_view key = pair.substr(0, equals);
    std::string_view value = equals == std::string_view::npos ? std::string_view{} : pair.substr(equals + 1);
    pairs.emplace_back(uri_encode(percent_decode(key), true), uri_encode(percent_decode(value), true));
  }
  std::sort(pairs.begin(), pairs.end());
  std::string out;
  for (const auto& [key, value] : pairs) {
    if (!out.empty()) out.push_back('&');
    out.append(key).append("=").append(value);
  }
  return out;
}

// Headers a proxy or the HTTP stack may add, drop or rewrite on the way; botocore leaves the same out.
bool is_unsigned_header(std::string_view lower_name) {
  static constexpr std::string_view names[] = {"authorization",
                                               "connection",
                                               "expect",
                                               "keep-alive",
                                               "proxy-authenticate",
                                               "proxy-authorization",
                                               "te",
                                               "trailer",
                                               "transfer-encoding",
                                               "upgrade",
                                               "user-agent",
                                               "x-amzn-trace-id"};
  return std::find(std::begin(names), std::end(names), lower_name) != std::end(names);
}

// True when no byte of `value` is a space or a control character (nothing to trim or fold). Eight bytes at
// a time: a byte below 0x21 in a word sets a high bit in (x - 0x21...) & ~x (exact as to whether one does).
bool without_blanks(std::string_view value) {
  constexpr std::uint64_t ones = 0x0101010101010101ULL;
  constexpr std::uint64_t highs = 0x8080808080808080ULL;
  size_t i = 0;
  for (; i + 8 <= value.size(); i += 8) {
    std::uint64_t x;
    std::memcpy(&x, value.data() + i, sizeof x);
    if (((x - ones * 0x21) & ~x & highs) != 0) return false;
  }
  for (; i < value.size(); ++i) {
    if (static_cast<unsigned char>(value[i]) <= 0x20) return false;
  }
  return true;
}

// Trims the value and turns each run of whitespace (folded lines included) into one space.
void append_trimmed(std::string& out, std::string_view value) {
  if (without_blanks(value)) {  // dates, hashes, a session token of a thousand characters: one append
    out.append(value);
    return;
  }
  std::size_t begin = 0;
  std::size_t end = value.size();
  while (begin < end && is_space(value[begin])) ++begin;
  while (end > begin && is_space(value[end - 1])) --end;
  value = value.substr(begin, end - begin);
  // Copied in pieces: a lone ' ' (as in "text/plain; charset=utf-8") stays where it is; any other run of
  // whitespace becomes one ' '.
  std::size_t copied = 0;
  for (std::size_t i = 0; i < value.size();) {
    if (!is_space(value[i])) {
      ++i;
      continue;
    }
    std::size_t run_end = i + 1;
    while (run_end < value.size() && is_space(value[run_end])) ++run_end;
    if (run_end - i > 1 || value[i] != ' ') {
      out.append(value.data() + copied, i - copied).push_back(' ');
      copied = run_end;
    }
    i = run_end;
  }
  out.append(value.data() + copied, value.size() - copied);
}

struct header_entry {
  std::string_view name;  // lower case, in canonical_headers' buffer of names
  std::string_view value;
};

// "name:value\n" lines sorted by name, repeated names joined with ','; and the ';'-joined names.
std::pair<std::string, std::string> canonical_headers(const http_request& request,
                                                      const signing_params& params) {
  // The lower-cased names share one buffer and the entries point into it: scratch kept by the thread, so
  // that a signature allocates only the two strings it returns.
  thread_local std::string lowered;
  thread_local std::vector<header_entry> entries;
  std::size_t names_size = 0;
  for (const auto& header : request.headers) names_size += header.name.size();
  lowered.clear();
  lowered.reserve(names_size);  // before any view into it is taken: it must not move below
  entries.clear();
  for (const auto& header : request.headers) {
    const std::size_t at = lowered.size();
    lowered.resize(at + header.name.size());  // within what was reserved
    char* written = lowered.data() + at;
    for (char c : header.name) {
      if (!is_space(c)) *written++ = lower(c);
    }
    lowered.resize(static_cast<std::size_t>(written - lowered.data()));
    const std::string_view name(lowered.data() + at, lowered.size() - at);
    if (is_unsigned_header(name) || (params.omit_session_token && name == "x-amz-security-token")) {
      lowered.resize(at);
      continue;
    }
    entries.push_back({name, header.value});
  }
  // A request carries a handful of headers: an insertion sort, stable as the order of repeated names
  // requires, with no buffer to allocate as std::stable_sort has
  for (size_t i = 1; i < entries.size(); ++i) {
    for (size_t j = i; j > 0 && entries[j].name < entries[j - 1].name; --j)
      std::swap(entries[j], entries[j - 1]);
  }
  size_t size = 0;
  for (const auto& entry : entries) size += entry.name.size() + entry.value.size() + 2;
  std::string lines;
  lines.reserve(size);
  std::string names;
  names.reserve(size);
  for (size_t i = 0; i < entries.size(); ++i) {
    bool same_as_previous = i > 0 && entries[i].name == entries[i - 1].name;
    if (same_as_previous) {
      lines.push_back(',');
    } else {
      if (i > 0) {
        lines.push_back('\n');
        names.push_back(';');
      }
      lines.append(entries[i].name).push_back(':');
      names.append(entries[i].name);
    }
    append_trimmed(lines, entries[i].value);
  }
  if (!entries.empty()) lines.push_back('\n');
  return {std::move(lines), std::move(names)};
}

const http_header* find_header(const http_request& request, std::string_view name) {
  for (const auto& header : request.headers) {
    if (iequals(header.name, name)) return &header;
  }
  return nullptr;
}

void remove_headers(http_request& request, std::string_view name) {
  std::erase_if(request.headers, [&](const http_header& header) { return iequals(header.name, name); });
}

void add_host_if_missing(http_request& request) {
  if (find_header(request, "host") != nullptr) return;
  url_parts parts = split_url(request.url);
  std::string_view host = parts.authority;
  if (auto at = host.rfind('@'); at != std::string_view::npos) host.remove_prefix(at + 1);
  // The default port is left out, as HTTP clients send it (and as the service then canonicalizes it).
  if ((iequals(parts.scheme, "https") && host.ends_with(":443")) ||
      (iequals(parts.scheme, "http") && host.ends_with(":80"))) {
    host.remove_suffix(host.ends_with(":443") ? 4 : 3);
  }
  request.headers.push_back({"Host", std::string(host)});
}

// The signing key depends only on (secret, day, region, service), so a warm Lambda derives it once a day
// per service, made ready for HMAC (crypto::hmac_key). Entries are keyed on a SHA-256 of the secret rather
// than the secret itself.
class signing_key_cache {
 public:
  // `signed_at`: the signature's amz_date; its first eight characters are the day.
  std::shared_ptr<const crypto::hmac_key> get(const signing_params& params, std::string_view signed_at) {
    const crypto::digest secret_hash = params.credentials.secret_digest != nullptr
                                           ? *params.credentials.secret_digest
                                           : crypto::sha256(params.credentials.secret_access_key);
    const std::string_view date = signed_at.substr(0, 8);
    {
      std::lock_guard lock(m_mutex);
      for (const auto& entry : m_entries) {
        if (entry.secret_hash == secret_hash && entry.date == date && entry.region == params.region &&
            entry.service == params.service) {
          return entry.key;
        }
      }
    }
    crypto::digest derived =
        derive(params.credentials.secret_access_key, date, params.region, params.service);
    auto key = std::make_shared<const crypto::hmac_key>(derived);
    OPENSSL_cleanse(derived.data(), derived.size());
    std::lock_guard lock(m_mutex);
    entry_type entry{secret_hash, std::string(date), std::string(params.region), std::string(params.service),
                     key};
    if (m_entries.size() < max_entries) {
      m_entries.push_back(std::move(entry));
    } else {
      m_entries[m_next] = std::move(entry);  // the key it held is wiped when its last user is done
      m_next = (m_next + 1) % max_entries;
    }
    return key;
  }

 private:
  static crypto::digest derive(std::string_view secret, std::string_view date, std::string_view region,
                               std::string_view service) {
    std::string first_key = "AWS4";
    first_key.append(secret);
    crypto::digest key = crypto::hmac_sha256(first_key, date);
    OPENSSL_cleanse(first_key.data(), first_key.size());
    key = crypto::hmac_sha256(key, region);
    key = crypto::hmac_sha256(key, service);
    return crypto::hmac_sha256(key, "aws4_request");
  }

  struct entry_type {
    crypto::digest secret_hash;
    std::string date;
    std::string region;
    std::string service;
    std::shared_ptr<const crypto::hmac_key> key;
  };
  static constexpr size_t max_entries = 16;
  std::mutex m_mutex;
  std::vector<entry_type> m_entries;
  size_t m_next = 0;
};

signing_key_cache& key_cache() {
  static signing_key_cache cache;
  return cache;
}

}  // namespace

std::string uri_encode(std::string_view text, bool encode_slash) {
  static constexpr char digits[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size() + text.size() / 2);
  for (char c : text) {
    if (is_unreserved(c) || (c == '/' && !encode_slash)) {
      out.push_back(c);
    } else {
      auto byte = static_cast<unsigned char>(c);
      out.push_back('%');
      out.push_back(digits[byte >> 4]);
      out.push_back(digits[byte & 0x0f]);
    }
  }
  return out;
}

std::string amz_date(std::chrono::system_clock::time_point time) {
  using namespace std::chrono;
  auto day = floor<days>(time);
  year_month_day ymd{day};
  hh_mm_ss hms{floor<seconds>(time - day)};
  const int year = static_cast<int>(ymd.year());
  if (year < 0 || year > 9999) {  // not a date a request is signed at: the general (and slower) formatting
    char text[32];
    std::snprintf(text, sizeof text, "%04d%02u%02uT%02d%02d%02dZ", year, static_cast<unsigned>(ymd.month()),
                  static_cast<unsigned>(ymd.day()), static_cast<int>(hms.hours().count()),
                  static_cast<int>(hms.minutes().count()), static_cast<int>(hms.seconds().count()));
    return text;
  }
  // By hand: every signature needs this several times, and snprintf costs ten times as much
  std::string text = "00000000T000000Z";
  const auto put = [&text](size_t at, size_t width, long value) {
    for (size_t i = width; i-- > 0; value /= 10) text[at + i] = static_cast<char>('0' + value % 10);
  };
  put(0, 4, year);
  put(4, 2, static_cast<unsigned>(ymd.month()));
  put(6, 2, static_cast<unsigned>(ymd.day()));
  put(9, 2, hms.hours().count());
  put(11, 2, hms.minutes().count());
  put(13, 2, hms.seconds().count());
  return text;
}

namespace {

// The pieces below take the signature's amz_date, made once: it goes into X-Amz-Date, the string to sign,
// the scope (twice) and the signing key's lookup.
void append_scope(std::string& out, std::string_view signed_at, const signing_params& params) {
  out.append(signed_at.substr(0, 8)).append("/").append(params.region).append("/").append(params.service);
  out.append("/aws4_request");
}

std::string string_to_sign_at(std::string_view canonical_request, const signing_params& params,
                              std::string_view signed_at) {
  std::string out;
  out.reserve(algorithm.size() + 16 + 48 + params.region.size() + params.service.size() + 64 + 3);
  out.append(algorithm).push_back('\n');
  out.append(signed_at).push_back('\n');
  append_scope(out, signed_at, params);
  out.push_back('\n');
  crypto::append_hex(out, crypto::sha256(canonical_request));
  return out;
}

std::string signature_at(std::string_view string_to_sign, const signing_params& params,
                         std::string_view signed_at) {
  return crypto::hex(key_cache().get(params, signed_at)->mac(string_to_sign));
}

}  // namespace

std::string credential_scope(const signing_params& params) {
  std::string scope;
  scope.reserve(8 + params.region.size() + params.service.size() + 15);
  append_scope(scope, amz_date(params.time), params);
  return scope;
}

canonical_result canonical_request(const http_request& request, const signing_params& params) {
  url_parts parts = split_url(request.url);
  auto [header_lines, signed_headers] = canonical_headers(request, params);
  const http_header* content_hash = find_header(request, "x-amz-content-sha256");
  std::string out;
  out.reserve(256 + header_lines.size() + parts.query.size());
  out.append(request.method).push_back('\n');
  out.append(canonical_uri(parts.path, params)).push_back('\n');
  out.append(canonical_query(parts.query)).push_back('\n');
  out.append(header_lines).push_back('\n');
  out.append(signed_headers).push_back('\n');
  if (content_hash != nullptr) {
    out.append(content_hash->value);
  } else {
    crypto::append_hex(out, crypto::sha256(request.body));
  }
  return {std::move(out), std::move(signed_headers)};
}

std::string string_to_sign(std::string_view canonical_request, const signing_params& params) {
  return string_to_sign_at(canonical_request, params, amz_date(params.time));
}

std::string signature(std::string_view string_to_sign, const signing_params& params) {
  return signature_at(string_to_sign, params, amz_date(params.time));
}

void sign(http_request& request, const signing_params& params) {
  remove_headers(request, "authorization");
  remove_headers(request, "x-amz-date");
  remove_headers(request, "x-amz-security-token");
  add_host_if_missing(request);
  if (!params.credentials.session_token.empty()) {
    request.headers.push_back({"X-Amz-Security-Token", std::string(params.credentials.session_token)});
  }
  const std::string date = amz_date(params.time);
  request.headers.push_back({"X-Amz-Date", date});
  if (params.sign_body) {
    remove_headers(request, "x-amz-content-sha256");
    request.headers.push_back({"x-amz-content-sha256", crypto::sha256_hex(request.body)});
  }
  canonical_result canonical = canonical_request(request, params);
  const crypto::digest mac =
      key_cache().get(params, date)->mac(string_to_sign_at(canonical.canonical_request, params, date));
  std::string authorization(algorithm);
  authorization.reserve(algorithm.size() + 48 + params.credentials.access_key_id.size() +
                        params.region.size() + params.service.size() + canonical.signed_headers.size() +
                        2 * mac.size());
  authorization.append(" Credential=").append(params.credentials.access_key_id).append("/");
  append_scope(authorization, date, params);
  authorization.append(", SignedHeaders=").append(canonical.signed_headers).append(", Signature=");
  crypto::append_hex(authorization, mac);
  request.headers.push_back({"Authorization", std::move(authorization)});
}

void presign(http_request& request, const signing_params& params, std::chrono::seconds expires) {
  add_host_if_missing(request);
  std::string signed_headers = canonical_headers(request, params).second;
  std::string credential(params.credentials.access_key_id);
  credential.append("/").append(credential_scope(params));

  std::string& url = request.url;
  if (auto hash = url.find('#'); hash != std::string::npos) url.erase(hash);
  bool has_query = url.find('?') != std::string::npos;
  if (!has_query) {
    url.push_back('?');
  } else if (!url.ends_with('?') && !url.ends_with('&')) {
    url.push_back('&');
  }
  url.append("X-Amz-Algorithm=").append(algorithm);
  url.append("&X-Amz-Credential=").append(uri_encode(credential, true));
  url.append("&X-Amz-Date=").append(amz_date(params.time));
  url.append("&X-Amz-SignedHeaders=").append(uri_encode(signed_headers, true));
  url.append("&X-Amz-Expires=").append(std::to_string(expires.count()));
  std::string token_parameter;
  if (!params.credentials.session_token.empty()) {
    token_parameter = "&X-Amz-Security-Token=" + uri_encode(params.credentials.session_token, true);
    if (!params.omit_session_token) url.append(token_parameter);
  }
  canonical_result canonical = canonical_request(request, params);
  std::string sig = signature(string_to_sign(canonical.canonical_request, params), params);
  if (params.omit_session_token) url.append(token_parameter);
  url.append("&X-Amz-Signature=").append(sig);
}

}  // namespace tq::aws::sigv4
