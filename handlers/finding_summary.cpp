#include "handlers/finding_summary.h"

#include <array>
#include <bit>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "handlers/event.h"
#include "runtime/json_text.h"

namespace tq::handlers {
namespace {

// The members the summary reads, as a tree: each names its parent (-1: the document's top object).
struct field {
  int parent;
  std::string_view key;
};

enum : int {
  f_source,
  f_detail_type,
  f_account,
  f_region,
  f_detail,
  f_id,
  f_account_id,
  f_detail_region,
  f_type,
  f_severity,
  f_title,
  f_resource,
  f_resource_type,
  f_access_key,
  f_user_type,
  f_service,
  f_archived,
  f_additional_info,
  f_info_sample,
  f_info_value,
  f_detection,
  f_sequence,
  f_count
};

constexpr field finding_fields[f_count] = {
    {-1, "source"},
    {-1, "detail-type"},
    {-1, "account"},
    {-1, "region"},
    {-1, "detail"},
    {f_detail, "id"},
    {f_detail, "accountId"},
    {f_detail, "region"},
    {f_detail, "type"},
    {f_detail, "severity"},
    {f_detail, "title"},
    {f_detail, "resource"},
    {f_resource, "resourceType"},
    {f_resource, "accessKeyDetails"},
    {f_access_key, "userType"},
    {f_detail, "service"},
    {f_service, "archived"},
    {f_service, "additionalInfo"},
    {f_additional_info, "sample"},
    {f_additional_info, "value"},
    {f_service, "detection"},
    {f_detection, "sequence"},
};

// additionalInfo.value is JSON text of its own: {"sample": true}.
constexpr field sample_fields[] = {{-1, "sample"}};

enum class kind : unsigned char { absent, null, string, number, yes, no, object, array };

// The last value a member had (a repeated key replaces the earlier value, as the decoder's parser does).
struct slot {
  kind k = kind::absent;
  std::string_view raw;  // a string's content between its quotes, or a number's text
  bool escaped = false;  // the string holds escapes
};

constexpr int untracked = -2;
static_assert(f_count <= 32, "the scanner keeps the members inside each member as bits of 32");

// Per byte: 2 when it is JSON whitespace (string content is classed by json_text::plain_run).
constexpr auto byte_classes = [] {
  std::array<unsigned char, 256> table{};
  for (char c : {' ', '\n', '\r', '\t'}) table[static_cast<unsigned char>(c)] = 2;
  return table;
}();
constexpr unsigned char space_byte = 2;

unsigned char class_of(char c) {
  return byte_classes[static_cast<unsigned char>(c)];
}

// Eight bytes at a time through the runs that make most of a finding's text: the plain bytes of a string
// (json_text::plain_run) and the spaces of an indented document. Each step tells exactly where the first
// byte that needs a look lies; that byte is then handled one at a time as before, so what is accepted does
// not change.
constexpr bool swar = std::endian::native == std::endian::little;
constexpr std::uint64_t spaces = 0x2020202020202020ULL;

bool is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

unsigned hex_value(const char* p) {
  unsigned v = 0;
  for (int i = 0; i < 4; ++i) {
    const char c = p[i];
    v = v * 16 + static_cast<unsigned>(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
  }
  return v;
}

// One pass over a JSON text, accepting exactly what nlohmann::json::parse accepts (RFC 8259 with UTF-8
// checked in strings and finite numbers) except what it is unsure of, which fails too: a byte-order mark,
// an escaped key in a tracked object, a number that from_chars cannot hold in a double, deeper nesting than
// the decoder's cap. Notes the tracked members' values in `slots`.
class scanner {
 public:
  scanner(std::string_view text, std::span<const field> fields)
      : m_p(text.data()), m_end(text.data() + text.size()), m_fields(fields), m_slots(fields.size()) {
    for (std::size_t i = 0; i < fields.size(); ++i) {
      for (int p = fields[i].parent; p >= 0; p = fields[static_cast<std::size_t>(p)].parent) {
        m_descendants[static_cast<std::size_t>(p)] |= std::uint32_t{1} << i;
      }
    }
  }

  bool document() {
    skip_space();
    if (!value(-1, 0)) return false;
    skip_space();
    return m_p == m_end;
  }

  const slot& operator[](int f) const { return m_slots[static_cast<std::size_t>(f)]; }

 private:
  void skip_space() {
    while (m_p != m_end) {
      if (swar && *m_p == ' ' && m_end - m_p >= 8) {
        std::uint64_t other;  // zero bytes: spaces
        std::memcpy(&other, m_p, sizeof other);
        other ^= spaces;
        m_p += other == 0 ? 8 : std::countr_zero(other) / 8;
        continue;
      }
      if (class_of(*m_p) != space_byte) return;
      ++m_p;
    }
  }

  void skip_plain() { m_p += json_text::plain_run({m_p, static_cast<std::size_t>(m_end - m_p)}); }

  // A tracked member's new value: it replaces the old one and everything that was inside it.
  slot* take(int f) {
    if (f < 0) return nullptr;
    for (auto inside = m_descendants[static_cast<std::size_t>(f)]; inside != 0; inside &= inside - 1) {
      m_slots[static_cast<std::size_t>(std::countr_zero(inside))] = slot{};
    }
    slot* s = &m_slots[static_cast<std::size_t>(f)];
    *s = slot{};
    return s;
  }

  int child(int parent, std::string_view key) const {
    for (std::size_t i = 0; i < m_fields.size(); ++i) {
      if (m_fields[i].parent == parent && m_fields[i].key == key) return static_cast<int>(i);
    }
    return untracked;
  }

  // `f`: the tracked member this value is, -1 for the document, untracked otherwise.
  bool value(int f, std::size_t depth) {
    if (m_p == m_end) return false;
    slot* s = take(f);
    const auto mark = [s](kind k) {
      if (s) s->k = k;
      return true;
    };
    switch (*m_p) {
      case '{':
        mark(kind::object);
        return object(f, depth + 1);
      case '[':
        mark(kind::array);
        return array(depth + 1);
      case '"': {
        std::string_view content;
        bool escaped = false;
        if (!string(content, escaped)) return false;
        if (s) *s = slot{kind::string, content, escaped};
        return true;
      }
      case 't':
        return literal("true") && mark(kind::yes);
      case 'f':
        return literal("false") && mark(kind::no);
      case 'n':
        return literal("null") && mark(kind::null);
      default: {
        std::string_view text;
        if (!number(text)) return false;
        if (s) *s = slot{kind::number, text, false};
        return true;
      }
    }
  }

  bool object(int f, std::size_t depth) {
    if (depth > max_json_depth) return false;
    ++m_p;  // {
    skip_space();
    if (m_p != m_end && *m_p == '}') {
      ++m_p;
      return true;
    }
    for (;;) {
      if (m_p == m_end || *m_p != '"') return false;
      std::string_view key;
      bool escaped = false;
      if (!string(key, escaped)) return false;
      if (escaped && f != untracked) return false;  // it might spell a tracked name: unsure
      skip_space();
      if (m_p == m_end || *m_p != ':') return false;
      ++m_p;
      skip_space();
      if (!value(f == untracked ? untracked : child(f, key), depth)) return false;
      skip_space();
      if (m_p == m_end) return false;
      if (*m_p == '}') {
        ++m_p;
        return true;
      }
      if (*m_p != ',') return false;
      ++m_p;
      skip_space();
    }
  }

  bool array(std::size_t depth) {
    if (depth > max_json_depth) return false;
    ++m_p;  // [
    skip_space();
    if (m_p != m_end && *m_p == ']') {
      ++m_p;
      return true;
    }
    for (;;) {
      if (!value(untracked, depth)) return false;
      skip_space();
      if (m_p == m_end) return false;
      if (*m_p == ']') {
        ++m_p;
        return true;
      }
      if (*m_p != ',') return false;
      ++m_p;
      skip_space();
    }
  }

  bool literal(std::string_view word) {
    if (static_cast<std::size_t>(m_end - m_p) < word.size() || std::string_view(m_p, word.size()) != word)
      return false;
    m_p += word.size();
    return true;
  }

  bool digits() {
    const char* start = m_p;
    while (m_p != m_end && *m_p >= '0' && *m_p <= '9') ++m_p;
    return m_p != start;
  }

  bool number(std::string_view& text) {
    const char* start = m_p;
    if (*m_p == '-') ++m_p;
    if (m_p == m_end) return false;
    if (*m_p == '0') {
      ++m_p;
    } else if (!digits()) {
      return false;
    }
    bool plain = true;  // an integer of a few digits: always finite
    if (m_p != m_end && *m_p == '.') {
      ++m_p;
      if (!digits()) return false;
      plain = false;
    }
    if (m_p != m_end && (*m_p == 'e' || *m_p == 'E')) {
      ++m_p;
      if (m_p != m_end && (*m_p == '+' || *m_p == '-')) ++m_p;
      if (!digits()) return false;
      plain = false;
    }
    text = std::string_view(start, static_cast<std::size_t>(m_p - start));
    if (plain && text.size() < 300) return true;
    // The parser refuses a number that overflows a double; from_chars also refuses one that underflows,
    // which the parser takes: unsure either way, so no summary.
    double parsed = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), parsed);
    return ec == std::errc() && end == text.data() + text.size();
  }

