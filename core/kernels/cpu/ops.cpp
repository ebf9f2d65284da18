#include "core/kernels/cpu/ops.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace mlxr::cpu {

void rms_norm(const float* x, const float* w, float eps, int rows, int n, float* out) {
  for (int r = 0; r < rows; ++r) {
    const float* xr = x + static_cast<size_t>(r) * n;
    float* o = out + static_cast<size_t>(r) * n;
    double sum = 0.0;
    for (int i = 0; i < n; ++i) sum += static_cast<double>(xr[i] * xr[i]);
    const float mean = static_cast<float>(sum / n);
    const float scale = 1.0f / std::sqrt(mean + eps);
    if (w) {
      for (int i = 0; i < n; ++i) o[i] = (xr[i] * scale) * w[i];
    } else {
      for (int i = 0; i < n; ++i) o[i] = xr[i] * scale;
    }
  }
}

namespace {

// YaRN's correction range: the dimensions whose wavelength falls between the fast and slow betas.
float yarn_corr_dim(int n_dims, int n_ctx_orig, float n_rot, float base) {
  return n_dims * std::log(n_ctx_orig / (n_rot * 2 * static_cast<float>(M_PI))) / (2 * std::log(base));
}

float yarn_ramp(float low, float high, int i0) {
  const float y = (i0 / 2 - low) / std::max(0.001f, high - low);
  return 1.0f - std::min(1.0f, std::max(0.0f, y));
}

}  // namespace

void rope_cache(int32_t pos, const RopeParams& p, const float* freq_factors, float* cs) {
  const int n_dims = p.n_dims;
  float freq_scale = 1.0f;
  float ext_factor = 0.0f;
  float mscale = p.yarn_attn_factor;
  float corr0 = 0, corr1 = 0;
  if (p.scaling == RopeScaling::kLinear || p.scaling == RopeScaling::kYarn) freq_scale = 1.0f / p.factor;
  if (p.scaling == RopeScaling::kYarn) {
    ext_factor = p.yarn_ext_factor < 0 ? 1.0f : p.yarn_ext_factor;
    const int orig = p.orig_ctx > 0 ? p.orig_ctx : 4096;
    corr0 = std::max(0.0f, std::floor(yarn_corr_dim(n_dims, orig, p.yarn_beta_fast, p.theta)));
    corr1 = std::min(static_cast<float>(n_dims - 1), std::ceil(yarn_corr_dim(n_dims, orig, p.yarn_beta_slow, p.theta)));
  }
  const float theta_scale = std::pow(p.theta, -2.0f / n_dims);
  // ggml builds the angles by repeated multiplication; doing the same keeps results identical.
  float theta = static_cast<float>(pos);
  for (int i0 = 0; i0 < n_dims; i0 += 2) {
    const float ff = freq_factors ? freq_factors[i0 / 2] : 1.0f;
    const float theta_extrap = theta / ff;
    const float theta_interp = freq_scale * theta_extrap;
    float t = theta_interp;
    float m = mscale;
    if (ext_factor != 0.0f) {
      const float ramp_mix = yarn_ramp(corr0, corr1, i0) * ext_factor;
      t = theta_interp * (1 - ramp_mix) + theta_extrap * ramp_mix;
      m *= 1.0f + 0.1f * std::log(1.0f / freq_scale);
    }
    cs[i0] = std::cos(t) * m;
    cs[i0 + 1] = std::sin(t) * m;
    theta *= theta_scale;
  }
}

void rope(float* x, const int32_t* positions, int n_tokens, int n_heads, int head_dim,
          const RopeParams& p, const float* freq_factors) {
  std::vector<float> cs(static_cast<size_t>(p.n_dims));
  const int half = p.n_dims / 2;
  for (int t = 0; t < n_tokens; ++t) {
    rope_cache(positions[t], p, freq_factors, cs.data());
    for (int h = 0; h < n_heads; ++h) {
      float* v = x + (static_cast<size_t>(t) * n_heads + h) * head_dim;
      if (p.style == RopeStyle::kNormal) {
        for (int i0 = 0; i0 < p.n_dims; i0 += 2) {
          const float c = cs[i0], s = cs[i0 + 1];
          const float a = v[i0], b = v[i0 + 1];
          v[i0] = a * c - b * s;
          v[i0 + 1] = a * s + b * c;
        }
      } else {
        for (int i0 = 0; i0 < p.n_dims; i0 += 2) {
          const float c = cs[i0], s = cs[i0 + 1];
          const int i = i0 / 2;
          const float a = v[i], b = v[i + half];
          v[i] = a * c - b * s;
          v[i + half] = a * s + b * c;
        }
      }
    }
  }
}

void swiglu(const float* gate, const float* up, float* out, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    const float g = gate[i];
    out[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}

void gelu_mul(const float* gate, const float* up, float* out, size_t n) {
  constexpr float kSqrt2OverPi = 0.79788456080286535587989211986876f;
  constexpr float kCoef = 0.044715f;
  for (size_t i = 0; i < n; ++i) {
    const float g = gate[i];
    out[i] = 0.5f * g * (1.0f + std::tanh(kSqrt2OverPi * g * (1.0f + kCoef * g * g))) * up[i];
  }
}

void softmax(float* x, int n, float scale) {
  float mx = -INFINITY;
  for (int i = 0; i < n; ++i) {
    x[i] *= scale;
    mx = std::max(mx, x[i]);
  }
  double sum = 0.0;
  for (int i = 0; i < n; ++i) {
    const float e = (x[i] == -INFINITY) ? 0.0f : std::exp(x[i] - mx);
    x[i] = e;
    sum += e;
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (int i = 0; i < n; ++i) x[i] *= inv;
}

}  // namespace mlxr::cpu
