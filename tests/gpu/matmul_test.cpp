// matmul for every device weight type and row count (matvec, cuBLAS, dequantize + cuBLAS)
// against matmul_reference: x rounded through the CPU's activation format, W dequantised,
// products summed in double. Tolerances: float weights see only summation order; quantized
// weights also see the GPU's own activation quantization (int8 per 32 values) or bf16 rounding.
#include "core/kernels/cpu/matmul.h"
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
      const size_t rb = *row_bytes(t, K);
      std::vector<uint8_t> w(rb * N);
      for (int r = 0; r < N; ++r) {
        auto v = random_vec(K, rng);
        ASSERT_TRUE(quantize_row(t, v.data(), w.data() + r * rb, K).is_ok());
      }
      TensorView tv;
      tv.name = "w";
      tv.type = t;
      tv.n_dims = 2;
      tv.ne = {K, N, 1, 1};
      tv.data = w.data();
      tv.nbytes = w.size();
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

}  // namespace
}  // namespace mlxr
