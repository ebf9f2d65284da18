import { describe, expect, it } from 'vitest';
import { filterLogs, levelRank, mergeLogs } from './logs';

const e = (seq: number, level = 'info', msg = `m${seq}`, fields?: Record<string, unknown>) => ({ seq, ts: seq, level, msg, fields });

describe('log tail', () => {
  it('appends only newer entries, in order, and caps the length', () => {
    let have = mergeLogs([], [e(2), e(1)], 10);
    expect(have.map((x) => x.seq)).toEqual([1, 2]);
    have = mergeLogs(have, [e(2), e(3), e(4)], 3);
    expect(have.map((x) => x.seq)).toEqual([2, 3, 4]);
    expect(mergeLogs(have, [e(1)], 3)).toBe(have);
  });
  it('filters by minimum level and by text in message or fields', () => {
    const logs = [e(1, 'debug', 'tick'), e(2, 'INFO', 'request done', { model: 'stories', ms: 12 }), e(3, 'warning', 'slow'), e(4, 'error', 'boom')];
    expect(filterLogs(logs, 'warn', '').map((x) => x.seq)).toEqual([3, 4]);
    expect(filterLogs(logs, 'trace', 'STORIES').map((x) => x.seq)).toEqual([2]);
    expect(filterLogs(logs, 'trace', 'ms=12').map((x) => x.seq)).toEqual([2]);
    expect(levelRank('fatal')).toBe(levelRank('error'));
  });
});
