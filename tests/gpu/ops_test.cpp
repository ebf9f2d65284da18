// Elementwise, normalisation, RoPE and embedding kernels against the CPU backend.
#include <cstring>

#include "core/quant/quant.h"
#include "tests/gpu/gpu_test_util.h"

namespace mlxr {
namespace {

using gputest::get;
using gputest::Pair;
using gputest::put;
using gputest::random_vec;
using gputest::rel_err;

TEST(GpuOps, GetRowsIsBitExactForEveryDeviceType) {
  MLXR_REQUIRE_GPU();
  Pair p;
  ASSERT_TRUE(p.gpu);
  std::mt19937 rng(1);
  for (DType t : {DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0, DType::Q4_K, DType::Q5_K,
                  DType::Q6_K, DType::Q5_0 /* converted to F32 at upload */}) {
    for (int64_t ne0 : {int64_t(512), int64_t(100)}) {
      if (ne0 % dtype_info(t).block_elems) continue;
      const int64_t rows = 37;
      std::vector<uint8_t> data;
      const TensorView tv = gputest::random_weight(t, ne0, rows, rng, data, "table");
      Batch b = gputest::simple_batch({5, 0, 36, 17, 5, 22, 9, 31, 1, 2, 3, 30, 12}, 1);
      for (auto& pos : b.positions) pos = 0;
      std::vector<std::vector<float>> outs;
      for (Backend* be : {static_cast<Backend*>(&p.cpu), p.gpu.get()}) {
        auto w = be->upload(tv);
        ASSERT_TRUE(w) << w.error();
        ASSERT_TRUE(be->set_batch(b).is_ok());
        float* out = *be->alloc(b.n_tokens() * ne0);
        be->get_rows(*w, out);
        outs.push_back(get(*be, out, b.n_tokens() * ne0));
        be->free(out);
      }
      ASSERT_EQ(outs[0].size(), outs[1].size());
      EXPECT_EQ(0, std::memcmp(outs[0].data(), outs[1].data(), outs[0].size() * 4)) << dtype_name(t) << " ne0=" << ne0;
    }
  }
}

TEST(GpuOps, RmsNorm) {
  MLXR_REQUIRE_GPU();
  Pair p;
  ASSERT_TRUE(p.gpu);
  std::mt19937 rng(2);
  for (int n : {1003, 64, 4096}) {
    const int rows = 7;
    auto x = random_vec(static_cast<size_t>(rows) * n, rng);
    auto w = random_vec(n, rng);
    for (bool with_w : {true, false}) {
      for (bool in_place : {false, true}) {
        std::vector<std::vector<float>> outs;
        for (Backend* be : {static_cast<Backend*>(&p.cpu), p.gpu.get()}) {
          float* dx = put(*be, x);
          float* dw = put(*be, w);
          float* out = in_place ? dx : *be->alloc(x.size());
          be->rms_norm(dx, with_w ? dw : nullptr, 1e-5f, rows, n, out);
          outs.push_back(get(*be, out, x.size()));
          if (!in_place) be->free(out);
          be->free(dx);
          be->free(dw);
        }
        EXPECT_LT(rel_err(outs[1], outs[0]), 1e-6) << "n=" << n << " w=" << with_w << " in_place=" << in_place;
      }
    }
  }
}

struct RopeCase {
  RopeStyle style;
  RopeScaling scaling;
  int head_dim, n_dims;
  bool freq_factors;
};

TEST(GpuOps, RopeEveryVariant) {
  MLXR_REQUIRE_GPU();
  Pair p;
  ASSERT_TRUE(p.gpu);
  std::mt19937 rng(3);
  const std::vector<RopeCase> cases = {
      {RopeStyle::kNormal, RopeScaling::kNone, 64, 64, false},  {RopeStyle::kNeox, RopeScaling::kNone, 64, 64, false},
      {RopeStyle::kNormal, RopeScaling::kNone, 80, 48, false},  {RopeStyle::kNeox, RopeScaling::kLinear, 128, 128, false},
      {RopeStyle::kNormal, RopeScaling::kLlama3, 128, 128, true}, {RopeStyle::kNeox, RopeScaling::kYarn, 64, 64, false},
      {RopeStyle::kNormal, RopeScaling::kYarn, 96, 64, true},
  };
  const int T = 9, n_heads = 5;
  Batch b = gputest::simple_batch(std::vector<int32_t>(T, 0), 8);
  b.positions = {0, 1, 7, 100, 511, 1000, 2047, 3001, 77};
  b.block_tables[0].assign(1, 0);
  KVLayout kv{1, 256, 16, 1, 32, DType::F32};
  ASSERT_TRUE(p.cpu.init_kv(kv).is_ok());
  ASSERT_TRUE(p.gpu->init_kv(kv).is_ok());
  b.block_tables[0].resize(200);
  for (const auto& c : cases) {
    RopeParams rp;
    rp.style = c.style;
    rp.scaling = c.scaling;
    rp.n_dims = c.n_dims;
    rp.theta = 500000.0f;
    rp.factor = 4.0f;
    rp.orig_ctx = 2048;
    auto x = random_vec(static_cast<size_t>(T) * n_heads * c.head_dim, rng);
    std::vector<float> ff;
    for (int i = 0; i < c.n_dims / 2; ++i) ff.push_back(1.0f + 7.0f * (i % 5) / 4.0f);
    std::vector<std::vector<float>> outs;
    for (Backend* be : {static_cast<Backend*>(&p.cpu), p.gpu.get()}) {
      ASSERT_TRUE(be->set_batch(b).is_ok());
      float* dx = put(*be, x);
      const float* dff = nullptr;
      if (c.freq_factors) {
        TensorView v;
        v.name = "ff";
        v.n_dims = 1;
        v.ne = {static_cast<int64_t>(ff.size()), 1, 1, 1};
        v.data = ff.data();
        v.nbytes = ff.size() * 4;
        dff = *be->upload_f32(v);
      }
      be->rope(dx, n_heads, c.head_dim, rp, dff);
      outs.push_back(get(*be, dx, x.size()));
      be->free(dx);
    }
    EXPECT_LT(rel_err(outs[1], outs[0]), 2e-6) << "style " << int(c.style) << " scaling " << int(c.scaling) << " hd "
                                               << c.head_dim << " n_dims " << c.n_dims;
  }
}

TEST(GpuOps, Elementwise) {
  MLXR_REQUIRE_GPU();
  Pair p;
  ASSERT_TRUE(p.gpu);
  std::mt19937 rng(4);
  const size_t n = 12345;
  const int rows = 15, cols = 823;
  auto a = random_vec(n, rng, 0.05f, 6.0f), b = random_vec(n, rng), bias = random_vec(cols, rng);
  auto m = random_vec(static_cast<size_t>(rows) * cols, rng);
  std::vector<std::vector<float>> sw, ge, ad, ar, ms;
  for (Backend* be : {static_cast<Backend*>(&p.cpu), p.gpu.get()}) {
    float* da = put(*be, a);
    float* db = put(*be, b);
    float* out = *be->alloc(n);
    be->swiglu(da, db, out, n);
    sw.push_back(get(*be, out, n));
    be->gelu_mul(da, db, out, n);
    ge.push_back(get(*be, out, n));
    be->add(da, db, n);
    ad.push_back(get(*be, da, n));
    be->mul_scalar(da, 0.37f, n);
    ms.push_back(get(*be, da, n));
    float* dm = put(*be, m);
    float* dbias = put(*be, bias);
    be->add_row(dm, dbias, rows, cols);
    ar.push_back(get(*be, dm, m.size()));
    for (float* ptr : {da, db, out, dm, dbias}) be->free(ptr);
  }
  EXPECT_LT(rel_err(sw[1], sw[0]), 1e-6);
  EXPECT_LT(rel_err(ge[1], ge[0]), 1e-6);
  EXPECT_LT(rel_err(ad[1], ad[0]), 1e-7);
  EXPECT_LT(rel_err(ms[1], ms[0]), 1e-7);
  EXPECT_LT(rel_err(ar[1], ar[0]), 1e-7);
}

TEST(GpuOps, GatherScatterFill) {
  MLXR_REQUIRE_GPU();
  Pair p;
  ASSERT_TRUE(p.gpu);
  std::mt19937 rng(5);
  const int n = 301, rows = 11;
  auto x = random_vec(static_cast<size_t>(rows) * n, rng);
  auto src = random_vec(static_cast<size_t>(5) * n, rng);
  const std::vector<int32_t> idx = {3, 0, 10, 3, 7};
  const std::vector<float> sc = {0.5f, -1.25f, 2.0f, 0.75f, 1.0f};
  Batch b = gputest::simple_batch(std::vector<int32_t>(rows, 0), 1);
  for (auto& pos : b.positions) pos = 0;
  b.output_rows = {9, 2, 2, 0};
  std::vector<std::vector<float>> g1, g2, s1, z;
  for (Backend* be : {static_cast<Backend*>(&p.cpu), p.gpu.get()}) {
    ASSERT_TRUE(be->set_batch(b).is_ok());
    float* dx = put(*be, x);
    float* dsrc = put(*be, src);
    float* out = *be->alloc(x.size());
    be->gather_output_rows(dx, n, out);
    g1.push_back(get(*be, out, 4 * n));
    be->gather_rows(dx, idx.data(), 5, n, out);
    g2.push_back(get(*be, out, 5 * n));
    be->scatter_add_scaled(dx, dsrc, idx.data(), sc.data(), 5, n);
    s1.push_back(get(*be, dx, x.size()));
    be->fill_zero(dx, x.size());
    z.push_back(get(*be, dx, x.size()));
    for (float* ptr : {dx, dsrc, out}) be->free(ptr);
  }
  EXPECT_EQ(g1[0], g1[1]);
  EXPECT_EQ(g2[0], g2[1]);
  EXPECT_LT(rel_err(s1[1], s1[0]), 1e-7);
  EXPECT_EQ(z[0], z[1]);
}

}  // namespace
}  // namespace mlxr
