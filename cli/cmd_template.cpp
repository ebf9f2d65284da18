// mlxr template -m MODEL messages.json [--add-generation-prompt]
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/cmd_tokenize.h"
#include "core/base/json.h"
#include "core/tokenizer/chat_template.h"
#include "core/tokenizer/tokenizer.h"

namespace mlxr::cli {
namespace {

void template_usage(FILE* f) {
  std::fprintf(f,
               "usage: mlxr template -m MODEL MESSAGES.json [--add-generation-prompt] [--template FILE] [--tools FILE]\n\n"
               "  MESSAGES.json            a JSON array of {role, content, ...}, or a request body\n"
               "                           {\"messages\": [...], \"tools\": [...]} (\"-\": stdin)\n"
               "  -m, --model PATH         model or tokenizer whose chat template (and BOS/EOS) to use\n"
               "  --tokenizer PATH         tokenizer for a model file that has none\n"
               "  --add-generation-prompt  end with the assistant turn opener\n"
               "  --template FILE          use this Jinja template instead of the model's\n"
               "  --tools FILE             a JSON array of tool definitions\n"
               "  --var KEY=JSON           another template variable (e.g. enable_thinking=false)\n");
}

Expected<Json> read_json(const std::string& path) {
  std::ostringstream ss;
  if (path == "-") {
    ss << std::cin.rdbuf();
  } else {
    std::ifstream f(path, std::ios::binary);
    if (!f) return make_error("cannot read " + path);
    ss << f.rdbuf();
  }
  auto j = Json::parse(ss.str());
  if (!j) return make_error(path + ": " + j.error());
  return *j;
}

}  // namespace

int cmd_template(int argc, char** argv) {
  std::string model, tok_path, messages_path, template_path, tools_path;
  bool gen = false;
  Json::Object extra;
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](std::string& dst) {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "mlxr template: %s needs a value\n", a.c_str());
        return false;
      }
      dst = argv[++i];
      return true;
    };
    if (a == "-h" || a == "--help") {
      template_usage(stdout);
      return 0;
    } else if (a == "-m" || a == "--model") {
      if (!value(model)) return 2;
    } else if (a == "--tokenizer") {
      if (!value(tok_path)) return 2;
    } else if (a == "--template") {
      if (!value(template_path)) return 2;
    } else if (a == "--tools") {
      if (!value(tools_path)) return 2;
    } else if (a == "--add-generation-prompt") {
      gen = true;
    } else if (a == "--var") {
      std::string kv;
      if (!value(kv)) return 2;
      size_t eq = kv.find('=');
      auto v = eq == std::string::npos ? Expected<Json>(make_error("expected KEY=JSON")) : Json::parse(kv.substr(eq + 1));
      if (!v) {
        std::fprintf(stderr, "mlxr template: --var %s: %s\n", kv.c_str(), v.error().c_str());
        return 2;
      }
      extra.emplace_back(kv.substr(0, eq), *v);
    } else if (a.size() > 1 && a[0] == '-') {
      std::fprintf(stderr, "mlxr template: unknown option '%s'\n\n", a.c_str());
      template_usage(stderr);
      return 2;
    } else {
      messages_path = a;
    }
  }
  if (model.empty() || messages_path.empty()) {
    template_usage(stderr);
    return 2;
  }
  auto tok = load_tokenizer_for(model, tok_path);
  if (!tok) {
    std::fprintf(stderr, "mlxr template: %s\n", tok.error().c_str());
    return 1;
  }
  auto body = read_json(messages_path);
  if (!body) {
    std::fprintf(stderr, "mlxr template: %s\n", body.error().c_str());
    return 1;
  }
  ChatTemplateOptions o;
  o.add_generation_prompt = gen;
  o.bos_token = (*tok)->bos_text();
  o.eos_token = (*tok)->eos_text();
  o.extra = Json(std::move(extra));
  Json messages = *body;
  if (body->is_object()) {
    const Json* m = body->find("messages");
    if (!m) {
      std::fprintf(stderr, "mlxr template: %s has no \"messages\"\n", messages_path.c_str());
      return 1;
    }
    messages = *m;
    if (const Json* t = body->find("tools")) o.tools = *t;
  }
  if (!messages.is_array()) {
    std::fprintf(stderr, "mlxr template: messages must be a JSON array\n");
    return 1;
  }
  if (!tools_path.empty()) {
    auto t = read_json(tools_path);
    if (!t) {
      std::fprintf(stderr, "mlxr template: %s\n", t.error().c_str());
      return 1;
    }
    o.tools = *t;
  }
  std::string tmpl;
  if (!template_path.empty()) {
    std::ifstream f(template_path, std::ios::binary);
    if (!f) {
      std::fprintf(stderr, "mlxr template: cannot read %s\n", template_path.c_str());
      return 1;
    }
    std::ostringstream ss;
    ss << f.rdbuf();
    tmpl = ss.str();
  } else {
    tmpl = chat_template_or_default(**tok);
  }
  auto out = render_chat_json(tmpl, messages, o);
  if (!out) {
    std::fprintf(stderr, "mlxr template: %s\n", out.error().c_str());
    return 1;
  }
  std::fwrite(out->data(), 1, out->size(), stdout);
  return 0;
}

}  // namespace mlxr::cli
