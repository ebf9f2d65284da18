// GPU benchmark of the CUDA backend on llama3-8b-shaped synthetic models (random weights built
// in memory: one layer's bytes on the host, every layer its own copy on the GPU). Prints one
// table: decode tok/s at batch 1/8/64 (context 512), prefill tok/s and TTFT, the memory
// bandwidth floor of a decode step and the achieved fraction of it, and a 64-sequence
// throughput run (prompt 512, 256 outputs each). Usage: mlxr_bench_gpu [bf16,q8_0,q4_k] [--quick] [--profile]
// (--quick: fewer steps and no per-op profile unless --profile asks for it).
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "core/kernels/cuda/cuda_backend.h"
#include "core/models/model.h"
#include "tests/gpu/synthetic_model.h"

namespace mlxr {
namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

void cuda_ok(cudaError_t e, const char* what) {
  if (e != cudaSuccess) {
    std::fprintf(stderr, "bench: %s: %s\n", what, cudaGetErrorString(e));
    std::exit(1);
  }
}

// Device-to-device copy bandwidth, bytes read + written (the issue's "measured copy bandwidth").
double copy_bandwidth() {
  const size_t n = size_t(4) << 30;
  void *a, *b;
  cuda_ok(cudaMalloc(&a, n), "malloc");
  cuda_ok(cudaMalloc(&b, n), "malloc");
  cudaMemset(a, 1, n);
  cudaEvent_t e0, e1;
  cudaEventCreate(&e0);
  cudaEventCreate(&e1);
  for (int i = 0; i < 2; ++i) cudaMemcpy(b, a, n, cudaMemcpyDeviceToDevice);
  cudaEventRecord(e0);
  const int reps = 10;
  for (int i = 0; i < reps; ++i) cudaMemcpy(b, a, n, cudaMemcpyDeviceToDevice);
  cudaEventRecord(e1);
  cudaEventSynchronize(e1);
  float ms = 0;
  cudaEventElapsedTime(&ms, e0, e1);
  cudaFree(a);
  cudaFree(b);
  return 2.0 * n * reps / (ms / 1e3);
}

struct Row {
  std::string what, type;
  double value;
  std::string unit, note;
};
std::vector<Row> g_rows;

void report(const std::string& what, const std::string& type, double v, const std::string& unit, const std::string& note = "") {
  g_rows.push_back({what, type, v, unit, note});
  std::printf("  %-34s %-6s %12.1f %-8s %s\n", what.c_str(), type.c_str(), v, unit.c_str(), note.c_str());
  std::fflush(stdout);
}

struct Harness {
  std::shared_ptr<ModelFile> file;
  std::unique_ptr<Backend> be;
  std::unique_ptr<Model> model;
  float* picks = nullptr;  // pinned host memory: per output row (up to 64) the greedy value, token, lse
  int next_block = 0;
  int block_size = 16;

  std::vector<int32_t> take_blocks(int n) {
    std::vector<int32_t> t;
    for (int i = 0; i < n; ++i) t.push_back(next_block++);
    return t;
  }

