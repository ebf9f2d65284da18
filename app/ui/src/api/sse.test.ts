import { describe, expect, it } from 'vitest';
import { LineSplitter, SseParser } from './sse';

const stream = 'data: {"a":1}\n\n: keep-alive\n\nevent: update\ndata: line one\ndata: line two\nid: 7\n\ndata: [DONE]\n\n';

function feedInPieces(text: string, cut: number[]): ReturnType<SseParser['push']> {
  const p = new SseParser();
  const out = [];
  let at = 0;
  for (const c of [...cut, text.length]) {
    out.push(...p.push(text.slice(at, c)));
    at = c;
  }
  out.push(...p.end());
  return out;
}

describe('SseParser', () => {
  it('parses data, comments, event names, ids and multi-line data', () => {
    const events = feedInPieces(stream, []);
    expect(events).toEqual([
      { event: 'message', data: '{"a":1}', id: undefined },
      { event: 'update', data: 'line one\nline two', id: '7' },
      { event: 'message', data: '[DONE]', id: '7' },
    ]);
  });

  it('gives the same events for every split point of the byte stream', () => {
    const whole = feedInPieces(stream, []);
    for (let i = 0; i <= stream.length; i++) expect(feedInPieces(stream, [i])).toEqual(whole);
  });

  it('handles CRLF and CR line endings, including a CRLF split across chunks', () => {
    const crlf = 'data: x\r\n\r\ndata: y\r\rdata: z\n\n';
    const want = ['x', 'y', 'z'];
    for (let i = 0; i <= crlf.length; i++) expect(feedInPieces(crlf, [i]).map((e) => e.data)).toEqual(want);
  });

  it('strips exactly one space after the colon and keeps an empty data field', () => {
    const events = feedInPieces('data:  two spaces\n\ndata\n\ndata:\n\n', []);
    expect(events.map((e) => e.data)).toEqual([' two spaces', '', '']);
  });

  it('drops an event that the stream ends before its blank line', () => {
    expect(feedInPieces('data: a\n\ndata: cut off', []).map((e) => e.data)).toEqual(['a']);
  });

  it('ignores events with no data field', () => {
    expect(feedInPieces('event: ping\n\nretry: 10\n\n', [])).toEqual([]);
  });
});

describe('LineSplitter', () => {
  it('splits NDJSON across chunk boundaries and flushes the last unterminated line', () => {
    const s = new LineSplitter();
    const lines = [...s.push('{"status":"pul'), ...s.push('ling"}\r\n\n{"total":'), ...s.push('10}'), ...s.end()];
    expect(lines).toEqual(['{"status":"pulling"}', '{"total":10}']);
  });
});
