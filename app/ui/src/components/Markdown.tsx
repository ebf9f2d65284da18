// Renders parsed Markdown as React elements. Text reaches the DOM only as text nodes (React escapes
// it); links only with a vetted http(s)/mailto href.

import { memo, useMemo, useState, type ReactNode } from 'react';
import { parseMarkdown, type Block, type Inline } from '../lib/markdown';

function inlines(nodes: Inline[]): ReactNode[] {
  return nodes.map((n, i) => {
    switch (n.type) {
      case 'text':
        return n.text;
      case 'code':
        return <code key={i}>{n.text}</code>;
      case 'strong':
        return <strong key={i}>{inlines(n.children)}</strong>;
      case 'em':
        return <em key={i}>{inlines(n.children)}</em>;
      case 'link':
        return (
          <a key={i} href={n.href} target="_blank" rel="noopener noreferrer nofollow">
            {inlines(n.children)}
          </a>
        );
      case 'br':
        return <br key={i} />;
    }
  });
}

function CodeBlock({ lang, text }: { lang: string; text: string }) {
  const [copied, setCopied] = useState(false);
  const copy = () => {
    navigator.clipboard?.writeText(text).then(
      () => {
        setCopied(true);
        setTimeout(() => setCopied(false), 1200);
      },
      () => setCopied(false),
    );
  };
  return (
    <div className="codeblock">
      <div className="codeblock-bar">
        <span>{lang || 'text'}</span>
        <button type="button" className="link-button" onClick={copy} aria-label="Copy code">
          {copied ? 'Copied' : 'Copy'}
        </button>
      </div>
      <pre>
        <code className={lang ? `language-${lang}` : undefined}>{text}</code>
      </pre>
    </div>
  );
}

function blocks(nodes: Block[]): ReactNode[] {
  return nodes.map((b, i) => {
    switch (b.type) {
      case 'heading': {
        // Model headings sit inside a message, so they start below the page's own h1/h2.
        const Tag = (`h${Math.min(6, b.level + 2)}`) as 'h3';
        return <Tag key={i}>{inlines(b.children)}</Tag>;
      }
      case 'paragraph':
        return <p key={i}>{inlines(b.children)}</p>;
      case 'code':
        return <CodeBlock key={i} lang={b.lang} text={b.text} />;
      case 'list': {
        const items = b.items.map((it, j) => <li key={j}>{inlines(it)}</li>);
        return b.ordered ? (
          <ol key={i} start={b.start}>
            {items}
          </ol>
        ) : (
          <ul key={i}>{items}</ul>
        );
      }
      case 'quote':
        return <blockquote key={i}>{blocks(b.children)}</blockquote>;
      case 'hr':
        return <hr key={i} />;
    }
  });
}

export const Markdown = memo(function Markdown({ text }: { text: string }) {
  const tree = useMemo(() => parseMarkdown(text), [text]);
  return <div className="markdown">{blocks(tree)}</div>;
});
