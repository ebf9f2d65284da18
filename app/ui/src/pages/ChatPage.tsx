import { useCallback, useEffect, useRef, useState, type KeyboardEvent } from 'react';
import { api } from '../api/client';
import { isAbort, messageOf } from '../api/errors';
import type { Usage } from '../api/types';
import { ErrorBox } from '../components/ErrorBox';
import { Markdown } from '../components/Markdown';
import { SamplingControls } from '../components/SamplingControls';
import { onCommand, takePendingCommand, type CommandName } from '../lib/commands';
import {
  activeConversation,
  addUserTurn,
  appendToLast,
  createConversation,
  deleteConversation,
  finishLast,
  loadState,
  requestMessages,
  saveState,
  selectConversation,
  updateConversation,
  DEFAULT_PARAMS,
  type ConversationState,
  type MessageStats,
} from '../lib/conversations';
import { formatCount, formatDuration, formatRate, StreamClock } from '../lib/format';
import { useModelIds } from '../lib/useModels';

function statsLine(s: MessageStats): string {
  const parts = [`${formatCount(s.completionTokens)} tokens`];
  if (s.tokensPerSecond !== undefined) parts.push(formatRate(s.tokensPerSecond));
  if (s.ttftMs !== undefined) parts.push(`first token ${formatDuration(s.ttftMs)}`);
  if (s.stopped) parts.push('stopped');
  return parts.join(' · ');
}

