// matmul for every device weight type and row count (matvec, cuBLAS, dequantize + cuBLAS)
// against matmul_reference: x rounded through the CPU's activation format, W dequantised,
// products summed in double. Tolerances: float weights see only summation order; quantized
// weights also see the GPU's own activation quantization (int8 per 32 values) or bf16 rounding.
#include <cuda_runtime.h>

#include <array>
#include <cmath>

#include "core/kernels/cpu/matmul.h"
#include "core/kernels/cuda/kernels.h"
#include "core/quant/quant.h"
#include "tests/gpu/gpu_test_util.h"

namespace mlxr {
namespace {

using gputest::get;
using gputest::put;
using gputest::random_vec;
using gputest::rel_err;

TEST(GpuMatmul, EveryTypeAndRowCount) {
  MLXR_REQUIRE_GPU();
  gputest::Pair p;
  ASSERT_TRUE(p.gpu);
  std::mt19937 rng(7);
  for (DType t : {DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0, DType::Q4_K, DType::Q5_K, DType::Q6_K}) {
    for (int K : {768, 100}) {
      if (K % dtype_info(t).block_elems) continue;
      const int N = 333;
      std::vector<uint8_t> w;
      const TensorView tv = gputest::random_weight(t, K, N, rng, w);
      auto dw = p.gpu->upload(tv);
      ASSERT_TRUE(dw) << dw.error();
      for (int rows : {1, 3, 8, 37}) {
        auto x = random_vec(static_cast<size_t>(rows) * K, rng);
        std::vector<float> ref(static_cast<size_t>(rows) * N);
        matmul_reference(tv, x.data(), rows, ref.data());
        float* dx = put(*p.gpu, x);
        float* dy = *p.gpu->alloc(ref.size());
        p.gpu->matmul(*dw, dx, rows, dy);
        auto got = get(*p.gpu, dy, ref.size());
        const bool quant = dtype_info(t).quantized;
        const double tol = !quant ? (t == DType::F32 ? 3e-6 : 1e-5) : 1.2e-2;
        EXPECT_LT(rel_err(got, ref), tol) << dtype_name(t) << " K=" << K << " rows=" << rows;
        p.gpu->free(dx);
        p.gpu->free(dy);
      }
    }
  }
}

// Matvecs sharing an input run as one grouped launch (three weights of different heights, as
// q/k/v), and gate/up followed by swiglu as one launch with the SwiGLU fused: both must equal
// the CPU backend doing the same ops one by one.
TEST(GpuMatmul, GroupedMatvecsAndFusedSwiglu) {
  MLXR_REQUIRE_GPU();
  gputest::Pair p;
  ASSERT_TRUE(p.gpu);
  std::mt19937 rng(11);
  const int K = 512;
  for (DType t : {DType::BF16, DType::F16, DType::Q8_0, DType::Q4_K, DType::Q6_K}) {
    const bool quant = dtype_info(t).quantized;
    for (int rows : {1, 3}) {
      if (!quant && rows > 1) continue;
      auto x = random_vec(static_cast<size_t>(rows) * K, rng);
      float* dx = put(*p.gpu, x);
      // Odd heights, so a unit of two rows straddles weights; the small set runs a row per warp
      // (too few rows to fill the GPU two at a time), the large one two rows per warp.
      for (const auto& ns : {std::array<int, 3>{257, 63, 63}, std::array<int, 3>{8193, 511, 511}}) {
        std::vector<uint8_t> store[3];
        TensorView w[3];
        std::vector<float*> dy;
        for (int i = 0; i < 3; ++i) {
          w[i] = gputest::random_weight(t, K, ns[i], rng, store[i]);
          auto dw = p.gpu->upload(w[i]);
          ASSERT_TRUE(dw) << dw.error();
          dy.push_back(*p.gpu->alloc(static_cast<size_t>(rows) * ns[i]));
          p.gpu->matmul(*dw, dx, rows, dy[i]);
        }
        for (int i = 0; i < 3; ++i) {
          std::vector<float> ref(static_cast<size_t>(rows) * ns[i]);
          matmul_reference(w[i], x.data(), rows, ref.data());
          EXPECT_LT(rel_err(get(*p.gpu, dy[i], ref.size()), ref), quant ? 1.2e-2 : 1e-5)
              << dtype_name(t) << " rows=" << rows << " weight " << i << " of " << ns[i];
          p.gpu->free(dy[i]);
        }
      }
      // gate/up + swiglu in place on gate, as the Llama model calls it.
      std::vector<uint8_t> sg, su;
      const int nf = 129;
      const TensorView wg = gputest::random_weight(t, K, nf, rng, sg);
      const TensorView wu = gputest::random_weight(t, K, nf, rng, su);
      auto dg = p.gpu->upload(wg);
      auto du = p.gpu->upload(wu);
      ASSERT_TRUE(dg && du);
      const size_t n = static_cast<size_t>(rows) * nf;
      float* gate = *p.gpu->alloc(n);
      float* up = *p.gpu->alloc(n);
      p.gpu->matmul(*dg, dx, rows, gate);
      p.gpu->matmul(*du, dx, rows, up);
      p.gpu->swiglu(gate, up, gate, n);
      std::vector<float> rg(n), ru(n), rs(n);
      matmul_reference(wg, x.data(), rows, rg.data());
      matmul_reference(wu, x.data(), rows, ru.data());
      p.cpu.swiglu(rg.data(), ru.data(), rs.data(), n);
      const double tol = quant ? 1.5e-2 : 1e-5;
      EXPECT_LT(rel_err(get(*p.gpu, gate, n), rs), tol) << dtype_name(t) << " swiglu rows=" << rows;
      EXPECT_LT(rel_err(get(*p.gpu, up, n), ru), tol) << dtype_name(t) << " up rows=" << rows;
      p.gpu->free(gate);
      p.gpu->free(up);
      p.gpu->free(dx);
    }
  }
}

// A norm followed by a quantized matvec of its output writes the int8 activations itself (no
// separate quantize pass); with a residual add held before it as well. Against the CPU backend.
TEST(GpuMatmul, NormFusedIntoQuantizedMatvec) {
  MLXR_REQUIRE_GPU();
  gputest::Pair p;
  ASSERT_TRUE(p.gpu);
  std::mt19937 rng(5);
  const int K = 768, N = 301;
  for (DType t : {DType::Q8_0, DType::Q4_K}) {
    for (int rows : {1, 5}) {
      std::vector<uint8_t> store;
      const TensorView tv = gputest::random_weight(t, K, N, rng, store);
      auto x = random_vec(static_cast<size_t>(rows) * K, rng), r = random_vec(x.size(), rng);
      auto nw = random_vec(K, rng);
      std::vector<std::vector<float>> outs;
      for (Backend* be : {static_cast<Backend*>(&p.cpu), p.gpu.get()}) {
        auto dw = be->upload(tv);
        ASSERT_TRUE(dw) << dw.error();
        float* dx = put(*be, x);
        float* dr = put(*be, r);
        float* dn = put(*be, nw);
        float* h = *be->alloc(x.size());
        float* y = *be->alloc(static_cast<size_t>(rows) * N);
        be->add(dx, dr, x.size());
        be->rms_norm(dx, dn, 1e-5f, rows, K, h);
        be->matmul(*dw, h, rows, y);
        outs.push_back(get(*be, y, static_cast<size_t>(rows) * N));
        outs.push_back(get(*be, dx, x.size()));
        for (float* ptr : {dx, dr, dn, h, y}) be->free(ptr);
      }
      EXPECT_LT(rel_err(outs[2], outs[0]), 1.2e-2) << dtype_name(t) << " rows=" << rows;
      EXPECT_LT(rel_err(outs[3], outs[1]), 1e-6) << dtype_name(t) << " residual rows=" << rows;
    }
  }
}

// Every matvec_group variant of every grouped type, called directly (the backend keeps only the
// fastest per shape): three weights of odd heights sharing x, and a gate/up pair with the
// SwiGLU fused, for llama-sized K and each activation row count, against matmul_reference.
// With only 3 multiprocessors' worth of blocks each block walks many stages around the bulk
// kernel's ring (and runs of rows straddle weights); K = 1056 gives Q8_0/Q4_0 rows that are
// not a multiple of 16 bytes, which the bulk variants must hand back to the register kernel.
TEST(GpuMatmul, MatvecGroupEveryVariant) {
  MLXR_REQUIRE_GPU();
  int dev = 0, sms = 0;
  ASSERT_EQ(cudaGetDevice(&dev), cudaSuccess);
  ASSERT_EQ(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev), cudaSuccess);
  std::mt19937 rng(13);
  auto dev_copy = [](const void* host, size_t bytes) {
    void* d = nullptr;
    EXPECT_EQ(cudaMalloc(&d, bytes), cudaSuccess);
    EXPECT_EQ(cudaMemcpy(d, host, bytes, cudaMemcpyHostToDevice), cudaSuccess);
    return d;
  };
  for (DType t : {DType::BF16, DType::F16, DType::Q8_0, DType::Q4_0, DType::Q4_K, DType::Q5_K, DType::Q6_K}) {
    const bool quant = dtype_info(t).quantized;
    const int max_rows = quant ? cuda::kMatvecMaxRows : 1;
    for (int K : {4096, 14336, 1056}) {
      if (K % dtype_info(t).block_elems || !cuda::matvec_group_supported(t, K)) continue;
      // Weights 0-2: one group (q/k/v-like heights); 3, 4: gate and up.
      const std::array<int, 5> ns = {301, 67, 65, 129, 129};
      std::vector<uint8_t> store[5];
      TensorView w[5];
      void* dw[5];
      std::vector<float> ref[5];
      const auto x = random_vec(static_cast<size_t>(max_rows) * K, rng);
      for (int i = 0; i < 5; ++i) {
        w[i] = gputest::random_weight(t, K, ns[i], rng, store[i]);
        dw[i] = dev_copy(store[i].data(), store[i].size());
        ref[i].resize(static_cast<size_t>(max_rows) * ns[i]);
        matmul_reference(w[i], x.data(), max_rows, ref[i].data());  // rows are independent: R rows = a prefix
      }
      float* dx = static_cast<float*>(dev_copy(x.data(), x.size() * 4));
      int8_t* xq = nullptr;
      float2* xds = nullptr;
      ASSERT_EQ(cudaMalloc(&xq, x.size()), cudaSuccess);
      ASSERT_EQ(cudaMalloc(&xds, x.size() / 32 * sizeof(float2)), cudaSuccess);
      if (quant) cuda::quantize_q8(dx, max_rows, K, xq, xds, nullptr);
      float* dy[6];
      const size_t ny[6] = {ref[0].size(), ref[1].size(), ref[2].size(), ref[3].size(), ref[4].size(), ref[3].size()};
      for (int i = 0; i < 6; ++i) ASSERT_EQ(cudaMalloc(&dy[i], ny[i] * 4), cudaSuccess);
      for (int R = 1; R <= max_rows; ++R) {
        for (int num_sms : {sms, 3}) {
          for (int v = 0; v < cuda::matvec_variant_count(t); ++v) {
            // NaN everywhere first: an output the kernel never writes fails the comparison.
            for (int i = 0; i < 6; ++i) ASSERT_EQ(cudaMemset(dy[i], 0xFF, ny[i] * 4), cudaSuccess);
            cuda::MatvecGroup g3;
            g3.type = t;
            g3.K = K;
            g3.count = 3;
            for (int i = 0; i < 3; ++i) g3.t[i] = cuda::MatvecTarget{dw[i], w[i].row_size(), ns[i], dy[i]};
            cuda::matvec_group(g3, dx, xq, xds, R, num_sms, nullptr, false, v);
            cuda::MatvecGroup glu = g3;
            glu.count = 2;
            glu.t[0] = cuda::MatvecTarget{dw[3], w[3].row_size(), ns[3], dy[3]};
            glu.t[1] = cuda::MatvecTarget{dw[4], w[4].row_size(), ns[4], dy[4]};
            glu.t[2] = cuda::MatvecTarget{};
            glu.glu = dy[5];
            cuda::matvec_group(glu, dx, xq, xds, R, num_sms, nullptr, false, v);
            ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
            const std::string what = std::string(dtype_name(t)) + " K=" + std::to_string(K) + " R=" + std::to_string(R) +
                                     " sms=" + std::to_string(num_sms) + " variant " + std::to_string(v);
            const double tol = quant ? 1.2e-2 : 1e-5;
            for (int i = 0; i < 5; ++i) {
              const size_t n = static_cast<size_t>(R) * ns[i];
              std::vector<float> got(n);
              ASSERT_EQ(cudaMemcpy(got.data(), dy[i], n * 4, cudaMemcpyDeviceToHost), cudaSuccess);
              EXPECT_LT(rel_err(got, std::vector<float>(ref[i].begin(), ref[i].begin() + n)), tol)
                  << what << " weight " << i;
            }
            const size_t n = static_cast<size_t>(R) * ns[3];
            std::vector<float> got(n), want(n);
            ASSERT_EQ(cudaMemcpy(got.data(), dy[5], n * 4, cudaMemcpyDeviceToHost), cudaSuccess);
            for (size_t k = 0; k < n; ++k) want[k] = ref[3][k] / (1.0f + std::exp(-ref[3][k])) * ref[4][k];
            EXPECT_LT(rel_err(got, want), quant ? 1.5e-2 : 1e-5) << what << " swiglu";
          }
        }
      }
      for (void* p : {static_cast<void*>(dx), static_cast<void*>(xq), static_cast<void*>(xds)}) cudaFree(p);
      for (void* p : dw) cudaFree(p);
      for (float* p : dy) cudaFree(p);
    }
  }
}

}  // namespace
}  // namespace mlxr
