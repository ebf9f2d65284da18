// RMSNorm, RoPE (normal, NeoX, linear, YaRN, freq factors), SwiGLU and softmax against
// straightforward fp64 formulas on random odd-sized inputs.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/kernels/cpu/ops.h"

namespace mlxr {
namespace {

std::vector<float> randn(size_t n, uint32_t seed, float sd = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, sd);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

TEST(Ops, RmsNorm) {
  const int rows = 3, n = 37;
  auto x = randn(rows * n, 1), w = randn(n, 2);
  std::vector<float> out(x.size());
  cpu::rms_norm(x.data(), w.data(), 1e-5f, rows, n, out.data());
  for (int r = 0; r < rows; ++r) {
    double ss = 0;
    for (int i = 0; i < n; ++i) ss += double(x[r * n + i]) * x[r * n + i];
    const double s = 1.0 / std::sqrt(ss / n + 1e-5);
    for (int i = 0; i < n; ++i) EXPECT_NEAR(out[r * n + i], x[r * n + i] * s * w[i], 1e-5);
  }
}

// fp64 RoPE written from the definitions: angle_i = pos * theta^(-2i/d) / ff_i (linear: / factor).
double angle(int pos, int i, const RopeParams& p, const float* ff) {
  double a = pos * std::pow(double(p.theta), -2.0 * i / p.n_dims);
  if (ff) a /= ff[i];
  if (p.scaling == RopeScaling::kLinear) a /= p.factor;
  return a;
}

void check_rope(RopeStyle style, RopeScaling scaling, bool with_ff) {
  const int T = 5, H = 3, hd = 24;
  RopeParams p;
  p.style = style;
  p.scaling = scaling;
  p.theta = 10000.0f;
  p.n_dims = 20;  // partial rotation: the last 4 dims pass through
  p.factor = 4.0f;
  std::vector<float> ff = randn(p.n_dims / 2, 9);
  for (auto& f : ff) f = 1.0f + std::fabs(f);
  std::vector<int32_t> pos = {0, 1, 7, 100, 511};
  auto x = randn(T * H * hd, 3), y = x;
  cpu::rope(y.data(), pos.data(), T, H, hd, p, with_ff ? ff.data() : nullptr);
  for (int t = 0; t < T; ++t)
    for (int h = 0; h < H; ++h) {
      const float* a = &x[(t * H + h) * hd];
      const float* b = &y[(t * H + h) * hd];
      for (int i = 0; i < p.n_dims / 2; ++i) {
        const double th = angle(pos[t], i, p, with_ff ? ff.data() : nullptr);
        const int i0 = style == RopeStyle::kNormal ? 2 * i : i;
        const int i1 = style == RopeStyle::kNormal ? 2 * i + 1 : i + p.n_dims / 2;
        EXPECT_NEAR(b[i0], a[i0] * std::cos(th) - a[i1] * std::sin(th), 2e-4);
        EXPECT_NEAR(b[i1], a[i0] * std::sin(th) + a[i1] * std::cos(th), 2e-4);
      }
      for (int i = p.n_dims; i < hd; ++i) EXPECT_EQ(b[i], a[i]);
    }
}

TEST(Ops, RopeNormal) { check_rope(RopeStyle::kNormal, RopeScaling::kNone, false); }
TEST(Ops, RopeNeox) { check_rope(RopeStyle::kNeox, RopeScaling::kNone, false); }
TEST(Ops, RopeLinear) { check_rope(RopeStyle::kNormal, RopeScaling::kLinear, false); }
TEST(Ops, RopeFreqFactors) { check_rope(RopeStyle::kNeox, RopeScaling::kNone, true); }

TEST(Ops, RopeYarnInterpolatesBetweenExtrapolationAndInterpolation) {
  // YaRN: fast-rotating dims keep the original angle, slow ones are divided by the factor,
  // and every value is scaled by mscale = 1 + 0.1 ln(factor).
  RopeParams p;
  p.scaling = RopeScaling::kYarn;
  p.n_dims = 64;
  p.factor = 8.0f;
  p.orig_ctx = 4096;
  std::vector<float> cs(64);
  cpu::rope_cache(1000, p, nullptr, cs.data());
  const double m = 1.0 + 0.1 * std::log(8.0);
  auto ang = [&](int i) { return std::atan2(cs[2 * i + 1], cs[2 * i]); };
  EXPECT_NEAR(std::hypot(cs[0], cs[1]), m, 1e-5);
  const double fast = 1000.0;  // i = 0: theta^0 = 1
  EXPECT_NEAR(std::remainder(ang(0) - fast, 2 * M_PI), 0.0, 1e-3);
  const double slow = 1000.0 * std::pow(10000.0, -2.0 * 31 / 64) / 8.0;
  EXPECT_NEAR(ang(31), slow, 1e-4);
}

TEST(Ops, SwigluAndSoftmax) {
  auto g = randn(41, 4), u = randn(41, 5);
  std::vector<float> o(41);
  cpu::swiglu(g.data(), u.data(), o.data(), 41);
  for (int i = 0; i < 41; ++i) EXPECT_NEAR(o[i], g[i] / (1 + std::exp(-double(g[i]))) * u[i], 1e-6);
  auto x = randn(29, 6, 3.0f), y = x;
  cpu::softmax(y.data(), 29, 0.5f);
  double mx = -1e300, s = 0;
  for (float v : x) mx = std::max(mx, 0.5 * v);
  for (float v : x) s += std::exp(0.5 * v - mx);
  for (int i = 0; i < 29; ++i) EXPECT_NEAR(y[i], std::exp(0.5 * x[i] - mx) / s, 1e-6);
}

}  // namespace
}  // namespace mlxr
