// Truncated and corrupted GGUF, safetensors and llama2.c files: every case must come back as an
// error (never a crash or an out-of-bounds read; run this under -fsanitize=address to see).
#include <gtest/gtest.h>

#include <random>

#include "core/formats/gguf.h"
#include "core/formats/gguf_writer.h"
#include "core/formats/llama2c.h"
#include "core/formats/model_file.h"
#include "core/formats/safetensors.h"
#include "tests/unit/formats/test_files.h"

namespace mlxr {
namespace {

using testing::poke;
using testing::put;
using testing::read_bytes;
using testing::scratch_dir;
using testing::write_bytes;
namespace fs = std::filesystem;

// ---------------------------------------------------------------------------------------------
// GGUF

// A small but complete llama GGUF (metadata of several types, a tokenizer, 4 tensors).
std::vector<uint8_t> small_gguf(const fs::path& dir) {
  GgufWriter w;
  w.set("general.architecture", gguf_str("llama"));
  w.set("llama.embedding_length", gguf_u32(32));
  w.set("llama.block_count", gguf_u32(1));
  w.set("llama.attention.head_count", gguf_u32(2));
  w.set("llama.feed_forward_length", gguf_u32(64));
  w.set("llama.attention.layer_norm_rms_epsilon", gguf_f32(1e-5f));
  w.set("tokenizer.ggml.tokens", gguf_str_array({"<unk>", "<s>", "</s>", "a"}));
  w.set("tokenizer.ggml.scores", gguf_f32_array({0, 0, 0, -1}));
  w.set("tokenizer.ggml.token_type", gguf_int_array(GgufType::I32, {2, 3, 3, 1}));
  w.set("tokenizer.ggml.add_bos_token", gguf_bool(true));
  EXPECT_TRUE(w.add_tensor("token_embd.weight", DType::F32, {32, 4}));
  EXPECT_TRUE(w.add_tensor("blk.0.attn_norm.weight", DType::F32, {32}));
  EXPECT_TRUE(w.add_tensor("blk.0.attn_q.weight", DType::Q8_0, {32, 32}));
  EXPECT_TRUE(w.add_tensor("output_norm.weight", DType::F16, {32}));
  const fs::path p = dir / "small.gguf";
  EXPECT_TRUE(w.open(p.string()));
  for (const auto& t : w.tensors()) {
    std::vector<uint8_t> d(t.nbytes, 0x3c);
    EXPECT_TRUE(w.write(d.data(), d.size()));
  }
  EXPECT_TRUE(w.close());
  return read_bytes(p);
}

// Parses b twice: from an exact-size heap copy (AddressSanitizer sees any read past the end)
// and from a file through the model loader.
Status open_gguf_bytes(const fs::path& p, const std::vector<uint8_t>& b) {
  auto mem = GgufFile::parse(MappedFile::from_bytes(p.string(), b));
  write_bytes(p, b);
  auto g = GgufFile::open(p.string());
  auto m = open_gguf_model(p.string());
  EXPECT_EQ(g.has_value() && m.has_value(), m.has_value()) << "model opened although the file did not";
  EXPECT_EQ(mem.has_value(), g.has_value());
  return g ? Status::ok() : g.status();
}

TEST(HostileGguf, EveryTruncationFailsCleanly) {
  auto dir = scratch_dir("hostile_gguf_trunc");
  auto full = small_gguf(dir);
  ASSERT_TRUE(GgufFile::open((dir / "small.gguf").string()));
  auto g = GgufFile::open((dir / "small.gguf").string());
  // Bytes needed: the end of the last tensor's data (its padding may be cut).
  size_t need = 0;
  for (const auto& t : (*g)->tensors())
    need = std::max(need, static_cast<size_t>(static_cast<const uint8_t*>(t.data) - (*g)->file()->data()) + t.nbytes);
  const fs::path p = dir / "t.gguf";
  for (size_t n = 0; n < full.size(); ++n) {
    std::vector<uint8_t> b(full.begin(), full.begin() + static_cast<long>(n));
    auto st = open_gguf_bytes(p, b);
    if (n < need) {
      EXPECT_FALSE(st) << "prefix of " << n << " bytes opened";
    }
  }
}

struct GgufLayout {
  size_t n_tensors_at = 8, n_kv_at = 16;
  size_t first_key_len_at = 24;
  size_t tensor_infos_at = 0;
};

// A hand-built GGUF: 1 KV (u32), 2 F32 tensors of 4 values; returns the byte positions to poke.
struct HandGguf {
  std::vector<uint8_t> b;
  size_t kv_type_at, kv_value_at;
  size_t t0_ndims_at, t0_dim0_at, t0_type_at, t0_off_at;
  size_t t1_off_at;
};

HandGguf hand_gguf() {
  HandGguf h;
  auto& b = h.b;
  put<uint32_t>(b, 0x46554747u);
  put<uint32_t>(b, 3);
  put<uint64_t>(b, 2);  // tensors
  put<uint64_t>(b, 1);  // kv
  put<uint64_t>(b, 3);
  b.insert(b.end(), {'k', 'e', 'y'});
  h.kv_type_at = b.size();
  put<uint32_t>(b, 4);  // u32
  h.kv_value_at = b.size();
  put<uint32_t>(b, 9);
  auto tensor = [&](const char* name, uint64_t off, size_t* ndims_at, size_t* dim0_at, size_t* type_at, size_t* off_at) {
    put<uint64_t>(b, std::strlen(name));
    b.insert(b.end(), name, name + std::strlen(name));
    if (ndims_at) *ndims_at = b.size();
    put<uint32_t>(b, 1);
    if (dim0_at) *dim0_at = b.size();
    put<uint64_t>(b, 4);
    if (type_at) *type_at = b.size();
    put<uint32_t>(b, 0);
    if (off_at) *off_at = b.size();
    put<uint64_t>(b, off);
  };
  tensor("a", 0, &h.t0_ndims_at, &h.t0_dim0_at, &h.t0_type_at, &h.t0_off_at);
  tensor("b", 32, nullptr, nullptr, nullptr, &h.t1_off_at);
  while (b.size() % 32) b.push_back(0);
  b.resize(b.size() + 64, 0x11);
  return h;
}

TEST(HostileGguf, CorruptHeaderFields) {
  auto dir = scratch_dir("hostile_gguf_fields");
  const fs::path p = dir / "c.gguf";
  {
    auto h = hand_gguf();
    ASSERT_TRUE(open_gguf_bytes(p, h.b)) << "the unmodified hand-built file must open";
  }
  struct Case {
    const char* what;
    std::function<void(HandGguf&)> edit;
    const char* want;
  };
  const Case cases[] = {
      {"bad magic", [](HandGguf& h) { h.b[0] = 'X'; }, "bad magic"},
      {"version 1", [](HandGguf& h) { poke<uint32_t>(h.b, 4, 1); }, "unsupported GGUF version"},
      {"big-endian", [](HandGguf& h) { poke<uint32_t>(h.b, 4, 0x03000000u); }, "big-endian"},
      {"huge tensor count", [](HandGguf& h) { poke<uint64_t>(h.b, 8, ~0ull); }, "tensor count"},
      {"huge kv count", [](HandGguf& h) { poke<uint64_t>(h.b, 16, uint64_t{1} << 60); }, "metadata count"},
      {"huge key length", [](HandGguf& h) { poke<uint64_t>(h.b, 24, ~0ull); }, "runs past end"},
      {"bad value type", [](HandGguf& h) { poke<uint32_t>(h.b, h.kv_type_at, 13); }, "invalid value type"},
      {"array count huge", [](HandGguf& h) {
         poke<uint32_t>(h.b, h.kv_type_at, 9);
         poke<uint32_t>(h.b, h.kv_value_at, 4);  // element type u32, then the count overlaps the next bytes
       }, "runs past end"},
      {"nested array", [](HandGguf& h) {
         poke<uint32_t>(h.b, h.kv_type_at, 9);
         poke<uint32_t>(h.b, h.kv_value_at, 9);
       }, "nested arrays"},
      {"zero dims", [](HandGguf& h) { poke<uint32_t>(h.b, h.t0_ndims_at, 0); }, "dimensions"},
      {"five dims", [](HandGguf& h) { poke<uint32_t>(h.b, h.t0_ndims_at, 5); }, "dimensions"},
      {"zero-size dim", [](HandGguf& h) { poke<uint64_t>(h.b, h.t0_dim0_at, 0); }, "invalid dimension"},
      {"huge dim", [](HandGguf& h) { poke<uint64_t>(h.b, h.t0_dim0_at, uint64_t{1} << 62); }, "invalid dimension"},
      {"tensor past end", [](HandGguf& h) { poke<uint64_t>(h.b, h.t0_dim0_at, 1000); }, "runs past end"},
      {"retired type 4", [](HandGguf& h) { poke<uint32_t>(h.b, h.t0_type_at, 4); }, "unknown or unsupported type"},
      {"type 99", [](HandGguf& h) { poke<uint32_t>(h.b, h.t0_type_at, 99); }, "unknown or unsupported type"},
      {"row not a block multiple", [](HandGguf& h) { poke<uint32_t>(h.b, h.t0_type_at, 8); }, "not a multiple"},
      {"misaligned offset", [](HandGguf& h) { poke<uint64_t>(h.b, h.t0_off_at, 4); }, "not aligned"},
      {"offset past end", [](HandGguf& h) { poke<uint64_t>(h.b, h.t0_off_at, 1 << 20); }, "runs past end"},
      {"offset overflow", [](HandGguf& h) { poke<uint64_t>(h.b, h.t0_off_at, ~0ull - 31); }, "runs past end"},
      {"overlapping tensors", [](HandGguf& h) { poke<uint64_t>(h.b, h.t1_off_at, 0); }, "overlaps"},
  };
  for (const auto& c : cases) {
    auto h = hand_gguf();
    c.edit(h);
    auto st = open_gguf_bytes(p, h.b);
    ASSERT_FALSE(st) << c.what;
    EXPECT_NE(st.message().find(c.want), std::string::npos) << c.what << ": " << st.message();
  }
}

TEST(HostileGguf, DuplicatesAndBadValues) {
  auto dir = scratch_dir("hostile_gguf_dups");
  const fs::path p = dir / "d.gguf";
  auto h = hand_gguf();
  // Rename tensor "b" to "a".
  auto b = h.b;
  for (size_t i = h.t0_off_at + 8; i + 1 < b.size(); ++i) {
    if (b[i] == 'b' && b[i - 1] == 0) {
      b[i] = 'a';
      break;
    }
  }
  auto st = open_gguf_bytes(p, b);
  ASSERT_FALSE(st);
  EXPECT_NE(st.message().find("duplicate tensor name"), std::string::npos) << st.message();

  auto bad_bool = hand_gguf();
  poke<uint32_t>(bad_bool.b, bad_bool.kv_type_at, 7);
  poke<uint8_t>(bad_bool.b, bad_bool.kv_value_at, 2);
  st = open_gguf_bytes(p, bad_bool.b);
  ASSERT_FALSE(st);
  EXPECT_NE(st.message().find("bool"), std::string::npos) << st.message();

  GgufWriter w;  // the writer will not produce duplicate keys, so build them by hand
  std::vector<uint8_t> d;
  put<uint32_t>(d, 0x46554747u);
  put<uint32_t>(d, 3);
  put<uint64_t>(d, 0);
  put<uint64_t>(d, 2);
  for (int k = 0; k < 2; ++k) {
    put<uint64_t>(d, 1);
    d.push_back('k');
    put<uint32_t>(d, 4);
    put<uint32_t>(d, k);
  }
  st = open_gguf_bytes(p, d);
  ASSERT_FALSE(st);
  EXPECT_NE(st.message().find("duplicate metadata key"), std::string::npos) << st.message();

  GgufWriter a;
  a.set("general.alignment", gguf_u32(0));  // the writer refuses; poke it in after writing
  a.set("x", gguf_u32(0));
  ASSERT_FALSE(a.open((dir / "a0.gguf").string()));
}

// Random single-byte corruptions of a valid file: whatever happens, no crash.
TEST(HostileGguf, RandomByteFlipsNeverCrash) {
  auto dir = scratch_dir("hostile_gguf_flip");
  auto full = small_gguf(dir);
  auto g = GgufFile::open((dir / "small.gguf").string());
  ASSERT_TRUE(g);
  const size_t header = (*g)->data_offset();
  std::mt19937 rng(1234);
  const fs::path p = dir / "f.gguf";
  int errors = 0;
  for (int k = 0; k < 400; ++k) {
    auto b = full;
    int flips = 1 + k % 3;
    for (int f = 0; f < flips; ++f) b[rng() % header] ^= static_cast<uint8_t>(1 + rng() % 255);
    errors += open_gguf_bytes(p, b) ? 0 : 1;
  }
  EXPECT_GT(errors, 0);
}

// ---------------------------------------------------------------------------------------------
// safetensors

std::vector<uint8_t> st_file(const std::string& header, size_t data_bytes, bool pad = true) {
  std::string h = header;
  if (pad)
    while ((8 + h.size()) % 8) h += ' ';
  std::vector<uint8_t> b;
  put<uint64_t>(b, h.size());
  b.insert(b.end(), h.begin(), h.end());
  for (size_t i = 0; i < data_bytes; ++i) b.push_back(static_cast<uint8_t>(i));
  return b;
}

Status open_st_bytes(const fs::path& p, const std::vector<uint8_t>& b) {
  auto mem = SafetensorsFile::parse(MappedFile::from_bytes(p.string(), b));
  write_bytes(p, b);
  auto f = SafetensorsFile::open(p.string());
  EXPECT_EQ(mem.has_value(), f.has_value());
  return f ? Status::ok() : f.status();
}

const char* kGoodHeader =
    R"({"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},)"
    R"("b":{"dtype":"BF16","shape":[4],"data_offsets":[24,32]}})";

