// LtGemm (core/kernels/cuda/gemm_lt.h) against a CPU oracle: double sums of the rounded 16-bit
// inputs. BF16 and F16 weights, F32 and 16-bit outputs, with and without accumulate, on odd
// shapes; an output at a lower alignment; prefill row counts sharing a bucket's algorithm;
// replay inside a CUDA graph; and the errors it returns for what it cannot do. Tolerance per element: the output type's rounding of that element plus
// a fraction of the row's RMS for fp32 summation on the tensor cores.
#include <cuda_runtime.h>

#include <cstring>
#include <string>

#include "core/base/fp16.h"
#include "core/kernels/cuda/gemm_lt.h"
#include "tests/gpu/gpu_test_util.h"

namespace mlxr {
namespace {

using cuda::LtGemm;
using gputest::random_vec;

constexpr size_t kWorkspace = 32u << 20;
constexpr size_t kGuardBytes = 256;  // after y: must stay untouched
constexpr double kSumTol = 5e-4;     // fp32 summation error, relative to the row's RMS

size_t elem_bytes(DType t) { return t == DType::F32 ? 4 : 2; }

// Values stored as `t` (F32, BF16 or F16, round to nearest even), as bytes.
std::vector<uint8_t> encode(DType t, const std::vector<float>& v) {
  std::vector<uint8_t> out(v.size() * elem_bytes(t));
  for (size_t i = 0; i < v.size(); ++i) {
    if (t == DType::F32) {
      std::memcpy(&out[4 * i], &v[i], 4);
    } else {
      const uint16_t h = t == DType::BF16 ? fp32_to_bf16(v[i]) : fp32_to_fp16(v[i]);
      std::memcpy(&out[2 * i], &h, 2);
    }
  }
  return out;
}

std::vector<float> decode(DType t, const std::vector<uint8_t>& b) {
  std::vector<float> out(b.size() / elem_bytes(t));
  for (size_t i = 0; i < out.size(); ++i) {
    if (t == DType::F32) {
      std::memcpy(&out[i], &b[4 * i], 4);
    } else {
      uint16_t h;
      std::memcpy(&h, &b[2 * i], 2);
      out[i] = t == DType::BF16 ? bf16_to_fp32(h) : fp16_to_fp32(h);
    }
  }
  return out;
}

// Relative error of rounding to the output type, the only error beyond the fp32 sums: one ulp
// (twice the unit roundoff), so an epilogue that truncates passes as well as one that rounds.
double output_rounding(DType t) { return t == DType::F32 ? 0.0 : t == DType::BF16 ? 0x1p-7 : 0x1p-10; }

// Device memory freed on scope exit.
struct Dev {
  void* p = nullptr;
  explicit Dev(size_t bytes) { EXPECT_EQ(cudaMalloc(&p, bytes), cudaSuccess); }
  ~Dev() {
    if (p) cudaFree(p);
  }
  Dev(const Dev&) = delete;
  Dev& operator=(const Dev&) = delete;
  char* bytes() const { return static_cast<char*>(p); }
};

// Synchronous: a pageable copy may still be in flight when cudaMemcpy returns, and the GEMMs
// run on a non-blocking stream that does not wait for the legacy stream.
void upload(void* dst, const std::vector<uint8_t>& b) {
  ASSERT_EQ(cudaMemcpy(dst, b.data(), b.size(), cudaMemcpyHostToDevice), cudaSuccess);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
}

std::vector<uint8_t> download(const void* src, size_t n) {
  std::vector<uint8_t> b(n);
  EXPECT_EQ(cudaMemcpy(b.data(), src, n, cudaMemcpyDeviceToHost), cudaSuccess);
  return b;
}

// W (N, K) and x (rows, K) rounded to wt on the device, and the oracle's x · Wᵀ (rows, N) in
// double over the rounded values (products of floats are exact in double; four partial sums
// keep the large shapes fast).
struct Inputs {
  DType wt;
  int rows, K, N;
  Dev w, x;
  std::vector<double> dot;

