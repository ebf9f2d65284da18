// Chat templates against @huggingface/jinja: tests/fixtures/tokenizer/chat_templates.json holds
// real templates (Llama 2, Llama 3 / 3.1 with tools, Mistral, Qwen2.5, Qwen3, Gemma 3, Phi-3,
// ChatML, Zephyr, DeepSeek V3) and the oracle's renders of system prompts, multi-turn, tool
// calls and add_generation_prompt, plus the errors the templates raise; also small templates
// exercising filters, tests, loops, macros and whitespace control.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/tokenizer/chat_template.h"
#include "core/tokenizer/jinja.h"
#include "core/tokenizer/tokenizer.h"
#include "tests/unit/tokenizer/tokenizer_test_util.h"

namespace mlxr {
namespace {

const Json& fixture() {
  static const Json j = [] {
    auto p = Json::parse(testing::slurp(testing::source_dir() + "/tests/fixtures/tokenizer/chat_templates.json"));
    return p ? *p : Json();
  }();
  return j;
}

const Json* find_template(const std::string& name) {
  for (auto& t : fixture().find("templates")->as_array())
    if (t.get_string("name") == name) return &t;
  return nullptr;
}

TEST(ChatTemplate, MatchesHuggingFaceJinja) {
  ASSERT_NE(fixture().find("cases"), nullptr) << "fixture missing: run tools/oracles/gen_fixtures.mjs";
  int n = 0, n_err = 0;
  for (auto& c : fixture().find("cases")->as_array()) {
    std::string label = c.get_string("template") + "/" + c.get_string("conversation") +
                        (c.get_bool("add_generation_prompt", false) ? "+gen" : "");
    Expected<std::string> got = make_error("unset");
    if (const Json* inl = c.find("inline")) {
      auto t = jinja::Template::parse(inl->as_string());
      ASSERT_TRUE(t) << label << ": " << t.error();
      got = (*t)->render(*c.find("context"));
    } else {
      const Json* t = find_template(c.get_string("template"));
      ASSERT_NE(t, nullptr) << label;
      ChatTemplateOptions o;
      o.add_generation_prompt = c.get_bool("add_generation_prompt", false);
      o.bos_token = t->get_string("bos");
      o.eos_token = t->get_string("eos");
      if (const Json* tools = c.find("tools"); tools && !tools->is_null()) o.tools = *tools;
      got = render_chat_json(t->get_string("text"), *c.find("messages"), o);
    }
    const Json* want = c.find("expected");
    if (want && want->is_string()) {
      ASSERT_TRUE(got.has_value()) << label << ": " << got.error();
      EXPECT_EQ(*got, want->as_string()) << label;
    } else {
      // The oracle raised: so must we, with the template's own message when it has one.
      EXPECT_FALSE(got.has_value()) << label << " rendered " << testing::quoted(got ? *got : "");
      std::string oracle = c.get_string("error");
      if (!got && (oracle.find("must alternate") != std::string::npos || oracle == "custom failure")) {
        EXPECT_EQ(got.error(), oracle) << label;
      }
      ++n_err;
    }
    ++n;
  }
  EXPECT_GE(n, 140);
  EXPECT_GE(n_err, 10);
}

// The packages' templates reach us through the tokenizer loader (tokenizer_config.json).
TEST(ChatTemplate, LoadedFromTokenizerConfig) {
  for (auto& t : fixture().find("templates")->as_array()) {
    std::string src = t.get_string("source");
    if (src.rfind("package:", 0) != 0) continue;
    std::string dir = testing::source_dir() + "/tools/oracles/node_modules/" + src.substr(8) + "/models";
    if (!std::filesystem::exists(dir + "/tokenizer.json")) {
      std::fprintf(stderr, "\n*** SKIPPED: %s absent: run `npm ci` in tools/oracles ***\n", dir.c_str());
      GTEST_SKIP();
    }
    auto tok = testing::cached_tokenizer(dir + "/tokenizer.json");
    ASSERT_TRUE(tok) << tok.error();
    EXPECT_EQ((*tok)->chat_template(), t.get_string("text")) << src;
    EXPECT_EQ((*tok)->bos_text(), t.get_string("bos")) << src;
  }
}

TEST(ChatTemplate, ErrorsNameTheLine) {
  auto bad = jinja::Template::parse("line one\n{% if x %}\nno end");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().find("endif"), std::string::npos) << bad.error();
  auto bad2 = jinja::Template::parse("a\nb\n{{ 1 + }}");
  ASSERT_FALSE(bad2);
  EXPECT_NE(bad2.error().find("line 3"), std::string::npos) << bad2.error();
  auto t = jinja::Template::parse("x\n{{ messages[0].content.nosuch() }}");
  ASSERT_TRUE(t);
  auto r = (*t)->render(*Json::parse(R"({"messages": [{"content": "hi"}]})"));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("line 2"), std::string::npos) << r.error();
}

TEST(ChatTemplate, HostileTemplatesFailCleanly) {
  for (const char* src : {"{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
                          "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
                          "{{ messages[0]['content'] + 1 }}", "{{ nosuch() }}", "{% if %}", "{{ 'a' ", "{% for %}",
                          "{{ x.y.z }}", "{{ [1, 2][5] }}{{ {}['k'] }}", "{% set ns.x = 1 %}"}) {
    auto t = jinja::Template::parse(src);
    if (!t) continue;  // a parse error is a clean failure too
    auto r = (*t)->render(*Json::parse(R"({"messages": [{"content": "hi"}]})"));
    (void)r;  // either a render or an error value; never a crash or a hang
  }
  auto t = jinja::Template::parse("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}");
  ASSERT_TRUE(t);
  auto r = (*t)->render(Json(Json::Object{}));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("deeper"), std::string::npos) << r.error();
}

TEST(ChatTemplate, DefaultsFromSpecialTokens) {
  MLXR_REQUIRE_DATA("llama.cpp-vocab/ggml-vocab-llama-spm.gguf");
  auto tok = testing::cached_tokenizer(testing::data_path("llama.cpp-vocab/ggml-vocab-llama-spm.gguf"));
  ASSERT_TRUE(tok);
  std::vector<ChatMessage> msgs = {{"system", "S"}, {"user", "Hi"}};
  auto r = render_chat(chat_template_or_default(**tok), msgs, true, "<s>", "</s>");
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(*r, "<s>[INST] <<SYS>>\nS\n<</SYS>>\n\nHi [/INST]");
}

}  // namespace
}  // namespace mlxr
