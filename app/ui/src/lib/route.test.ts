import { describe, expect, it } from 'vitest';
import { matchCommands } from '../components/CommandPalette';
import { pageFromHash } from './route';

describe('routing and the command palette', () => {
  it('maps hashes to pages, defaulting to chat', () => {
    expect(pageFromHash('#/metrics')).toBe('metrics');
    expect(pageFromHash('#models?x=1')).toBe('models');
    expect(pageFromHash('')).toBe('chat');
    expect(pageFromHash('#/nope')).toBe('chat');
  });
  it('filters commands by every typed word, case-insensitively', () => {
    const cmds = ['Go to Chat', 'Go to Metrics', 'New chat', 'Stop generation'].map((label) => ({ id: label, label, run: () => undefined }));
    expect(matchCommands(cmds, 'go met').map((c) => c.label)).toEqual(['Go to Metrics']);
    expect(matchCommands(cmds, 'CHAT').map((c) => c.label)).toEqual(['Go to Chat', 'New chat']);
    expect(matchCommands(cmds, '')).toHaveLength(4);
  });
});
