#include "core/kernels/cpu/matmul.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "core/base/fp16.h"
#include "core/kernels/cpu/repack.h"
#include "core/kernels/cpu/vec_dot.h"
#include "core/quant/blocks.h"
#include "core/quant/quant.h"

namespace mlxr {
namespace {

// Tiling for rows > 1: a tile of kTileW weight rows (a few KiB to tens of KiB) stays in L1/L2
// while a block of kTileA activation rows (under 1 MiB of L2 for K up to ~8K in Q8) streams past.
// 8 weight rows plus one group of 8 activation rows fit the 32 KiB L1 for K = 2048 in Q4_0/Q8_0.
constexpr int64_t kTileW = 8;
constexpr int64_t kTileA = 64;  // a multiple of every tile's rn (grouped tiles index groups by r / rn)
// Prefill of x8-packed weights unpacks this many groups of 8 rows at a time (64 rows: tens of KiB),
// so each block of activation rows is reused across as many weight rows as in the row layout.
constexpr int64_t kUnpackGroups = 8;

[[noreturn]] void fail(const std::string& msg) {
  std::fprintf(stderr, "mlxr: matmul: %s\n", msg.c_str());
  std::abort();
}

struct Shape {
  int64_t k, n;
  size_t w_row;   // bytes of one W row
  DType act;      // activation format
  size_t a_row;   // bytes of one activation row in scratch (tile_act_row_bytes)
};

Shape shape_of(const TensorView& w) {
  Shape s;
  s.k = w.ne[0];
  s.n = w.ne[1] * w.ne[2] * w.ne[3];
  if (!can_dequantize(w.type)) fail(std::string("unsupported weight type ") + dtype_name(w.type));
  const auto wr = row_bytes(w.type, static_cast<uint64_t>(s.k));
  s.act = vec_dot_best(w.type) ? vec_dot_type(w.type) : DType::F32;
  const auto ar = row_bytes(s.act, static_cast<uint64_t>(s.k));
  if (!wr || !ar)
    fail(w.name + ": K=" + std::to_string(s.k) + " is not a multiple of the block size of " +
         dtype_name(w.type) + "/" + dtype_name(s.act));
  s.w_row = *wr;
  s.a_row = tile_act_row_bytes(s.act, s.k);
  return s;
}

// One matmul call's state. The pool's tasks capture only a pointer to it, so std::function
// stores them inline (no allocation per call).
struct Job {
  Shape s;
  DType w_type;
  const uint8_t* w;    // (N, w_row bytes)
  const float* x;      // (rows, K)
  const uint8_t* act;  // (rows, a_row bytes): x in s.act
  float* y;            // (rows, N)
  int64_t rows;
  VecDotFn dot;
  VecDotTile tile;
  VecDotTile gemv;         // rows == 1
  uint8_t* groups;         // (rows / tile.rn, g_bytes): act grouped, when tile.grouped
  size_t g_bytes;
  float* wrows;        // (threads, K), for types without a vec_dot
  const BlockQ4_0x8* packed;  // W in the x8 layout (repack.h), else null
  GemvQ4_0x8Fn gemv8;
  uint8_t* unpacked;          // (threads, kUnpackGroups * 8 rows): packed groups back in rows, for prefill

  const uint8_t* w_at(int64_t o) const { return w + o * s.w_row; }
  const uint8_t* a_at(int64_t r) const { return act + r * s.a_row; }
  // The tile's activation rows from r on (r a multiple of tile.rn when grouped).
  const uint8_t* tile_a(int64_t r) const { return tile.grouped ? groups + r / tile.rn * g_bytes : a_at(r); }

  // Groups of 8 output rows [gb, ge) of packed weights: decode straight from the x8 layout,
  // prefill on each group unpacked to rows.
  void run_packed(int thread, int64_t gb, int64_t ge) const {
    const int64_t nb = s.k / 32;
    if (rows == 1) {
      for (int64_t g = gb; g < ge; ++g) gemv8(s.k, packed + g * nb, act, y + 8 * g);
      return;
    }
    uint8_t* buf = unpacked + static_cast<size_t>(thread) * kUnpackGroups * 8 * s.w_row;
    for (int64_t g0 = gb; g0 < ge; g0 += kUnpackGroups) {
      const int64_t g1 = std::min(ge, g0 + kUnpackGroups);
      for (int64_t g = g0; g < g1; ++g) unpack_q4_0x8(packed + g * nb, s.k, buf + (g - g0) * 8 * s.w_row);
      run_on(8 * g0, 8 * g1, buf);
    }
  }

  // Output rows [b, e) of every activation row.
  void run(int thread, int64_t b, int64_t e) const {
    if (!dot) return run_dequantised(thread, b, e);
    run_on(b, e, w_at(b));
  }

