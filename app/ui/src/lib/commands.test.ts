import { afterEach, describe, expect, it, vi } from 'vitest';

// The bus uses window events; a bare EventTarget stands in for window in node.
vi.stubGlobal('window', new EventTarget());
const { onCommand, queueCommand, takePendingCommand } = await import('./commands');

afterEach(() => takePendingCommand());

describe('command bus', () => {
  it('delivers to a mounted page and leaves nothing pending', () => {
    const got: string[] = [];
    const off = onCommand((n) => got.push(n));
    queueCommand('new-chat');
    off();
    expect(got).toEqual(['new-chat']);
    expect(takePendingCommand()).toBeNull();
  });
  it('keeps a command for the page that mounts next', () => {
    queueCommand('focus-input');
    expect(takePendingCommand()).toBe('focus-input');
    expect(takePendingCommand()).toBeNull();
  });
});
