// Quantiles from cumulative histogram buckets, as Prometheus' histogram_quantile() computes them:
// find the bucket holding the rank, then interpolate linearly inside it.

import type { Bucket, Histogram } from './prometheus';

export function histogramQuantile(q: number, buckets: Bucket[]): number {
  if (!(q >= 0 && q <= 1)) return NaN;
  const b = [...buckets].filter((x) => !Number.isNaN(x.le)).sort((x, y) => x.le - y.le);
  if (b.length === 0 || b[b.length - 1].le !== Infinity) return NaN; // +Inf bucket is mandatory
  // Bucket counts are cumulative; a scrape racing an update can make them non-monotonic.
  for (let i = 1; i < b.length; i++) if (b[i].count < b[i - 1].count) b[i] = { ...b[i], count: b[i - 1].count };
  const total = b[b.length - 1].count;
  if (total <= 0) return NaN;
  const rank = q * total;
  let i = b.findIndex((x) => x.count >= rank);
  if (i < 0) i = b.length - 1;
  if (b[i].le === Infinity) return b.length >= 2 ? b[b.length - 2].le : NaN;
  const upper = b[i].le;
  let lower = 0;
  let below = 0;
  if (i > 0) {
    lower = b[i - 1].le;
    below = b[i - 1].count;
  } else if (upper <= 0) {
    return upper; // the first bucket has no lower bound to interpolate from
  }
  const inBucket = b[i].count - below;
  if (inBucket <= 0) return upper;
  return lower + (upper - lower) * ((rank - below) / inBucket);
}

/** Observations between two scrapes (later minus earlier); a counter reset makes the later
 *  scrape the whole window. */
export function histogramDelta(earlier: Histogram | undefined, later: Histogram): Histogram {
  if (!earlier || later.count < earlier.count) return later;
  const prev = new Map(earlier.buckets.map((b) => [b.le, b.count]));
  return {
    buckets: later.buckets.map((b) => ({ le: b.le, count: Math.max(0, b.count - (prev.get(b.le) ?? 0)) })),
    sum: later.sum - earlier.sum,
    count: later.count - earlier.count,
  };
}

/** Per-second rate of a counter between two readings; a reset (value went down) counts from zero. */
export function counterRate(v0: number | undefined, t0: number, v1: number | undefined, t1: number): number | undefined {
  if (v0 === undefined || v1 === undefined || t1 <= t0) return undefined;
  const dv = v1 >= v0 ? v1 - v0 : v1;
  return dv / ((t1 - t0) / 1000);
}
