import { describe, expect, it } from 'vitest';
import { isolatedPoints, niceMax, pathFor } from './LineChart';

describe('chart helpers', () => {
  it('rounds the axis maximum up to 1/2/2.5/5 x 10^n', () => {
    expect(niceMax(0)).toBe(1);
    expect(niceMax(0.013)).toBeCloseTo(0.02, 12);
    expect(niceMax(7)).toBe(10);
    expect(niceMax(2.1)).toBe(2.5);
    expect(niceMax(430)).toBe(500);
  });
  it('breaks the line where values are missing', () => {
    expect(pathFor([1, 2, undefined, NaN, 3, 4], (i) => i, (v) => v * 10)).toBe('M0.0,10.0L1.0,20.0M4.0,30.0L5.0,40.0');
  });
  it('finds points a line cannot show', () => {
    expect(isolatedPoints([1, undefined, 2, 3, NaN, 4])).toEqual([0, 5]);
    expect(isolatedPoints([])).toEqual([]);
  });
});