  // After the opening quote of a string, up to and past its closing quote.
  bool string(std::string_view& content, bool& escaped) {
    ++m_p;  // "
    const char* start = m_p;
    for (;;) {
      skip_plain();
      if (m_p == m_end) return false;
      const auto c = static_cast<unsigned char>(*m_p);
      if (c == '"') break;
      if (c == '\\') {
        escaped = true;
        if (!escape()) return false;
      } else if (c < 0x20) {
        return false;  // a control character must be escaped
      } else if (c < 0x80) {
        ++m_p;
      } else if (!utf8()) {
        return false;
      }
    }
    content = std::string_view(start, static_cast<std::size_t>(m_p - start));
    ++m_p;
    return true;
  }

  bool unicode_escape(unsigned& code) {  // at the backslash of \uXXXX
    if (m_end - m_p < 6 || m_p[1] != 'u') return false;
    for (int i = 2; i < 6; ++i) {
      if (!is_hex(m_p[i])) return false;
    }
    code = hex_value(m_p + 2);
    m_p += 6;
    return true;
  }

  bool escape() {
    if (m_end - m_p < 2) return false;
    if (json_text::short_escape(m_p[1])) {
      m_p += 2;
      return true;
    }
    unsigned code = 0;
    if (!unicode_escape(code)) return false;             // \u, else no escape at all
    if (code >= 0xDC00 && code <= 0xDFFF) return false;  // a low surrogate alone
    if (code < 0xD800 || code > 0xDBFF) return true;
    unsigned low = 0;  // a high surrogate must be followed by a low one
    return unicode_escape(low) && low >= 0xDC00 && low <= 0xDFFF;
  }

