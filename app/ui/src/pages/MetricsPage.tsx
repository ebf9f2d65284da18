import { useEffect, useRef, useState } from 'react';
import { api } from '../api/client';
import { messageOf } from '../api/errors';
import { parsePrometheus } from '../api/prometheus';
import { ErrorBox } from '../components/ErrorBox';
import { LineChart } from '../components/LineChart';
import { formatCount, formatDuration, formatRate } from '../lib/format';
import { computePoint, missingMetrics, type MetricsPoint, type Scrape } from '../lib/metrics';

const CAPACITY = 120; // points kept on the charts
const WINDOW_MS = 30_000; // percentile window

const seconds = (v: number) => formatDuration(v * 1000);
const count = (v: number) => (v < 10 && !Number.isInteger(v) ? v.toFixed(1) : formatCount(v));

export function MetricsPage() {
  const [points, setPoints] = useState<MetricsPoint[]>([]);
  const [error, setError] = useState<string>();
  const [missing, setMissing] = useState<string[]>([]);
  const [parseErrors, setParseErrors] = useState<string[]>([]);
  const [intervalMs, setIntervalMs] = useState(1000);
  const [paused, setPaused] = useState(false);
  const scrapes = useRef<Scrape[]>([]);

  useEffect(() => {
    if (paused) return;
    let cancelled = false;
    const ctl = new AbortController();
    const tick = async () => {
      try {
        const text = await api.metricsText(ctl.signal);
        if (cancelled) return;
        const cur: Scrape = { t: Date.now(), exp: parsePrometheus(text) };
        const list = scrapes.current;
        const prev = list[list.length - 1];
        const windowStart = list.find((s) => s.t >= cur.t - WINDOW_MS);
        list.push(cur);
        while (list.length > 2 && list[0].t < cur.t - WINDOW_MS - 5000) list.shift();
        setPoints((p) => [...p, computePoint(prev, windowStart, cur)].slice(-CAPACITY));
        setMissing(missingMetrics(cur.exp));
        setParseErrors(cur.exp.errors.slice(0, 5));
        setError(undefined);
      } catch (e) {
        if (!cancelled) setError(`Could not read /metrics: ${messageOf(e)}`);
      }
    };
    void tick();
    const id = setInterval(tick, intervalMs);
    return () => {
      cancelled = true;
      ctl.abort();
      clearInterval(id);
    };
  }, [intervalMs, paused]);

  const last = points[points.length - 1];
  const col = <K extends keyof MetricsPoint>(k: K) => points.map((p) => p[k] as number | undefined);
  const pct = (k: 'ttft' | 'itl', q: 'p50' | 'p90' | 'p99') => points.map((p) => p[k]?.[q]);
  const kvTotal = last && last.kvUsed !== undefined && last.kvFree !== undefined ? last.kvUsed + (last.kvCached ?? 0) + last.kvFree : undefined;

  return (
    <div className="metrics">
      <div className="page-head">
        <h1>Metrics</h1>
        <div className="row">
          <label htmlFor="metrics-interval">Refresh</label>
          <select id="metrics-interval" value={intervalMs} onChange={(e) => setIntervalMs(Number(e.target.value))}>
            <option value={1000}>1 s</option>
            <option value={2000}>2 s</option>
            <option value={5000}>5 s</option>
          </select>
          <button type="button" onClick={() => setPaused((p) => !p)} aria-pressed={paused}>
            {paused ? 'Resume' : 'Pause'}
          </button>
        </div>
      </div>
      <ErrorBox error={error} />
      {missing.length > 0 && points.length > 0 && (
        <p className="notice" role="status">
          The daemon does not export: {missing.join(', ')}.
        </p>
      )}
      {parseErrors.length > 0 && <ErrorBox error={`Unparsed /metrics lines: ${parseErrors.join('; ')}`} />}
      <dl className="tiles" aria-label="Current values">
        <div>
          <dt>Generation</dt>
          <dd data-testid="tile-tps">{formatRate(last?.tokensPerSec)}</dd>
        </div>
        <div>
          <dt>TTFT p50 / p99 (all)</dt>
          <dd>
            {last?.ttftAll ? `${seconds(last.ttftAll.p50)} / ${seconds(last.ttftAll.p99)}` : '—'}
          </dd>
        </div>
        <div>
          <dt>ITL p50 / p99 (all)</dt>
          <dd>{last?.itlAll ? `${seconds(last.itlAll.p50)} / ${seconds(last.itlAll.p99)}` : '—'}</dd>
        </div>
        <div>
          <dt>KV blocks used</dt>
          <dd>{last?.kvUsed !== undefined ? `${formatCount(last.kvUsed)}${kvTotal ? ` of ${formatCount(kvTotal)}` : ''}` : '—'}</dd>
        </div>
        <div>
          <dt>Queue / running</dt>
          <dd>
            {formatCount(last?.queueDepth)} / {formatCount(last?.running)}
          </dd>
        </div>
        <div>
          <dt>Requests (first token)</dt>
          <dd data-testid="tile-requests">{formatCount(last?.requestsTotal)}</dd>
        </div>
      </dl>
      <div className="charts">
        <LineChart
          title="Tokens per second"
          capacity={CAPACITY}
          format={(v) => formatRate(v, '/s')}
          series={[
            { name: 'generated', values: col('tokensPerSec') },
            { name: 'prompt', values: col('promptTokensPerSec') },
          ]}
        />
        <LineChart
          title="Time to first token (30 s window)"
          capacity={CAPACITY}
          format={seconds}
          series={[
            { name: 'p50', values: pct('ttft', 'p50') },
            { name: 'p90', values: pct('ttft', 'p90') },
            { name: 'p99', values: pct('ttft', 'p99') },
          ]}
        />
        <LineChart
          title="Inter-token latency (30 s window)"
          capacity={CAPACITY}
          format={seconds}
          series={[
            { name: 'p50', values: pct('itl', 'p50') },
            { name: 'p90', values: pct('itl', 'p90') },
            { name: 'p99', values: pct('itl', 'p99') },
          ]}
        />
        <LineChart
          title="KV cache blocks"
          capacity={CAPACITY}
          format={count}
          series={[
            { name: 'used', values: col('kvUsed') },
            { name: 'cached', values: col('kvCached') },
            { name: 'free', values: col('kvFree') },
          ]}
        />
        <LineChart
          title="Queue depth"
          capacity={CAPACITY}
          format={count}
          series={[
            { name: 'waiting', values: col('queueDepth') },
            { name: 'running', values: col('running') },
          ]}
        />
        <LineChart
          title="Batch size"
          capacity={CAPACITY}
          format={count}
          series={[
            { name: 'sequences', values: col('batchSize') },
            { name: 'tokens', values: col('batchTokens') },
          ]}
        />
      </div>
    </div>
  );
}
