// One call to AWS in whichever protocol its service speaks, and its answer, so that the calls of a plan
// go out together in one batch (client::send_all) whatever their services.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <variant>

#include "aws/endpoints.h"
#include "aws/http.h"
#include "aws/json_protocol.h"
#include "aws/query.h"
#include "aws/rest_json.h"
#include "aws/rest_xml.h"
#include "aws/xml.h"

namespace tq::aws {

using api_call = std::variant<query_call, json_call, rest_json_call, rest_xml_call>;

service service_of(const api_call& call);
// "ec2:DescribeInstances", "guardduty:GetFindings": the IAM action the call needs, also used in errors.
std::string call_name(const api_call& call);
// False for a call that must not happen twice (see query_call::idempotent).
bool is_idempotent(const api_call& call);

// The unsigned request, in the call's protocol.
http_request unsigned_request(const api_call& call, const endpoint& e);

// How SigV4 treats the call beyond its endpoint's region and name: S3 (REST-XML) neither normalises nor
// encodes its path a second time, and signs the payload's SHA-256 in x-amz-content-sha256.
struct signing_style {
  bool normalize_path = true;
  bool double_encode_path = true;
  bool sign_body = false;
};
signing_style signing_style_of(const api_call& call);

// A successful answer: the XML document of a query or REST-XML call, the JSON of the JSON protocols, or the
// HTTP answer itself for a REST-XML call that asked for it (rest_xml_answer::raw: an object, a PutObject).
struct api_answer {
  std::variant<xml_response, nlohmann::json, http_response> body;
  // Attempts of this call that timed out before this answer came (see xml_response).
  int unanswered_attempts = 0;

  bool is_xml() const { return body.index() == 0; }
  // The caller knows what it called: asking a query answer for JSON, or the reverse, is a bug
  // (std::bad_variant_access).
  const xml_response& xml() const { return std::get<xml_response>(body); }
  xml_response& xml() { return std::get<xml_response>(body); }
  const nlohmann::json& json() const { return std::get<nlohmann::json>(body); }
  nlohmann::json& json() { return std::get<nlohmann::json>(body); }
  const http_response& raw() const { return std::get<http_response>(body); }
};

// The answer to `call`, or the error, read in the call's protocol; `where` names the call.
result<api_answer> read_answer(const api_call& call, const http_response& response, std::string_view where);

}  // namespace tq::aws