TEST(HostileSafetensors, EveryTruncationFails) {
  auto dir = scratch_dir("hostile_st_trunc");
  auto full = st_file(kGoodHeader, 32);
  const fs::path p = dir / "t.safetensors";
  ASSERT_TRUE(open_st_bytes(p, full));
  for (size_t n = 0; n < full.size(); ++n)
    EXPECT_FALSE(open_st_bytes(p, std::vector<uint8_t>(full.begin(), full.begin() + static_cast<long>(n)))) << n;
}

TEST(HostileSafetensors, CorruptHeaders) {
  auto dir = scratch_dir("hostile_st_fields");
  const fs::path p = dir / "c.safetensors";
  struct Case {
    std::string header;
    size_t data;
    const char* want;
  };
  const std::string a24 = R"("a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]})";
  const Case cases[] = {
      {"[1,2]", 0, "does not start with '{'"},
      {"{\"a\":", 0, "invalid JSON"},
      {"{" + a24 + ",}", 24, "invalid JSON"},
      {"{" + a24 + "} x", 24, "trailing characters"},
      {"{" + a24 + "," + a24 + "}", 24, "duplicate tensor name"},
      {R"({"a":{"dtype":"Q4","shape":[2],"data_offsets":[0,8]}})", 8, "unsupported dtype"},
      {R"({"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}})", 20, "need 24"},
      {R"({"a":{"dtype":"F32","shape":[2,-3],"data_offsets":[0,24]}})", 24, "negative"},
      {R"({"a":{"dtype":"F32","shape":[2,3],"data_offsets":[24,0]}})", 24, "invalid data_offsets"},
      {R"({"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}})", 16, "past the end"},
      {R"({"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}})", 32, "trailing bytes"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})", 16, "gap of 8 bytes"},
      {R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}})", 24, "overlaps"},
      {R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,16]}})", 16, "too many elements"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", 8, "data_offsets"},
      {R"({"a":{"dtype":"F32","shape":2,"data_offsets":[0,8]}})", 8, "shape"},
      {R"({"a":{"shape":[2],"data_offsets":[0,8]}})", 8, "dtype"},
      {R"({"a":[1]})", 0, "not an object"},
      {R"({"__metadata__":{"k":1}})", 0, "not a string"},
      {R"({"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,8]}})", 8, "non-integer"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,9007199254740993]}})", 8, "past the end"},
  };
  for (const auto& c : cases) {
    auto st = open_st_bytes(p, st_file(c.header, c.data));
    ASSERT_FALSE(st) << c.header;
    EXPECT_NE(st.message().find(c.want), std::string::npos) << c.header << " -> " << st.message();
  }
  // Header length fields.
  auto b = st_file(kGoodHeader, 32);
  poke<uint64_t>(b, 0, ~0ull);
  EXPECT_FALSE(open_st_bytes(p, b));
  poke<uint64_t>(b, 0, b.size());
  EXPECT_FALSE(open_st_bytes(p, b));
  std::string deep = "{\"a\":" + std::string(200, '[') + std::string(200, ']') + "}";
  auto st = open_st_bytes(p, st_file(deep, 0));
  ASSERT_FALSE(st);
  EXPECT_NE(st.message().find("nesting"), std::string::npos) << st.message();
}

