import { useCallback, useEffect, useMemo, useState } from 'react';
import { api, onUnauthorized } from './api/client';
import { ApiError, messageOf } from './api/errors';
import { CommandPalette, type PaletteCommand } from './components/CommandPalette';
import { ErrorBox } from './components/ErrorBox';
import { Login } from './components/Login';
import { queueCommand, runCommand } from './lib/commands';
import { navigate, pages, pageTitles, usePage } from './lib/route';
import { ChatPage } from './pages/ChatPage';
import { LogsPage } from './pages/LogsPage';
import { MetricsPage } from './pages/MetricsPage';
import { ModelsPage } from './pages/ModelsPage';
import { PlaygroundPage } from './pages/PlaygroundPage';
import { SettingsPage } from './pages/SettingsPage';

type Session = 'checking' | 'login' | 'ready';

/** Opens the chat page and has it run `command` (now, or when it mounts). */
function onChat(command: 'new-chat' | 'focus-input'): void {
  navigate('chat');
  queueCommand(command);
}

export function App() {
  const page = usePage();
  const [session, setSession] = useState<Session>('checking');
  const [probeError, setProbeError] = useState<string>();
  // The token typed at login, kept in memory only so Settings can offer it for copying.
  const [token, setToken] = useState<string>();
  const [palette, setPalette] = useState(false);

  const probe = useCallback(async () => {
    setProbeError(undefined);
    try {
      await api.models();
      setSession('ready');
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) setSession('login');
      else {
        setProbeError(messageOf(e));
        setSession('ready'); // show the app; each page shows its own errors
      }
    }
  }, []);

  useEffect(() => {
    void probe();
    return onUnauthorized(() => setSession('login'));
  }, [probe]);

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === 'k') {
        e.preventDefault();
        setPalette((p) => !p);
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);

  useEffect(() => {
    document.title = `${pageTitles[page]} · MLXR`;
  }, [page]);

  const logout = useCallback(async () => {
    try {
      await api.logout();
    } catch {
      // a daemon without logout still forgets us when the cookie expires
    }
    setToken(undefined);
    setSession('login');
  }, []);

  const commands = useMemo<PaletteCommand[]>(
    () => [
      ...pages.map((p) => ({ id: `go-${p}`, label: `Go to ${pageTitles[p]}`, run: () => navigate(p) })),
      { id: 'new-chat', label: 'New chat', run: () => onChat('new-chat') },
      { id: 'stop', label: 'Stop generation', hint: 'Esc', run: () => runCommand('stop') },
      { id: 'focus', label: 'Focus message box', run: () => onChat('focus-input') },
      { id: 'refresh', label: 'Refresh this page’s data', run: () => runCommand('refresh') },
      { id: 'logout', label: 'Sign out', run: () => void logout() },
    ],
    [logout],
  );

  if (session === 'checking') return <p className="centered muted">Connecting to the daemon…</p>;
  if (session === 'login')
    return (
      <Login
        onLoggedIn={(t) => {
          setToken(t);
          setSession('ready');
          void probe();
        }}
      />
    );

  return (
    <div className="app">
      <a className="skip-link" href="#main" onClick={(e) => (e.preventDefault(), document.getElementById('main')?.focus())}>
        Skip to content
      </a>
      <header className="topbar">
        <span className="brand" aria-hidden="true">
          MLXR
        </span>
        <nav aria-label="Pages">
          <ul>
            {pages.map((p) => (
              <li key={p}>
                <a href={`#/${p}`} aria-current={p === page ? 'page' : undefined}>
                  {pageTitles[p]}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <button type="button" className="palette-button" onClick={() => setPalette(true)} aria-label="Open command palette (Ctrl+K)">
          <kbd>Ctrl K</kbd>
        </button>
      </header>
      <ErrorBox error={probeError && `Daemon check failed: ${probeError}`} onDismiss={() => setProbeError(undefined)} />
      <main id="main" tabIndex={-1} className={`page page-${page}`}>
        {page === 'chat' && <ChatPage />}
        {page === 'models' && <ModelsPage />}
        {page === 'playground' && <PlaygroundPage />}
        {page === 'metrics' && <MetricsPage />}
        {page === 'settings' && <SettingsPage token={token} onLogout={logout} />}
        {page === 'logs' && <LogsPage />}
      </main>
      {palette && <CommandPalette commands={commands} onClose={() => setPalette(false)} />}
    </div>
  );
}
