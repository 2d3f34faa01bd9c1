#include "handlers/event_s3.h"

#include "handlers/event.h"

namespace tq::handlers {
namespace {

using nlohmann::json;

error bad(const std::string& where, const std::string& message) {
  return error{invalid_event_code, where + ": " + message, where, false};
}

// The string at `key` of `object` ("" when absent or null), or the error naming its path.
result<std::string> text_at(const json& object, std::string_view key, const std::string& path) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return std::string();
  if (!it->is_string())
    return bad(path + "." + std::string(key), std::string("expected a string, got ") + it->type_name());
  return it->get<std::string>();
}

result<s3_bucket_details> decode_bucket(const json& item, const std::string& path) {
  if (!item.is_object()) return bad(path, std::string("expected an object, got ") + item.type_name());
  s3_bucket_details b;
  for (auto [key, field] :
       {std::pair{"arn", &b.arn}, std::pair{"name", &b.name}, std::pair{"type", &b.type}}) {
    auto value = text_at(item, key, path);
    if (!value) return std::move(value).err();
    *field = std::move(*value);
  }
  if (b.name.empty() && b.arn.starts_with("arn:")) b.name = b.arn.substr(b.arn.rfind(':') + 1);
  if (b.name.empty()) return bad(path + ".name", "the bucket has neither a name nor an ARN");
  if (auto tags = item.find("tags"); tags != item.end() && !tags->is_null()) {
    if (!tags->is_array())
      return bad(path + ".tags", std::string("expected an array, got ") + tags->type_name());
    for (std::size_t i = 0; i < tags->size(); ++i) {
      const std::string at = path + ".tags[" + std::to_string(i) + "]";
      if (!(*tags)[i].is_object()) return bad(at, "expected an object");
      auto key = text_at((*tags)[i], "key", at);
      if (!key) return std::move(key).err();
      auto value = text_at((*tags)[i], "value", at);
      if (!value) return std::move(value).err();
      b.tags.emplace_back(std::move(*key), std::move(*value));
    }
  }
  if (auto access = item.find("publicAccess"); access != item.end() && access->is_object()) {
    auto permission = text_at(*access, "effectivePermission", path + ".publicAccess");
    if (!permission) return std::move(permission).err();
    b.effective_permission = std::move(*permission);
  }
  return b;
}

}  // namespace

result<std::vector<s3_bucket_details>> decode_s3_buckets(const nlohmann::json& details,
                                                         std::string_view path) {
  const std::string at(path);
  if (!details.is_array()) return bad(at, std::string("expected an array, got ") + details.type_name());
  std::vector<s3_bucket_details> buckets;
  for (std::size_t i = 0; i < details.size(); ++i) {
    auto bucket = decode_bucket(details[i], at + "[" + std::to_string(i) + "]");
    if (!bucket) return std::move(bucket).err();
    buckets.push_back(std::move(*bucket));
  }
  return buckets;
}

}  // namespace tq::handlers