TEST(HostileSafetensors, RandomByteFlipsNeverCrash) {
  auto dir = scratch_dir("hostile_st_flip");
  auto full = st_file(kGoodHeader, 32);
  std::mt19937 rng(99);
  const fs::path p = dir / "f.safetensors";
  for (int k = 0; k < 300; ++k) {
    auto b = full;
    b[rng() % (full.size() - 32)] ^= static_cast<uint8_t>(1 + rng() % 255);
    (void)open_st_bytes(p, b);
  }
}

// HF directories: config.json and index problems are errors that name the file.
TEST(HostileSafetensors, BadModelDirectories) {
  auto dir = scratch_dir("hostile_hf");
  const std::string cfg_ok =
      R"({"model_type":"llama","vocab_size":4,"hidden_size":8,"num_hidden_layers":1,"num_attention_heads":2,)"
      R"("intermediate_size":16})";
  auto write_text = [](const fs::path& p, const std::string& s) { write_bytes(p, std::vector<uint8_t>(s.begin(), s.end())); };
  write_bytes(dir / "model.safetensors",
              st_file(R"({"model.embed_tokens.weight":{"dtype":"F32","shape":[4,8],"data_offsets":[0,128]}})", 128));
  write_text(dir / "config.json", cfg_ok);
  auto m = open_safetensors_model(dir.string());
  ASSERT_TRUE(m) << m.error();
  EXPECT_TRUE((*m)->hparams.tied_embeddings);  // no lm_head

  struct Case {
    std::string cfg;
    const char* want;
  } cases[] = {
      {"{", "invalid JSON"},
      {R"({"model_type":"gpt2"})", "unsupported model_type"},
      {R"({"model_type":"llama","vocab_size":4})", "missing required key 'hidden_size'"},
      {R"({"model_type":"llama","vocab_size":4,"hidden_size":8,"num_hidden_layers":1,"num_attention_heads":3,"intermediate_size":16})", "head"},
      {R"({"model_type":"llama","vocab_size":4,"hidden_size":8,"num_hidden_layers":1,"num_attention_heads":2,"num_key_value_heads":3,"intermediate_size":16})", "multiple"},
      {R"({"model_type":"llama","vocab_size":-4,"hidden_size":8,"num_hidden_layers":1,"num_attention_heads":2,"intermediate_size":16})", "vocab_size"},
      {R"({"model_type":"llama","vocab_size":5,"hidden_size":8,"num_hidden_layers":1,"num_attention_heads":2,"intermediate_size":16})", "differs"},
      {R"({"model_type":"llama","vocab_size":4,"hidden_size":8,"num_hidden_layers":1,"num_attention_heads":2,"intermediate_size":16,"rope_scaling":{"type":"dynamic","factor":2}})", "unsupported rope type"},
      {R"({"model_type":"llama","vocab_size":4,"hidden_size":8,"num_hidden_layers":1,"num_attention_heads":2,"intermediate_size":16,"rope_parameters":{"rope_type":"llama3","factor":8,"low_freq_factor":4,"high_freq_factor":1}})", "high_freq_factor"},
  };
  for (const auto& c : cases) {
    write_text(dir / "config.json", c.cfg);
    auto r = open_safetensors_model(dir.string());
    ASSERT_FALSE(r) << c.cfg;
    EXPECT_NE(r.error().find(c.want), std::string::npos) << c.cfg << " -> " << r.error();
  }
  write_text(dir / "config.json", cfg_ok);

  // Sharded: a path-traversal shard name, and a tensor the index puts in the wrong shard.
  auto sh = scratch_dir("hostile_hf_sharded");
  write_text(sh / "config.json", cfg_ok);
  write_text(sh / "model.safetensors.index.json", R"({"weight_map":{"model.embed_tokens.weight":"../model.safetensors"}})");
  auto r = open_safetensors_model(sh.string());
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("invalid file name"), std::string::npos) << r.error();
  write_bytes(sh / "a.safetensors", st_file(R"({"model.norm.weight":{"dtype":"F32","shape":[8],"data_offsets":[0,32]}})", 32));
  write_bytes(sh / "b.safetensors",
              st_file(R"({"model.embed_tokens.weight":{"dtype":"F32","shape":[4,8],"data_offsets":[0,128]}})", 128));
  write_text(sh / "model.safetensors.index.json",
             R"({"weight_map":{"model.embed_tokens.weight":"a.safetensors","model.norm.weight":"a.safetensors"}})");
  r = open_safetensors_model(sh.string());
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("not there"), std::string::npos) << r.error();
  write_text(sh / "model.safetensors.index.json",
             R"({"weight_map":{"model.embed_tokens.weight":"b.safetensors","model.norm.weight":"a.safetensors"}})");
  r = open_safetensors_model(sh.string());
  EXPECT_TRUE(r) << r.error();
  write_text(sh / "model.safetensors.index.json", R"({"weight_map":{"model.norm.weight":"missing.safetensors"}})");
  EXPECT_FALSE(open_safetensors_model(sh.string()));
}

