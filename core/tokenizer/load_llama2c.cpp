#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/tokenizer/loaders.h"

namespace mlxr {

Expected<std::string> read_file_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return make_error("tokenizer: cannot open " + path);
  std::ostringstream ss;
  ss << f.rdbuf();
  if (f.bad()) return make_error("tokenizer: error reading " + path);
  return ss.str();
}

Expected<Vocab> load_llama2c_vocab(const std::string& path) {
  MLXR_ASSIGN_OR_RETURN(std::string data, read_file_bytes(path));
  const std::string where = "tokenizer: " + path + ": ";
  if (data.size() < 4) return make_error(where + "too short for a llama2.c tokenizer (no header)");
  Vocab v;
  v.kind = VocabKind::kSpm;
  v.spm_escape = true;
  v.add_space_prefix = true;  // run.c's dummy prefix " " token before non-empty prompts
  v.add_bos = true;
  v.bos = 1;
  v.eos = 2;
  v.unk = 0;
  size_t off = 4;
  while (off < data.size()) {
    if (data.size() - off < 8)
      return make_error(where + "truncated entry at byte offset " + std::to_string(off));
    float score;
    uint32_t len;
    std::memcpy(&score, data.data() + off, 4);
    std::memcpy(&len, data.data() + off + 4, 4);
    off += 8;
    if (len > data.size() - off)
      return make_error(where + "token " + std::to_string(v.text.size()) + " at byte offset " +
                        std::to_string(off - 8) + " claims " + std::to_string(len) +
                        " bytes, past the end of the file");
    std::string piece = data.substr(off, len);
    off += len;
    const int32_t id = static_cast<int32_t>(v.text.size());
    TokenType type = TokenType::kNormal;
    if (piece == "\n<s>\n") {
      piece = "<s>";
      type = TokenType::kControl;
    } else if (piece == "\n</s>\n") {
      piece = "</s>";
      type = TokenType::kControl;
    } else if (id == 0 && piece == "<unk>") {
      type = TokenType::kUnknown;
    } else if (piece.size() == 6 && piece.compare(0, 3, "<0x") == 0 && piece[5] == '>') {
      type = TokenType::kByte;
    } else {
      // llama2.c stores ▁ as an ASCII space; restore SentencePiece's spelling.
      std::string s;
      for (char c : piece) {
        if (c == ' ') s += "\xE2\x96\x81";
        else s += c;
      }
      piece = std::move(s);
    }
    v.text.push_back(std::move(piece));
    v.score.push_back(score);
    v.type.push_back(type);
  }
  if (v.text.size() < 3) return make_error(where + "has fewer than 3 tokens");
  return v;
}

}  // namespace mlxr
