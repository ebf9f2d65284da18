// Turns successive /metrics scrapes into the points the Metrics page charts.

import { histogramDelta, histogramQuantile, counterRate } from '../api/histogram';
import { histogramOf, sumOf, type Exposition, type Histogram } from '../api/prometheus';
import { metricNames, parseSelector, type MetricKey } from '../api/metricNames';

export interface Scrape {
  t: number; // ms
  exp: Exposition;
}
export interface Percentiles {
  p50: number;
  p90: number;
  p99: number;
  count: number;
}
export interface MetricsPoint {
  t: number;
  tokensPerSec?: number;
  promptTokensPerSec?: number;
  requestsTotal?: number;
  ttft?: Percentiles; // seconds, over the window
  itl?: Percentiles;
  ttftAll?: Percentiles; // seconds, since the daemon started
  itlAll?: Percentiles;
  kvUsed?: number;
  kvCached?: number;
  kvFree?: number;
  queueDepth?: number;
  running?: number;
  batchSize?: number;
  batchTokens?: number;
}

type Selector = { name: string; labels?: Record<string, string> };

function labelsMatch(have: Record<string, string>, want?: Record<string, string>): boolean {
  return !want || Object.entries(want).every(([k, v]) => have[k] === v);
}

/** The first candidate of `key` present in the scrape (as a plain series or with a suffix). */
function find(exp: Exposition, key: MetricKey, suffixes: string[] = ['']): Selector | undefined {
  for (const cand of metricNames[key]) {
    const sel = parseSelector(cand);
    if (exp.samples.some((s) => suffixes.some((suf) => s.name === sel.name + suf) && labelsMatch(s.labels, sel.labels))) return sel;
  }
  return undefined;
}

/** Which metric families the scrape lacks (by their first candidate name). */
export function missingMetrics(exp: Exposition): string[] {
  const hist = ['_bucket', '_count', ''];
  return (Object.keys(metricNames) as MetricKey[])
    .filter((k) => k !== 'requests' && !find(exp, k, hist))
    .map((k) => parseSelector(metricNames[k][0]).name);
}

function gauge(exp: Exposition, key: MetricKey): number | undefined {
  const sel = find(exp, key);
  return sel ? sumOf(exp, sel.name, sel.labels) : undefined;
}

function hist(exp: Exposition, key: MetricKey): Histogram | undefined {
  const sel = find(exp, key, ['_bucket']);
  return sel ? histogramOf(exp, sel.name, sel.labels) : undefined;
}

export function percentiles(h: Histogram | undefined): Percentiles | undefined {
  if (!h || h.count <= 0) return undefined;
  return {
    p50: histogramQuantile(0.5, h.buckets),
    p90: histogramQuantile(0.9, h.buckets),
    p99: histogramQuantile(0.99, h.buckets),
    count: h.count,
  };
}

/** One point: rates against `prev` (the previous scrape), percentiles over `windowStart`..cur. */
export function computePoint(prev: Scrape | undefined, windowStart: Scrape | undefined, cur: Scrape): MetricsPoint {
  const e = cur.exp;
  const rate = (key: MetricKey) => {
    if (!prev) return undefined;
    const sel = find(e, key);
    return sel ? counterRate(sumOf(prev.exp, sel.name, sel.labels), prev.t, sumOf(e, sel.name, sel.labels), cur.t) : undefined;
  };
  const windowed = (key: MetricKey) => {
    const h = hist(e, key);
    if (!h) return undefined;
    return percentiles(histogramDelta(windowStart ? hist(windowStart.exp, key) : undefined, h));
  };
  let batchSize: number | undefined;
  const bh = hist(e, 'batchSize');
  if (bh) {
    const d = histogramDelta(prev ? hist(prev.exp, 'batchSize') : undefined, bh);
    batchSize = d.count > 0 ? d.sum / d.count : 0;
  } else batchSize = gauge(e, 'batchSize');
  return {
    t: cur.t,
    tokensPerSec: rate('generatedTokens'),
    promptTokensPerSec: rate('promptTokens'),
    requestsTotal: gauge(e, 'requests') ?? hist(e, 'ttft')?.count,
    ttft: windowed('ttft'),
    itl: windowed('itl'),
    ttftAll: percentiles(hist(e, 'ttft')),
    itlAll: percentiles(hist(e, 'itl')),
    kvUsed: gauge(e, 'kvUsed'),
    kvCached: gauge(e, 'kvCached'),
    kvFree: gauge(e, 'kvFree'),
    queueDepth: gauge(e, 'queueDepth'),
    running: gauge(e, 'running'),
    batchSize,
    batchTokens: gauge(e, 'batchTokens'),
  };
}
