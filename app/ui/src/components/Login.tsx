import { useState, type FormEvent } from 'react';
import { api } from '../api/client';
import { messageOf } from '../api/errors';

/** Exchanges the API token for an HttpOnly session cookie; the token itself stays in memory only. */
export function Login({ onLoggedIn }: { onLoggedIn: (token: string) => void }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await api.login(token.trim());
      onLoggedIn(token.trim());
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main className="login" id="main">
      <form onSubmit={submit} className="card login-card" aria-labelledby="login-title">
        <h1 id="login-title">Sign in to MLXR</h1>
        <p className="muted">
          Paste the API token of this daemon: the contents of <code>~/.config/mlxr/token</code> on its machine (the
          <code>auth.token_file</code> setting). The browser keeps only an HttpOnly cookie; this page never stores the
          token.
        </p>
        <label htmlFor="token">API token</label>
        <input id="token" type="password" autoComplete="current-password" value={token} onChange={(e) => setToken(e.target.value)} required autoFocus />
        {error && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" className="primary" disabled={busy || !token.trim()}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
