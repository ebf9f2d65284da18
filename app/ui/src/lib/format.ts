// Number, size and time formatting shared by the pages.

export function formatBytes(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n) || n < 0) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0)} ${units[u]}`;
}

/** Milliseconds to "850 ms", "1.25 s", "2 min 5 s". */
export function formatDuration(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms) || ms < 0) return '—';
  if (ms === 0) return '0 ms';
  if (ms < 1) return `${(ms * 1000).toFixed(0)} µs`;
  if (ms < 1000) return `${ms < 10 ? ms.toFixed(1) : ms.toFixed(0)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(2)} s`;
  return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}

export function formatRate(perSecond: number | undefined, unit = 'tok/s'): string {
  if (perSecond === undefined || !Number.isFinite(perSecond)) return '—';
  return `${perSecond < 10 ? perSecond.toFixed(2) : perSecond < 1000 ? perSecond.toFixed(1) : Math.round(perSecond).toLocaleString('en-US')} ${unit}`;
}

export function formatCount(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return '—';
  return Math.round(n).toLocaleString('en-US');
}

/** A log timestamp (ISO string or Unix seconds/milliseconds) as local HH:MM:SS.mmm. */
export function formatTime(ts: string | number): string {
  let d: Date;
  if (typeof ts === 'number') d = new Date(ts < 1e12 ? ts * 1000 : ts);
  else d = new Date(ts);
  if (Number.isNaN(d.getTime())) return String(ts);
  const p = (x: number, w = 2) => String(x).padStart(w, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

/** Timing of one streamed generation: TTFT and the decode rate after the first token. */
export class StreamClock {
  private first?: number;
  private last?: number;
  tokens = 0;
  constructor(readonly start: number) {}
  token(now: number, count = 1): void {
    if (this.first === undefined) this.first = now;
    this.last = now;
    this.tokens += count;
  }
  get ttftMs(): number | undefined {
    return this.first === undefined ? undefined : this.first - this.start;
  }
  /** Tokens after the first divided by the time they took; `total` overrides the chunk count
   *  when the daemon reports usage. */
  tokensPerSecond(total = this.tokens): number | undefined {
    if (this.first === undefined || this.last === undefined || total < 2 || this.last <= this.first) return undefined;
    return (total - 1) / ((this.last - this.first) / 1000);
  }
}
