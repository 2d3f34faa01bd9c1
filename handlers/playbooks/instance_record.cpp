#include "handlers/playbooks/instance_record.h"

#include <algorithm>
#include <string_view>

#include "handlers/config.h"
#include "handlers/incident.h"

namespace tq::handlers {
namespace {

std::string chunk_key(std::string_view key, std::size_t n) {
  return n == 1 ? std::string(key) : std::string(key) + ":" + std::to_string(n);
}

// Cuts `value` into pieces of at most `limit` bytes, never inside a UTF-8 sequence (EC2 counts characters,
// so a byte limit is on the safe side).
std::vector<std::string> cut(const std::string& value, std::size_t limit) {
  std::vector<std::string> pieces;
  std::size_t at = 0;
  while (at < value.size()) {
    std::size_t end = std::min(value.size(), at + limit);
    while (end < value.size() && end > at + 1 && (static_cast<unsigned char>(value[end]) & 0xC0) == 0x80)
      --end;
    pieces.push_back(value.substr(at, end - at));
    at = end;
  }
  return pieces;
}

std::string body_of(const instance_record& record) {
  std::vector<std::string> entries;
  for (const auto& [eni, groups] : record.interfaces) entries.push_back(eni + ":" + join_list(groups, "+"));
  return "f=" + record.finding_id + ";t=" + record.finding_type + ";i=" + join_list(entries, ",");
}

std::vector<std::string> split(std::string_view text, char separator) {
  std::vector<std::string> parts;
  std::size_t at = 0;
  while (at <= text.size()) {
    const std::size_t end = std::min(text.find(separator, at), text.size());
    parts.emplace_back(text.substr(at, end - at));
    at = end + 1;
  }
  return parts;
}

// "eni-1:sg-a+sg-b,eni-2:sg-c"; false when an entry is not of that shape.
bool parse_interfaces(std::string_view text, instance_record& record) {
  if (text.empty()) return true;
  for (const auto& entry : split(text, ',')) {
    const std::size_t colon = entry.find(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == entry.size()) return false;
    std::vector<std::string> groups = split(std::string_view(entry).substr(colon + 1), '+');
    if (std::any_of(groups.begin(), groups.end(), [](const std::string& g) { return g.empty(); }))
      return false;
    record.interfaces.emplace_back(entry.substr(0, colon), std::move(groups));
  }
  return true;
}

// The fields of a whole version 1 value, after its "v1;n=…;" head.
bool parse_body(std::string_view body, instance_record& record) {
  for (const auto& field : split(body, ';')) {
    if (field.starts_with("f=")) {
      record.finding_id = field.substr(2);
    } else if (field.starts_with("t=")) {
      record.finding_type = field.substr(2);
    } else if (field.starts_with("i=")) {
      if (!parse_interfaces(std::string_view(field).substr(2), record)) return false;
    }  // a field a later version adds is passed over
  }
  return true;
}

}  // namespace

std::size_t tag_room(const std::map<std::string, std::string>& tags) {
  const auto used = static_cast<std::size_t>(std::count_if(
      tags.begin(), tags.end(), [](const auto& tag) { return !tag.first.starts_with("aws:"); }));
  return used >= ec2_tag_limit ? 0 : ec2_tag_limit - used;
}

std::size_t new_keys(const std::map<std::string, std::string>& tags, const std::vector<aws::tag>& wanted) {
  return static_cast<std::size_t>(
      std::count_if(wanted.begin(), wanted.end(), [&](const aws::tag& t) { return !tags.contains(t.key); }));
}

std::vector<aws::tag> fitting(const std::map<std::string, std::string>& tags,
                              const std::vector<aws::tag>& wanted) {
  std::size_t room = tag_room(tags);
  std::vector<aws::tag> fits;
  for (const auto& t : wanted) {
    if (tags.contains(t.key)) {
      fits.push_back(t);
    } else if (room > 0) {
      --room;
      fits.push_back(t);
    } else {
      break;  // in order: a later tag never takes the place of an earlier one
    }
  }
  return fits;
}

std::vector<aws::tag> spilled_tags(std::string_view key, const std::string& body) {
  // The head names the count of pieces, which depends on the head's own length: settle it.
  std::size_t count = 1;
  std::vector<std::string> pieces;
  for (;;) {
    pieces = cut("v1;n=" + std::to_string(count) + ";" + body, ec2_tag_value_limit);
    if (pieces.size() == count) break;
    count = pieces.size();
  }
  std::vector<aws::tag> tags;
  for (std::size_t i = 0; i < pieces.size(); ++i)
    tags.push_back({chunk_key(key, i + 1), std::move(pieces[i])});
  return tags;
}

spilled_value spilled_from_tags(const std::map<std::string, std::string>& tags, std::string_view key) {
  spilled_value out;
  auto first = tags.find(std::string(key));
  if (first == tags.end()) return out;
  out.presence = record_presence::unknown;
  const std::string_view head = first->second;
  if (!head.starts_with("v1;n=")) return out;
  const std::size_t semicolon = head.find(';', 5);
  if (semicolon == std::string_view::npos) return out;
  std::size_t count = 0;
  for (char c : head.substr(5, semicolon - 5)) {
    if (c < '0' || c > '9' || count > ec2_tag_limit) return out;
    count = count * 10 + static_cast<std::size_t>(c - '0');
  }
  if (count == 0) return out;
  std::string value = first->second;
  for (std::size_t n = 2; n <= count; ++n) {
    auto piece = tags.find(chunk_key(key, n));
    if (piece == tags.end()) {
      out.presence = record_presence::partial;
      return out;
    }
    value += piece->second;
  }
  out.presence = record_presence::complete;
  out.body = value.substr(semicolon + 1);
  return out;
}

std::vector<aws::tag> record_tags(const instance_record& record) {
  return spilled_tags(tag_record, body_of(record));
}

read_record record_from_tags(const std::map<std::string, std::string>& tags) {
  read_record out;
  spilled_value value = spilled_from_tags(tags, tag_record);
  out.presence = value.presence;
  if (value.presence != record_presence::complete) return out;
  instance_record record;
  if (!parse_body(value.body, record)) {
    out.presence = record_presence::unknown;
    return out;
  }
  out.record = std::move(record);
  return out;
}

}  // namespace tq::handlers