  // One forward and the greedy pick of every output row on the GPU, as the serving engine
  // does (Backend::top_k_rows, k = 1); returns seconds, the picks in host memory included.
  double step(const Batch& b) {
    const double t0 = now_s();
    auto l = model->forward_logits(b);
    if (!l) {
      std::fprintf(stderr, "bench: forward failed: %s\n", l.error().c_str());
      std::exit(1);
    }
    const int rows = static_cast<int>(b.output_rows.size());
    be->top_k_rows(*l, rows, file->hparams.n_vocab, 1, picks, reinterpret_cast<int32_t*>(picks + rows),
                   picks + 2 * rows);
    return now_s() - t0;
  }
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

Batch prefill_batch(const std::vector<std::vector<int32_t>>& tables, int len, int vocab) {
  Batch b;
  b.block_tables = tables;
  for (size_t s = 0; s < tables.size(); ++s) {
    for (int i = 0; i < len; ++i) {
      b.tokens.push_back((i * 7919 + static_cast<int>(s) * 31) % vocab);
      b.positions.push_back(i);
      b.seq_of.push_back(static_cast<int>(s));
    }
    b.output_rows.push_back(b.n_tokens() - 1);
    b.seq_lens.push_back(len);
  }
  return b;
}

Batch decode_batch(const std::vector<std::vector<int32_t>>& tables, int pos, int vocab, int step) {
  Batch b;
  b.block_tables = tables;
  for (size_t s = 0; s < tables.size(); ++s) {
    b.tokens.push_back((step * 131 + static_cast<int>(s) * 17) % vocab);
    b.positions.push_back(pos);
    b.seq_of.push_back(static_cast<int>(s));
    b.output_rows.push_back(static_cast<int>(s));
    b.seq_lens.push_back(pos + 1);
  }
  return b;
}

// Kernel-level numbers through the Backend interface (host-timed after a sync, many reps).
template <typename F>
double time_op(Backend& be, int reps, F&& f) {
  f();
  be.sync();
  const double t0 = now_s();
  for (int i = 0; i < reps; ++i) f();
  be.sync();
  return (now_s() - t0) / reps;
}

// Attention kernels alone (llama3-8b shape: 32 heads, 8 KV heads, hd 128, F16 cache in blocks
// of 16), through the Backend interface. variant "legacy" sets MLXR_CUDA_ATTN=legacy (the
// previous kernels). Rows: causal prefill of 2048 tokens; a 512-token chunk after a 3584-token
// prefix; decode of 64 sequences at context 513, 8 at 2048 and 1 at 4096 (GB/s of K+V read).
void attention_rows(const char* variant) {
  if (*variant) setenv("MLXR_CUDA_ATTN", variant, 1);
  auto bep = make_cuda_backend(0);
  unsetenv("MLXR_CUDA_ATTN");
  if (!bep) std::exit(1);
  Backend& be = **bep;
  const int n_head = 32, n_kv = 8, hd = 128;
  KVLayout kv{1, 4608, 16, n_kv, hd, DType::F16};
  if (!be.init_kv(kv)) std::exit(1);
  const std::string tag = std::string("F16kv") + (*variant ? " " + std::string(variant) : "");
  struct Shape {
    int S, ctx, new_tokens;  // sequences, context after the step, tokens of the step per sequence
  };
  for (const Shape sh : {Shape{1, 2048, 2048}, Shape{1, 4096, 512}, Shape{64, 513, 1}, Shape{8, 2048, 1}, Shape{1, 4096, 1}}) {
    Batch b;
    const int blocks = (sh.ctx + 15) / 16;
    for (int s2 = 0; s2 < sh.S; ++s2) {
      std::vector<int32_t> tb;
      for (int i = 0; i < blocks; ++i) tb.push_back((s2 * blocks + i) % 4608);
      b.block_tables.push_back(tb);
      b.seq_lens.push_back(sh.ctx);
      for (int p = sh.ctx - sh.new_tokens; p < sh.ctx; ++p) {
        b.tokens.push_back(0);
        b.positions.push_back(p);
        b.seq_of.push_back(s2);
      }
    }
    b.output_rows = {0};
    if (!be.set_batch(b)) std::exit(1);
    const int T = b.n_tokens();
    std::vector<float> qh(size_t(T) * n_head * hd);
    for (size_t i = 0; i < qh.size(); ++i) qh[i] = 0.001f * float((i * 31) % 1000) - 0.5f;
    float* q = *be.alloc(qh.size());
    float* k = *be.alloc(size_t(T) * n_kv * hd);
    float* o = *be.alloc(qh.size());
    be.from_host(q, qh.data(), qh.size());
    be.from_host(k, qh.data(), size_t(T) * n_kv * hd);
    be.kv_store(0, k, k);  // the rest of the context holds whatever the arena held (finite: zeroed or earlier rows)
    const double ta = time_op(be, 20, [&] { be.attention(0, q, n_head, 0.088f, 0, o); });
    if (sh.new_tokens > 1) {
      // Causal FLOPs: QKᵀ and PV over the keys each query sees.
      double pairs = 0;
      for (int p = sh.ctx - sh.new_tokens; p < sh.ctx; ++p) pairs += p + 1;
      const double flops = 2.0 * 2 * pairs * hd * n_head * sh.S;
      report("attention prefill " + std::to_string(sh.new_tokens) + "@" + std::to_string(sh.ctx) + " TFLOP/s", tag,
             flops / ta / 1e12, "TFLOP/s", std::to_string(ta * 1e3).substr(0, 5) + " ms per layer");
    } else {
      const double bytes = double(sh.S) * sh.ctx * n_kv * hd * 2 * 2;
      report("attention decode " + std::to_string(sh.S) + "x" + std::to_string(sh.ctx) + " GB/s", tag, bytes / ta / 1e9,
             "GB/s", std::to_string(ta * 1e6).substr(0, 6) + " us per layer");
    }
    for (float* p2 : {q, k, o}) be.free(p2);
  }
}

void micro(double bw) {
  std::printf("== kernels ==\n");
  auto bep = make_cuda_backend(0);
  if (!bep) std::exit(1);
  Backend& be = **bep;
  const int K = 4096, N = 14336;
  KVLayout kv{1, 4608, 16, 8, 128, DType::F16};
  if (!be.init_kv(kv)) std::exit(1);
  for (DType t : {DType::BF16, DType::Q8_0, DType::Q4_K}) {
    gputest::SynthShape s;
    s.random_blocks = true;
    TensorView host;
    std::vector<uint8_t> buf(*row_bytes(t, K) * N);
    gputest::detail::fill_random_bytes(buf.data(), buf.size(), 7);
    if (dtype_info(t).quantized) gputest::detail::sanitize_blocks(t, buf.data(), buf.size() / dtype_info(t).block_bytes);
    else for (size_t i = 0; i < buf.size() / 2; ++i) reinterpret_cast<uint16_t*>(buf.data())[i] &= 0x80FF, reinterpret_cast<uint16_t*>(buf.data())[i] |= 0x3C00;
    host.name = "w";
    host.type = t;
    host.n_dims = 2;
    host.ne = {K, N, 1, 1};
    host.data = buf.data();
    host.nbytes = buf.size();
    auto w = be.upload(host);
    if (!w) std::exit(1);
    std::vector<float> xh(size_t(2048) * K, 0.01f);
    for (size_t i = 0; i < xh.size(); ++i) xh[i] = 0.01f * float((i * 7919) % 200) - 1.0f;
    float* x = *be.alloc(xh.size());
    be.from_host(x, xh.data(), xh.size());
    float* y = *be.alloc(size_t(2048) * N);
    Batch b1;
    b1.tokens = {0};
    b1.positions = {0};
    b1.seq_of = {0};
    b1.block_tables = {{0}};
    b1.output_rows = {0};
    b1.seq_lens = {1};
    be.set_batch(b1);
    const double t1 = time_op(be, 50, [&] { be.matmul(*w, x, 1, y); });
    report("matvec 14336x4096 GB/s", dtype_name(t), buf.size() / t1 / 1e9, "GB/s",
           std::to_string(int(100 * buf.size() / t1 / bw)) + "% of copy bw, " + std::to_string(t1 * 1e6).substr(0, 6) + " us");
    const double t2 = time_op(be, 5, [&] { be.matmul(*w, x, 2048, y); });
    report("matmul 2048x14336x4096 TFLOP/s", dtype_name(t), 2.0 * 2048 * K * N / t2 / 1e12, "TFLOP/s");
    be.free(x);
    be.free(y);
  }
  attention_rows("");
  attention_rows("legacy");
}

// GPU time per op kind between two snapshots of a profiling backend's stats, per step.
void print_profile(const char* what, const CudaBackendStats& a, const CudaBackendStats& b, int steps) {
  double total = 0;
  for (int k = 0; k < CudaBackendStats::kOpKinds; ++k) total += b.op_ms[k] - a.op_ms[k];
  std::printf("  profile %s (eager launches, per step): %.3f ms of GPU time\n", what, total / steps);
  for (int k = 0; k < CudaBackendStats::kOpKinds; ++k) {
    const double ms = b.op_ms[k] - a.op_ms[k];
    const long n = b.op_count[k] - a.op_count[k];
    if (n == 0) continue;
    std::printf("    %-22s %8.3f ms %5.1f%%  %5ld launches, %7.2f us each\n", cuda_op_name(k), ms / steps,
                100.0 * ms / total, n / steps, 1e3 * ms / n);
  }
}

void bench_type(DType t, double bw, bool quick, bool profile, bool engine) {
  const std::string tn = dtype_name(t);
  std::printf("== %s ==\n", tn.c_str());
  gputest::SynthShape s;
  s.n_vocab = 128256;
  s.n_embd = 4096;
  s.n_layer = 32;
  s.n_head = 32;
  s.n_head_kv = 8;
  s.n_ff = 14336;
  s.type = t;
  s.output_type = t == DType::Q4_K ? DType::Q6_K : t;  // as in Q4_K_M
  s.random_blocks = true;
  s.share_layers = true;
  double t0 = now_s();
  Harness h;
  {
    gputest::SynthModel sm(s, 42);
    h.file = sm.file;
  }
  const double t_gen = now_s() - t0;
  auto be = make_cuda_backend(0);
  if (!be) {
    std::fprintf(stderr, "bench: %s\n", be.error().c_str());
    std::exit(1);
  }
  h.be = std::move(*be);
  t0 = now_s();
  auto m = load_model(h.file, *h.be);
  if (!m) {
    std::fprintf(stderr, "bench: %s\n", m.error().c_str());
    std::exit(1);
  }
  h.model = std::move(*m);
  const double t_load = now_s() - t0;
  const CudaBackendStats* stats = cuda_backend_stats(*h.be);
  const size_t wbytes = stats->weight_bytes;
  std::printf("  host generation %.1f s, upload %.1f s (%.1f GB/s), %.2f GB on the GPU in %d allocation(s)\n", t_gen,
              t_load, wbytes / t_load / 1e9, wbytes / 1e9, stats->weight_allocations);
  KVLayout kv{32, 6144, 16, 8, 128, DType::F16};
  auto st = h.be->init_kv(kv);
  if (!st) {
    std::fprintf(stderr, "bench: %s\n", st.message().c_str());
    std::exit(1);
  }
  cuda_ok(cudaMallocHost(&h.picks, size_t(64) * 3 * sizeof(float)), "pinned picks");
  const size_t embd_bytes = h.file->tensors.at("token_embd.weight").nbytes;
  const size_t read_bytes = wbytes - embd_bytes;  // one embedding row per token is negligible

  // Prefill: one sequence, logits of the last row only.
  const std::vector<int> plens = quick ? std::vector<int>{512, 2048} : std::vector<int>{512, 2048, 4096};
  for (int len : plens) {
    h.next_block = 0;
    auto tables = std::vector<std::vector<int32_t>>{h.take_blocks((len + 15) / 16)};
    Batch b = prefill_batch(tables, len, s.n_vocab);
    h.step(b);
    std::vector<double> ts;
    for (int i = 0; i < 3; ++i) ts.push_back(h.step(b));
    const double tm = median(ts);
    report("prefill " + std::to_string(len) + " tok/s", tn, len / tm, "tok/s");
    if (len == 512) report("TTFT prompt 512", tn, tm * 1e3, "ms");
  }

  // Decode at context 512.
  for (int B : {1, 8, 64}) {
    h.next_block = 0;
    std::vector<std::vector<int32_t>> tables;
    for (int i = 0; i < B; ++i) tables.push_back(h.take_blocks(40));
    const int ctx = 512;
    for (int i = 0; i < 3; ++i) h.step(decode_batch(tables, ctx + i, s.n_vocab, i));
    const int n = quick ? 10 : 30;
    std::vector<double> ts;
    for (int i = 0; i < n; ++i) ts.push_back(h.step(decode_batch(tables, ctx + 3 + i, s.n_vocab, i + 3)));
    const double tm = median(ts);
    const double kv_bytes = double(B) * (ctx + 3 + n / 2) * 32 * 2 * 8 * 128 * 2;
    const double floor_s = (read_bytes + kv_bytes) / bw;
    char note[160];
    std::snprintf(note, sizeof note, "step %.2f ms, floor %.2f ms (%.2f GB), %.0f%% of floor", tm * 1e3, floor_s * 1e3,
                  (read_bytes + kv_bytes) / 1e9, 100.0 * floor_s / tm);
    report("decode batch " + std::to_string(B) + " tok/s", tn, B / tm, "tok/s", note);
  }
  std::printf("  graphs captured %ld, graph launches %ld, eager ops %ld; host recording %.2f s, waiting %.2f s\n",
              stats->graphs_captured, stats->graph_launches, stats->eager_ops, stats->record_s, stats->wait_s);
  if (engine) {
    // 64 sequences, prompt 512, 256 outputs each: prompts in 8 chunks of 8 sequences, then
    // batch-64 decode; KV in paged blocks. Total = (prompt + generated tokens) / wall time.
    const int S = 64, P = 512, O = quick ? 64 : 256;
    h.next_block = 0;
    std::vector<std::vector<int32_t>> tables;
    for (int i = 0; i < S; ++i) tables.push_back(h.take_blocks((P + O + 15) / 16));
    const double t_start = now_s();
    for (int c = 0; c < S; c += 8) {
      std::vector<std::vector<int32_t>> part(tables.begin() + c, tables.begin() + c + 8);
      h.step(prefill_batch(part, P, s.n_vocab));
    }
    const double t_prefill = now_s() - t_start;
    for (int i = 0; i < O; ++i) h.step(decode_batch(tables, P + i, s.n_vocab, i));
    const double total = now_s() - t_start;
    char note[160];
    std::snprintf(note, sizeof note, "prefill %.2f s, %d decode steps %.2f s, output %.0f tok/s", t_prefill, O,
                  total - t_prefill, S * O / (total - t_prefill));
    report("64 seqs x (512 in, " + std::to_string(O) + " out) tok/s", tn, S * double(P + O) / total, "tok/s", note);
  }
  if (!quick || profile) {
    // The same decode without CUDA graphs (ops launched as they come), each op timed.
    setenv("MLXR_CUDA_GRAPHS", "0", 1);
    setenv("MLXR_CUDA_PROFILE", "1", 1);
    auto be2 = make_cuda_backend(0);
    unsetenv("MLXR_CUDA_GRAPHS");
    unsetenv("MLXR_CUDA_PROFILE");
    if (be2) {
      h.model.reset();
      h.be = std::move(*be2);
      auto m2 = load_model(h.file, *h.be);
      if (m2 && h.be->init_kv(kv)) {
        h.model = std::move(*m2);
        const CudaBackendStats& ps = *cuda_backend_stats(*h.be);
        {
          h.next_block = 0;
          auto tables = std::vector<std::vector<int32_t>>{h.take_blocks(2048 / 16)};
          Batch b = prefill_batch(tables, 2048, s.n_vocab);
          h.step(b);
          const CudaBackendStats before = ps;
          for (int i = 0; i < 3; ++i) h.step(b);
          print_profile("prefill 2048", before, ps, 3);
        }
        for (int B : t == DType::BF16 ? std::vector<int>{1, 64} : std::vector<int>{1}) {
          h.next_block = 0;
          std::vector<std::vector<int32_t>> tables;
          for (int i = 0; i < B; ++i) tables.push_back(h.take_blocks(40));
          for (int i = 0; i < 3; ++i) h.step(decode_batch(tables, 512 + i, s.n_vocab, i));
          std::vector<double> ts;
          const CudaBackendStats before = ps;
          for (int i = 0; i < 20; ++i) ts.push_back(h.step(decode_batch(tables, 515 + i, s.n_vocab, i)));
          report("decode batch " + std::to_string(B) + " tok/s, no graphs (ops timed)", tn, B / median(ts), "tok/s");
          print_profile(B == 1 ? "decode batch 1" : "decode batch 64", before, ps, 20);
        }
      }
    }
  }

  cudaFreeHost(h.picks);
}

}  // namespace
}  // namespace mlxr

