// Conversations kept in the browser (localStorage). Pure functions over a plain state object, so
// the logic is tested without a DOM; the Storage is passed in.

import type { ChatMessage, Role, SamplingParams } from '../api/types';

export interface MessageStats {
  completionTokens: number;
  tokensPerSecond?: number;
  ttftMs?: number;
  stopped?: boolean;
}
export interface StoredMessage {
  role: Role;
  content: string;
  stats?: MessageStats;
  error?: string;
}
export interface Conversation {
  id: string;
  title: string;
  model: string;
  system: string;
  params: SamplingParams;
  messages: StoredMessage[];
  createdAt: number;
  updatedAt: number;
}
export interface ConversationState {
  version: 1;
  conversations: Conversation[]; // most recently updated first
  activeId: string | null;
}

export const STORAGE_KEY = 'mlxr.conversations.v1';
export const DEFAULT_PARAMS: SamplingParams = { temperature: 0.7, top_p: 0.9, top_k: 40, max_tokens: 256 };
const TITLE_MAX = 48;

export function emptyState(): ConversationState {
  return { version: 1, conversations: [], activeId: null };
}

export function newId(): string {
  return typeof crypto !== 'undefined' && 'randomUUID' in crypto
    ? crypto.randomUUID()
    : `c${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
}

export function createConversation(
  s: ConversationState,
  init: { model: string; system?: string; params?: SamplingParams },
  now: number,
  id: string = newId(),
): ConversationState {
  const c: Conversation = {
    id,
    title: 'New chat',
    model: init.model,
    system: init.system ?? '',
    params: { ...(init.params ?? DEFAULT_PARAMS) },
    messages: [],
    createdAt: now,
    updatedAt: now,
  };
  return { ...s, conversations: [c, ...s.conversations], activeId: id };
}

export function activeConversation(s: ConversationState): Conversation | undefined {
  return s.conversations.find((c) => c.id === s.activeId);
}

export function selectConversation(s: ConversationState, id: string): ConversationState {
  return s.conversations.some((c) => c.id === id) ? { ...s, activeId: id } : s;
}

/** Applies `fn` to one conversation; `touch` moves it to the top (a new message, not a setting). */
export function updateConversation(
  s: ConversationState,
  id: string,
  fn: (c: Conversation) => Conversation,
  now?: number,
): ConversationState {
  const i = s.conversations.findIndex((c) => c.id === id);
  if (i < 0) return s;
  const updated = fn(s.conversations[i]);
  const rest = s.conversations.filter((_, j) => j !== i);
  if (now === undefined) {
    const list = [...s.conversations];
    list[i] = updated;
    return { ...s, conversations: list };
  }
  return { ...s, conversations: [{ ...updated, updatedAt: now }, ...rest] };
}

export function deleteConversation(s: ConversationState, id: string): ConversationState {
  const idx = s.conversations.findIndex((c) => c.id === id);
  if (idx < 0) return s;
  const conversations = s.conversations.filter((c) => c.id !== id);
  let activeId = s.activeId;
  if (activeId === id) activeId = conversations[Math.min(idx, conversations.length - 1)]?.id ?? null;
  return { ...s, conversations, activeId };
}

export function titleFrom(text: string): string {
  const oneLine = text.replace(/\s+/g, ' ').trim();
  if (!oneLine) return 'New chat';
  return oneLine.length > TITLE_MAX ? oneLine.slice(0, TITLE_MAX - 1).trimEnd() + '…' : oneLine;
}

/** Adds the user's message and an empty assistant message that the stream fills. */
export function addUserTurn(s: ConversationState, id: string, text: string, now: number): ConversationState {
  return updateConversation(
    s,
    id,
    (c) => ({
      ...c,
      title: c.messages.length === 0 ? titleFrom(text) : c.title,
      messages: [...c.messages, { role: 'user', content: text }, { role: 'assistant', content: '' }],
    }),
    now,
  );
}

/** Appends streamed text to the last (assistant) message. */
export function appendToLast(s: ConversationState, id: string, delta: string): ConversationState {
  return updateConversation(s, id, (c) => {
    const last = c.messages[c.messages.length - 1];
    if (!last || last.role !== 'assistant') return c;
    return { ...c, messages: [...c.messages.slice(0, -1), { ...last, content: last.content + delta }] };
  });
}

export function finishLast(s: ConversationState, id: string, patch: { stats?: MessageStats; error?: string }): ConversationState {
  return updateConversation(s, id, (c) => {
    const last = c.messages[c.messages.length - 1];
    if (!last || last.role !== 'assistant') return c;
    return { ...c, messages: [...c.messages.slice(0, -1), { ...last, ...patch }] };
  });
}

/** The messages sent to the model: the system prompt, then the turns, leaving out the assistant
 *  placeholder being generated and assistant turns that failed with nothing said. */
export function requestMessages(c: Conversation): ChatMessage[] {
  const msgs: ChatMessage[] = [];
  if (c.system.trim()) msgs.push({ role: 'system', content: c.system });
  c.messages.forEach((m, i) => {
    const isPlaceholder = i === c.messages.length - 1 && m.role === 'assistant' && m.content === '';
    if (isPlaceholder || (m.role === 'assistant' && m.error && !m.content)) return;
    msgs.push({ role: m.role, content: m.content });
  });
  return msgs;
}

// ---- persistence ----

export interface LoadResult {
  state: ConversationState;
  /** Set when stored data existed but could not be used; it is kept under a backup key. */
  error?: string;
}

function isConversation(x: unknown): x is Conversation {
  if (!x || typeof x !== 'object') return false;
  const c = x as Record<string, unknown>;
  return (
    typeof c.id === 'string' &&
    typeof c.title === 'string' &&
    typeof c.model === 'string' &&
    typeof c.system === 'string' &&
    !!c.params &&
    typeof c.params === 'object' &&
    Array.isArray(c.messages) &&
    c.messages.every(
      (m: unknown) =>
        !!m &&
        typeof m === 'object' &&
        ['system', 'user', 'assistant'].includes((m as StoredMessage).role) &&
        typeof (m as StoredMessage).content === 'string',
    )
  );
}

export function loadState(storage: Pick<Storage, 'getItem' | 'setItem'>): LoadResult {
  let raw: string | null;
  try {
    raw = storage.getItem(STORAGE_KEY);
  } catch (e) {
    return { state: emptyState(), error: `Browser storage is not available: ${String(e)}` };
  }
  if (raw === null) return { state: emptyState() };
  try {
    const parsed = JSON.parse(raw) as Partial<ConversationState>;
    if (parsed.version !== 1 || !Array.isArray(parsed.conversations)) throw new Error('unknown format');
    const conversations = parsed.conversations.filter(isConversation).map((c) => ({
      ...c,
      params: { ...DEFAULT_PARAMS, ...c.params },
    }));
    const dropped = parsed.conversations.length - conversations.length;
    const activeId = conversations.some((c) => c.id === parsed.activeId) ? parsed.activeId! : conversations[0]?.id ?? null;
    return {
      state: { version: 1, conversations, activeId },
      error: dropped ? `${dropped} stored conversation(s) were unreadable and were skipped.` : undefined,
    };
  } catch (e) {
    try {
      storage.setItem(`${STORAGE_KEY}.corrupt`, raw);
    } catch {
      // backup is best effort
    }
    return { state: emptyState(), error: `Stored conversations could not be read (${(e as Error).message}); a copy was kept under ${STORAGE_KEY}.corrupt.` };
  }
}

/** Returns an error message when the browser refuses to store (e.g. quota exceeded). */
export function saveState(storage: Pick<Storage, 'setItem'>, s: ConversationState): string | undefined {
  try {
    storage.setItem(STORAGE_KEY, JSON.stringify(s));
    return undefined;
  } catch (e) {
    return `Could not save conversations in this browser: ${(e as Error).message}`;
  }
}
