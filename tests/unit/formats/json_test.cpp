// The JSON reader the formats rely on (core/base/json.h): exact integers, byte offsets in
// errors, a nesting limit against hostile input.
#include <gtest/gtest.h>

#include <cmath>

#include "core/base/json.h"

namespace mlxr {
namespace {

TEST(Json, ParsesAllKinds) {
  auto v = Json::parse(R"( {"a": [1, -2.5e1, true, false, null], "s": "x\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00", "o": {}} )", "t");
  ASSERT_TRUE(v) << v.error();
  const Json* a = v->find("a");
  ASSERT_TRUE(a && a->is_array());
  ASSERT_EQ(a->as_array().size(), 5u);
  EXPECT_EQ(a->as_array()[0].exact_int(), 1);
  ASSERT_TRUE(a->as_array()[1].is_number());
  EXPECT_DOUBLE_EQ(a->as_array()[1].as_double(), -25.0);
  EXPECT_EQ(a->as_array()[1].exact_int(), -25);  // exact integers written with an exponent count too
  EXPECT_FALSE(Json::parse("0.5", "t")->exact_int());
  EXPECT_TRUE(a->as_array()[2].as_bool());
  EXPECT_TRUE(a->as_array()[4].is_null());
  EXPECT_EQ(v->find("s")->as_string(), "x\"\\/\b\f\n\r\t\xC3\xA9\xF0\x9F\x98\x80");
  EXPECT_TRUE(v->find("o")->is_object());
  EXPECT_EQ(v->find("missing"), nullptr);
}

TEST(Json, NullMembersCountAsAbsentForFindNonNull) {
  auto v = Json::parse(R"({"n": null, "x": 0})", "t");
  ASSERT_TRUE(v) << v.error();
  EXPECT_NE(v->find("n"), nullptr);
  EXPECT_EQ(v->find_non_null("n"), nullptr);
  EXPECT_EQ(v->find_non_null("missing"), nullptr);
  ASSERT_NE(v->find_non_null("x"), nullptr);
  EXPECT_EQ(v->find_non_null("x")->exact_int(), 0);
  EXPECT_EQ(Json::parse("[1]", "t")->find_non_null("x"), nullptr);  // not an object
}

TEST(Json, LargeIntegersAreExact) {
  auto v = Json::parse("[9007199254740993, 2.0, 1e3]", "t");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->as_array()[0].exact_int(), 9007199254740993LL);
  EXPECT_EQ(v->as_array()[1].exact_int(), 2);
  EXPECT_EQ(v->as_array()[2].exact_int(), 1000);
  // Beyond int64 a number is a double, and no longer an exact integer.
  auto big = Json::parse("[99999999999999999999, 1e300, \"3\"]", "t");
  ASSERT_TRUE(big) << big.error();
  EXPECT_FALSE(big->as_array()[0].is_int());
  EXPECT_FALSE(big->as_array()[0].exact_int());
  EXPECT_FALSE(big->as_array()[1].exact_int());
  EXPECT_FALSE(big->as_array()[2].exact_int());
}

TEST(Json, AcceptsPythonNonFiniteFloats) {
  auto v = Json::parse("[NaN, Infinity, -Infinity]", "t");
  ASSERT_TRUE(v) << v.error();
  EXPECT_TRUE(std::isnan(v->as_array()[0].as_double()));
  EXPECT_EQ(v->as_array()[1].as_double(), HUGE_VAL);
  EXPECT_EQ(v->as_array()[2].as_double(), -HUGE_VAL);
  EXPECT_FALSE(v->as_array()[0].exact_int());
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
    auto v = Json::parse(c.text, "doc");
    ASSERT_FALSE(v) << c.text;
    EXPECT_NE(v.error().find(c.want), std::string::npos) << c.text << " -> " << v.error();
    EXPECT_EQ(v.error().rfind("doc: invalid JSON", 0), 0u) << v.error();
  }
  // Text documents also get line and column.
  auto v = Json::parse("{\n  \"a\": 1,\n  ]", "doc");
  ASSERT_FALSE(v);
  EXPECT_NE(v.error().find("at byte 14 (line 3, column 3)"), std::string::npos) << v.error();
}

TEST(Json, DepthIsLimited) {
  std::string deep(100000, '[');
  auto v = Json::parse(deep, "deep");
  ASSERT_FALSE(v);
  EXPECT_NE(v.error().find("nesting deeper"), std::string::npos);
  std::string deep_obj;
  for (int i = 0; i < 100000; ++i) deep_obj += "{\"a\":";
  EXPECT_FALSE(Json::parse(deep_obj, "deep"));
  std::string ok = std::string(kJsonMaxDepth, '[') + std::string(kJsonMaxDepth, ']');
  EXPECT_TRUE(Json::parse(ok, "ok"));
}

}  // namespace
}  // namespace mlxr
