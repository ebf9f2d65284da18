// Errors from the API, kept as values the pages can show plainly.

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    /** The setting or request field the daemon blamed, when it named one. */
    readonly key?: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** Builds an ApiError from a failed response body (OpenAI `{error:{message,param}}`,
 *  Ollama `{error:"..."}`, or plain text). */
export function errorFromBody(status: number, statusText: string, body: string): ApiError {
  const fallback = `HTTP ${status}${statusText ? ' ' + statusText : ''}`;
  const text = body.trim();
  if (!text) return new ApiError(fallback, status);
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed && typeof parsed === 'object' && 'error' in parsed) {
      const err = (parsed as { error: unknown }).error;
      if (typeof err === 'string') return new ApiError(`${err} (${fallback})`, status, keyOf(parsed));
      if (err && typeof err === 'object') {
        const e = err as Record<string, unknown>;
        const msg = typeof e.message === 'string' ? e.message : JSON.stringify(err);
        return new ApiError(`${msg} (${fallback})`, status, keyOf(e) ?? keyOf(parsed));
      }
    }
    if (parsed && typeof parsed === 'object' && typeof (parsed as { message?: unknown }).message === 'string') {
      return new ApiError(`${(parsed as { message: string }).message} (${fallback})`, status, keyOf(parsed));
    }
  } catch {
    // not JSON: show the text itself
  }
  return new ApiError(`${text.slice(0, 500)} (${fallback})`, status);
}

function keyOf(o: unknown): string | undefined {
  if (!o || typeof o !== 'object') return undefined;
  const r = o as Record<string, unknown>;
  for (const k of ['key', 'param', 'field']) if (typeof r[k] === 'string' && r[k]) return r[k] as string;
  return undefined;
}

export function messageOf(e: unknown): string {
  if (e instanceof Error) {
    if (e.name === 'AbortError') return 'Stopped.';
    if (e instanceof TypeError) return `Cannot reach the daemon: ${e.message}`;
    return e.message;
  }
  return String(e);
}

export function isAbort(e: unknown): boolean {
  return e instanceof Error && e.name === 'AbortError';
}
