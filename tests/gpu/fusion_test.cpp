// The backend's GEMM fusions against the CPU backend doing the ops one by one: gate/up GEMMs
// followed by their swiglu run with 16-bit results (the down projection reads the 16-bit SwiGLU),
// the F32 gate/up/out are written only when read (lazy), and a norm writes the 16-bit input of
// the GEMM that follows it. Tolerances: bf16 rounding of gate, up and their product (2^-9 each).
#include "core/kernels/cpu/matmul.h"
#include "tests/gpu/gpu_test_util.h"

namespace mlxr {
namespace {

using gputest::get;
using gputest::put;
using gputest::random_vec;
using gputest::rel_err;

struct Ffn {
  std::vector<uint8_t> sg, su, sd;
  TensorView wg, wu, wd;       // host views
  TensorView dg, du, dd;       // device views
};

Ffn make_ffn(Backend& gpu, DType t, int K, int nf, std::mt19937& rng) {
  Ffn f;
  f.wg = gputest::random_weight(t, K, nf, rng, f.sg);
  f.wu = gputest::random_weight(t, K, nf, rng, f.su);
  f.wd = gputest::random_weight(t, nf, K, rng, f.sd);
  f.dg = *gpu.upload(f.wg);
  f.du = *gpu.upload(f.wu);
  f.dd = *gpu.upload(f.wd);
  return f;
}

TEST(GpuFusion, GemmSwigluDownAndLazyResults) {
  MLXR_REQUIRE_GPU();
  gputest::Pair p;
  ASSERT_TRUE(p.gpu);
  std::mt19937 rng(23);
  const int K = 256;
  for (DType t : {DType::BF16, DType::Q4_K}) {
    for (int nf : {256, 136, 131}) {
      if (nf % dtype_info(t).block_elems) continue;
      for (int rows : {37, 64, 100}) {
        Ffn f = make_ffn(*p.gpu, t, K, nf, rng);
        const auto x = random_vec(static_cast<size_t>(rows) * K, rng);
        const size_t n = static_cast<size_t>(rows) * nf;
        std::vector<float> rg(n), ru(n), rs(n), ry(static_cast<size_t>(rows) * K);
        matmul_reference(f.wg, x.data(), rows, rg.data());
        matmul_reference(f.wu, x.data(), rows, ru.data());
        p.cpu.swiglu(rg.data(), ru.data(), rs.data(), n);
        matmul_reference(f.wd, rs.data(), rows, ry.data());

        float* dx = put(*p.gpu, x);
        float* gate = *p.gpu->alloc(n);
        float* up = *p.gpu->alloc(n);
        float* y = *p.gpu->alloc(ry.size());
        p.gpu->matmul(f.dg, dx, rows, gate);
        p.gpu->matmul(f.du, dx, rows, up);
        p.gpu->swiglu(gate, up, gate, n);  // in place, as the Llama model calls it
        p.gpu->matmul(f.dd, gate, rows, y);
        const double tol = t == DType::BF16 ? 8e-3 : 2e-2;
        EXPECT_LT(rel_err(get(*p.gpu, y, ry.size()), ry), tol) << dtype_name(t) << " down rows=" << rows << " nf=" << nf;
        // Reading the lazy F32 results widens them.
        EXPECT_LT(rel_err(get(*p.gpu, gate, n), rs), tol) << dtype_name(t) << " swiglu rows=" << rows << " nf=" << nf;
        EXPECT_LT(rel_err(get(*p.gpu, up, n), ru), tol) << dtype_name(t) << " up rows=" << rows << " nf=" << nf;
        for (float* q : {dx, gate, up, y}) p.gpu->free(q);
      }
    }
  }
}

// A lazy result overwritten in part keeps the other part; overwritten whole, it is never
// widened over the new values.
TEST(GpuFusion, LazyResultsMeetLaterWrites) {
  MLXR_REQUIRE_GPU();
  gputest::Pair p;
  ASSERT_TRUE(p.gpu);
  std::mt19937 rng(29);
  const int K = 128, nf = 96, rows = 20;
  Ffn f = make_ffn(*p.gpu, DType::BF16, K, nf, rng);
  const auto x = random_vec(static_cast<size_t>(rows) * K, rng);
  const size_t n = static_cast<size_t>(rows) * nf;
  std::vector<float> rg(n), ru(n), rs(n);
  matmul_reference(f.wg, x.data(), rows, rg.data());
  matmul_reference(f.wu, x.data(), rows, ru.data());
  p.cpu.swiglu(rg.data(), ru.data(), rs.data(), n);

  float* dx = put(*p.gpu, x);
  float* gate = *p.gpu->alloc(n);
  float* up = *p.gpu->alloc(n);
  float* out = *p.gpu->alloc(n);  // not in place: gate, up and out are all lazy
  p.gpu->matmul(f.dg, dx, rows, gate);
  p.gpu->matmul(f.du, dx, rows, up);
  p.gpu->swiglu(gate, up, out, n);
  // Part of up zeroed: the rest must still read as the GEMM result.
  p.gpu->fill_zero(up + 10, 50);
  std::vector<float> ru_part = ru;
  std::fill(ru_part.begin() + 10, ru_part.begin() + 60, 0.0f);
  EXPECT_LT(rel_err(get(*p.gpu, up, n), ru_part), 8e-3);
  // gate overwritten whole from the host: the new values, not the GEMM's.
  const auto fresh = random_vec(n, rng);
  p.gpu->from_host(gate, fresh.data(), n);
  EXPECT_EQ(get(*p.gpu, gate, n), fresh);
  // out read through an elementwise op (add into a zeroed buffer).
  float* acc = *p.gpu->alloc(n);
  p.gpu->fill_zero(acc, n);
  p.gpu->add(acc, out, n);
  EXPECT_LT(rel_err(get(*p.gpu, acc, n), rs), 8e-3);
  for (float* q : {dx, gate, up, out, acc}) p.gpu->free(q);
}

// A norm followed by a GEMM of its output writes the GEMM's bf16 input in the same pass; the
// F32 norm output is still written.
TEST(GpuFusion, NormWritesGemmInput) {
  MLXR_REQUIRE_GPU();
  gputest::Pair p;
  ASSERT_TRUE(p.gpu);
  std::mt19937 rng(31);
  const int K = 512, N = 300, rows = 45;
  std::vector<uint8_t> sw;
  const TensorView w = gputest::random_weight(DType::BF16, K, N, rng, sw);
  const TensorView dw = *p.gpu->upload(w);
  const auto x = random_vec(static_cast<size_t>(rows) * K, rng);
  const auto nw = random_vec(K, rng);
  std::vector<float> xh = x, h(x.size()), ref(static_cast<size_t>(rows) * N);
  p.cpu.rms_norm(xh.data(), nw.data(), 1e-5f, rows, K, h.data());
  matmul_reference(w, h.data(), rows, ref.data());

  float* dx = put(*p.gpu, x);
  float* dn = put(*p.gpu, nw);
  float* dh = *p.gpu->alloc(h.size());
  float* dy = *p.gpu->alloc(ref.size());
  p.gpu->rms_norm(dx, dn, 1e-5f, rows, K, dh);
  p.gpu->matmul(dw, dh, rows, dy);
  EXPECT_LT(rel_err(get(*p.gpu, dy, ref.size()), ref), 1e-5);
  EXPECT_LT(rel_err(get(*p.gpu, dh, h.size()), h), 1e-6);
  for (float* q : {dx, dn, dh, dy}) p.gpu->free(q);
}

}  // namespace
}  // namespace mlxr
