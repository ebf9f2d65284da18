#include <gtest/gtest.h>

#include "core/formats/json.h"

namespace mlxr {
namespace {

TEST(Json, ParsesAllKinds) {
  auto v = parse_json(R"( {"a": [1, -2.5e1, true, false, null], "s": "x\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00", "o": {}} )", "t");
  ASSERT_TRUE(v) << v.error();
  const JsonValue* a = v->get("a");
  ASSERT_TRUE(a && a->is_array());
  ASSERT_EQ(a->arr.size(), 5u);
  EXPECT_EQ(a->arr[0].as_int(), 1);
  EXPECT_DOUBLE_EQ(*a->arr[1].as_double(), -25.0);
  EXPECT_EQ(a->arr[1].as_int(), -25);  // exact integers written with an exponent count too
  EXPECT_FALSE(parse_json("0.5", "t")->as_int());
  EXPECT_TRUE(a->arr[2].b);
  EXPECT_TRUE(a->arr[4].is_null());
  EXPECT_EQ(v->get("s")->str, "x\"\\/\b\f\n\r\t\xC3\xA9\xF0\x9F\x98\x80");
  EXPECT_TRUE(v->get("o")->is_object());
  EXPECT_EQ(v->get("missing"), nullptr);
}

TEST(Json, LargeIntegersAreExact) {
  auto v = parse_json("[9007199254740993, 2.0, 1e3]", "t");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->arr[0].as_int(), 9007199254740993LL);
  EXPECT_EQ(v->arr[1].as_int(), 2);
  EXPECT_EQ(v->arr[2].as_int(), 1000);
}

TEST(Json, ErrorsNameTheOffset) {
  struct Case {
    const char* text;
    const char* want;
  } cases[] = {
      {"{\"a\": 1,}", "at byte 8"},     {"[1 2]", "expected ',' or ']'"}, {"\"abc", "unterminated string"},
      {"{\"a\" 1}", "expected ':'"},    {"tru", "unexpected character"},  {"[1] x", "trailing"},
      {"\"\\ud800\"", "surrogate"},     {"-", "bad number"},              {"1.", "fraction"},
      {"\"a\x01\"", "control character"}, {"", "unexpected end"},        {"{\"a\":\"\\q\"}", "invalid escape"},
  };
  for (const auto& c : cases) {
    auto v = parse_json(c.text, "doc");
    ASSERT_FALSE(v) << c.text;
    EXPECT_NE(v.error().find(c.want), std::string::npos) << c.text << " -> " << v.error();
    EXPECT_EQ(v.error().rfind("doc: invalid JSON", 0), 0u) << v.error();
  }
}

TEST(Json, DepthIsLimited) {
  std::string deep(100000, '[');
  auto v = parse_json(deep, "deep");
  ASSERT_FALSE(v);
  EXPECT_NE(v.error().find("nesting deeper"), std::string::npos);
  std::string ok = std::string(kJsonMaxDepth, '[') + std::string(kJsonMaxDepth, ']');
  EXPECT_TRUE(parse_json(ok, "ok"));
}

}  // namespace
}  // namespace mlxr
