#include <gtest/gtest.h>

#include "core/formats/gguf.h"
#include "core/formats/gguf_writer.h"
#include "tests/support/test_data.h"
#include "tests/unit/formats/test_files.h"

namespace mlxr {
namespace {

using testing::read_bytes;
using testing::scratch_dir;

// Every metadata type, arrays of every element type, and three tensors of different types.
TEST(GgufWriter, RoundTripsEveryType) {
  auto dir = scratch_dir("writer_rt");
  const std::string path = (dir / "rt.gguf").string();
  GgufWriter w;
  w.set("general.architecture", gguf_str("llama"));
  w.set("k.u8", gguf_u8(200));
  w.set("k.i8", gguf_i8(-100));
  w.set("k.u16", gguf_u16(60000));
  w.set("k.i16", gguf_i16(-30000));
  w.set("k.u32", gguf_u32(4000000000u));
  w.set("k.i32", gguf_i32(-2000000000));
  w.set("k.u64", gguf_u64(18000000000000000000ull));
  w.set("k.i64", gguf_i64(-9000000000000000000ll));
  w.set("k.f32", gguf_f32(0.1f));
  w.set("k.f64", gguf_f64(0.1));
  w.set("k.bool", gguf_bool(true));
  w.set("k.str", gguf_str(std::string("h\0llo \xE2\x96\x81", 10)));
  w.set("k.empty", gguf_str(""));
  w.set("a.str", gguf_str_array({"a", "", "\xE2\x96\x81x"}));
  w.set("a.f32", gguf_f32_array({1.5f, -0.25f}));
  GgufValue f64s;
  f64s.type = GgufType::ARRAY;
  f64s.elem_type = GgufType::F64;
  f64s.floats = {0.1, 1e300};
  w.set("a.f64", f64s);
  const GgufType int_types[] = {GgufType::U8, GgufType::I8, GgufType::U16, GgufType::I16, GgufType::U32,
                                GgufType::I32, GgufType::U64, GgufType::I64, GgufType::BOOL};
  for (auto t : int_types) w.set(std::string("a.") + gguf_type_name(t), gguf_int_array(t, {1, 0, 1}));
  w.set("a.i32neg", gguf_int_array(GgufType::I32, {-1, 7}));
  w.set("a.empty", gguf_int_array(GgufType::U8, {}));
  w.set("k.u32", gguf_u32(7));  // replacing keeps the position
  ASSERT_TRUE(w.add_tensor("t.f32", DType::F32, {5, 3}));
  ASSERT_TRUE(w.add_tensor("t.f16", DType::F16, {7}));
  ASSERT_TRUE(w.add_tensor("t.q8", DType::Q8_0, {32, 2}));
  std::vector<uint8_t> d0(60), d1(14), d2(68);
  for (size_t i = 0; i < d0.size(); ++i) d0[i] = static_cast<uint8_t>(i * 7);
  for (size_t i = 0; i < d1.size(); ++i) d1[i] = static_cast<uint8_t>(i + 100);
  for (size_t i = 0; i < d2.size(); ++i) d2[i] = static_cast<uint8_t>(255 - i);
  ASSERT_TRUE(w.open(path));
  ASSERT_TRUE(w.write(d0.data(), 10));  // split writes
  ASSERT_TRUE(w.write(d0.data() + 10, 50));
  ASSERT_TRUE(w.write(d1.data(), d1.size()));
  ASSERT_TRUE(w.write(d2.data(), d2.size()));
  EXPECT_FALSE(w.write(d2.data(), 1));  // nothing more was declared
  ASSERT_TRUE(w.close());

  auto g = GgufFile::open(path);
  ASSERT_TRUE(g) << g.error();
  const GgufFile& f = **g;
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.data_offset() % 32, 0u);
  EXPECT_EQ(std::filesystem::file_size(path) % 32, 0u);  // the last tensor is padded too
  EXPECT_EQ(f.key_order()[5], "k.u32");
  EXPECT_EQ(f.get_int("k.u8"), 200);
  EXPECT_EQ(f.get_int("k.i8"), -100);
  EXPECT_EQ(f.get_int("k.u16"), 60000);
  EXPECT_EQ(f.get_int("k.i16"), -30000);
  EXPECT_EQ(f.get_int("k.u32"), 7);
  EXPECT_EQ(f.get_int("k.i32"), -2000000000);
  EXPECT_EQ(f.find("k.u64")->u, 18000000000000000000ull);
  EXPECT_EQ(f.get_int("k.i64"), -9000000000000000000ll);
  EXPECT_EQ(f.get_float("k.f32"), static_cast<double>(0.1f));
  EXPECT_EQ(f.find("k.f32")->type, GgufType::F32);
  EXPECT_EQ(f.get_float("k.f64"), 0.1);
  EXPECT_EQ(f.get_bool("k.bool"), true);
  EXPECT_EQ(f.get_string("k.str"), std::string("h\0llo \xE2\x96\x81", 10));
  EXPECT_EQ(f.get_string("k.empty"), "");
  EXPECT_EQ(f.find("a.str")->strs, (std::vector<std::string>{"a", "", "\xE2\x96\x81x"}));
  EXPECT_EQ(f.find("a.f32")->floats, (std::vector<double>{1.5, -0.25}));
  EXPECT_EQ(f.find("a.f64")->floats, (std::vector<double>{0.1, 1e300}));
  for (auto t : int_types) {
    const GgufValue* v = f.find(std::string("a.") + gguf_type_name(t));
    ASSERT_NE(v, nullptr);
    EXPECT_EQ(v->elem_type, t);
    EXPECT_EQ(v->ints, (std::vector<int64_t>{1, 0, 1}));
  }
  EXPECT_EQ(f.find("a.i32neg")->ints, (std::vector<int64_t>{-1, 7}));
  EXPECT_EQ(f.find("a.empty")->array_size(), 0u);
  ASSERT_EQ(f.tensors().size(), 3u);
  const std::vector<uint8_t>* want[] = {&d0, &d1, &d2};
  for (size_t i = 0; i < 3; ++i) {
    const auto& t = f.tensors()[i];
    ASSERT_EQ(t.nbytes, want[i]->size()) << t.name;
    EXPECT_EQ(std::memcmp(t.data, want[i]->data(), t.nbytes), 0) << t.name;
    EXPECT_EQ((static_cast<const uint8_t*>(t.data) - f.file()->data() - f.data_offset()) % 32, 0) << t.name;
  }
  EXPECT_EQ(f.tensor("t.f32")->ne[1], 3);
  EXPECT_EQ(f.tensor("t.q8")->type, DType::Q8_0);
}

TEST(GgufWriter, CustomAlignment) {
  auto dir = scratch_dir("writer_align");
  const std::string path = (dir / "a.gguf").string();
  GgufWriter w;
  w.set("general.alignment", gguf_u32(64));
  ASSERT_TRUE(w.add_tensor("a", DType::F32, {3}));
  ASSERT_TRUE(w.add_tensor("b", DType::F32, {5}));
  ASSERT_TRUE(w.open(path));
  float x[5] = {1, 2, 3, 4, 5};
  ASSERT_TRUE(w.write(x, 12));
  ASSERT_TRUE(w.write(x, 20));
  ASSERT_TRUE(w.close());
  auto g = GgufFile::open(path);
  ASSERT_TRUE(g) << g.error();
  EXPECT_EQ((*g)->alignment(), 64u);
  EXPECT_EQ((*g)->data_offset() % 64, 0u);
  EXPECT_EQ(static_cast<const uint8_t*>((*g)->tensor("b")->data) - static_cast<const uint8_t*>((*g)->tensor("a")->data), 64);
  EXPECT_EQ(static_cast<const float*>((*g)->tensor("b")->data)[4], 5.0f);
}

// llama.cpp's converter wrote stories260K-f32.gguf; copying its metadata and tensors through
// the writer must reproduce the file byte for byte.
TEST(GgufWriter, RewritesLlamaCppFileByteForByte) {
  MLXR_REQUIRE_DATA("stories260K/stories260K-f32.gguf");
  const std::string src = testing::data_path("stories260K/stories260K-f32.gguf");
  auto g = GgufFile::open(src);
  ASSERT_TRUE(g) << g.error();
  auto dir = scratch_dir("writer_copy");
  const std::string out = (dir / "copy.gguf").string();
  GgufWriter w;
  w.copy_metadata(**g);
  for (const auto& t : (*g)->tensors()) ASSERT_TRUE(w.add_tensor(t.name, t.type, std::vector<int64_t>(t.ne.begin(), t.ne.begin() + t.n_dims)));
  ASSERT_TRUE(w.open(out));
  for (const auto& t : (*g)->tensors()) ASSERT_TRUE(w.write(t.data, t.nbytes));
  ASSERT_TRUE(w.close());
  EXPECT_TRUE(read_bytes(src) == read_bytes(out));
}

TEST(GgufWriter, RejectsBadDeclarationsAndIncompleteData) {
  GgufWriter w;
  EXPECT_FALSE(w.add_tensor("", DType::F32, {4}));
  EXPECT_FALSE(w.add_tensor(std::string(64, 'x'), DType::F32, {4}));
  EXPECT_FALSE(w.add_tensor("d", DType::F32, {}));
  EXPECT_FALSE(w.add_tensor("d", DType::F32, {1, 1, 1, 1, 1}));
  EXPECT_FALSE(w.add_tensor("d", DType::F32, {4, 0}));
  EXPECT_FALSE(w.add_tensor("q", DType::Q4_K, {128}));
  ASSERT_TRUE(w.add_tensor("ok", DType::F32, {4}));
  EXPECT_FALSE(w.add_tensor("ok", DType::F32, {4}));
  auto dir = scratch_dir("writer_bad");
  const auto path = dir / "x.gguf";
  ASSERT_TRUE(w.open(path.string()));
  float x[2] = {1, 2};
  ASSERT_TRUE(w.write(x, sizeof x));
  auto st = w.close();
  ASSERT_FALSE(st);
  EXPECT_NE(st.message().find("'ok' was not written completely"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_FALSE(std::filesystem::exists(path.string() + ".tmp"));

  GgufWriter n;
  GgufValue nested;
  nested.type = GgufType::ARRAY;
  nested.elem_type = GgufType::ARRAY;
  n.set("bad", nested);
  EXPECT_FALSE(n.open((dir / "n.gguf").string()));
  GgufWriter a;
  a.set("general.alignment", gguf_u32(48));
  EXPECT_FALSE(a.open((dir / "a.gguf").string()));
}

}  // namespace
}  // namespace mlxr
