import { afterEach, describe, expect, it, vi } from 'vitest';
import { api, onUnauthorized, streamSse } from './client';
import { ApiError } from './errors';

// A fetch stub whose body arrives in the given pieces, like a network stream.
function stubFetch(status: number, pieces: string[], contentType = 'text/event-stream') {
  const enc = new TextEncoder();
  const calls: { url: string; init: RequestInit }[] = [];
  vi.stubGlobal('fetch', async (url: string, init: RequestInit) => {
    calls.push({ url, init });
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        pieces.forEach((p) => c.enqueue(enc.encode(p)));
        c.close();
      },
    });
    return new Response(body, { status, headers: { 'Content-Type': contentType } });
  });
  return calls;
}

afterEach(() => vi.unstubAllGlobals());

describe('API client', () => {
  it('streams chat chunks split anywhere, stops at [DONE], and asks for usage', async () => {
    const calls = stubFetch(200, ['data: {"choices":[{"index":0,"delta":{"content":"Hel"}}]}\n', '\ndata: {"choices":[{"index":0,"del', 'ta":{"content":"lo"}}]}\n\ndata: [DONE]\n\ndata: {"choices":[{"index":0,"delta":{"content":"late"}}]}\n\n']);
    const got: string[] = [];
    await api.chatStream({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }, new AbortController().signal, (c) => got.push(c.choices[0].delta.content ?? ''));
    expect(got).toEqual(['Hel', 'lo']);
    expect(calls[0].url).toBe('/v1/chat/completions');
    expect(JSON.parse(String(calls[0].init.body))).toMatchObject({ model: 'm', stream: true, stream_options: { include_usage: true } });
    expect(calls[0].init.credentials).toBe('same-origin');
  });

  it('throws an error sent inside the stream, with its message', async () => {
    stubFetch(200, ['data: {"choices":[{"index":0,"delta":{"content":"a"}}]}\n\n', 'data: {"error":{"message":"the model unloaded"}}\n\ndata: [DONE]\n\n']);
    const got: unknown[] = [];
    const p = streamSse('/v1/completions', {}, new AbortController().signal, (c) => got.push(c));
    await expect(p).rejects.toThrow(/the model unloaded/);
    expect(got).toHaveLength(1);
  });

  it('reports 401 to the app and throws the daemon message', async () => {
    stubFetch(401, ['{"error":{"message":"missing or wrong token"}}'], 'application/json');
    const seen = vi.fn();
    const off = onUnauthorized(seen);
    await expect(api.models()).rejects.toMatchObject({ status: 401, message: expect.stringMatching(/wrong token/) });
    expect(seen).toHaveBeenCalledTimes(1);
    off();
  });

  it('throws the error line of an NDJSON progress stream', async () => {
    stubFetch(200, ['{"status":"downloading","total":10,"completed":5}\n{"error":"pull: HTTP 404 from host"}\n'], 'application/x-ndjson');
    const lines: unknown[] = [];
    await expect(api.pull('http://x/y.gguf', '', undefined, (l) => lines.push(l))).rejects.toBeInstanceOf(ApiError);
    expect(lines).toEqual([{ status: 'downloading', total: 10, completed: 5 }]);
  });

  it('reads logs as {lines} or as a bare array', async () => {
    stubFetch(200, ['{"lines":[{"seq":3,"ts":1,"level":"info","msg":"m"}],"last_seq":3}'], 'application/json');
    expect((await api.logs(2)).map((l) => l.seq)).toEqual([3]);
    stubFetch(200, ['[{"seq":4,"ts":1,"level":"info","msg":"m"}]'], 'application/json');
    expect((await api.logs(3)).map((l) => l.seq)).toEqual([4]);
    stubFetch(200, ['{"nope":1}'], 'application/json');
    await expect(api.logs(0)).rejects.toThrow(/lines/);
  });

  it('says plainly when a response is not JSON', async () => {
    stubFetch(200, ['<html>proxy login</html>'], 'text/html');
    await expect(api.tags()).rejects.toThrow(/not JSON: <html>proxy login/);
  });
});
