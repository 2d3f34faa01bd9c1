#include "aws/rest_xml.h"

#include "aws/crypto.h"
#include "aws/query.h"
#include "aws/sigv4.h"

namespace tq::aws {
namespace {

bool is_lower_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

// "https://s3.eu-west-1.amazonaws.com" + "bucket" -> "https://bucket.s3.eu-west-1.amazonaws.com"
std::string with_host_label(std::string_view url, std::string_view label) {
  const size_t start = url.find("://");
  const size_t at = start == std::string_view::npos ? 0 : start + 3;
  std::string out(url.substr(0, at));
  out.append(label).push_back('.');
  out.append(url.substr(at));
  return out;
}

// Where the request goes, up to the query: the bucket in the host or the path, then the key.
std::string base_url(const rest_xml_call& call, const endpoint& e) {
  if (call.target == service::s3control) {
    const bool in_host = !e.overridden && !call.account_id.empty();
    return (in_host ? with_host_label(e.url, call.account_id) : e.url) + call.path;
  }
  std::string url;
  std::string path;
  if (call.bucket.empty()) {
    url = e.url;
  } else if (!e.overridden && virtual_hostable(call.bucket)) {
    url = with_host_label(e.url, call.bucket);
  } else {
    url = e.url;
    path.push_back('/');
    path.append(sigv4::uri_encode(call.bucket, true));
  }
  if (!call.key.empty()) {
    path.push_back('/');
    path.append(sigv4::uri_encode(call.key, false));
  }
  return url + (path.empty() ? "/" : path);
}

std::string status_code_name(long status) {
  switch (status) {
    case 304:
      return "NotModified";
    case 400:
      return "BadRequest";
    case 403:
      return "Forbidden";
    case 404:
      return "NotFound";
    case 412:
      return "PreconditionFailed";
    default:
      return "HTTP" + std::to_string(status);
  }
}

bool flag(const pugi::xml_node& config, const char* name) {
  return text_of(config, name) == "true";
}

std::string xml_flag(const char* name, bool value) {
  return std::string("<") + name + ">" + (value ? "true" : "false") + "</" + name + ">";
}

}  // namespace

std::string call_name(const rest_xml_call& call) {
  return "s3:" + call.operation;
}

bool virtual_hostable(std::string_view bucket) {
  if (bucket.size() < 3 || bucket.size() > 63) return false;
  if (!is_lower_alnum(bucket.front()) || !is_lower_alnum(bucket.back())) return false;
  for (char c : bucket) {
    if (!is_lower_alnum(c) && c != '-') return false;
  }
  return true;
}

http_request rest_xml_request(const rest_xml_call& call, const endpoint& e) {
  http_request request;
  request.method = call.method;
  request.url = base_url(call, e);
  char separator = '?';
  if (!call.subresource.empty()) {
    request.url += separator + percent_encode(call.subresource);
    separator = '&';
  }
  for (const auto& [name, value] : call.query) {
    request.url += separator + percent_encode(name) + "=" + percent_encode(value);
    separator = '&';
  }
  request.headers.push_back({"Host", host_of(request.url)});
  for (const auto& h : call.headers) request.headers.push_back(h);
  if (call.target == service::s3control && !call.account_id.empty()) {
    request.headers.push_back({"x-amz-account-id", call.account_id});
  }
  if (call.checksum) {
    const crypto::digest hash = crypto::sha256(call.body);
    request.headers.push_back({"x-amz-sdk-checksum-algorithm", "SHA256"});
    request.headers.push_back({"x-amz-checksum-sha256", crypto::base64(hash)});
  }
  request.body = call.body;
  return request;
}

std::optional<error> rest_xml_error(const http_response& response, std::string_view where) {
  if (response.status >= 200 && response.status < 300) return std::nullopt;
  error e;
  if (!response.body.empty()) {
    auto parsed = parse_response(response, where);
    if (!parsed.ok()) e = std::move(parsed).err();
  }
  if (e.code.empty() || e.code.starts_with("HTTP")) {
    // No body (a HEAD), or none that names a code: the status says what it can.
    e.code = status_code_name(response.status);
    e.where = std::string(where);
    e.http_status = static_cast<int>(response.status);
    e.retryable = response.status >= 500 || response.status == 429;
  }
  if (e.message.empty()) e.message = "HTTP " + std::to_string(response.status);
  if (e.request_id.empty()) e.request_id = std::string(response.header("x-amz-request-id"));
  if (e.code == "ConditionalRequestConflict") e.retryable = true;
  return e;
}

result<xml_response> parse_rest_xml_document(const http_response& response, std::string_view where) {
  if (auto failure = rest_xml_error(response, where)) return std::move(*failure);
  if (response.body.find_first_not_of(" \t\r\n") == std::string::npos) {
    xml_response empty;
    empty.request_id = std::string(response.header("x-amz-request-id"));
    return empty;
  }
  auto parsed = parse_response(response, where);
  if (parsed.ok() && parsed->request_id.empty()) {
    parsed->request_id = std::string(response.header("x-amz-request-id"));
  }
  return parsed;
}

std::string public_access_block_xml(const public_access_block& config, std::string_view xml_namespace) {
  std::string xml = "<PublicAccessBlockConfiguration xmlns=\"" + std::string(xml_namespace) + "\">";
  xml += xml_flag("BlockPublicAcls", config.block_public_acls);
  xml += xml_flag("IgnorePublicAcls", config.ignore_public_acls);
  xml += xml_flag("BlockPublicPolicy", config.block_public_policy);
  xml += xml_flag("RestrictPublicBuckets", config.restrict_public_buckets);
  xml += "</PublicAccessBlockConfiguration>";
  return xml;
}

public_access_block public_access_block_of(const xml_response& answer) {
  pugi::xml_node config = answer.document.document_element();
  if (std::string_view(config.name()) != "PublicAccessBlockConfiguration") {
    config = config.child("PublicAccessBlockConfiguration");
  }
  return {flag(config, "BlockPublicAcls"), flag(config, "IgnorePublicAcls"),
          flag(config, "BlockPublicPolicy"), flag(config, "RestrictPublicBuckets")};
}

rest_xml_call s3_put_object(std::string bucket, std::string key, std::string body, std::string content_type) {
  rest_xml_call call{service::s3, "PutObject", "PUT", std::move(bucket), std::move(key)};
  if (!content_type.empty()) call.headers.push_back({"Content-Type", std::move(content_type)});
  call.body = std::move(body);
  call.checksum = true;  // required by an Object Lock bucket; S3 verifies and keeps it either way
  call.answer = rest_xml_answer::raw;
  return call;
}

rest_xml_call s3_put_public_access_block(std::string bucket, const public_access_block& config) {
  rest_xml_call call{service::s3, "PutBucketPublicAccessBlock", "PUT", std::move(bucket)};
  call.subresource = "publicAccessBlock";
  call.body = public_access_block_xml(config);
  call.checksum = true;  // S3 refuses PutPublicAccessBlock without one
  return call;
}

rest_xml_call s3_get_public_access_block(std::string bucket) {
  rest_xml_call call{service::s3, "GetBucketPublicAccessBlock", "GET", std::move(bucket)};
  call.subresource = "publicAccessBlock";
  return call;
}

rest_xml_call s3control_put_public_access_block(std::string account_id, const public_access_block& config) {
  rest_xml_call call{service::s3control, "PutAccountPublicAccessBlock", "PUT"};
  call.path = "/v20180820/configuration/publicAccessBlock";
  call.account_id = std::move(account_id);
  call.body = public_access_block_xml(config, s3control_xml_namespace);
  return call;
}

rest_xml_call s3control_delete_public_access_block(std::string account_id) {
  // IAM checks DeletePublicAccessBlock as s3:PutAccountPublicAccessBlock.
  rest_xml_call call{service::s3control, "PutAccountPublicAccessBlock", "DELETE"};
  call.path = "/v20180820/configuration/publicAccessBlock";
  call.account_id = std::move(account_id);
  return call;
}

rest_xml_call s3control_get_public_access_block(std::string account_id) {
  rest_xml_call call{service::s3control, "GetAccountPublicAccessBlock", "GET"};
  call.path = "/v20180820/configuration/publicAccessBlock";
  call.account_id = std::move(account_id);
  return call;
}

}  // namespace tq::aws