// ---------------------------------------------------------------------------------------------
// llama2.c

std::vector<uint8_t> llama2c_file(std::array<int32_t, 7> h, int64_t extra_floats = 0) {
  std::vector<uint8_t> b;
  for (int32_t v : h) put<int32_t>(b, v);
  Llama2cHeader hh{h[0], h[1], h[2], h[3], h[4], h[5], h[6]};
  auto size = llama2c_expected_size(hh);
  if (!size) return b;
  b.resize(static_cast<size_t>(static_cast<int64_t>(*size) + extra_floats * 4), 0);
  return b;
}

Status open_l2c_bytes(const fs::path& p, const std::vector<uint8_t>& b) {
  auto mem = parse_llama2c_model(MappedFile::from_bytes(p.string(), b));
  write_bytes(p, b);
  auto m = open_llama2c_model(p.string());
  EXPECT_EQ(mem.has_value(), m.has_value());
  return m ? Status::ok() : m.status();
}

TEST(HostileLlama2c, EveryTruncationFails) {
  auto dir = scratch_dir("hostile_l2c_trunc");
  const fs::path p = dir / "m.bin";
  for (int32_t vocab : {10, -10}) {
    auto full = llama2c_file({8, 12, 2, 2, 1, vocab, 6});
    ASSERT_TRUE(open_l2c_bytes(p, full)) << vocab;
    for (size_t n = 0; n < full.size(); ++n)
      EXPECT_FALSE(open_l2c_bytes(p, std::vector<uint8_t>(full.begin(), full.begin() + static_cast<long>(n)))) << n;
    auto longer = full;
    longer.push_back(0);
    EXPECT_FALSE(open_l2c_bytes(p, longer));
  }
}

