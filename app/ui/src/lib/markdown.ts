// A small Markdown subset parsed to a tree that React renders as elements; text is never turned
// into HTML, so model output cannot inject markup. Built for streaming: an unclosed code fence is
// a code block up to the end of the text so far.
//
// Blocks: ATX headings, fenced code (``` or ~~~), bullet/numbered lists, block quotes,
// thematic breaks, paragraphs. Inlines: code spans, **strong**, *em*, [links](http...), <autolinks>,
// backslash escapes, hard breaks (two trailing spaces).

export type Inline =
  | { type: 'text'; text: string }
  | { type: 'code'; text: string }
  | { type: 'strong'; children: Inline[] }
  | { type: 'em'; children: Inline[] }
  | { type: 'link'; href: string; children: Inline[] }
  | { type: 'br' };

export type Block =
  | { type: 'heading'; level: number; children: Inline[] }
  | { type: 'paragraph'; children: Inline[] }
  | { type: 'code'; lang: string; text: string; closed: boolean }
  | { type: 'list'; ordered: boolean; start: number; items: Inline[][] }
  | { type: 'quote'; children: Block[] }
  | { type: 'hr' };

/** Only these URL schemes become links; anything else (javascript:, data:, ...) stays text. */
export function safeHref(url: string): string | undefined {
  // Browsers ignore control characters and whitespace inside a scheme ("java\tscript:").
  const cleaned = url.replace(/[\u0000-\u0020\u007f]/g, '');
  return /^(https?:\/\/|mailto:)/i.test(cleaned) ? cleaned : undefined;
}