export function ChatPage() {
  const [initial] = useState(() => loadState(window.localStorage));
  const [state, setState] = useState<ConversationState>(initial.state);
  const stateRef = useRef(state);
  stateRef.current = state;
  const [storageError, setStorageError] = useState(initial.error);
  const [error, setError] = useState<string>();
  const [input, setInput] = useState('');
  const [streaming, setStreaming] = useState(false);
  const [live, setLive] = useState<MessageStats>();
  const [showSettings, setShowSettings] = useState(false);
  const [showList, setShowList] = useState(false);
  const controller = useRef<AbortController | null>(null);
  const inputRef = useRef<HTMLTextAreaElement>(null);
  const logRef = useRef<HTMLDivElement>(null);
  const models = useModelIds();
  const reloadModels = models.reload;
  const conv = activeConversation(state);

  // Persist, but not on every streamed token: the finished message is saved when the stream ends.
  useEffect(() => {
    if (streaming) return;
    const err = saveState(window.localStorage, state);
    if (err) setStorageError(err);
  }, [state, streaming]);

  // Keep the newest text in view while the user is reading near the bottom.
  useEffect(() => {
    const el = logRef.current;
    if (el && el.scrollHeight - el.scrollTop - el.clientHeight < 120) el.scrollTop = el.scrollHeight;
  }, [state]);

  const defaultModel = models.ids[0] ?? '';
  const newChat = useCallback(() => {
    const cur = activeConversation(stateRef.current);
    setState((s) => createConversation(s, { model: cur?.model || defaultModel, system: cur?.system, params: cur?.params ?? DEFAULT_PARAMS }, Date.now()));
    setShowList(false);
    setTimeout(() => inputRef.current?.focus(), 0);
  }, [defaultModel]);

  const stop = useCallback(() => controller.current?.abort(), []);

  const send = useCallback(async () => {
    const text = input.trim();
    if (!text || controller.current) return;
    let s = stateRef.current;
    if (!activeConversation(s)) s = createConversation(s, { model: defaultModel }, Date.now());
    const id = s.activeId!;
    const model = activeConversation(s)!.model || defaultModel;
    if (!model) {
      setError(models.error ?? 'No model to chat with: import or pull one on the Models page.');
      return;
    }
    s = updateConversation(s, id, (c) => ({ ...c, model }));
    s = addUserTurn(s, id, text, Date.now());
    setState(s);
    setInput('');
    setError(undefined);
    const c = activeConversation(s)!;
    const ctl = new AbortController();
    controller.current = ctl;
    setStreaming(true);
    const clock = new StreamClock(performance.now());
    let usage: Usage | undefined;
    const stats = (stopped: boolean): MessageStats => {
      const total = usage?.completion_tokens ?? clock.tokens;
      return { completionTokens: total, tokensPerSecond: clock.tokensPerSecond(total), ttftMs: clock.ttftMs, stopped: stopped || undefined };
    };
    setLive({ completionTokens: 0 });
    try {
      await api.chatStream(
        {
          model,
          messages: requestMessages(c),
          temperature: c.params.temperature,
          top_p: c.params.top_p,
          top_k: c.params.top_k,
          max_tokens: c.params.max_tokens,
          ...(c.params.seed !== undefined ? { seed: c.params.seed } : {}),
        },
        ctl.signal,
        (chunk) => {
          if (chunk.usage) usage = chunk.usage;
          const delta = chunk.choices?.[0]?.delta?.content;
          if (delta) {
            clock.token(performance.now());
            setState((st) => appendToLast(st, id, delta));
            setLive(stats(false));
          }
        },
      );
      setState((st) => finishLast(st, id, { stats: stats(false) }));
    } catch (e) {
      if (isAbort(e)) setState((st) => finishLast(st, id, { stats: stats(true) }));
      else {
        const msg = messageOf(e);
        setState((st) => finishLast(st, id, { stats: clock.tokens ? stats(false) : undefined, error: msg }));
        setError(msg);
      }
    } finally {
      controller.current = null;
      setStreaming(false);
      setLive(undefined);
    }
  }, [input, defaultModel, models.error]);

  useEffect(() => {
    const handle = (name: CommandName) => {
      if (name === 'stop') stop();
      else if (name === 'new-chat') newChat();
      else if (name === 'focus-input') inputRef.current?.focus();
      else if (name === 'refresh') reloadModels();
    };
    const off = onCommand(handle);
    const waiting = takePendingCommand();
    if (waiting) handle(waiting);
    return off;
  }, [stop, newChat, reloadModels]);

  // Esc stops the stream from anywhere on the page (the palette handles its own Esc first).
  useEffect(() => {
    if (!streaming) return;
    const onKey = (e: globalThis.KeyboardEvent) => {
      if (e.key === 'Escape' && !document.querySelector('.palette')) stop();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [streaming, stop]);

  const onComposerKey = (e: KeyboardEvent<HTMLTextAreaElement>) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.nativeEvent.isComposing) {
      e.preventDefault();
      void send();
    }
  };

  const modelOptions = conv?.model && !models.ids.includes(conv.model) ? [...models.ids, conv.model] : models.ids;
  const update = (fn: Parameters<typeof updateConversation>[2]) => {
    if (conv) setState((s) => updateConversation(s, conv.id, fn));
  };

  return (
    <div className={`chat ${showList ? 'list-open' : ''}`}>
      <aside className="chat-list" aria-label="Conversations">
        <button type="button" className="primary wide" onClick={newChat}>
          New chat
        </button>
        <ul>
          {state.conversations.map((c) => (
            <li key={c.id} className={c.id === state.activeId ? 'active' : undefined}>
              <button
                type="button"
                className="conv-title"
                aria-current={c.id === state.activeId ? 'true' : undefined}
                onClick={() => {
                  setState((s) => selectConversation(s, c.id));
                  setShowList(false);
                }}
                disabled={streaming}
              >
                {c.title}
              </button>
              <button type="button" className="icon-button" aria-label={`Delete conversation ${c.title}`} onClick={() => setState((s) => deleteConversation(s, c.id))} disabled={streaming}>
                ×
              </button>
            </li>
          ))}
        </ul>
      </aside>
      <section className="chat-main" aria-label="Conversation">
        <div className="chat-toolbar">
          <button type="button" className="list-toggle" aria-expanded={showList} onClick={() => setShowList((v) => !v)}>
            Chats
          </button>
          <label htmlFor="model-picker" className="visually-hidden">
            Model
          </label>
          <select
            id="model-picker"
            value={conv?.model || defaultModel}
            onChange={(e) => (conv ? update((c) => ({ ...c, model: e.target.value })) : setState((s) => createConversation(s, { model: e.target.value }, Date.now())))}
            disabled={streaming}
          >
            {modelOptions.length === 0 && <option value="">{models.loading ? 'Loading models…' : 'No models'}</option>}
            {modelOptions.map((m) => (
              <option key={m} value={m}>
                {m}
                {models.ids.includes(m) ? '' : ' (not available)'}
              </option>
            ))}
          </select>
          <button type="button" aria-expanded={showSettings} aria-controls="chat-settings" onClick={() => setShowSettings((v) => !v)}>
            Options
          </button>
        </div>
        {showSettings && (
          <div id="chat-settings" className="card chat-settings">
            <label htmlFor="system-prompt">System prompt</label>
            <textarea
              id="system-prompt"
              rows={3}
              value={conv?.system ?? ''}
              placeholder="You are a helpful assistant."
              onChange={(e) => {
                const v = e.target.value;
                if (conv) update((c) => ({ ...c, system: v }));
                else setState((s) => createConversation(s, { model: defaultModel, system: v }, Date.now()));
              }}
            />
            <SamplingControls
              idPrefix="chat"
              value={conv?.params ?? DEFAULT_PARAMS}
              onChange={(p) => (conv ? update((c) => ({ ...c, params: p })) : setState((s) => createConversation(s, { model: defaultModel, params: p }, Date.now())))}
            />
          </div>
        )}
        <ErrorBox error={models.error} />
        <ErrorBox error={storageError} onDismiss={() => setStorageError(undefined)} />
        <div className="messages" ref={logRef} role="log" aria-label="Messages" aria-busy={streaming}>
          {(!conv || conv.messages.length === 0) && <p className="muted empty">Ask something. Enter sends, Shift+Enter adds a line, Esc stops.</p>}
          {conv?.messages.map((m, i) => {
            const isLive = streaming && i === conv.messages.length - 1;
            return (
              <article key={i} className={`message ${m.role}`} aria-label={m.role === 'user' ? 'You' : 'Assistant'}>
                <div className="message-role">{m.role === 'user' ? 'You' : 'Assistant'}</div>
                {m.role === 'user' ? <p className="plain">{m.content}</p> : <Markdown text={m.content} />}
                {isLive && !m.content && <p className="muted">Waiting for the first token…</p>}
                {m.error && <p className="error inline">{m.error}</p>}
                {(isLive ? live : m.stats) && (
                  <p className="stats" data-testid={isLive ? 'live-stats' : 'stats'}>
                    {statsLine((isLive ? live : m.stats)!)}
                  </p>
                )}
              </article>
            );
          })}
        </div>
        <ErrorBox error={error} onDismiss={() => setError(undefined)} />
        <form
          className="composer"
          onSubmit={(e) => {
            e.preventDefault();
            void send();
          }}
        >
          <label htmlFor="composer-input" className="visually-hidden">
            Message
          </label>
          <textarea
            id="composer-input"
            ref={inputRef}
            rows={2}
            value={input}
            placeholder="Message (Enter to send, Shift+Enter for a new line)"
            onChange={(e) => setInput(e.target.value)}
            onKeyDown={onComposerKey}
          />
          {streaming ? (
            <button type="button" className="danger" onClick={stop}>
              Stop
            </button>
          ) : (
            <button type="submit" className="primary" disabled={!input.trim()}>
              Send
            </button>
          )}
        </form>
      </section>
    </div>
  );
}