TEST(HostileLlama2c, CorruptHeaders) {
  auto dir = scratch_dir("hostile_l2c_fields");
  const fs::path p = dir / "m.bin";
  const std::array<int32_t, 7> good = {8, 12, 2, 2, 1, 10, 6};
  struct Case {
    int field;
    int32_t value;
    const char* want;
  } cases[] = {
      {0, 0, "dim"},          {0, -8, "dim"},          {0, 1 << 30, "dim"},    {1, 0, "hidden_dim"},
      {2, 0, "n_layers"},     {2, 1 << 20, "n_layers"}, {3, 0, "n_heads"},     {3, 3, "n_heads"},
      {3, 16, "n_heads"},     {4, 0, "n_kv_heads"},    {4, 3, "n_kv_heads"},   {5, 0, "vocab_size"},
      {5, INT32_MIN, "vocab_size"}, {6, 0, "seq_len"}, {6, -1, "seq_len"},    {3, 8, "odd"},
  };
  for (const auto& c : cases) {
    auto b = llama2c_file(good);
    poke<int32_t>(b, static_cast<size_t>(c.field) * 4, c.value);
    auto st = open_l2c_bytes(p, b);
    ASSERT_FALSE(st) << c.field << "=" << c.value;
    EXPECT_NE(st.message().find(c.want), std::string::npos) << st.message();
  }
  // A header that is valid but disagrees with the file size names both sizes.
  auto b = llama2c_file(good);
  poke<int32_t>(b, 4, 13);
  auto st = open_l2c_bytes(p, b);
  ASSERT_FALSE(st);
  EXPECT_NE(st.message().find("implies"), std::string::npos) << st.message();
  // Versioned exports are recognised and refused with a hint.
  b = llama2c_file(good);
  poke<uint32_t>(b, 0, 0x616b3432u);
  st = open_l2c_bytes(p, b);
  ASSERT_FALSE(st);
  EXPECT_NE(st.message().find("versioned"), std::string::npos) << st.message();
}

