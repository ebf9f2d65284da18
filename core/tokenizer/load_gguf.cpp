#include <cctype>

#include "core/tokenizer/loaders.h"

namespace mlxr {

Expected<Vocab> load_gguf_vocab(const GgufFile& g) {
  const std::string where = "tokenizer: " + g.path() + ": ";
  Vocab v;
  auto model = g.get_string("tokenizer.ggml.model");
  if (!model) return make_error(where + "no tokenizer.ggml.model key (not a model with a vocabulary)");
  const GgufValue* toks = g.find("tokenizer.ggml.tokens");
  if (!toks || toks->strs.empty()) return make_error(where + "tokenizer.ggml.tokens is missing or empty");
  v.text = toks->strs;
  const size_t n = v.text.size();
  if (const GgufValue* sc = g.find("tokenizer.ggml.scores")) {
    if (sc->floats.size() != n)
      return make_error(where + "tokenizer.ggml.scores has " + std::to_string(sc->floats.size()) +
                        " entries for " + std::to_string(n) + " tokens");
    v.score.assign(sc->floats.begin(), sc->floats.end());
  }
  if (const GgufValue* ty = g.find("tokenizer.ggml.token_type")) {
    if (ty->ints.size() != n)
      return make_error(where + "tokenizer.ggml.token_type has " + std::to_string(ty->ints.size()) +
                        " entries for " + std::to_string(n) + " tokens");
    v.type.resize(n);
    for (size_t i = 0; i < n; ++i) {
      int64_t t = ty->ints[i];
      v.type[i] = (t >= 0 && t <= 6) ? static_cast<TokenType>(t) : TokenType::kNormal;
    }
  }
  v.pre_name = g.get_string("tokenizer.ggml.pre").value_or("");

  if (*model == "llama") {
    v.kind = VocabKind::kSpm;
    v.spm_escape = true;
    v.add_space_prefix = true;
    v.add_bos = true;
    v.bos = 1;
    v.eos = 2;
    v.unk = 0;
  } else if (*model == "gpt2") {
    v.kind = VocabKind::kBpe;
    v.byte_level = true;
    v.bos = 11;
    v.eos = 11;
    const GgufValue* merges = g.find("tokenizer.ggml.merges");
    if (!merges) return make_error(where + "a gpt2 (BPE) vocabulary needs tokenizer.ggml.merges");
    v.build_index();
    int32_t rank = 0;
    std::string joined;
    for (const std::string& m : merges->strs) {
      size_t sp = m.find(' ', 1);
      if (sp == std::string::npos)
        return make_error(where + "merge #" + std::to_string(rank) + " '" + m + "' has no space");
      std::string_view a(m.data(), sp), b(m.data() + sp + 1, m.size() - sp - 1);
      joined.assign(a);
      joined.append(b);
      int32_t ia = v.find(a), ib = v.find(b), ir = v.find(joined);
      if (ia >= 0 && ib >= 0 && ir >= 0) v.add_merge(ia, ib, rank, ir);
      ++rank;
    }
    // Per-family rules of llama.cpp's llama_vocab::load.
    const std::string& pre = v.pre_name;
    if (pre == "llama3" || pre == "llama-v3" || pre == "llama-bpe" || pre == "falcon3") {
      v.ignore_merges = true;
      v.add_bos = true;
    } else if (pre == "tekken" || pre == "gpt-4o") {
      v.ignore_merges = true;
    } else if (pre == "chameleon") {
      v.add_bos = true;
    }
    MLXR_ASSIGN_OR_RETURN(v.pre, PreTokenizer::for_llama_cpp(pre));
  } else if (*model == "bert") {
    v.kind = VocabKind::kWordPiece;
    v.bos = 101;
    v.unk = 100;
    v.sep = 102;
    v.pad = 0;
    v.cls = 101;
    v.add_bos = true;
    v.wordpiece_phantom_space = true;
    v.pre = PreTokenizer::bert();
  } else {
    return make_error(where + "tokenizer model '" + *model +
                      "' is not supported (supported: llama (SentencePiece), gpt2 (BPE), bert (WordPiece))");
  }

  auto id = [&](const char* key, int32_t& dst) {
    if (auto x = g.get_int(key)) dst = static_cast<int32_t>(*x);
  };
  id("tokenizer.ggml.bos_token_id", v.bos);
  id("tokenizer.ggml.eos_token_id", v.eos);
  id("tokenizer.ggml.unknown_token_id", v.unk);
  id("tokenizer.ggml.padding_token_id", v.pad);
  id("tokenizer.ggml.eot_token_id", v.eot);
  id("tokenizer.ggml.eom_token_id", v.eom);
  id("tokenizer.ggml.seperator_token_id", v.sep);  // sic: llama.cpp's key spelling
  id("tokenizer.ggml.cls_token_id", v.cls);
  if (v.kind == VocabKind::kWordPiece && v.cls < 0) v.cls = v.bos;
  if (auto b = g.get_bool("tokenizer.ggml.add_bos_token")) v.add_bos = *b;
  if (auto b = g.get_bool("tokenizer.ggml.add_eos_token")) v.add_eos = *b;
  if (auto b = g.get_bool("tokenizer.ggml.add_space_prefix")) v.add_space_prefix = *b;
  v.chat_template = g.get_string("tokenizer.chat_template").value_or("");

  // llama.cpp sets strip attributes by model name: Phi-3's special tokens swallow the
  // whitespace after them (as HF's rstrip=True added tokens do), except <unk>, <s>, <|endoftext|>.
  std::string name = g.get_string("general.name").value_or("");
  for (char& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (name.find("phi-3") != std::string::npos || name.find("phi3") != std::string::npos) {
    v.strip_flags.assign(v.text.size(), 0);
    for (size_t i = 0; i < v.text.size(); ++i) {
      TokenType t = v.type[i];
      if (t == TokenType::kControl || t == TokenType::kUserDefined || t == TokenType::kUnknown)
        v.strip_flags[i] = 2;
      if (v.text[i] == "</s>") v.strip_flags[i] = 2;
      if (v.text[i] == "<unk>" || v.text[i] == "<s>" || v.text[i] == "<|endoftext|>") v.strip_flags[i] = 0;
    }
  }
  return v;
}

}  // namespace mlxr
