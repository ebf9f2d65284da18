// The one HTTP client of the UI. Every endpoint path and request body is built here, so a change
// in the daemon's API is a change in this file (and types.ts) only.
//
// Authentication: the page never holds the API token in a served asset. POST /api/mlxr/login with
// the token typed by the user makes the daemon set an HttpOnly, SameSite cookie; every later
// same-origin request carries it (credentials: 'same-origin').

import { ApiError, errorFromBody } from './errors';
import { LineSplitter, SseParser } from './sse';
import type {
  ChatCompletionChunk,
  ChatCompletionRequest,
  CompletionChunk,
  CompletionRequest,
  ConfigObject,
  EmbeddingsRequest,
  EmbeddingsResponse,
  LogEntry,
  ModelList,
  ProgressLine,
  RunningModel,
  ShowResponse,
  TagList,
  VersionResponse,
} from './types';

export const paths = {
  models: '/v1/models',
  chat: '/v1/chat/completions',
  completions: '/v1/completions',
  embeddings: '/v1/embeddings',
  tags: '/api/tags',
  ps: '/api/ps',
  show: '/api/show',
  pull: '/api/pull',
  create: '/api/create',
  delete: '/api/delete',
  version: '/api/version',
  metrics: '/metrics',
  health: '/health',
  login: '/api/mlxr/login',
  logout: '/api/mlxr/logout',
  token: '/api/mlxr/token',
  config: '/api/mlxr/config',
  logs: '/api/mlxr/logs',
} as const;

type Listener = () => void;
const unauthorizedListeners = new Set<Listener>();
/** Called whenever the daemon answers 401, so the app can show the login form. */
export function onUnauthorized(l: Listener): () => void {
  unauthorizedListeners.add(l);
  return () => unauthorizedListeners.delete(l);
}

interface Options {
  method?: string;
  body?: unknown;
  signal?: AbortSignal;
  accept?: string;
}

async function send(path: string, opts: Options = {}): Promise<Response> {
  const headers: Record<string, string> = { Accept: opts.accept ?? 'application/json' };
  if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(path, {
    method: opts.method ?? (opts.body !== undefined ? 'POST' : 'GET'),
    headers,
    body: opts.body !== undefined ? JSON.stringify(opts.body) : undefined,
    signal: opts.signal,
    credentials: 'same-origin',
    cache: 'no-store',
  });
  if (!res.ok) {
    if (res.status === 401 && path !== paths.login) unauthorizedListeners.forEach((l) => l());
    throw errorFromBody(res.status, res.statusText, await res.text().catch(() => ''));
  }
  return res;
}

async function json<T>(path: string, opts: Options = {}): Promise<T> {
  const res = await send(path, opts);
  const text = await res.text();
  if (!text.trim()) return undefined as T;
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new ApiError(`${path} returned a response that is not JSON: ${text.slice(0, 200)}`, res.status);
  }
}

async function readText(res: Response, onText: (s: string) => void): Promise<void> {
  if (!res.body) {
    onText(await res.text());
    return;
  }
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      onText(decoder.decode(value, { stream: true }));
    }
    onText(decoder.decode());
  } catch (e) {
    // Closing the body tells the daemon to stop generating for an aborted or failed stream.
    reader.cancel().catch(() => undefined);
    throw e;
  }
}

function parseJsonLine<T>(path: string, data: string): T {
  try {
    return JSON.parse(data) as T;
  } catch {
    throw new ApiError(`${path} streamed a line that is not JSON: ${data.slice(0, 200)}`, 200);
  }
}

/** POSTs and reads an SSE stream of JSON chunks until `[DONE]` or the end of the body. An
 *  `error` object inside the stream is thrown as an ApiError. */
export async function streamSse<T>(path: string, body: unknown, signal: AbortSignal, onChunk: (c: T) => void): Promise<void> {
  const res = await send(path, { body, signal, accept: 'text/event-stream' });
  const parser = new SseParser();
  let done = false;
  const handle = (events: ReturnType<SseParser['push']>) => {
    for (const ev of events) {
      if (done) return;
      if (ev.data === '[DONE]') {
        done = true;
        return;
      }
      const chunk = parseJsonLine<T & { error?: unknown }>(path, ev.data);
      if (chunk && typeof chunk === 'object' && 'error' in chunk && chunk.error) {
        throw errorFromBody(500, 'in stream', ev.data);
      }
      onChunk(chunk);
    }
  };
  await readText(res, (s) => handle(parser.push(s)));
  handle(parser.end());
}

