// Parser for the Prometheus text exposition format (version 0.0.4), plus the lookups the Metrics
// page needs. Malformed lines are collected as errors, never thrown.

export type Labels = Record<string, string>;
export interface Sample {
  name: string;
  labels: Labels;
  value: number;
}
export interface Exposition {
  samples: Sample[];
  types: Record<string, string>;
  help: Record<string, string>;
  errors: string[];
}

export function parsePrometheus(text: string): Exposition {
  const out: Exposition = { samples: [], types: {}, help: {}, errors: [] };
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (!line) return;
    if (line.startsWith('#')) {
      const m = /^#\s*(HELP|TYPE)\s+([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(.*)$/.exec(line);
      if (m) {
        if (m[1] === 'TYPE') out.types[m[2]] = m[3].trim();
        else out.help[m[2]] = unescapeHelp(m[3]);
      }
      return;
    }
    const s = parseSampleLine(line);
    if (typeof s === 'string') out.errors.push(`line ${i + 1}: ${s}`);
    else out.samples.push(s);
  });
  return out;
}

function unescapeHelp(s: string): string {
  return s.replace(/\\(\\|n)/g, (_, c: string) => (c === 'n' ? '\n' : '\\'));
}

function parseSampleLine(line: string): Sample | string {
  const nm = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line);
  if (!nm) return 'expected a metric name';
  const name = nm[0];
  let pos = name.length;
  while (line[pos] === ' ' || line[pos] === '\t') pos++;
  const labels: Labels = {};
  if (line[pos] === '{') {
    pos++;
    for (;;) {
      while (line[pos] === ' ' || line[pos] === ',') pos++;
      if (line[pos] === '}') {
        pos++;
        break;
      }
      const lm = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(line.slice(pos));
      if (!lm) return 'expected a label name';
      pos += lm[0].length;
      while (line[pos] === ' ') pos++;
      if (line[pos] !== '=') return `expected '=' after label ${lm[0]}`;
      pos++;
      while (line[pos] === ' ') pos++;
      if (line[pos] !== '"') return `expected '"' to open the value of label ${lm[0]}`;
      pos++;
      let value = '';
      let closed = false;
      while (pos < line.length) {
        const c = line[pos++];
        if (c === '\\') {
          const n = line[pos++];
          value += n === 'n' ? '\n' : n === '"' ? '"' : n === '\\' ? '\\' : '\\' + (n ?? '');
        } else if (c === '"') {
          closed = true;
          break;
        } else value += c;
      }
      if (!closed) return `unterminated value of label ${lm[0]}`;
      labels[lm[0]] = value;
    }
  }
  const rest = line.slice(pos).trim().split(/\s+/);
  if (!rest[0]) return `no value for ${name}`;
  const value = parseValue(rest[0]);
  if (value === undefined) return `bad value '${rest[0]}' for ${name}`;
  return { name, labels, value };
}

function parseValue(s: string): number | undefined {
  if (s === '+Inf' || s === 'Inf') return Infinity;
  if (s === '-Inf') return -Infinity;
  if (s === 'NaN') return NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s)) return undefined;
  return Number(s);
}

function matches(labels: Labels, want?: Labels): boolean {
  if (!want) return true;
  return Object.entries(want).every(([k, v]) => labels[k] === v);
}

/** Sum of all samples of `name` whose labels include `want` (undefined if there are none). */
export function sumOf(exp: Exposition, name: string, want?: Labels): number | undefined {
  let total: number | undefined;
  for (const s of exp.samples) {
    if (s.name === name && matches(s.labels, want)) total = (total ?? 0) + s.value;
  }
  return total;
}

export interface Bucket {
  le: number;
  count: number; // cumulative, as exposed
}
export interface Histogram {
  buckets: Bucket[];
  sum: number;
  count: number;
}

/** Collects histogram `name` (its _bucket/_sum/_count series), summing across other labels. */
export function histogramOf(exp: Exposition, name: string, want?: Labels): Histogram | undefined {
  const byLe = new Map<number, number>();
  let sum = 0;
  let count = 0;
  let seen = false;
  for (const s of exp.samples) {
    if (!matches(s.labels, want)) continue;
    if (s.name === name + '_bucket') {
      const le = parseValue(s.labels.le ?? '');
      if (le === undefined || Number.isNaN(le)) continue;
      byLe.set(le, (byLe.get(le) ?? 0) + s.value);
      seen = true;
    } else if (s.name === name + '_sum') {
      sum += s.value;
      seen = true;
    } else if (s.name === name + '_count') {
      count += s.value;
      seen = true;
    }
  }
  if (!seen) return undefined;
  const buckets = [...byLe.entries()].map(([le, c]) => ({ le, count: c })).sort((a, b) => a.le - b.le);
  return { buckets, sum, count };
}
