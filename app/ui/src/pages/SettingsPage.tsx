import { useCallback, useEffect, useState, type FormEvent } from 'react';
import { api } from '../api/client';
import { ApiError, messageOf } from '../api/errors';
import type { ConfigValue } from '../api/types';
import { ErrorBox } from '../components/ErrorBox';
import { onCommand } from '../lib/commands';
import { parseSettingInput, patchFor, splitConfig, type Setting } from '../lib/settings';

function TokenPanel({ token, onLogout }: { token?: string; onLogout: () => void }) {
  const [value, setValue] = useState(token);
  const [revealed, setRevealed] = useState(false);
  const [note, setNote] = useState<string>();
  useEffect(() => {
    if (token) return setValue(token);
    // After a reload the page no longer knows the token; a logged-in session may ask for it.
    api.token().then(
      (r) => setValue(r?.token),
      (e) => setNote(e instanceof ApiError && e.status === 404 ? 'Sign out and sign in again to see the token here.' : `Could not fetch the token: ${messageOf(e)}`),
    );
  }, [token]);
  const copy = () =>
    value &&
    navigator.clipboard?.writeText(value).then(
      () => setNote('Copied to the clipboard.'),
      (e) => setNote(`Copy failed: ${messageOf(e)}`),
    );
  return (
    <section className="card" aria-labelledby="token-title">
      <h2 id="token-title">API token</h2>
      <p className="muted">Clients send it as <code>Authorization: Bearer …</code>.</p>
      {value ? (
        <div className="row token-row">
          <label htmlFor="api-token" className="visually-hidden">
            API token
          </label>
          <input id="api-token" readOnly type={revealed ? 'text' : 'password'} value={value} onFocus={(e) => e.target.select()} />
          <button type="button" onClick={() => setRevealed((r) => !r)} aria-pressed={revealed}>
            {revealed ? 'Hide' : 'Show'}
          </button>
          <button type="button" onClick={copy}>
            Copy
          </button>
        </div>
      ) : null}
      {note && <p role="status">{note}</p>}
      <button type="button" onClick={onLogout}>
        Sign out
      </button>
    </section>
  );
}

function display(v: ConfigValue): string {
  return v === null ? '' : String(v);
}

export function SettingsPage({ token, onLogout }: { token?: string; onLogout: () => void }) {
  const [settings, setSettings] = useState<Setting[]>([]);
  const [readOnly, setReadOnly] = useState<Setting[]>([]);
  const [edits, setEdits] = useState<Record<string, string>>({});
  const [fieldErrors, setFieldErrors] = useState<Record<string, string>>({});
  const [error, setError] = useState<string>();
  const [saved, setSaved] = useState<string>();
  const [busy, setBusy] = useState(false);

  const load = useCallback(async () => {
    try {
      const { editable, readOnly: fixed } = splitConfig((await api.config()) ?? {});
      setSettings(editable);
      setReadOnly(fixed);
      setEdits({});
      setFieldErrors({});
      setError(undefined);
    } catch (e) {
      setError(`Could not load settings: ${messageOf(e)}`);
    }
  }, []);
  useEffect(() => {
    void load();
    return onCommand((c) => c === 'refresh' && void load());
  }, [load]);

  const save = async (e: FormEvent) => {
    e.preventDefault();
    setSaved(undefined);
    setError(undefined);
    const errs: Record<string, string> = {};
    const changes: [string, ConfigValue][] = [];
    for (const s of settings) {
      if (!(s.key in edits) || edits[s.key] === display(s.value)) continue;
      const parsed = parseSettingInput(s.key, s.value, edits[s.key]);
      if ('error' in parsed) errs[s.key] = parsed.error;
      else changes.push([s.key, parsed.value]);
    }
    setFieldErrors(errs);
    if (Object.keys(errs).length) return;
    if (!changes.length) return setSaved('Nothing changed.');
    setBusy(true);
    const done: string[] = [];
    try {
      // One PUT per key, so an error names exactly the setting the daemon refused.
      for (const [key, value] of changes) {
        try {
          await api.updateConfig(patchFor(key, value));
          done.push(key);
        } catch (err) {
          const msg = messageOf(err);
          setFieldErrors((fe) => ({ ...fe, [err instanceof ApiError && err.key ? err.key : key]: msg }));
          setError(`${key}: ${msg}`);
          break;
        }
      }
      if (done.length) setSaved(`Saved ${done.join(', ')}.`);
      const fresh = splitConfig((await api.config()) ?? {});
      setSettings(fresh.editable);
      setReadOnly(fresh.readOnly);
      setEdits((ed) => Object.fromEntries(Object.entries(ed).filter(([k]) => !done.includes(k))));
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="settings">
      <h1>Settings</h1>
      <TokenPanel token={token} onLogout={onLogout} />
      <form className="card" onSubmit={save} aria-labelledby="runtime-title">
        <h2 id="runtime-title">Runtime settings</h2>
        <p className="muted">Values from server.yaml that the daemon can change while running.</p>
        <ErrorBox error={error} onDismiss={() => setError(undefined)} />
        {saved && <p role="status">{saved}</p>}
        <div className="settings-grid">
          {settings.map((s) => {
            const id = `setting-${s.key.replace(/[^a-zA-Z0-9_-]/g, '-')}`;
            const value = edits[s.key] ?? display(s.value);
            const err = fieldErrors[s.key];
            return (
              <div className="field" key={s.key}>
                <label htmlFor={id}>{s.key}</label>
                {typeof s.value === 'boolean' ? (
                  <select id={id} value={value} onChange={(e) => setEdits((ed) => ({ ...ed, [s.key]: e.target.value }))} aria-invalid={!!err} aria-describedby={err ? `${id}-err` : undefined}>
                    <option value="true">true</option>
                    <option value="false">false</option>
                  </select>
                ) : (
                  <input
                    id={id}
                    inputMode={typeof s.value === 'number' ? 'decimal' : undefined}
                    value={value}
                    onChange={(e) => setEdits((ed) => ({ ...ed, [s.key]: e.target.value }))}
                    aria-invalid={!!err}
                    aria-describedby={err ? `${id}-err` : undefined}
                  />
                )}
                {err && (
                  <span id={`${id}-err`} className="field-error">
                    {err}
                  </span>
                )}
              </div>
            );
          })}
        </div>
        <div className="row">
          <button type="submit" className="primary" disabled={busy}>
            {busy ? 'Saving…' : 'Save changes'}
          </button>
          <button type="button" onClick={() => void load()} disabled={busy}>
            Revert
          </button>
        </div>
      </form>
      {readOnly.length > 0 && (
        <section className="card" aria-labelledby="fixed-title">
          <h2 id="fixed-title">Set at startup</h2>
          <p className="muted">These take effect when the daemon restarts (server.yaml or flags).</p>
          <dl className="kv">
            {readOnly.map((s) => (
              <div key={s.key}>
                <dt>{s.key}</dt>
                <dd>{display(s.value) || '—'}</dd>
              </div>
            ))}
          </dl>
        </section>
      )}
    </div>
  );
}