  // Output rows [b, e) of every activation row, W's row b at wb.
  void run_on(int64_t b, int64_t e, const uint8_t* wb) const {
    auto w_at = [&](int64_t o) { return wb + (o - b) * s.w_row; };
    if (rows == 1) {
      int64_t o = b;
      if (gemv.fn)
        for (; o + gemv.rm <= e; o += gemv.rm) gemv.fn(s.k, w_at(o), s.w_row, act, s.a_row, y + o, 1);
      for (; o < e; ++o) y[o] = dot(s.k, w_at(o), act);
      return;
    }
    for (int64_t r0 = 0; r0 < rows; r0 += kTileA) {
      const int64_t r1 = std::min(rows, r0 + kTileA);
      for (int64_t o0 = b; o0 < e; o0 += kTileW) {
        const int64_t o1 = std::min(e, o0 + kTileW);
        int64_t r = r0;
        if (tile.fn) {
          for (; r + tile.rn <= r1; r += tile.rn) {
            int64_t o = o0;
            for (; o + tile.rm <= o1; o += tile.rm)
              tile.fn(s.k, w_at(o), s.w_row, tile_a(r), s.a_row, y + r * s.n + o, static_cast<size_t>(s.n));
            for (; o < o1; ++o)
              for (int64_t rr = r; rr < r + tile.rn; ++rr) y[rr * s.n + o] = dot(s.k, w_at(o), a_at(rr));
          }
        }
        for (; r < r1; ++r)
          for (int64_t o = o0; o < o1; ++o) y[r * s.n + o] = dot(s.k, w_at(o), a_at(r));
      }
    }
  }

