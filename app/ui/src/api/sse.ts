// Incremental Server-Sent Events parser (WHATWG "event stream interpretation"), fed arbitrary
// chunks of text: a chunk may end in the middle of a line, or between the \r and \n of a CRLF.

export interface SseEvent {
  event: string;
  data: string;
  id?: string;
}

export class SseParser {
  private buffer = '';
  private data: string[] = [];
  private event = '';
  private id: string | undefined;
  private sawData = false;

  /** Feeds text; returns the events completed by it. */
  push(chunk: string): SseEvent[] {
    this.buffer += chunk;
    const out: SseEvent[] = [];
    let start = 0;
    for (let i = 0; i < this.buffer.length; i++) {
      const c = this.buffer[i];
      if (c !== '\n' && c !== '\r') continue;
      // A lone trailing \r may be the first half of \r\n: wait for the next chunk to decide.
      if (c === '\r' && i === this.buffer.length - 1) break;
      this.line(this.buffer.slice(start, i), out);
      if (c === '\r' && this.buffer[i + 1] === '\n') i++;
      start = i + 1;
    }
    this.buffer = this.buffer.slice(start);
    return out;
  }

  /** Ends the stream. Per the spec, an event not terminated by a blank line is dropped. */
  end(): SseEvent[] {
    const out: SseEvent[] = [];
    if (this.buffer.endsWith('\r')) {
      this.line(this.buffer.slice(0, -1), out);
      this.buffer = '';
    }
    this.buffer = '';
    this.reset();
    return out;
  }

  private reset(): void {
    this.data = [];
    this.event = '';
    this.sawData = false;
  }

  private line(line: string, out: SseEvent[]): void {
    if (line === '') {
      if (this.sawData) out.push({ event: this.event || 'message', data: this.data.join('\n'), id: this.id });
      this.reset();
      return;
    }
    if (line.startsWith(':')) return; // comment / keep-alive
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'data':
        this.data.push(value);
        this.sawData = true;
        break;
      case 'event':
        this.event = value;
        break;
      case 'id':
        if (!value.includes('\0')) this.id = value;
        break;
      default:
        break; // `retry` and unknown fields do not matter to a fetch-based reader
    }
  }
}

/** Incremental newline-delimited JSON splitter: yields complete, non-empty lines. */
export class LineSplitter {
  private buffer = '';
  push(chunk: string): string[] {
    this.buffer += chunk;
    const parts = this.buffer.split('\n');
    this.buffer = parts.pop() ?? '';
    return parts.map((l) => l.replace(/\r$/, '')).filter((l) => l.trim() !== '');
  }
  end(): string[] {
    const rest = this.buffer.trim();
    this.buffer = '';
    return rest ? [rest] : [];
  }
}