  Inputs(DType t, int rows_, int K_, int N_, std::mt19937& rng)
      : wt(t), rows(rows_), K(K_), N(N_), w(static_cast<size_t>(N_) * K_ * 2), x(static_cast<size_t>(rows_) * K_ * 2) {
    const auto wb = encode(wt, random_vec(static_cast<size_t>(N) * K, rng));
    const auto xb = encode(wt, random_vec(static_cast<size_t>(rows) * K, rng));
    upload(w.p, wb);
    upload(x.p, xb);
    const auto wv = decode(wt, wb), xv = decode(wt, xb);
    dot.assign(static_cast<size_t>(rows) * N, 0.0);
    for (int r = 0; r < rows; ++r) {
      const float* xr = &xv[static_cast<size_t>(r) * K];
      for (int n = 0; n < N; ++n) {
        const float* wn = &wv[static_cast<size_t>(n) * K];
        double s[4] = {0, 0, 0, 0};
        int k = 0;
        for (; k + 4 <= K; k += 4)
          for (int j = 0; j < 4; ++j) s[j] += static_cast<double>(xr[k + j]) * wn[k + j];
        for (; k < K; ++k) s[0] += static_cast<double>(xr[k]) * wn[k];
        dot[static_cast<size_t>(r) * N + n] = (s[0] + s[1]) + (s[2] + s[3]);
      }
    }
  }
  std::string name(DType yt, bool acc) const {
    return std::string(dtype_name(wt)) + " rows=" + std::to_string(rows) + " K=" + std::to_string(K) +
           " N=" + std::to_string(N) + " -> " + dtype_name(yt) + (acc ? " accumulate" : "");
  }
};

// Every element within its output rounding plus kSumTol of its row's RMS.
void expect_close(const std::vector<double>& ref, const std::vector<float>& got, int rows, int N, DType yt,
                  const std::string& what) {
  ASSERT_EQ(ref.size(), got.size());
  int bad = 0;
  for (int r = 0; r < rows; ++r) {
    double ss = 0;
    for (int n = 0; n < N; ++n) ss += ref[static_cast<size_t>(r) * N + n] * ref[static_cast<size_t>(r) * N + n];
    const double rms = std::sqrt(ss / N);
    for (int n = 0; n < N; ++n) {
      const size_t i = static_cast<size_t>(r) * N + n;
      const double err = std::fabs(got[i] - ref[i]);
      const double tol = output_rounding(yt) * std::fabs(ref[i]) + kSumTol * rms;
      if (!(err <= tol) && bad++ < 3)  // NaN fails too
        ADD_FAILURE() << what << ": y[" << r << "][" << n << "] = " << got[i] << ", expected " << ref[i]
                      << " (tolerance " << tol << ")";
    }
  }
  EXPECT_EQ(bad, 0) << what << ": elements out of tolerance";
}

// A stream, a workspace and an initialised LtGemm.
struct Fixture {
  cudaStream_t stream = nullptr;
  Dev ws{kWorkspace};
  LtGemm gemm;
  Fixture() {
    EXPECT_EQ(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), cudaSuccess);
    const Status st = gemm.init(stream, ws.p, kWorkspace);
    EXPECT_TRUE(st.is_ok()) << st.message();
  }
  ~Fixture() {
    if (stream) cudaStreamDestroy(stream);
  }
};

// y0 (rounded to yt) placed `offset` bytes into a fresh buffer with a guard after it; runs
// `launch` (which enqueues y += or = x · Wᵀ `times` times and returns whether it ran) and
// checks y and the guard.
template <typename Launch>
void check_case(Fixture& f, const Inputs& in, DType yt, bool acc, size_t offset, int times, std::mt19937& rng,
                Launch launch) {
  const size_t ny = static_cast<size_t>(in.rows) * in.N, ybytes = ny * elem_bytes(yt);
  const auto y0b = encode(yt, random_vec(ny, rng, 0.5f, 2.0f));
  const auto y0 = decode(yt, y0b);
  Dev buf(offset + ybytes + kGuardBytes);
  char* y = buf.bytes() + offset;
  ASSERT_EQ(cudaMemset(y + ybytes, 0x5a, kGuardBytes), cudaSuccess);
  upload(y, y0b);
  const std::string what = in.name(yt, acc) + " offset " + std::to_string(offset);
  if (!launch(y, what)) return;
  ASSERT_EQ(cudaStreamSynchronize(f.stream), cudaSuccess) << what;
  std::vector<double> ref(ny);
  for (size_t i = 0; i < ny; ++i) ref[i] = (acc ? y0[i] : 0.0) + times * in.dot[i];
  const auto out = download(y, ybytes + kGuardBytes);
  expect_close(ref, decode(yt, std::vector<uint8_t>(out.begin(), out.begin() + ybytes)), in.rows, in.N, yt, what);
  for (size_t i = ybytes; i < out.size(); ++i)
    if (out[i] != 0x5a) {
      ADD_FAILURE() << what << ": wrote " << (i - ybytes) << " bytes past y";
      break;
    }
}

// prepare + run once, eagerly, y `offset` bytes into its buffer. With `may_refuse`, prepare may
// answer that cuBLASLt has no algorithm (the caller would fall back); then nothing is checked.
void check_eager(Fixture& f, const Inputs& in, DType yt, bool acc, std::mt19937& rng, size_t offset = 0,
                 bool may_refuse = false) {
  check_case(f, in, yt, acc, offset, 1, rng, [&](char* y, const std::string& what) {
    const Status st = f.gemm.prepare(in.wt, in.w.p, in.x.p, in.rows, in.K, in.N, y, yt, acc);
    if (!st.is_ok() && may_refuse) {
      std::fprintf(stderr, "*** NOTE: %s: %s (the caller falls back) ***\n", what.c_str(), st.message().c_str());
      EXPECT_NE(st.message().find("cuda lt gemm"), std::string::npos);
      return false;
    }
    EXPECT_TRUE(st.is_ok()) << what << ": " << st.message();
    if (!st.is_ok()) return false;
    f.gemm.run(in.wt, in.w.p, in.x.p, in.rows, in.K, in.N, y, yt, acc);
    return true;
  });
}

TEST(GpuGemmLt, MatchesReferenceOnOddShapesAndAlignments) {
  MLXR_REQUIRE_GPU();
  Fixture f;
  std::mt19937 rng(17);
  struct Shape {
    int rows, K, N;
  };
  // Decode-sized (1, 7, 64 rows, bandwidth bound) and prefill-sized (300 rows) products.
  for (const Shape s : {Shape{1, 4096, 4097}, Shape{7, 96, 4097}, Shape{64, 4096, 1000}, Shape{300, 96, 1000},
                        Shape{300, 4096, 333}}) {
    for (DType wt : {DType::BF16, DType::F16}) {
      const Inputs in(wt, s.rows, s.K, s.N, rng);
      for (DType yt : {DType::F32, wt})
        for (bool acc : {false, true}) {
          if (acc && yt != DType::F32) {  // refused: the sum would be rounded twice
            EXPECT_FALSE(f.gemm.prepare(in.wt, in.w.p, in.x.p, in.rows, in.K, in.N, in.x.p, yt, acc).is_ok());
            continue;
          }
          check_eager(f, in, yt, acc, rng);
        }
    }
  }
  // Outputs one element off a 16-byte boundary, or 16- but not 256-byte aligned, get their own
  // plans; when cuBLASLt has no algorithm for an alignment, prepare says so (the caller falls
  // back) instead of failing later.
  const Inputs in(DType::BF16, 9, 512, 777, rng);
  const size_t shapes = f.gemm.prepared_shapes();
  for (DType yt : {DType::F32, DType::BF16}) check_eager(f, in, yt, yt == DType::F32, rng, elem_bytes(yt), true);
  check_eager(f, in, DType::F32, true, rng, 16, true);
  EXPECT_EQ(f.gemm.prepared_shapes(), shapes + 3);
}

// Row counts in one power-of-two bucket share the algorithm tuned first: one timing for three
// shapes, each still exact.
TEST(GpuGemmLt, PrefillRowsShareTheirBucketsAlgorithm) {
  MLXR_REQUIRE_GPU();
  Fixture f;
  std::mt19937 rng(37);
  for (int rows : {300, 257, 512}) {
    const Inputs in(DType::BF16, rows, 256, 520, rng);
    check_eager(f, in, DType::F32, true, rng);
  }
  EXPECT_EQ(f.gemm.prepared_shapes(), 3u);
  EXPECT_EQ(f.gemm.tunings(), 1u) << "rows 257 and 512 should reuse the algorithm tuned for rows 300";
  // Rows 2 and 3 fall in different buckets (2 and 4): two more timings.
  for (int rows : {2, 3}) {
    const Inputs in(DType::BF16, rows, 256, 520, rng);
    check_eager(f, in, DType::F32, false, rng);
  }
  EXPECT_EQ(f.gemm.tunings(), 3u);
}

// run() is captured into a CUDA graph (no sync, no allocation); two replays accumulate twice.
// prepare() for a new shape during the capture is refused without breaking the capture.
TEST(GpuGemmLt, ReplaysInsideACudaGraph) {
  MLXR_REQUIRE_GPU();
  Fixture f;
  std::mt19937 rng(29);
  const Inputs in(DType::BF16, 5, 256, 333, rng);
  check_case(f, in, DType::F32, true, 0, 2, rng, [&](char* y, const std::string& what) {
    auto ok = [&](cudaError_t e, const char* step) {
      EXPECT_EQ(e, cudaSuccess) << what << ": " << step << ": " << cudaGetErrorString(e);
      return e == cudaSuccess;
    };
    const Status st = f.gemm.prepare(in.wt, in.w.p, in.x.p, in.rows, in.K, in.N, y, DType::F32, true);
    EXPECT_TRUE(st.is_ok()) << what << ": " << st.message();
    if (!st.is_ok() || !ok(cudaStreamBeginCapture(f.stream, cudaStreamCaptureModeRelaxed), "begin capture"))
      return false;
    const Status late = f.gemm.prepare(in.wt, in.w.p, in.x.p, in.rows + 1, in.K, in.N, y, DType::F32, true);
    EXPECT_FALSE(late.is_ok());
    EXPECT_NE(late.message().find("capture"), std::string::npos) << late.message();
    f.gemm.run(in.wt, in.w.p, in.x.p, in.rows, in.K, in.N, y, DType::F32, true);
    cudaGraph_t graph = nullptr;
    if (!ok(cudaStreamEndCapture(f.stream, &graph), "end capture")) return false;
    cudaGraphExec_t exec = nullptr;
    const bool built = ok(cudaGraphInstantiate(&exec, graph, 0), "instantiate");
    cudaGraphDestroy(graph);
    if (!built) return false;
    const bool launched =
        ok(cudaGraphLaunch(exec, f.stream), "launch 1") && ok(cudaGraphLaunch(exec, f.stream), "launch 2");
    const bool done = ok(cudaStreamSynchronize(f.stream), "replay");
    cudaGraphExecDestroy(exec);
    return launched && done;
  });
  EXPECT_EQ(f.gemm.prepared_shapes(), 1u);
}

// What LtGemm cannot do comes back as an error, and nothing is cached for it; a shape is tuned once.
TEST(GpuGemmLt, ReportsUnsupportedInputsAndTunesOnce) {
  MLXR_REQUIRE_GPU();
  std::mt19937 rng(31);
  const Inputs in(DType::F16, 3, 64, 50, rng);
  Dev y(static_cast<size_t>(in.rows) * in.N * 4);
  {
    LtGemm uninit;
    EXPECT_FALSE(uninit.prepare(in.wt, in.w.p, in.x.p, in.rows, in.K, in.N, y.p, DType::F32, false).is_ok());
  }
  Fixture f;
  auto prep = [&](DType wt, int rows, DType yt, const void* x) {
    return f.gemm.prepare(wt, in.w.p, x, rows, in.K, in.N, y.p, yt, false);
  };
  EXPECT_FALSE(prep(DType::F32, in.rows, DType::F32, in.x.p).is_ok());
  EXPECT_FALSE(prep(DType::Q8_0, in.rows, DType::F32, in.x.p).is_ok());
  EXPECT_FALSE(prep(DType::F16, in.rows, DType::BF16, in.x.p).is_ok());
  EXPECT_FALSE(prep(DType::F16, 0, DType::F32, in.x.p).is_ok());
  EXPECT_FALSE(prep(DType::F16, in.rows, DType::F32, nullptr).is_ok());
  EXPECT_EQ(f.gemm.prepared_shapes(), 0u);
  EXPECT_TRUE(LtGemm::supported(DType::BF16, DType::BF16));
  EXPECT_FALSE(LtGemm::supported(DType::BF16, DType::F16));
  const Status a = prep(DType::F16, in.rows, DType::F16, in.x.p);
  const Status b = prep(DType::F16, in.rows, DType::F16, in.x.p);
  EXPECT_TRUE(a.is_ok()) << a.message();
  EXPECT_TRUE(b.is_ok()) << b.message();
  EXPECT_EQ(f.gemm.prepared_shapes(), 1u);
}

}  // namespace
}  // namespace mlxr
