// json_read::read_plain gives nlohmann::json::parse's document or declines: checked on the sample events,
// the fuzzing corpora, awkward texts, and random mutations of them all.
#include "runtime/json_read.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "runtime/json_text.h"

namespace tq::json_read {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Same document: equal (nlohmann compares numbers of different kinds as equal) and dumped alike (which
// tells 1, 1.0 and -0 apart).
void expect_same_or_declined(const std::string& text) {
  std::optional<json> reference;
  try {
    reference = json::parse(text);
  } catch (const json::exception&) {  // parse_error, and out_of_range for a number beyond a double
  }
  const std::optional<json> plain = read_plain(text);
  if (!plain) return;  // declining is always allowed
  ASSERT_TRUE(reference.has_value()) << "accepted what nlohmann refuses: " << text.substr(0, 200);
  EXPECT_EQ(*plain, *reference) << text.substr(0, 200);
  EXPECT_EQ(plain->dump(), reference->dump()) << text.substr(0, 200);
}

std::vector<std::string> files_under(const fs::path& dir) {
  std::vector<std::string> texts;
  if (!fs::exists(dir)) return texts;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream buffer;
    buffer << in.rdbuf();
    texts.push_back(buffer.str());
  }
  return texts;
}

const std::vector<std::string> awkward = {
    "",
    " ",
    "{}",
    "[]",
    " { } ",
    "[1,]",
    "{,}",
    "{\"a\":1,}",
    "{\"a\" 1}",
    "{\"a\":}",
    "[1 2]",
    "nul",
    "truex",
    "true",
    "false",
    "null",
    "0",
    "-0",
    "-0.0",
    "01",
    "1.",
    ".5",
    "-",
    "+1",
    "1e5",
    "1E+5",
    "-1.5e-3",
    "2.5E-0",
    "123456789012345678",
    "1234567890123456789",
    "18446744073709551615",
    "18446744073709551616",
    "-123456789012345678",
    "-9223372036854775808",
    "-9223372036854775809",
    "1e400",
    "1e-400",
    "-1e400",
    "0.1",
    "0.30000000000000004",
    "8.0",
    "1.7976931348623157e308",
    "4.9e-324",
    "\"\"",
    "\"a\\\"b\\\\c\\/d\"",
    "\"\\b\\f\\n\\r\\t\"",
    "\"\\u0041\"",
    "\"\\ud83d\\udd12\"",
    "\"\\x\"",
    "\"caf\xc3\xa9\"",
    "\"\xff\"",
    "\"tab\there\"",
    "\"del\x7f\"",
    "\"unterminated",
    "\"a\" \"b\"",
    "{\"k\":1,\"k\":2}",
    "{\"b\":1,\"a\":[true,null]}",
    "\xef\xbb\xbf{}",
    " \t\r\n[ 1 , { \"x\" : [ ] } ] \n",
    "[[[[[[[[[[]]]]]]]]]]",
    "{\"a\":1}x",
    "[1]]",
    "[\"\\u\"]",
};

TEST(json_read, awkward_texts_give_nlohmanns_document_or_are_declined) {
  for (const auto& text : awkward) expect_same_or_declined(text);
  // Declined deep nesting is parsed by nlohmann (parse() falls back).
  const std::string deep = std::string(100, '[') + std::string(100, ']');
  EXPECT_FALSE(read_plain(deep).has_value());
  EXPECT_EQ(parse(deep), json::parse(deep));
  EXPECT_THROW(parse("{\"a\":"), json::parse_error);
}

TEST(json_read, parse_or_discarded_falls_back_without_throwing) {
  EXPECT_EQ(parse_or_discarded("{\"a\":[1]}"), json::parse("{\"a\":[1]}"));
  // Declined by read_plain (a \u escape, a byte above 0x7F), read by nlohmann.
  EXPECT_EQ(parse_or_discarded("[\"\\u00e9\"]"), json::parse("[\"\\u00e9\"]"));
  EXPECT_EQ(parse_or_discarded("[\"\xc3\xa9\"]")[0], "\xc3\xa9");
  for (const char* text : {"{\"a\":", "", "[\"\\q\"]", "[\"\xff\"]"}) {
    EXPECT_TRUE(parse_or_discarded(text).is_discarded()) << text;
  }
}

TEST(json_read, one_letter_escapes_stand_for_their_characters) {
  const std::pair<char, char> escapes[] = {{'"', '"'},  {'\\', '\\'}, {'/', '/'},  {'b', '\b'},
                                           {'f', '\f'}, {'n', '\n'},  {'r', '\r'}, {'t', '\t'}};
  for (const auto& [letter, character] : escapes)
    EXPECT_EQ(json_text::short_escape(letter), character) << letter;
  for (const char letter : {'u', 'a', 'N', '0', '\'', ' '})
    EXPECT_FALSE(json_text::short_escape(letter)) << letter;
  EXPECT_EQ(parse("[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"]")[0], "\"\\/\b\f\n\r\t");
}

TEST(json_read, the_common_cases_are_not_declined) {
  for (const char* text : {"{\"a\":[1,-2,3.5,true,false,null,\"x\\n\"],\"b\":{}}", "8.0", "\"plain\""}) {
    EXPECT_TRUE(read_plain(text).has_value()) << text;
  }
}

TEST(json_read, samples_and_corpora_give_nlohmanns_document_or_are_declined) {
  const fs::path source(TQ_SOURCE_DIR);
  std::vector<std::string> texts = files_under(source / "events");
  const size_t samples = texts.size();
  for (const char* corpus : {"fuzz_event", "fuzz_cloudwatch_logs", "fuzz_finding_summary"}) {
    for (auto& text : files_under(source / "tests" / "fuzz" / "corpus" / corpus))
      texts.push_back(std::move(text));
  }
  ASSERT_GT(samples, 10u);
  size_t accepted = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    expect_same_or_declined(texts[i]);
    if (i < samples && read_plain(texts[i])) ++accepted;
  }
  EXPECT_GT(accepted * 2, samples) << "the quick path should take most sample events";

  // Random mutations: bytes changed, inserted, deleted; pieces of JSON syntax dropped in.
  std::mt19937 random(18);
  const std::string pieces[] = {
      "\"", "\\", "{",   "}",    "[",    "]", ",",    ":",    "-",     ".",
      "e",  "0",  "\\u", "\xc3", "\x01", " ", "true", "null", "1e999", "99999999999999999999"};
  for (int round = 0; round < 4000; ++round) {
    std::string text = texts[random() % samples];
    const int edits = 1 + static_cast<int>(random() % 4);
    for (int e = 0; e < edits && !text.empty(); ++e) {
      const size_t at = random() % text.size();
      switch (random() % 4) {
        case 0:
          text[at] = static_cast<char>(random() % 256);
          break;
        case 1:
          text.erase(at, 1 + random() % 3);
          break;
        case 2:
          text.insert(at, pieces[random() % std::size(pieces)]);
          break;
        default:
          text.resize(at);
      }
    }
    expect_same_or_declined(text);
  }
}

}  // namespace
}  // namespace tq::json_read
