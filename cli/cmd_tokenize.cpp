// mlxr tokenize -m MODEL [--ids|--pieces|--json] [--raw] TEXT
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <vector>

#include "cli/cmd_tokenize.h"
#include "core/base/json.h"
#include "core/formats/model_file.h"
#include "core/tokenizer/tokenizer.h"

namespace mlxr::cli {
namespace {

void tokenize_usage(FILE* f) {
  std::fprintf(f,
               "usage: mlxr tokenize -m MODEL [--ids|--pieces|--json] [--raw] [-f FILE | TEXT]\n\n"
               "  -m, --model PATH   .gguf, tokenizer.json, tokenizer.model, llama2.c tokenizer .bin or an HF directory\n"
               "  --tokenizer PATH   tokenizer to use with a model file that has none (llama2.c checkpoints)\n"
               "  --ids              only the ids, space-separated on one line\n"
               "  --pieces           one token text per line (JSON-quoted)\n"
               "  --json             {\"ids\": [...], \"pieces\": [...]}\n"
               "  --raw              no BOS/EOS, and special-token text is plain text (as llama.cpp's vocab tests)\n"
               "  -f, --file FILE    read the text from FILE (\"-\": stdin)\n"
               "default output: one line per token, \"ID -> 'piece'\"\n");
}

std::string quoted(const std::string& s) {
  std::string out;
  json_escape(out, s);
  return out;
}

}  // namespace

Expected<std::shared_ptr<Tokenizer>> load_tokenizer_for(const std::string& model,
                                                         const std::string& tokenizer_override) {
  namespace fs = std::filesystem;
  if (!tokenizer_override.empty()) return Tokenizer::load_path(tokenizer_override);
  std::string ext = fs::path(model).extension().string();
  std::string stem = fs::path(model).filename().string();
  bool tokenizer_file = fs::is_directory(model) || ext == ".json" || ext == ".model" || ext == ".gguf" ||
                        (ext == ".bin" && stem.rfind("tok", 0) == 0);
  if (tokenizer_file) return Tokenizer::load_path(model);
  auto mf = open_model(model);
  if (!mf) return make_error(mf.error());
  return Tokenizer::load((*mf)->tokenizer);
}

int cmd_tokenize(int argc, char** argv) {
  std::string model, tok_path, file, text;
  bool have_text = false, raw = false;
  enum { kDefault, kIds, kPieces, kJson } mode = kDefault;
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](std::string& dst) {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "mlxr tokenize: %s needs a value\n", a.c_str());
        return false;
      }
      dst = argv[++i];
      return true;
    };
    if (a == "-h" || a == "--help") {
      tokenize_usage(stdout);
      return 0;
    } else if (a == "-m" || a == "--model") {
      if (!value(model)) return 2;
    } else if (a == "--tokenizer") {
      if (!value(tok_path)) return 2;
    } else if (a == "-f" || a == "--file") {
      if (!value(file)) return 2;
    } else if (a == "--ids") {
      mode = kIds;
    } else if (a == "--pieces") {
      mode = kPieces;
    } else if (a == "--json") {
      mode = kJson;
    } else if (a == "--raw") {
      raw = true;
    } else if (a.size() > 1 && a[0] == '-' && !have_text) {
      std::fprintf(stderr, "mlxr tokenize: unknown option '%s'\n\n", a.c_str());
      tokenize_usage(stderr);
      return 2;
    } else {
      text = have_text ? text + " " + a : a;
      have_text = true;
    }
  }
  if (model.empty() || (!have_text && file.empty())) {
    tokenize_usage(stderr);
    return 2;
  }
  if (!file.empty()) {
    std::ostringstream ss;
    if (file == "-") {
      ss << std::cin.rdbuf();
    } else {
      std::ifstream f(file, std::ios::binary);
      if (!f) {
        std::fprintf(stderr, "mlxr tokenize: cannot read %s\n", file.c_str());
        return 1;
      }
      ss << f.rdbuf();
    }
    text = ss.str();
  }
  auto tok = load_tokenizer_for(model, tok_path);
  if (!tok) {
    std::fprintf(stderr, "mlxr tokenize: %s\n", tok.error().c_str());
    return 1;
  }
  const Tokenizer& t = **tok;
  std::vector<int32_t> ids = t.encode(text, /*add_special=*/!raw, /*parse_special=*/!raw);
  std::string out;
  switch (mode) {
    case kIds:
      for (size_t k = 0; k < ids.size(); ++k) out += (k ? " " : "") + std::to_string(ids[k]);
      out += "\n";
      break;
    case kPieces:
      for (int32_t id : ids) out += quoted(t.token_to_piece(id)) + "\n";
      break;
    case kJson: {
      Json::Array jid, jp;
      for (int32_t id : ids) {
        jid.push_back(Json(static_cast<int64_t>(id)));
        jp.push_back(Json(t.token_to_piece(id)));
      }
      out = Json(Json::Object{{"ids", Json(std::move(jid))}, {"pieces", Json(std::move(jp))}}).dump() + "\n";
      break;
    }
    case kDefault:
      for (int32_t id : ids) out += std::to_string(id) + " -> " + quoted(t.token_to_piece(id)) + "\n";
      break;
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

}  // namespace mlxr::cli
