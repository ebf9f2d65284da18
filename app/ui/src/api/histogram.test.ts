import { describe, expect, it } from 'vitest';
import { counterRate, histogramDelta, histogramQuantile } from './histogram';

// Independent oracle: draw observations, bucket them, and check that the estimate lies in the
// bucket holding the true order statistic (what any bucketed estimate can promise) and matches
// uniform-within-bucket interpolation exactly.
function bucketize(values: number[], bounds: number[]) {
  return [...bounds, Infinity].map((le) => ({ le, count: values.filter((v) => v <= le).length }));
}

describe('histogramQuantile', () => {
  it('interpolates linearly inside the bucket, like Prometheus', () => {
    const b = [
      { le: 0.1, count: 10 },
      { le: 0.2, count: 30 },
      { le: 0.4, count: 40 },
      { le: Infinity, count: 40 },
    ];
    // rank 20 of 40 is halfway through the (0.1, 0.2] bucket (counts 10..30)
    expect(histogramQuantile(0.5, b)).toBeCloseTo(0.15, 12);
    // rank 4 is in the first bucket, interpolated from 0
    expect(histogramQuantile(0.1, b)).toBeCloseTo(0.04, 12);
    expect(histogramQuantile(1, b)).toBeCloseTo(0.4, 12);
  });

  it('returns the highest finite bound when the rank falls in +Inf', () => {
    expect(histogramQuantile(0.99, [{ le: 1, count: 1 }, { le: Infinity, count: 10 }])).toBe(1);
  });

  it('gives NaN without observations, without a +Inf bucket, or for q outside [0,1]', () => {
    expect(histogramQuantile(0.5, [{ le: 1, count: 0 }, { le: Infinity, count: 0 }])).toBeNaN();
    expect(histogramQuantile(0.5, [{ le: 1, count: 3 }])).toBeNaN();
    expect(histogramQuantile(1.5, [{ le: Infinity, count: 3 }])).toBeNaN();
  });

  it('lands in the bucket of the true quantile for random data', () => {
    let seed = 12345;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    const bounds = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
    for (let trial = 0; trial < 20; trial++) {
      const values = Array.from({ length: 101 + trial * 7 }, () => -Math.log(1 - rand()) * 0.2);
      const sorted = [...values].sort((a, b) => a - b);
      const b = bucketize(values, bounds);
      for (const q of [0.5, 0.9, 0.99]) {
        const truth = sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)];
        const est = histogramQuantile(q, b);
        const upper = [...bounds, Infinity].find((le) => truth <= le)!;
        const lower = [0, ...bounds][[...bounds, Infinity].indexOf(upper)];
        if (upper === Infinity) expect(est).toBe(bounds[bounds.length - 1]);
        else {
          expect(est).toBeGreaterThanOrEqual(lower);
          expect(est).toBeLessThanOrEqual(upper);
        }
      }
    }
  });

  it('tolerates non-monotonic buckets from a racing scrape', () => {
    expect(histogramQuantile(0.5, [{ le: 1, count: 4 }, { le: 2, count: 3 }, { le: Infinity, count: 8 }])).toBeCloseTo(1, 12);
  });
});

describe('histogramDelta and counterRate', () => {
  const h = (c: number[], sum: number) => ({ buckets: [{ le: 1, count: c[0] }, { le: Infinity, count: c[1] }], sum, count: c[1] });
  it('subtracts an earlier scrape and treats a reset as a fresh start', () => {
    expect(histogramDelta(h([2, 5], 3), h([3, 9], 7))).toEqual(h([1, 4], 4));
    expect(histogramDelta(h([2, 5], 3), h([1, 1], 0.5))).toEqual(h([1, 1], 0.5));
    expect(histogramDelta(undefined, h([1, 1], 0.5))).toEqual(h([1, 1], 0.5));
  });
  it('computes per-second rates with reset handling', () => {
    expect(counterRate(100, 0, 150, 2000)).toBe(25);
    expect(counterRate(100, 0, 20, 1000)).toBe(20);
    expect(counterRate(undefined, 0, 20, 1000)).toBeUndefined();
    expect(counterRate(1, 1000, 2, 1000)).toBeUndefined();
  });
});