TEST(HostileLlama2c, UnsharedClassifierLayout) {
  auto dir = scratch_dir("hostile_l2c_layout");
  const fs::path p = dir / "m.bin";
  auto b = llama2c_file({8, 12, 2, 2, 1, -10, 6});
  // Mark the first float of wcls (the file's last 10*8 floats) and of rms_final.
  const size_t wcls = b.size() - 10 * 8 * 4;
  poke<float>(b, wcls, 42.0f);
  write_bytes(p, b);
  auto m = open_llama2c_model(p.string());
  ASSERT_TRUE(m) << m.error();
  EXPECT_FALSE((*m)->hparams.tied_embeddings);
  auto out = (*m)->require("output.weight", {8, 10});
  ASSERT_TRUE(out) << out.error();
  EXPECT_EQ(static_cast<const float*>((*out)->data)[0], 42.0f);
  EXPECT_EQ((*m)->tokenizer.kind, TokenizerSource::kNone);
  write_bytes(dir / "tok10.bin", {0, 0, 0, 0});
  m = open_llama2c_model(p.string());
  ASSERT_TRUE(m);
  EXPECT_EQ((*m)->tokenizer.kind, TokenizerSource::kLlama2cBin);
  EXPECT_EQ(fs::path((*m)->tokenizer.path).filename(), "tok10.bin");
}

}  // namespace
}  // namespace mlxr
