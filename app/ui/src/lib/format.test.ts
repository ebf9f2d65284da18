import { describe, expect, it } from 'vitest';
import { formatBytes, formatDuration, formatRate, StreamClock } from './format';
import { flattenConfig, parseSettingInput, patchFor, splitConfig } from './settings';

describe('formatting', () => {
  it('formats sizes in binary units', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1536)).toBe('1.50 KiB');
    expect(formatBytes(1_100_000)).toBe('1.05 MiB');
    expect(formatBytes(250 * 1024 ** 3)).toBe('250 GiB');
    expect(formatBytes(undefined)).toBe('—');
  });
  it('formats durations and rates', () => {
    expect(formatDuration(0.25)).toBe('250 µs');
    expect(formatDuration(8.26)).toBe('8.3 ms');
    expect(formatDuration(850)).toBe('850 ms');
    expect(formatDuration(1250)).toBe('1.25 s');
    expect(formatDuration(125000)).toBe('2 min 5 s');
    expect(formatRate(1234.5)).toBe('1,235 tok/s');
    expect(formatRate(NaN)).toBe('—');
  });
});

describe('StreamClock', () => {
  it('measures TTFT and the decode rate after the first token', () => {
    const c = new StreamClock(1000);
    expect(c.tokensPerSecond()).toBeUndefined();
    c.token(1200);
    c.token(1300);
    c.token(1400);
    expect(c.ttftMs).toBe(200);
    expect(c.tokensPerSecond()).toBeCloseTo(10, 12); // 2 tokens in 200 ms
    expect(c.tokensPerSecond(5)).toBeCloseTo(20, 12); // usage reported 5 tokens
  });
});

describe('settings', () => {
  it('flattens nested config to dotted keys and back to a patch', () => {
    expect(flattenConfig({ scheduler: { max_batch: 8, policy: { fcfs: true } }, log_level: 'info' })).toEqual([
      { key: 'scheduler.max_batch', value: 8 },
      { key: 'scheduler.policy.fcfs', value: true },
      { key: 'log_level', value: 'info' },
    ]);
    expect(patchFor('scheduler.policy.fcfs', false)).toEqual({ scheduler: { policy: { fcfs: false } } });
  });
  it('offers only the runtime keys for editing when the daemon lists them', () => {
    const cfg = { engine: { max_running: 64, device: 'auto' }, log: { level: 'info' }, runtime_keys: ['engine.max_running', 'log.level'] };
    expect(splitConfig(cfg as never)).toEqual({
      editable: [
        { key: 'engine.max_running', value: 64 },
        { key: 'log.level', value: 'info' },
      ],
      readOnly: [{ key: 'engine.device', value: 'auto' }],
    });
    expect(splitConfig({ a: 1 }).editable).toEqual([{ key: 'a', value: 1 }]);
  });
  it('parses input to the setting type and names the key on error', () => {
    expect(parseSettingInput('a', 3, ' 12 ')).toEqual({ value: 12 });
    expect(parseSettingInput('a.b', 3, 'twelve')).toEqual({ error: 'a.b: "twelve" is not a number' });
    expect(parseSettingInput('c', true, 'false')).toEqual({ value: false });
    expect(parseSettingInput('c', true, 'no')).toEqual({ error: 'c: "no" must be true or false' });
    expect(parseSettingInput('d', 'x', ' y ')).toEqual({ value: ' y ' });
  });
});
