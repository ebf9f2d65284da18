// SentencePiece ModelProto, read with a minimal protobuf wire-format reader. Fields used
// (sentencepiece_model.proto): ModelProto.pieces=1 {piece=1, score=2, type=3},
// trainer_spec=2 {model_type=3, byte_fallback=35, unk_id=40, bos_id=41, eos_id=42, pad_id=43},
// normalizer_spec=3 {name=1, add_dummy_prefix=3, remove_extra_whitespaces=4}.
#include <cstring>

#include "core/tokenizer/loaders.h"

namespace mlxr {
namespace {

class Wire {
 public:
  Wire(const char* p, size_t n) : p_(reinterpret_cast<const unsigned char*>(p)), n_(n) {}
  bool done() const { return i_ >= n_; }
  size_t offset() const { return i_; }

  bool varint(uint64_t& v) {
    v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (i_ >= n_) return false;
      unsigned char b = p_[i_++];
      v |= uint64_t(b & 0x7F) << shift;
      if (!(b & 0x80)) return true;
    }
    return false;
  }
  // Reads one field: number, wire type, and either a scalar or a byte range.
  bool field(uint32_t& num, uint32_t& wt, uint64_t& scalar, const char*& data, size_t& len) {
    uint64_t key;
    if (!varint(key)) return false;
    num = static_cast<uint32_t>(key >> 3);
    wt = static_cast<uint32_t>(key & 7);
    switch (wt) {
      case 0: return varint(scalar);
      case 1:
        if (n_ - i_ < 8) return false;
        std::memcpy(&scalar, p_ + i_, 8);
        i_ += 8;
        return true;
      case 5: {
        if (n_ - i_ < 4) return false;
        uint32_t x;
        std::memcpy(&x, p_ + i_, 4);
        scalar = x;
        i_ += 4;
        return true;
      }
      case 2: {
        uint64_t l;
        if (!varint(l) || l > n_ - i_) return false;
        data = reinterpret_cast<const char*>(p_ + i_);
        len = static_cast<size_t>(l);
        i_ += len;
        return true;
      }
      default: return false;
    }
  }

 private:
  const unsigned char* p_;
  size_t n_;
  size_t i_ = 0;
};

}  // namespace

Expected<Vocab> load_spm_model_vocab(const std::string& path) {
  MLXR_ASSIGN_OR_RETURN(std::string data, read_file_bytes(path));
  const std::string where = "tokenizer: " + path + ": ";
  auto bad = [&](size_t off, const char* what) {
    return make_error(where + "malformed SentencePiece model (" + what + ") at byte offset " + std::to_string(off));
  };
  Vocab v;
  v.kind = VocabKind::kSpm;
  v.spm_escape = true;
  // proto2 defaults of TrainerSpec / NormalizerSpec.
  int64_t model_type = 1, unk = 0, bos = 1, eos = 2, pad = -1;
  bool add_dummy_prefix = true, remove_ws = true;
  std::string norm_name;

  Wire w(data.data(), data.size());
  while (!w.done()) {
    size_t at = w.offset();
    uint32_t num, wt;
    uint64_t sc = 0;
    const char* d = nullptr;
    size_t len = 0;
    if (!w.field(num, wt, sc, d, len)) return bad(at, "truncated field");
    if (wt != 2) continue;
    Wire sub(d, len);
    if (num == 1) {  // SentencePiece
      std::string piece;
      float score = 0;
      int64_t type = 1;
      while (!sub.done()) {
        uint32_t n2, w2;
        uint64_t s2 = 0;
        const char* d2 = nullptr;
        size_t l2 = 0;
        if (!sub.field(n2, w2, s2, d2, l2)) return bad(at, "bad piece");
        if (n2 == 1 && w2 == 2) piece.assign(d2, l2);
        else if (n2 == 2 && w2 == 5) { uint32_t x = static_cast<uint32_t>(s2); std::memcpy(&score, &x, 4); }
        else if (n2 == 3 && w2 == 0) type = static_cast<int64_t>(s2);
      }
      v.text.push_back(std::move(piece));
      v.score.push_back(score);
      v.type.push_back(type >= 1 && type <= 6 ? static_cast<TokenType>(type) : TokenType::kNormal);
    } else if (num == 2) {  // TrainerSpec
      while (!sub.done()) {
        uint32_t n2, w2;
        uint64_t s2 = 0;
        const char* d2 = nullptr;
        size_t l2 = 0;
        if (!sub.field(n2, w2, s2, d2, l2)) return bad(at, "bad trainer_spec");
        if (w2 != 0) continue;
        int64_t x = static_cast<int64_t>(static_cast<int32_t>(s2));
        if (n2 == 3) model_type = x;
        else if (n2 == 35) v.byte_fallback = s2 != 0;
        else if (n2 == 40) unk = x;
        else if (n2 == 41) bos = x;
        else if (n2 == 42) eos = x;
        else if (n2 == 43) pad = x;
      }
    } else if (num == 3) {  // NormalizerSpec
      while (!sub.done()) {
        uint32_t n2, w2;
        uint64_t s2 = 0;
        const char* d2 = nullptr;
        size_t l2 = 0;
        if (!sub.field(n2, w2, s2, d2, l2)) return bad(at, "bad normalizer_spec");
        if (n2 == 1 && w2 == 2) norm_name.assign(d2, l2);
        else if (n2 == 3 && w2 == 0) add_dummy_prefix = s2 != 0;
        else if (n2 == 4 && w2 == 0) remove_ws = s2 != 0;
      }
    }
  }
  if (v.text.empty()) return make_error(where + "no pieces (is this a SentencePiece model?)");
  if (model_type != 2)
    return make_error(where + "SentencePiece model_type " + std::to_string(model_type) +
                      " is not supported (only BPE = 2; Unigram models are not implemented)");
  if (!norm_name.empty() && norm_name != "identity")
    return make_error(where + "normalizer '" + norm_name +
                      "' is not supported (only 'identity'; NFKC normalizers need the precompiled charsmap)");
  v.add_space_prefix = add_dummy_prefix;
  v.remove_extra_whitespaces = remove_ws;
  v.unk = static_cast<int32_t>(unk);
  v.bos = static_cast<int32_t>(bos);
  v.eos = static_cast<int32_t>(eos);
  v.pad = static_cast<int32_t>(pad);
  v.add_bos = v.bos >= 0;
  return v;
}

}  // namespace mlxr
