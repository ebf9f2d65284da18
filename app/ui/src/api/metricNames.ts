// The Prometheus series the Metrics page reads from GET /metrics. Each entry lists the series the
// daemon may use, first match wins; a `{label="value"}` suffix selects labelled samples. The first
// candidate is what daemon/server (admin_api.cpp, generation.cpp) exports today; the page names the
// families it could not find.

export const metricNames = {
  /** counter: tokens generated */
  generatedTokens: ['mlxr_generated_tokens_total', 'mlxr_generation_tokens_total'],
  /** counter: prompt tokens submitted */
  promptTokens: ['mlxr_prompt_tokens_total'],
  /** counter: finished requests (else the TTFT histogram's count is used) */
  requests: ['mlxr_requests_total'],
  /** histogram (seconds): time to first token */
  ttft: ['mlxr_ttft_seconds', 'mlxr_time_to_first_token_seconds'],
  /** histogram (seconds): inter-token latency */
  itl: ['mlxr_itl_seconds', 'mlxr_inter_token_latency_seconds'],
  /** gauges: KV cache blocks */
  kvUsed: ['mlxr_kv_blocks_used', 'mlxr_kv_blocks{state="used"}'],
  kvCached: ['mlxr_kv_blocks_cached', 'mlxr_kv_blocks{state="cached"}'],
  kvFree: ['mlxr_kv_blocks_free', 'mlxr_kv_blocks{state="free"}'],
  /** gauge: requests waiting to be scheduled */
  queueDepth: ['mlxr_queue_depth', 'mlxr_requests_waiting'],
  /** gauge: sequences decoding */
  running: ['mlxr_running_sequences', 'mlxr_requests_running'],
  /** gauge (sequences in the last engine step) or histogram */
  batchSize: ['mlxr_batch_sequences', 'mlxr_batch_size'],
  /** gauge: tokens in the last engine step */
  batchTokens: ['mlxr_batch_tokens'],
} as const;

export type MetricKey = keyof typeof metricNames;

/** Splits 'name{a="b"}' into the metric name and its label selector. */
export function parseSelector(sel: string): { name: string; labels?: Record<string, string> } {
  const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?$/.exec(sel);
  if (!m) return { name: sel };
  if (!m[2]) return { name: m[1] };
  const labels: Record<string, string> = {};
  for (const part of m[2].split(',')) {
    const kv = /^\s*([a-zA-Z_]\w*)\s*=\s*"([^"]*)"\s*$/.exec(part);
    if (kv) labels[kv[1]] = kv[2];
  }
  return { name: m[1], labels };
}
