#include "handlers/event_sequence.h"

#include <exception>

#include "handlers/event.h"

namespace tq::handlers {
namespace {

using nlohmann::json;

// A decode error is thrown inside this file and caught at decode_attack_sequence, as in event.cpp.
struct sequence_failure {
  error err;
};

[[noreturn]] void fail(const std::string& path, const std::string& message) {
  throw sequence_failure{error{invalid_event_code, path + ": " + message, path, false}};
}

// One JSON object and where it sits.
class node {
 public:
  node(const json& value, std::string path) : m_value(value), m_path(std::move(path)) {
    if (!m_value.is_object()) fail(m_path, std::string("expected an object, got ") + m_value.type_name());
  }

  std::string at(std::string_view key) const { return m_path + "." + std::string(key); }

  const json* find(std::string_view key) const {
    auto it = m_value.find(key);
    return it == m_value.end() || it->is_null() ? nullptr : &*it;
  }

  std::string text(std::string_view key) const {
    const json* v = find(key);
    if (!v) return {};
    if (!v->is_string()) fail(at(key), std::string("expected a string, got ") + v->type_name());
    return v->get<std::string>();
  }

  std::string required_text(std::string_view key) const {
    if (!find(key)) fail(at(key), "required field is missing");
    return text(key);
  }

  std::optional<std::int64_t> integer(std::string_view key) const {
    const json* v = find(key);
    if (!v) return std::nullopt;
    if (!v->is_number_integer()) fail(at(key), std::string("expected an integer, got ") + v->dump());
    return v->get<std::int64_t>();
  }

  std::optional<node> object(std::string_view key) const {
    const json* v = find(key);
    if (!v) return std::nullopt;
    return node(*v, at(key));
  }

  // Each member of the array at `key` (absent: none), as objects.
  template <class F>
  void each(std::string_view key, F&& visit) const {
    const json* v = find(key);
    if (!v) return;
    if (!v->is_array()) fail(at(key), std::string("expected an array, got ") + v->type_name());
    for (std::size_t i = 0; i < v->size(); ++i) visit(node((*v)[i], at(key) + "[" + std::to_string(i) + "]"));
  }

  std::vector<std::string> texts(std::string_view key) const {
    std::vector<std::string> out;
    const json* v = find(key);
    if (!v) return out;
    if (!v->is_array()) fail(at(key), std::string("expected an array, got ") + v->type_name());
    for (std::size_t i = 0; i < v->size(); ++i) {
      const json& item = (*v)[i];
      if (!item.is_string())
        fail(at(key) + "[" + std::to_string(i) + "]",
             std::string("expected a string, got ") + item.type_name());
      out.push_back(item.get<std::string>());
    }
    return out;
  }

 private:
  const json& m_value;
  std::string m_path;
};

void decode_resource_data(const node& data, sequence_resource& r) {
  if (auto instance = data.object("ec2Instance")) {
    r.interface_ids = instance->texts("ec2NetworkInterfaceUids");
    // The model gives this member no locationName: it travels under its own name.
    if (auto profile = instance->object("IamInstanceProfile")) {
      if (std::string arn = profile->text("arn"); !arn.empty()) r.instance_profile_arn = std::move(arn);
    }
  }
  if (auto key = data.object("accessKey")) {
    r.access_key =
        sequence_access_key{key->text("principalId"), key->text("userName"), key->text("userType")};
  }
  if (auto eni = data.object("ec2NetworkInterface")) {
    sequence_interface i{eni->text("subNetId"), eni->text("vpcId"), {}};
    eni->each("securityGroups", [&](const node& g) { i.security_group_ids.push_back(g.text("groupId")); });
    r.interface = std::move(i);
  }
}

sequence_resource decode_resource(const node& n) {
  sequence_resource r;
  r.uid = n.required_text("uid");
  if (r.uid.empty()) fail(n.at("uid"), "expected a non-empty uid");
  r.resource_type = n.required_text("resourceType");
  r.name = n.text("name");
  r.account_id = n.text("accountId");
  r.region = n.text("region");
  r.service = n.text("service");
  r.cloud_partition = n.text("cloudPartition");
  n.each("tags", [&](const node& t) { r.tags.emplace_back(t.required_text("key"), t.text("value")); });
  if (auto data = n.object("data")) decode_resource_data(*data, r);
  return r;
}

sequence_actor decode_actor(const node& n) {
  sequence_actor a;
  a.id = n.required_text("id");
  if (auto user = n.object("user")) {
    a.user_name = user->required_text("name");
    a.user_uid = user->required_text("uid");
    a.user_type = user->required_text("type");
    a.credential_uid = user->text("credentialUid");
    if (auto account = user->object("account")) a.account_id = account->required_text("uid");
  }
  if (auto session = n.object("session")) {
    a.session_issuer = session->text("issuer");
    if (std::string mfa = session->text("mfaStatus"); !mfa.empty()) a.mfa = std::move(mfa);
  }
  return a;
}

sequence_endpoint decode_endpoint(const node& n) {
  sequence_endpoint e;
  e.id = n.required_text("id");
  e.ip = n.text("ip");
  e.domain = n.text("domain");
  e.port = n.integer("port");
  if (auto connection = n.object("connection")) e.direction = connection->text("direction");
  return e;
}

attack_sequence decode(const node& n) {
  attack_sequence s;
  s.uid = n.required_text("uid");
  s.description = n.text("description");
  n.each("actors", [&](const node& a) { s.actors.push_back(decode_actor(a)); });
  n.each("resources", [&](const node& r) { s.resources.push_back(decode_resource(r)); });
  n.each("endpoints", [&](const node& e) { s.endpoints.push_back(decode_endpoint(e)); });
  n.each("signals", [&](const node& g) {
    s.signals.push_back({g.required_text("uid"), g.required_text("type"), g.text("name"),
                         g.texts("resourceUids"), g.texts("actorIds"), g.texts("endpointIds")});
  });
  n.each("sequenceIndicators", [&](const node& i) {
    s.indicators.push_back({i.required_text("key"), i.texts("values"), i.text("title")});
  });
  return s;
}

}  // namespace

result<attack_sequence> decode_attack_sequence(const nlohmann::json& sequence, std::string_view path) {
  try {
    return decode(node(sequence, std::string(path)));
  } catch (const sequence_failure& failure) {
    return failure.err;
  } catch (const std::exception& e) {
    const std::string where(path);
    return error{invalid_event_code, where + ": could not decode the sequence: " + e.what(), where, false};
  }
}

}  // namespace tq::handlers
