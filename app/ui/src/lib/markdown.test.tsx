import { describe, expect, it } from 'vitest';
import { renderToStaticMarkup } from 'react-dom/server';
import { Markdown } from '../components/Markdown';
import { parseInline, parseMarkdown, safeHref } from './markdown';

const html = (md: string) => renderToStaticMarkup(<Markdown text={md} />);

describe('markdown rendering is safe', () => {
  it('escapes HTML in text, code spans and code blocks', () => {
    const out = html('<script>alert(1)</script> `<b>x</b>`\n\n```html\n<img src=x onerror=alert(1)>\n```');
    expect(out).not.toContain('<script');
    expect(out).not.toContain('<img');
    expect(out).not.toContain('<b>');
    expect(out).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(out).toContain('&lt;img src=x onerror=alert(1)&gt;');
  });

  it('never emits javascript:, data: or obfuscated script links', () => {
    for (const url of ['javascript:alert(1)', 'JaVaScRiPt:alert(1)', 'java\tscript:alert(1)', ' javascript:x', 'data:text/html,<b>', 'vbscript:x']) {
      const out = html(`[click](${url})`);
      expect(out).not.toContain('href');
      expect(out).toContain('click');
    }
  });

  it('escapes quotes in a safe link href', () => {
    const out = html('[a](https://x.test/"onmouseover="alert`1`)');
    expect(out).toContain('href="https://x.test/&quot;onmouseover=&quot;alert`1`"');
    expect(out).toContain('rel="noopener noreferrer nofollow"');
  });

  it('keeps the link label of an autolink-looking non-http scheme as text', () => {
    expect(html('<javascript:alert(1)>')).toContain('&lt;javascript:alert(1)&gt;');
  });
});

describe('markdown parsing', () => {
  it('parses emphasis, strong, code and links', () => {
    expect(parseInline('a **b** *c* `d` [e](https://f.test)')).toEqual([
      { type: 'text', text: 'a ' },
      { type: 'strong', children: [{ type: 'text', text: 'b' }] },
      { type: 'text', text: ' ' },
      { type: 'em', children: [{ type: 'text', text: 'c' }] },
      { type: 'text', text: ' ' },
      { type: 'code', text: 'd' },
      { type: 'text', text: ' ' },
      { type: 'link', href: 'https://f.test', children: [{ type: 'text', text: 'e' }] },
    ]);
  });

  it('leaves snake_case, lone stars and escaped markers as text', () => {
    expect(parseInline('snake_case_name 2 * 3 \\*x\\*')).toEqual([{ type: 'text', text: 'snake_case_name 2 * 3 *x*' }]);
  });

  it('treats an unclosed fence as code up to the end (streaming)', () => {
    expect(parseMarkdown('Here:\n```py\nprint(1)\n')).toEqual([
      { type: 'paragraph', children: [{ type: 'text', text: 'Here:' }] },
      { type: 'code', lang: 'py', text: 'print(1)\n', closed: false },
    ]);
  });

  it('does not parse markdown inside code blocks', () => {
    const [b] = parseMarkdown('```\n# not a heading\n**x**\n```');
    expect(b).toEqual({ type: 'code', lang: '', text: '# not a heading\n**x**', closed: true });
  });

  it('parses headings, lists, quotes and rules', () => {
    const tree = parseMarkdown('# Title\n\n- one\n- two\n  more\n\n3. three\n4. four\n\n> quoted\n\n---');
    expect(tree.map((b) => b.type)).toEqual(['heading', 'list', 'list', 'quote', 'hr']);
    expect(tree[1]).toMatchObject({ ordered: false, items: [[{ text: 'one' }], [{ text: 'two\nmore' }]] });
    expect(tree[2]).toMatchObject({ ordered: true, start: 3 });
  });

  it('renders headings below the page headings and code blocks with a copy button', () => {
    const out = html('# T\n\n```js\nlet a = 1;\n```');
    expect(out).toContain('<h3>T</h3>');
    expect(out).toContain('<code class="language-js">let a = 1;</code>');
    expect(out).toContain('aria-label="Copy code"');
  });

  it('safeHref accepts only http(s) and mailto', () => {
    expect(safeHref('https://a.b/c')).toBe('https://a.b/c');
    expect(safeHref('mailto:a@b.c')).toBe('mailto:a@b.c');
    expect(safeHref('/relative')).toBeUndefined();
    expect(safeHref('ftp://x')).toBeUndefined();
  });
});