  // A multi-byte UTF-8 sequence (RFC 3629), as the parser checks it.
  bool utf8() {
    const std::size_t n = json_text::utf8_length({m_p, static_cast<std::size_t>(m_end - m_p)});
    m_p += n;
    return n != 0;
  }

  const char* m_p;
  const char* m_end;
  std::span<const field> m_fields;
  std::vector<slot> m_slots;
  std::array<std::uint32_t, 32> m_descendants{};  // per tracked member, a bit for each member inside it
};

void append_utf8(std::string& out, unsigned code) {
  if (code < 0x80) {
    out += static_cast<char>(code);
  } else if (code < 0x800) {
    out += static_cast<char>(0xC0 | (code >> 6));
    out += static_cast<char>(0x80 | (code & 0x3F));
  } else if (code < 0x10000) {
    out += static_cast<char>(0xE0 | (code >> 12));
    out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (code >> 18));
    out += static_cast<char>(0x80 | ((code >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code & 0x3F));
  }
}

// A string slot's value, its escapes (already checked by the scanner) decoded.
std::string text_of(const slot& s) {
  if (!s.escaped) return std::string(s.raw);
  std::string out;
  out.reserve(s.raw.size());
  for (std::size_t i = 0; i < s.raw.size(); ++i) {
    const char c = s.raw[i];
    if (c != '\\') {
      out += c;
      continue;
    }
    const char e = s.raw[++i];
    if (e != 'u') {
      out += *json_text::short_escape(e);  // the scanner let no other letter through
      continue;
    }
    unsigned code = hex_value(s.raw.data() + i + 1);
    i += 4;
    if (code >= 0xD800 && code <= 0xDBFF) {
      const unsigned low = hex_value(s.raw.data() + i + 3);
      i += 6;
      code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
    }
    append_utf8(out, code);
  }
  return out;
}

bool absent(const slot& s) {
  return s.k == kind::absent || s.k == kind::null;
}

// A string the decoder requires: nullopt when it is missing or not a string (the decoder refuses the event).
std::optional<std::string> required_string(const slot& s) {
  if (s.k != kind::string) return std::nullopt;
  return text_of(s);
}

// An optional string: "" when absent or null; nullopt when it is something else (the decoder refuses it).
std::optional<std::string> optional_string(const slot& s) {
  if (absent(s)) return std::string();
  return required_string(s);
}

bool object_or_absent(const slot& s) {
  return absent(s) || s.k == kind::object;
}

// The number as nlohmann's parser stores it and get<double> reads it: an integer form is an integer ("-0" is
// 0).
std::optional<double> number_of(const slot& s) {
  if (s.k != kind::number) return std::nullopt;
  double value = 0;
  const auto [end, ec] = std::from_chars(s.raw.data(), s.raw.data() + s.raw.size(), value);
  if (ec != std::errc() || end != s.raw.data() + s.raw.size()) return std::nullopt;
  if (value == 0) value = s.raw.find_first_of(".eE") == std::string_view::npos ? 0.0 : value;
  return value;
}

// additionalInfo.value's text says {"sample": true}. Unsure texts (no summary) give nullopt.
std::optional<bool> sample_in_text(const std::string& text) {
  if (text.find("sample") == std::string::npos) return false;
  scanner nested(text, sample_fields);
  if (!nested.document()) return std::nullopt;
  return nested[0].k == kind::yes;
}

// guardduty_finding::sample as the decoder reads it from additionalInfo, or nullopt when it would refuse it.
std::optional<bool> sample_of(const scanner& s) {
  const slot& info = s[f_additional_info];
  if (absent(info)) return false;
  if (info.k != kind::object) return std::nullopt;
  const slot& flag = s[f_info_sample];
  if (flag.k == kind::yes || flag.k == kind::no) return flag.k == kind::yes;
  if (!absent(flag)) return std::nullopt;
  const slot& value = s[f_info_value];
  if (value.k != kind::string) return false;
  return sample_in_text(text_of(value));
}

bool fill_envelope(const scanner& s, finding_summary& out) {
  auto source = required_string(s[f_source]);
  auto detail_type = required_string(s[f_detail_type]);
  if (!source || *source != "aws.guardduty" || !detail_type || *detail_type != "GuardDuty Finding")
    return false;
  auto account = optional_string(s[f_account]);
  auto region = optional_string(s[f_region]);
  if (!account || !region) return false;
  out.source = std::move(*source);
  out.detail_type = std::move(*detail_type);
  out.account = std::move(*account);
  out.region = std::move(*region);
  return true;
}

bool fill_detail(const scanner& s, finding_summary& out) {
  if (s[f_detail].k != kind::object || s[f_resource].k != kind::object) return false;
  if (!required_string(s[f_id]) || !required_string(s[f_account_id]) || !required_string(s[f_detail_region]))
    return false;
  auto type = required_string(s[f_type]);
  auto severity = number_of(s[f_severity]);
  auto title = optional_string(s[f_title]);
  auto resource_type = required_string(s[f_resource_type]);
  if (!type || !severity || !title || !resource_type) return false;
  out.type = std::move(*type);
  out.severity = *severity;
  out.resource_type = std::move(*resource_type);
  if (!object_or_absent(s[f_access_key])) return false;
  if (s[f_access_key].k == kind::object) {
    out.user_type = required_string(s[f_user_type]);
    if (!out.user_type) return false;
  }
  if (!object_or_absent(s[f_service])) return false;
  const slot& archived = s[f_archived];
  if (!absent(archived) && archived.k != kind::yes && archived.k != kind::no) return false;
  out.archived = archived.k == kind::yes;
  if (!object_or_absent(s[f_detection])) return false;
  out.sequence = !absent(s[f_sequence]);  // an attack sequence: decoded whole, whatever else it says
  const auto sample = sample_of(s);
  if (!sample) return false;
  out.sample = *sample || title->starts_with("[SAMPLE]");
  return true;
}

}  // namespace

std::optional<finding_summary> summarize_finding(std::string_view text) {
  if (text.size() > max_event_bytes) return std::nullopt;
  scanner s(text, finding_fields);
  if (!s.document()) return std::nullopt;
  finding_summary out;
  if (!fill_envelope(s, out) || !fill_detail(s, out)) return std::nullopt;
  return out;
}

guardduty_finding outline_of(const finding_summary& summary) {
  guardduty_finding finding;
  finding.envelope.source = summary.source;
  finding.envelope.detail_type = summary.detail_type;
  finding.envelope.account = summary.account;
  finding.envelope.region = summary.region;
  finding.type = summary.type;
  finding.severity = summary.severity;
  finding.resource_type = summary.resource_type;
  finding.archived = summary.archived;
  finding.sample = summary.sample;
  return finding;
}

}  // namespace tq::handlers