int main(int argc, char** argv) {
  using namespace mlxr;
  std::string types = "bf16,q8_0,q4_k";
  bool quick = false, profile = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--quick") quick = true;
    else if (a == "--profile") profile = true;
    else types = a;
  }
  if (!cuda_device_available()) {
    std::fprintf(stderr, "bench: no CUDA device\n");
    return 1;
  }
  cudaDeviceProp prop{};
  cudaGetDeviceProperties(&prop, 0);
  const double bw = copy_bandwidth();
  std::printf("device: %s, %d SMs; device-to-device copy %.2f TB/s (read+write)\n", prop.name, prop.multiProcessorCount,
              bw / 1e12);
  micro(bw);
  std::stringstream ss(types);
  std::string t;
  bool first = true;
  while (std::getline(ss, t, ',')) {
    auto dt = dtype_from_name(t);
    if (!dt) {
      std::fprintf(stderr, "bench: unknown type %s\n", t.c_str());
      return 1;
    }
    bench_type(*dt, bw, quick, profile, first);
    first = false;
  }
  std::printf("\n| metric | type | value | unit | note |\n|---|---|---|---|---|\n");
  for (const auto& r : g_rows)
    std::printf("| %s | %s | %.1f | %s | %s |\n", r.what.c_str(), r.type.c_str(), r.value, r.unit.c_str(), r.note.c_str());
  return 0;
}
