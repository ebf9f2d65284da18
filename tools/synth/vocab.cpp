#include "tools/synth/vocab.h"

#include <cstdio>
#include <nlohmann/json.hpp>

#include "core/formats/gguf_writer.h"

namespace mlxr::tools {
namespace {

const std::string kSpace = "\xE2\x96\x81";  // U+2581 "▁", SentencePiece's space

// Length in bytes of the last UTF-8 code point of s.
size_t last_cp_len(const std::string& s) {
  size_t n = 1;
  while (n < s.size() && (static_cast<unsigned char>(s[s.size() - n]) & 0xC0) == 0x80) ++n;
  return n;
}

}  // namespace

Expected<SynthVocab> make_vocab(int n_vocab) {
  if (n_vocab < 259) return make_error("synth: vocabulary size " + std::to_string(n_vocab) + " is too small (need >= 259 for the control and byte tokens)");
  SynthVocab v;
  auto add = [&](std::string t, float score, int type) {
    v.tokens.push_back(std::move(t));
    v.scores.push_back(score);
    v.types.push_back(type);
  };
  add("<unk>", 0.0f, 2);
  add("<s>", 0.0f, 3);
  add("</s>", 0.0f, 3);
  for (int b = 0; b < 256; ++b) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "<0x%02X>", b);
    add(buf, 0.0f, 6);
  }
  // Pieces in rank order; each multi-character piece = (piece minus its last character) + last
  // character, both earlier in the list, so SPM merging and BPE merges can build it.
  std::vector<std::string> pieces;
  const std::string singles =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,!?'\"-:;()";
  pieces.push_back(kSpace);
  for (char c : singles) pieces.emplace_back(1, c);
  for (char c : singles) pieces.push_back(kSpace + std::string(1, c));
  const size_t want = static_cast<size_t>(n_vocab) - v.tokens.size();
  std::vector<std::string> level = {""};
  const std::string letters = "abcdefghijklmnopqrstuvwxyz";
  for (char c : letters) level.emplace_back(1, c);
  level.erase(level.begin());
  while (pieces.size() < want) {
    std::vector<std::string> next;
    for (const auto& s : level) {
      for (char c : letters) {
        std::string t = s + c;
        next.push_back(t);
        pieces.push_back(t);
        pieces.push_back(kSpace + t);
        if (pieces.size() >= want) break;
      }
      if (pieces.size() >= want) break;
    }
    level.swap(next);
  }
  pieces.resize(want);
  for (size_t i = 0; i < pieces.size(); ++i) {
    const std::string& p = pieces[i];
    add(p, -static_cast<float>(i), 1);
    size_t l = last_cp_len(p);
    if (l < p.size()) v.merges.emplace_back(p.substr(0, p.size() - l), p.substr(p.size() - l));
  }
  return v;
}

void write_gguf_tokenizer(const SynthVocab& v, GgufWriter& w) {
  std::vector<int64_t> types(v.types.begin(), v.types.end());
  w.set("tokenizer.ggml.model", gguf_str("llama"));
  w.set("tokenizer.ggml.tokens", gguf_str_array(v.tokens));
  w.set("tokenizer.ggml.scores", gguf_f32_array(v.scores));
  w.set("tokenizer.ggml.token_type", gguf_int_array(GgufType::I32, std::move(types)));
  w.set("tokenizer.ggml.bos_token_id", gguf_u32(1));
  w.set("tokenizer.ggml.eos_token_id", gguf_u32(2));
  w.set("tokenizer.ggml.unknown_token_id", gguf_u32(0));
  w.set("tokenizer.ggml.add_bos_token", gguf_bool(true));
  w.set("tokenizer.ggml.add_eos_token", gguf_bool(false));
}

std::string hf_tokenizer_json(const SynthVocab& v) {
  using nlohmann::ordered_json;
  ordered_json added = ordered_json::array();
  for (int id = 0; id < 3; ++id) {
    added.push_back({{"id", id}, {"content", v.tokens[id]}, {"single_word", false}, {"lstrip", false},
                     {"rstrip", false}, {"normalized", false}, {"special", true}});
  }
  ordered_json vocab = ordered_json::object();
  for (size_t i = 0; i < v.tokens.size(); ++i) vocab[v.tokens[i]] = i;
  ordered_json merges = ordered_json::array();
  for (const auto& [a, b] : v.merges) merges.push_back(a + " " + b);
  // The layout of Llama 2's tokenizer.json: SentencePiece BPE with byte fallback.
  ordered_json j = {
      {"version", "1.0"},
      {"truncation", nullptr},
      {"padding", nullptr},
      {"added_tokens", added},
      {"normalizer",
       {{"type", "Sequence"},
        {"normalizers",
         {{{"type", "Prepend"}, {"prepend", kSpace}},
          {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", kSpace}}}}}},
      {"pre_tokenizer", nullptr},
      {"post_processor",
       {{"type", "TemplateProcessing"},
        {"single", {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}}, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
        {"pair",
         {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}},
          {{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
          {{"SpecialToken", {{"id", "<s>"}, {"type_id", 1}}}},
          {{"Sequence", {{"id", "B"}, {"type_id", 1}}}}}},
        {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {1}}, {"tokens", {"<s>"}}}}}}}},
      {"decoder",
       {{"type", "Sequence"},
        {"decoders",
         {{{"type", "Replace"}, {"pattern", {{"String", kSpace}}}, {"content", " "}},
          {{"type", "ByteFallback"}},
          {{"type", "Fuse"}},
          {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}}}}},
      {"model",
       {{"type", "BPE"},
        {"dropout", nullptr},
        {"unk_token", "<unk>"},
        {"continuing_subword_prefix", nullptr},
        {"end_of_word_suffix", nullptr},
        {"fuse_unk", true},
        {"byte_fallback", true},
        {"ignore_merges", false},
        {"vocab", vocab},
        {"merges", merges}}},
  };
  return j.dump(1) + "\n";
}

std::string hf_tokenizer_config_json(int n_ctx) {
  nlohmann::ordered_json j = {
      {"add_bos_token", true},      {"add_eos_token", false},      {"bos_token", "<s>"},
      {"eos_token", "</s>"},        {"unk_token", "<unk>"},        {"pad_token", nullptr},
      {"model_max_length", n_ctx},  {"clean_up_tokenization_spaces", false},
      {"legacy", false},            {"tokenizer_class", "LlamaTokenizerFast"},
  };
  return j.dump(2) + "\n";
}

}  // namespace mlxr::tools
