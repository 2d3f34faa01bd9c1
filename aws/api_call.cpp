#include "aws/api_call.h"

namespace tq::aws {
namespace {

template <class... F>
struct overloaded : F... {
  using F::operator()...;
};
template <class... F>
overloaded(F...) -> overloaded<F...>;  // clang before 17 (the fuzz build) does not deduce it

template <class T>
result<api_answer> as_answer(result<T> parsed) {
  if (!parsed.ok()) return std::move(parsed).err();
  return api_answer{std::move(*parsed)};
}

}  // namespace

service service_of(const api_call& call) {
  return std::visit([](const auto& c) { return c.target; }, call);
}

std::string call_name(const api_call& call) {
  return std::visit([](const auto& c) { return call_name(c); }, call);
}

bool is_idempotent(const api_call& call) {
  return std::visit([](const auto& c) { return c.idempotent; }, call);
}

http_request unsigned_request(const api_call& call, const endpoint& e) {
  return std::visit(overloaded{[&](const query_call& c) { return query_request(c, e); },
                               [&](const json_call& c) { return json_request(c, e); },
                               [&](const rest_json_call& c) { return rest_json_request(c, e); },
                               [&](const rest_xml_call& c) { return rest_xml_request(c, e); }},
                    call);
}

signing_style signing_style_of(const api_call& call) {
  if (std::holds_alternative<rest_xml_call>(call)) return {false, false, true};
  return {};
}

result<api_answer> read_answer(const api_call& call, const http_response& response, std::string_view where) {
  return std::visit(
      overloaded{[&](const query_call&) { return as_answer(parse_response(response, where)); },
                 [&](const json_call&) { return as_answer(parse_json_response(response, where)); },
                 [&](const rest_json_call& c) {
                   return as_answer(parse_rest_json_response(response, c.target, where));
                 },
                 [&](const rest_xml_call& c) -> result<api_answer> {
                   if (c.answer == rest_xml_answer::xml)
                     return as_answer(parse_rest_xml_document(response, where));
                   if (auto failure = rest_xml_error(response, where)) return std::move(*failure);
                   return api_answer{response};
                 }},
      call);
}

}  // namespace tq::aws