const FENCE = /^ {0,3}(`{3,}|~{3,})\s*([^`\s]*)[^`]*$/;
const HEADING = /^ {0,3}(#{1,6})(?:\s+(.*?))?(?:\s+#+)?\s*$/;
const HR = /^ {0,3}([-*_])(?:\s*\1){2,}\s*$/;
const BULLET = /^ {0,3}[-*+]\s+(.*)$/;
const ORDERED = /^ {0,3}(\d{1,9})[.)]\s+(.*)$/;
const QUOTE = /^ {0,3}>\s?(.*)$/;

export function parseMarkdown(src: string): Block[] {
  return parseBlocks(src.replace(/\r\n?/g, '\n').split('\n'));
}

function parseBlocks(lines: string[]): Block[] {
  const blocks: Block[] = [];
  let para: string[] = [];
  const flush = () => {
    if (para.length) blocks.push({ type: 'paragraph', children: parseInline(para.join('\n')) });
    para = [];
  };
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    const fence = FENCE.exec(line);
    if (fence) {
      flush();
      const marker = fence[1];
      const body: string[] = [];
      let closed = false;
      i++;
      while (i < lines.length) {
        const l = lines[i];
        if (l.trim().startsWith(marker[0].repeat(marker.length)) && l.trim().replace(new RegExp(`\\${marker[0]}`, 'g'), '') === '') {
          closed = true;
          i++;
          break;
        }
        body.push(l);
        i++;
      }
      blocks.push({ type: 'code', lang: fence[2], text: body.join('\n'), closed });
      continue;
    }
    if (line.trim() === '') {
      flush();
      i++;
      continue;
    }
    const heading = HEADING.exec(line);
    if (heading) {
      flush();
      blocks.push({ type: 'heading', level: heading[1].length, children: parseInline(heading[2] ?? '') });
      i++;
      continue;
    }
    if (HR.test(line)) {
      flush();
      blocks.push({ type: 'hr' });
      i++;
      continue;
    }
    if (QUOTE.test(line)) {
      flush();
      const inner: string[] = [];
      while (i < lines.length && QUOTE.test(lines[i])) inner.push(QUOTE.exec(lines[i])![1]), i++;
      blocks.push({ type: 'quote', children: parseBlocks(inner) });
      continue;
    }
    const bullet = BULLET.exec(line);
    const ordered = ORDERED.exec(line);
    if (bullet || ordered) {
      flush();
      const isOrdered = !bullet;
      const start = ordered ? Number(ordered[1]) : 1;
      const items: string[][] = [];
      while (i < lines.length) {
        const l = lines[i];
        const m = isOrdered ? ORDERED.exec(l) : BULLET.exec(l);
        if (m) items.push([isOrdered ? m[2] : m[1]]);
        else if (l.trim() !== '' && /^\s{2,}/.test(l) && items.length) items[items.length - 1].push(l.trim());
        else break;
        i++;
      }
      blocks.push({ type: 'list', ordered: isOrdered, start, items: items.map((it) => parseInline(it.join('\n'))) });
      continue;
    }
    para.push(line);
    i++;
  }
  flush();
  return blocks;
}

const ESCAPABLE = '\\`*_{}[]()#+-.!<>~|"\'';

export function parseInline(src: string): Inline[] {
  const out: Inline[] = [];
  let text = '';
  const pushText = (t: string) => (text += t);
  const flush = () => {
    if (text) out.push({ type: 'text', text });
    text = '';
  };
  let i = 0;
  while (i < src.length) {
    const c = src[i];
    if (c === '\\' && i + 1 < src.length && ESCAPABLE.includes(src[i + 1])) {
      pushText(src[i + 1]);
      i += 2;
      continue;
    }
    if (c === '\\' && src[i + 1] === '\n') {
      flush();
      out.push({ type: 'br' });
      i += 2;
      continue;
    }
    if (c === '\n') {
      // Two trailing spaces make a hard break; a plain newline is a soft break (a space in HTML).
      if (text.endsWith('  ')) {
        text = text.replace(/ +$/, '');
        flush();
        out.push({ type: 'br' });
      } else pushText('\n');
      i++;
      continue;
    }
    if (c === '`') {
      let run = 1;
      while (src[i + run] === '`') run++;
      const ticks = '`'.repeat(run);
      let j = src.indexOf(ticks, i + run);
      while (j >= 0 && src[j + run] === '`') j = src.indexOf(ticks, j + run + 1);
      if (j >= 0) {
        flush();
        let code = src.slice(i + run, j).replace(/\n/g, ' ');
        if (code.length > 2 && code.startsWith(' ') && code.endsWith(' ')) code = code.slice(1, -1);
        out.push({ type: 'code', text: code });
        i = j + run;
      } else {
        pushText(ticks);
        i += run;
      }
      continue;
    }
    if (c === '*' || c === '_') {
      const double = src[i + 1] === c;
      const delim = double ? c + c : c;
      // Intraword underscores (snake_case) are text, as in CommonMark.
      const prevWord = i > 0 && /\w/.test(src[i - 1]);
      const nextChar = src[i + delim.length];
      if (!(c === '_' && prevWord) && nextChar !== undefined && !/\s/.test(nextChar)) {
        const close = findClose(src, i + delim.length, delim);
        if (close > i + delim.length) {
          flush();
          const children = parseInline(src.slice(i + delim.length, close));
          out.push(double ? { type: 'strong', children } : { type: 'em', children });
          i = close + delim.length;
          continue;
        }
      }
      pushText(delim);
      i += delim.length;
      continue;
    }
    if (c === '[') {
      const link = parseLink(src, i);
      if (link) {
        flush();
        const href = safeHref(link.url);
        const children = parseInline(link.label);
        if (href) out.push({ type: 'link', href, children });
        else out.push(...children); // an unsafe target keeps its label, loses the link
        i = link.end;
        continue;
      }
    }
    if (c === '<') {
      const m = /^<((?:https?:\/\/|mailto:)[^\s<>]*)>/i.exec(src.slice(i));
      if (m) {
        const href = safeHref(m[1]);
        if (href) {
          flush();
          out.push({ type: 'link', href, children: [{ type: 'text', text: m[1] }] });
          i += m[0].length;
          continue;
        }
      }
    }
    pushText(c);
    i++;
  }
  flush();
  return out;
}

function findClose(src: string, from: number, delim: string): number {
  let j = from;
  while ((j = src.indexOf(delim, j)) >= 0) {
    const before = src[j - 1];
    const after = src[j + delim.length];
    const escaped = before === '\\';
    const single = delim.length === 1 && (after === delim || before === delim);
    const intraword = delim[0] === '_' && after !== undefined && /\w/.test(after);
    if (!escaped && !single && !intraword && before !== undefined && !/\s/.test(before)) return j;
    j += delim.length;
  }
  return -1;
}

function parseLink(src: string, at: number): { label: string; url: string; end: number } | undefined {
  let depth = 0;
  let j = at;
  for (; j < src.length; j++) {
    if (src[j] === '\\') {
      j++;
      continue;
    }
    if (src[j] === '[') depth++;
    else if (src[j] === ']' && --depth === 0) break;
  }
  if (j >= src.length || src[j + 1] !== '(') return undefined;
  const close = src.indexOf(')', j + 2);
  if (close < 0) return undefined;
  const inner = src.slice(j + 2, close).trim();
  const url = inner.split(/\s+/)[0].replace(/^<|>$/g, '');
  return { label: src.slice(at + 1, j), url, end: close + 1 };
}
