// json_read against nlohmann on arbitrary bytes: whatever read_plain accepts, nlohmann::json::parse accepts
// too and reads as the same document; read_plain never accepts what nlohmann refuses. json_read::parse
// then answers exactly as nlohmann does (the same document, or nlohmann's own error).
// libFuzzer dictionary: json.dict
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string_view>

#include "runtime/json_read.h"

namespace {

// The same kind (object, array, string, integer, unsigned, float...) at every place: == compares numbers
// across kinds, so 5 read as an integer would equal 5 read as unsigned.
bool same_kinds(const nlohmann::json& a, const nlohmann::json& b) {
  if (a.type() != b.type() || a.size() != b.size()) return false;
  if (a.is_object()) {
    for (auto ia = a.begin(), ib = b.begin(); ia != a.end(); ++ia, ++ib) {
      if (ia.key() != ib.key() || !same_kinds(*ia, *ib)) return false;
    }
  } else if (a.is_array()) {
    for (std::size_t i = 0; i < a.size(); ++i) {
      if (!same_kinds(a[i], b[i])) return false;
    }
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto plain = tq::json_read::read_plain(text);
  nlohmann::json reference;
  bool parsed = true;
  try {
    reference = nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::exception&) {  // parse_error, and out_of_range for 1e999
    parsed = false;
  }
  if (!plain) return 0;
  if (!parsed) __builtin_trap();  // accepted what nlohmann refuses
  if (*plain != reference || !same_kinds(*plain, reference)) __builtin_trap();
  return 0;
}
