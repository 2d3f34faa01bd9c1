// S3's answers on arbitrary bytes: any status and body become a document, the HTTP answer, or an error with a
// code, whichever the REST-XML call asked for. Input: one byte choosing the status, then the body.
#include <cstddef>
#include <cstdint>
#include <string>

#include "aws/api_call.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static constexpr long statuses[] = {200, 204, 304, 400, 403, 404, 409, 412, 500, 503};
  tq::aws::http_response response;
  response.status = statuses[data[0] % (sizeof statuses / sizeof statuses[0])];
  response.body.assign(reinterpret_cast<const char*>(data) + 1, size - 1);
  response.headers.push_back({"x-amz-request-id", "FUZZ"});
  const tq::aws::api_call get = tq::aws::s3_get_public_access_block("bucket");
  const tq::aws::api_call put = tq::aws::s3_put_object("bucket", "key", "body", "text/plain");
  for (const auto* call : {&get, &put}) {
    auto answer = tq::aws::read_answer(*call, response, "s3:Fuzz");
    if (answer.ok() && response.status >= 300) __builtin_trap();  // only a 2xx may succeed
    if (!answer.ok() && answer.err().code.empty()) __builtin_trap();
    if (answer.ok() && answer->is_xml()) (void)tq::aws::public_access_block_of(answer->xml());
  }
  return 0;
}
