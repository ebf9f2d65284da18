import { describe, expect, it } from 'vitest';
import { parsePrometheus } from '../api/prometheus';
import { computePoint, missingMetrics } from './metrics';

// Shaped like daemon/server/admin_api.cpp's /metrics: per-model gauges, latency histograms.
function scrape(t: number, gen: number, ttftBuckets: [number, number, number], kvUsed: number) {
  const [a, b, inf] = ttftBuckets;
  return {
    t,
    exp: parsePrometheus(`# TYPE mlxr_generated_tokens_total counter
mlxr_generated_tokens_total ${gen}
# TYPE mlxr_prompt_tokens_total counter
mlxr_prompt_tokens_total 40
# TYPE mlxr_ttft_seconds histogram
mlxr_ttft_seconds_bucket{le="0.01"} ${a}
mlxr_ttft_seconds_bucket{le="0.1"} ${b}
mlxr_ttft_seconds_bucket{le="+Inf"} ${inf}
mlxr_ttft_seconds_sum 0.5
mlxr_ttft_seconds_count ${inf}
# TYPE mlxr_queue_depth gauge
mlxr_queue_depth{model="stories"} 2
mlxr_running_sequences{model="stories"} 3
mlxr_kv_blocks_used{model="stories"} ${kvUsed}
mlxr_kv_blocks_free{model="stories"} ${100 - kvUsed}
mlxr_kv_blocks_cached{model="stories"} 1
mlxr_batch_sequences{model="stories"} 3
mlxr_batch_tokens{model="stories"} 7
`),
  };
}

describe('computePoint', () => {
  it('derives rates, windowed percentiles and gauges from two scrapes', () => {
    const s0 = scrape(0, 100, [0, 0, 0], 10);
    const s1 = scrape(2000, 300, [10, 20, 20], 30);
    const p = computePoint(s0, s0, s1);
    expect(p.tokensPerSec).toBe(100); // 200 tokens in 2 s
    expect(p.promptTokensPerSec).toBe(0);
    expect(p.ttft?.p50).toBeCloseTo(0.01, 12); // rank 10 of 20 ends the first bucket
    expect(p.ttft?.count).toBe(20);
    expect(p.requestsTotal).toBe(20); // no requests counter: the TTFT count stands in
    expect(p).toMatchObject({ kvUsed: 30, kvFree: 70, kvCached: 1, queueDepth: 2, running: 3, batchSize: 3, batchTokens: 7 });
  });
  it('windows percentiles: old observations drop out', () => {
    const s0 = scrape(0, 0, [10, 10, 10], 0); // 10 fast requests before the window
    const s1 = scrape(1000, 0, [10, 20, 20], 0); // 10 slower ones inside it
    expect(computePoint(s0, s0, s1).ttft?.p50).toBeCloseTo(0.055, 12);
    expect(computePoint(s0, undefined, s1).ttft?.p50).toBeCloseTo(0.01, 12);
  });
  it('names the families a scrape lacks', () => {
    expect(missingMetrics(scrape(0, 0, [0, 0, 0], 0).exp)).toEqual(['mlxr_itl_seconds']);
    expect(computePoint(undefined, undefined, scrape(0, 0, [0, 0, 0], 0)).tokensPerSec).toBeUndefined();
  });
});
