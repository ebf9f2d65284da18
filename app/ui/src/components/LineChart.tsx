// A dependency-free SVG line chart: shared x (time), several series, gaps where a value is missing.
// Series differ by color and dash pattern so they read without color vision too.

export interface Series {
  name: string;
  values: (number | undefined)[];
}

const STYLES = [
  { color: '#6cb6ff', dash: '' },
  { color: '#f2a65a', dash: '6 3' },
  { color: '#7ee787', dash: '2 3' },
  { color: '#e88fd4', dash: '8 3 2 3' },
];
const W = 600;
const H = 180;
const PAD = { l: 52, r: 8, t: 8, b: 18 };

export function niceMax(v: number): number {
  if (!(v > 0) || !Number.isFinite(v)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

/** SVG path data: one subpath per run of finite values. */
export function pathFor(values: (number | undefined)[], x: (i: number) => number, y: (v: number) => number): string {
  let d = '';
  let pen = false;
  values.forEach((v, i) => {
    if (v === undefined || !Number.isFinite(v)) {
      pen = false;
      return;
    }
    d += `${pen ? 'L' : 'M'}${x(i).toFixed(1)},${y(v).toFixed(1)}`;
    pen = true;
  });
  return d;
}

/** Indices of finite values with no finite neighbour: a path cannot draw them, a dot can. */
export function isolatedPoints(values: (number | undefined)[]): number[] {
  const ok = (i: number) => i >= 0 && i < values.length && values[i] !== undefined && Number.isFinite(values[i]);
  return values.map((_, i) => i).filter((i) => ok(i) && !ok(i - 1) && !ok(i + 1));
}

export function LineChart({ title, series, format, capacity }: { title: string; series: Series[]; format: (v: number) => string; capacity: number }) {
  const finite = series.flatMap((s) => s.values.filter((v): v is number => v !== undefined && Number.isFinite(v)));
  const max = niceMax(Math.max(0, ...finite));
  const x = (i: number) => PAD.l + ((W - PAD.l - PAD.r) * (i + (capacity - Math.max(...series.map((s) => s.values.length), 1)))) / Math.max(1, capacity - 1);
  const y = (v: number) => PAD.t + (H - PAD.t - PAD.b) * (1 - Math.min(v, max) / max);
  const latest = series.map((s) => [...s.values].reverse().find((v) => v !== undefined && Number.isFinite(v)));
  const summary = series.map((s, i) => `${s.name} ${latest[i] === undefined ? 'no data' : format(latest[i]!)}`).join(', ');
  return (
    <figure className="chart card">
      <figcaption>
        <h2>{title}</h2>
        <ul className="legend">
          {series.map((s, i) => (
            <li key={s.name}>
              <svg width="22" height="8" aria-hidden="true">
                <line x1="0" y1="4" x2="22" y2="4" stroke={STYLES[i % 4].color} strokeWidth="2.5" strokeDasharray={STYLES[i % 4].dash} />
              </svg>
              {s.name}: <strong>{latest[i] === undefined ? '—' : format(latest[i]!)}</strong>
            </li>
          ))}
        </ul>
      </figcaption>
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`${title}: ${summary}`} preserveAspectRatio="none" className="chart-svg">
        {[0, 0.5, 1].map((f) => (
          <g key={f}>
            <line x1={PAD.l} x2={W - PAD.r} y1={y(max * f)} y2={y(max * f)} className="grid" />
            <text x={PAD.l - 6} y={y(max * f) + 4} textAnchor="end" className="axis">
              {format(max * f)}
            </text>
          </g>
        ))}
        {series.map((s, i) => (
          <g key={s.name}>
            <path d={pathFor(s.values, x, y)} fill="none" stroke={STYLES[i % 4].color} strokeWidth="2" strokeDasharray={STYLES[i % 4].dash} vectorEffect="non-scaling-stroke" />
            {isolatedPoints(s.values).map((j) => (
              <circle key={j} cx={x(j)} cy={y(s.values[j]!)} r="3" fill={STYLES[i % 4].color} />
            ))}
          </g>
        ))}
      </svg>
    </figure>
  );
}
