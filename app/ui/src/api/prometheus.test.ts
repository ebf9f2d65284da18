import { describe, expect, it } from 'vitest';
import { histogramOf, parsePrometheus, sumOf } from './prometheus';

const text = `# HELP mlxr_requests_total Requests finished.
# TYPE mlxr_requests_total counter
mlxr_requests_total{api="openai",status="200"} 12
mlxr_requests_total{api="ollama",status="200"} 3 1700000000000
# TYPE mlxr_kv_blocks gauge
mlxr_kv_blocks{state="used"} 40
mlxr_kv_blocks{state="free"} 1.5e3
mlxr_kv_blocks { state = "cached" , } 8
weird_label{path="C:\\\\dir\\"x\\"\\nnext"} -Inf
# TYPE mlxr_ttft_seconds histogram
mlxr_ttft_seconds_bucket{le="0.1"} 2
mlxr_ttft_seconds_bucket{le="0.5"} 5
mlxr_ttft_seconds_bucket{le="+Inf"} 6
mlxr_ttft_seconds_sum 1.9
mlxr_ttft_seconds_count 6
nan_metric NaN
`;

describe('parsePrometheus', () => {
  const exp = parsePrometheus(text);
  it('parses samples, labels, types and help', () => {
    expect(exp.errors).toEqual([]);
    expect(exp.types.mlxr_requests_total).toBe('counter');
    expect(exp.help.mlxr_requests_total).toBe('Requests finished.');
    expect(sumOf(exp, 'mlxr_requests_total')).toBe(15);
    expect(sumOf(exp, 'mlxr_requests_total', { api: 'ollama' })).toBe(3);
    expect(sumOf(exp, 'mlxr_kv_blocks', { state: 'free' })).toBe(1500);
    expect(sumOf(exp, 'mlxr_kv_blocks', { state: 'cached' })).toBe(8);
    expect(sumOf(exp, 'absent')).toBeUndefined();
  });
  it('unescapes label values and reads special floats', () => {
    const s = exp.samples.find((x) => x.name === 'weird_label')!;
    expect(s.labels.path).toBe('C:\\dir"x"\nnext');
    expect(s.value).toBe(-Infinity);
    expect(Number.isNaN(exp.samples.find((x) => x.name === 'nan_metric')!.value)).toBe(true);
  });
  it('collects a histogram', () => {
    expect(histogramOf(exp, 'mlxr_ttft_seconds')).toEqual({
      buckets: [
        { le: 0.1, count: 2 },
        { le: 0.5, count: 5 },
        { le: Infinity, count: 6 },
      ],
      sum: 1.9,
      count: 6,
    });
    expect(histogramOf(exp, 'nope')).toBeUndefined();
  });
  it('reports malformed lines with their line number and keeps going', () => {
    const bad = parsePrometheus('ok 1\n{x="1"} 2\nm{a="1} 3\nm{a=1} 3\nm 12abc\nm\nalso_ok 2\n');
    expect(bad.samples.map((s) => s.name)).toEqual(['ok', 'also_ok']);
    expect(bad.errors).toHaveLength(5);
    expect(bad.errors[0]).toMatch(/^line 2:/);
  });
});