/** POSTs and reads an NDJSON stream; a line carrying `error` is thrown. */
export async function streamNdjson<T extends { error?: string }>(
  path: string,
  body: unknown,
  signal: AbortSignal | undefined,
  onLine: (l: T) => void,
): Promise<void> {
  const res = await send(path, { body, signal, accept: 'application/x-ndjson' });
  const split = new LineSplitter();
  const handle = (lines: string[]) => {
    for (const l of lines) {
      const obj = parseJsonLine<T>(path, l);
      if (obj && typeof obj.error === 'string' && obj.error) throw new ApiError(obj.error, res.status);
      onLine(obj);
    }
  };
  await readText(res, (s) => handle(split.push(s)));
  handle(split.end());
}

export const api = {
  // -- session --
  login: (token: string) => json<unknown>(paths.login, { body: { token } }),
  logout: () => json<unknown>(paths.logout, { method: 'POST', body: {} }),
  /** The API token, revealed to a logged-in page only (404 when the daemon does not offer it). */
  token: () => json<{ token: string }>(paths.token),

  // -- OpenAI --
  models: () => json<ModelList>(paths.models),
  chatStream: (req: Omit<ChatCompletionRequest, 'stream'>, signal: AbortSignal, onChunk: (c: ChatCompletionChunk) => void) =>
    streamSse<ChatCompletionChunk>(paths.chat, { ...req, stream: true, stream_options: { include_usage: true } }, signal, onChunk),
  completionStream: (req: Omit<CompletionRequest, 'stream'>, signal: AbortSignal, onChunk: (c: CompletionChunk) => void) =>
    streamSse<CompletionChunk>(paths.completions, { ...req, stream: true, stream_options: { include_usage: true } }, signal, onChunk),
  embeddings: (req: EmbeddingsRequest, signal?: AbortSignal) => json<EmbeddingsResponse>(paths.embeddings, { body: req, signal }),

  // -- Ollama --
  tags: () => json<TagList>(paths.tags),
  ps: () => json<{ models: RunningModel[] }>(paths.ps),
  show: (model: string) => json<ShowResponse>(paths.show, { body: { model } }),
  version: () => json<VersionResponse>(paths.version),
  /** Pulls a URL or Hugging Face path (org/repo/file.gguf), optionally registered as `name`. */
  pull: (url: string, name: string, signal: AbortSignal | undefined, onLine: (l: ProgressLine) => void) =>
    streamNdjson<ProgressLine>(paths.pull, { model: url, ...(name ? { name } : {}), stream: true }, signal, onLine),
  /** Registers the model file at `path` (on the daemon's machine) under `name`. */
  importFromPath: (name: string, path: string, signal: AbortSignal | undefined, onLine: (l: ProgressLine) => void) =>
    streamNdjson<ProgressLine>(paths.create, { model: name, from: path, stream: true }, signal, onLine),
  remove: (model: string) => json<unknown>(paths.delete, { method: 'DELETE', body: { model } }),

  // -- operations --
  metricsText: async (signal?: AbortSignal) => (await send(paths.metrics, { signal, accept: 'text/plain' })).text(),
  health: async () => (await send(paths.health, { accept: '*/*' })).text(),
  config: () => json<ConfigObject>(paths.config),
  /** Sends only the changed settings, as a nested object like the one `config()` returns. */
  updateConfig: (patch: ConfigObject) => json<ConfigObject>(paths.config, { method: 'PUT', body: patch }),
  /** Log lines after `since`; the daemon answers {lines, last_seq} (a bare array is accepted too). */
  logs: async (since: number, signal?: AbortSignal): Promise<LogEntry[]> => {
    const r = await json<LogEntry[] | { lines?: LogEntry[] }>(`${paths.logs}?since=${encodeURIComponent(String(since))}`, { signal });
    if (Array.isArray(r)) return r;
    if (r && Array.isArray(r.lines)) return r.lines;
    throw new ApiError(`${paths.logs} answered without a "lines" array`, 200);
  },
};
