#include "runtime/result.h"

namespace tq {

std::string error::describe() const {
  std::string text;
  if (!where.empty()) text += where + ": ";
  text += code.empty() ? "Error" : code;
  if (!message.empty()) text += ": " + message;
  std::string details;
  if (http_status != 0) details += "HTTP " + std::to_string(http_status);
  if (!request_id.empty()) details += (details.empty() ? "" : ", ") + std::string("request id ") + request_id;
  details += (details.empty() ? "" : ", ") + std::string(retryable ? "retryable" : "not retryable");
  return text + " (" + details + ")";
}

error&& error::within(std::string_view outer) && {
  where = where.empty() ? std::string(outer) : std::string(outer) + ": " + where;
  return std::move(*this);
}

}  // namespace tq