  // No kernel for this type: dequantise each W row once, dot it with every activation row.
  void run_dequantised(int thread, int64_t b, int64_t e) const {
    float* buf = wrows + static_cast<int64_t>(thread) * s.k;
    const VecDotFn fdot = vec_dot_best(DType::F32);
    for (int64_t o = b; o < e; ++o) {
      dequantize_row(w_type, w_at(o), buf, s.k);
      for (int64_t r = 0; r < rows; ++r) y[r * s.n + o] = fdot(s.k, buf, x + r * s.k);
    }
  }
};

// Q4_1/Q5_1 meet Q8_1, whose block sum s = fp16(d * sum(q)) is rounded: the kernels (like
// llama.cpp's) use m * s for the min term, so the oracle does too. Splits a weight row into its
// min-free part (m zeroed: d*q, exact in float) and returns sum over blocks of m * s.
double split_min_term(DType wt, std::vector<uint8_t>& wrow, const uint8_t* act, int64_t k) {
  if (wt != DType::Q4_1 && wt != DType::Q5_1) return 0;
  const size_t bb = dtype_info(wt).block_bytes;
  const auto* a = reinterpret_cast<const BlockQ8_1*>(act);
  double sum = 0;
  for (int64_t b = 0; b < k / 32; ++b) {
    uint16_t m;  // offset 2 in both BlockQ4_1 and BlockQ5_1
    std::memcpy(&m, wrow.data() + b * bb + 2, 2);
    sum += double(fp16_to_fp32(m)) * fp16_to_fp32(a[b].s);
    std::memset(wrow.data() + b * bb + 2, 0, 2);
  }
  return sum;
}

// Interleaves each full group of tile.rn converted rows for the grouped tile (leftover rows use
// the vec_dot). The buffer is 64-byte aligned so that the tile's loads never split a cache line.
void group_rows(Job& job, MatmulScratch& scratch, ThreadPool& pool) {
  const int rn = job.tile.rn;
  const auto n_groups = static_cast<size_t>(job.rows / rn);
  job.g_bytes = tile_act_group_bytes(job.w_type, job.s.k, rn);
  const size_t need = n_groups * job.g_bytes + 64;
  if (scratch.groups.size() < need) scratch.groups.resize(need);
  const auto base = reinterpret_cast<uintptr_t>(scratch.groups.data());
  job.groups = scratch.groups.data() + ((64 - base % 64) % 64);
  pool.parallel_for(n_groups, [j = &job](int, size_t b, size_t e) {
    const int rn = j->tile.rn;
    for (size_t g = b; g < e; ++g)
      tile_act_group(j->w_type, j->s.k, j->a_at(static_cast<int64_t>(g) * rn), j->s.a_row, rn, j->groups + g * j->g_bytes);
  });
}

}  // namespace

bool matmul_supported(DType w) { return can_dequantize(w); }

void matmul(const TensorView& w, const float* x, int rows, float* y, ThreadPool& pool,
            MatmulScratch& scratch) {
  if (rows <= 0) return;
  Job job;
  job.s = shape_of(w);
  job.w = static_cast<const uint8_t*>(w.data);
  job.w_type = w.type;
  job.x = x;
  job.y = y;
  job.rows = rows;
  job.dot = vec_dot_best(w.type);
  job.tile = rows > 1 ? vec_dot_tile_best(w.type) : VecDotTile{};
  job.gemv = rows == 1 ? vec_dot_gemv_best(w.type) : VecDotTile{};
  // The F16 tile reproduces the single-row kernel only on its K % 16 == 0 branch.
  if (w.type == DType::F16 && job.s.k % 16 != 0) job.tile = VecDotTile{};
  job.act = reinterpret_cast<const uint8_t*>(x);
  job.groups = nullptr;
  job.g_bytes = 0;
  job.wrows = nullptr;
  const bool packed = w.layout == TensorView::Layout::kQ4_0x8;
  job.packed = packed ? static_cast<const BlockQ4_0x8*>(w.data) : nullptr;
  job.gemv8 = packed ? gemv_q4_0x8_best() : nullptr;
  job.unpacked = nullptr;
  if (packed && !job.gemv8) fail(w.name + ": repacked Q4_0 weights need AVX2");
  const Shape& s = job.s;
  const int nt = pool.size();

  // Activations in the kernel's format, converted once (in parallel when there are many rows).
  if (s.act != DType::F32) {
    const size_t need = s.a_row * static_cast<size_t>(rows);
    if (scratch.act.size() < need) scratch.act.resize(need);
    job.act = scratch.act.data();
    struct Conv {
      FromFloatFn fn;
      const float* x;
      uint8_t* dst;
      const Shape* s;
    } conv{from_float_best(s.act), x, scratch.act.data(), &s};
    if (rows >= 4 * nt && nt > 1) {
      pool.parallel_for(static_cast<size_t>(rows), [c = &conv](int, size_t b, size_t e) {
        for (size_t r = b; r < e; ++r) {
          uint8_t* row = c->dst + r * c->s->a_row;
          c->fn(c->x + r * c->s->k, row, c->s->k);
          tile_act_finish(c->s->act, row, c->s->k);
        }
      });
    } else {
      for (int r = 0; r < rows; ++r) {
        conv.fn(x + r * s.k, conv.dst + r * s.a_row, s.k);
        if (rows > 1 || job.gemv.fn || packed) tile_act_finish(s.act, conv.dst + r * s.a_row, s.k);
      }
    }
  }
  if (job.tile.grouped && rows >= job.tile.rn) group_rows(job, scratch, pool);
  if (!job.dot) {
    const size_t need = static_cast<size_t>(nt) * static_cast<size_t>(s.k);
    if (scratch.wrows.size() < need) scratch.wrows.resize(need);
    job.wrows = scratch.wrows.data();
  }
  // Each thread gets at least ~64K multiply-adds, so that tiny matmuls stay on the caller.
  const size_t grain = static_cast<size_t>(std::max<int64_t>(1, 65536 / (s.k * rows)));
  if (packed) {
    if (rows > 1) {
      const size_t need = static_cast<size_t>(nt) * kUnpackGroups * 8 * s.w_row;
      if (scratch.unpacked.size() < need) scratch.unpacked.resize(need);
      job.unpacked = scratch.unpacked.data();
    }
    pool.parallel_for(static_cast<size_t>(s.n / 8), (grain + 7) / 8, [j = &job](int t, size_t b, size_t e) {
      j->run_packed(t, static_cast<int64_t>(b), static_cast<int64_t>(e));
    });
    return;
  }
  pool.parallel_for(static_cast<size_t>(s.n), grain, [j = &job](int t, size_t b, size_t e) {
    j->run(t, static_cast<int64_t>(b), static_cast<int64_t>(e));
  });
}

void matmul_reference(const TensorView& w, const float* x, int rows, float* y) {
  const Shape s = shape_of(w);
  const auto* wdata = static_cast<const uint8_t*>(w.data);
  std::vector<float> wf(static_cast<size_t>(s.k)), xf(static_cast<size_t>(s.k));
  std::vector<uint8_t> qa(s.a_row), wrow(s.w_row);
  for (int r = 0; r < rows; ++r) {
    const float* xr = x + static_cast<int64_t>(r) * s.k;
    if (s.act == DType::F32) {
      std::copy(xr, xr + s.k, xf.begin());
    } else {
      from_float_scalar(s.act)(xr, qa.data(), s.k);  // the kernels' activation rounding
      dequantize_row(s.act, qa.data(), xf.data(), s.k);
    }
    for (int64_t o = 0; o < s.n; ++o) {
      std::memcpy(wrow.data(), wdata + o * s.w_row, s.w_row);
      double acc = split_min_term(w.type, wrow, qa.data(), s.k);
      dequantize_row(w.type, wrow.data(), wf.data(), s.k);
      for (int64_t i = 0; i < s.k; ++i) acc += static_cast<double>(wf[i]) * xf[i];
      y[static_cast<int64_t>(r) * s.n + o] = static_cast<float>(acc);
    }
  }
}

}  // namespace mlxr
