import { describe, expect, it } from 'vitest';
import { cosine, norm } from './vectors';

describe('vectors', () => {
  it('computes norms and cosine similarity', () => {
    expect(norm([3, 4])).toBe(5);
    expect(cosine([1, 0], [0, 1])).toBe(0);
    expect(cosine([1, 2, 3], [2, 4, 6])).toBeCloseTo(1, 12);
    expect(cosine([1, 0], [-1, 0])).toBe(-1);
  });
  it('is NaN for zero or mismatched vectors', () => {
    expect(cosine([0, 0], [1, 1])).toBeNaN();
    expect(cosine([1], [1, 2])).toBeNaN();
  });
});
