import { describe, expect, it } from 'vitest';
import {
  addUserTurn,
  appendToLast,
  createConversation,
  deleteConversation,
  emptyState,
  finishLast,
  loadState,
  requestMessages,
  saveState,
  STORAGE_KEY,
  titleFrom,
  updateConversation,
  activeConversation,
} from './conversations';

class MemoryStorage {
  data = new Map<string, string>();
  failWrites = false;
  getItem(k: string) {
    return this.data.has(k) ? this.data.get(k)! : null;
  }
  setItem(k: string, v: string) {
    if (this.failWrites) throw new Error('QuotaExceededError');
    this.data.set(k, v);
  }
}

describe('conversation store', () => {
  it('creates, streams into and finishes a turn', () => {
    let s = createConversation(emptyState(), { model: 'stories', system: 'Be brief.' }, 1000, 'a');
    s = addUserTurn(s, 'a', 'Tell me a story about a cat', 2000);
    s = appendToLast(s, 'a', 'Once');
    s = appendToLast(s, 'a', ' upon');
    s = finishLast(s, 'a', { stats: { completionTokens: 2, tokensPerSecond: 10 } });
    const c = activeConversation(s)!;
    expect(c.title).toBe('Tell me a story about a cat');
    expect(c.updatedAt).toBe(2000);
    expect(c.messages).toEqual([
      { role: 'user', content: 'Tell me a story about a cat' },
      { role: 'assistant', content: 'Once upon', stats: { completionTokens: 2, tokensPerSecond: 10 } },
    ]);
    expect(requestMessages(c)).toEqual([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Tell me a story about a cat' },
      { role: 'assistant', content: 'Once upon' },
    ]);
  });

  it('leaves the pending placeholder and failed empty replies out of the request', () => {
    let s = createConversation(emptyState(), { model: 'm' }, 0, 'a');
    s = addUserTurn(s, 'a', 'hi', 1);
    s = finishLast(s, 'a', { error: 'model not loaded' });
    s = addUserTurn(s, 'a', 'again', 2);
    expect(requestMessages(activeConversation(s)!)).toEqual([
      { role: 'user', content: 'hi' },
      { role: 'user', content: 'again' },
    ]);
  });

  it('orders by last message, and settings changes do not reorder', () => {
    let s = createConversation(emptyState(), { model: 'm' }, 0, 'a');
    s = createConversation(s, { model: 'm' }, 1, 'b');
    expect(s.conversations.map((c) => c.id)).toEqual(['b', 'a']);
    s = addUserTurn(s, 'a', 'x', 5);
    expect(s.conversations.map((c) => c.id)).toEqual(['a', 'b']);
    s = updateConversation(s, 'b', (c) => ({ ...c, model: 'other' }));
    expect(s.conversations.map((c) => c.id)).toEqual(['a', 'b']);
  });

  it('deleting the active conversation activates a neighbour', () => {
    let s = emptyState();
    for (const id of ['a', 'b', 'c']) s = createConversation(s, { model: 'm' }, 0, id);
    s = deleteConversation(s, 'c'); // active, first in the list
    expect(s.activeId).toBe('b');
    s = deleteConversation(s, 'a'); // not active
    expect(s.activeId).toBe('b');
    s = deleteConversation(s, 'b');
    expect(s.activeId).toBeNull();
  });

  it('shortens titles to one line', () => {
    expect(titleFrom('  a\n\nb  ')).toBe('a b');
    expect(titleFrom('x'.repeat(100))).toHaveLength(48);
    expect(titleFrom('   ')).toBe('New chat');
  });
});

describe('conversation persistence', () => {
  it('round-trips through storage', () => {
    const st = new MemoryStorage();
    let s = createConversation(emptyState(), { model: 'm' }, 0, 'a');
    s = addUserTurn(s, 'a', 'hello', 1);
    expect(saveState(st, s)).toBeUndefined();
    expect(loadState(st)).toEqual({ state: s, error: undefined });
  });

  it('keeps corrupt data aside and starts empty, with a message', () => {
    const st = new MemoryStorage();
    st.setItem(STORAGE_KEY, '{not json');
    const r = loadState(st);
    expect(r.state).toEqual(emptyState());
    expect(r.error).toMatch(/could not be read/);
    expect(st.getItem(STORAGE_KEY + '.corrupt')).toBe('{not json');
  });

  it('skips malformed conversations and repairs the active id', () => {
    const st = new MemoryStorage();
    const good = createConversation(emptyState(), { model: 'm' }, 0, 'good').conversations[0];
    st.setItem(STORAGE_KEY, JSON.stringify({ version: 1, activeId: 'bad', conversations: [{ id: 'bad', messages: 3 }, good] }));
    const r = loadState(st);
    expect(r.state.conversations.map((c) => c.id)).toEqual(['good']);
    expect(r.state.activeId).toBe('good');
    expect(r.error).toMatch(/1 stored conversation/);
  });

  it('reports a storage write failure instead of throwing', () => {
    const st = new MemoryStorage();
    st.failWrites = true;
    expect(saveState(st, emptyState())).toMatch(/QuotaExceededError/);
  });
});
