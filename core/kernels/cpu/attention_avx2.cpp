// The attention body compiled for AVX2/FMA/F16C; called only when the CPU has them.
#define MLXR_ATTENTION_NS avx2_impl
#include "core/kernels/cpu/attention_impl.h"

namespace mlxr::cpu::avx2 {

bool supported() {
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
}

void attention_range(const void* kc, const void* vc, const KVLayout& L, const Batch& batch, const float* q,
                     int n_head, float scale, int sliding_window, float* out, size_t begin, size_t end) {
  avx2_impl::attention_range(kc, vc, L, batch, q, n_head, scale, sliding_window, out, begin, end);
}

}  // namespace mlxr::cpu::avx2
