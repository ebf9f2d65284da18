// Hash routing: the daemon serves one index.html, so routes live after '#'.
import { useEffect, useState } from 'react';

export const pages = ['chat', 'models', 'playground', 'metrics', 'settings', 'logs'] as const;
export type Page = (typeof pages)[number];
export const pageTitles: Record<Page, string> = {
  chat: 'Chat',
  models: 'Models',
  playground: 'Playground',
  metrics: 'Metrics',
  settings: 'Settings',
  logs: 'Logs',
};

export function pageFromHash(hash: string): Page {
  const name = hash.replace(/^#\/?/, '').split(/[/?]/)[0];
  return (pages as readonly string[]).includes(name) ? (name as Page) : 'chat';
}

export function navigate(p: Page): void {
  window.location.hash = `#/${p}`;
}

export function usePage(): Page {
  const [page, setPage] = useState<Page>(() => pageFromHash(window.location.hash));
  useEffect(() => {
    const l = () => setPage(pageFromHash(window.location.hash));
    window.addEventListener('hashchange', l);
    return () => window.removeEventListener('hashchange', l);
  }, []);
  return page;
}
