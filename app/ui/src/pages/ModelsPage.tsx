import { useCallback, useEffect, useRef, useState, type FormEvent } from 'react';
import { api } from '../api/client';
import { isAbort, messageOf } from '../api/errors';
import type { ProgressLine, ShowResponse } from '../api/types';
import { ErrorBox } from '../components/ErrorBox';
import { onCommand } from '../lib/commands';
import { formatBytes, formatCount } from '../lib/format';
import { progressFraction, toRow, type ModelRow } from '../lib/models';

interface Job {
  label: string;
  status: string;
  completed?: number;
  total?: number;
  done: boolean;
  error?: string;
}

function ProgressView({ job }: { job: Job }) {
  const frac = progressFraction(job.completed, job.total);
  return (
    <div className="job" aria-live="polite">
      <div className="job-line">
        <strong>{job.label}</strong>: {job.error ? 'failed' : job.status}
        {frac !== undefined && ` — ${formatBytes(job.completed)} of ${formatBytes(job.total)} (${Math.round(frac * 100)}%)`}
      </div>
      {!job.error && (
        <progress max={1} value={job.done ? 1 : frac} aria-label={`${job.label} progress`}>
          {frac !== undefined ? `${Math.round(frac * 100)}%` : job.status}
        </progress>
      )}
      <ErrorBox error={job.error} />
    </div>
  );
}

function useJob() {
  const [job, setJob] = useState<Job>();
  const run = useCallback(async (label: string, start: (onLine: (l: ProgressLine) => void) => Promise<void>) => {
    setJob({ label, status: 'starting', done: false });
    try {
      await start((l) =>
        setJob((j) => ({
          ...(j ?? { label, done: false, status: '' }),
          status: l.status ?? j?.status ?? '',
          completed: l.completed ?? (l.total !== undefined ? 0 : j?.completed),
          total: l.total ?? j?.total,
        })),
      );
      setJob((j) => ({ ...(j ?? { label, status: '' }), status: 'success', done: true }));
      return true;
    } catch (e) {
      setJob((j) => ({ ...(j ?? { label, status: '' }), done: true, error: isAbort(e) ? 'Cancelled.' : messageOf(e) }));
      return false;
    }
  }, []);
  return { job, run };
}

function DetailsDrawer({ name, onClose }: { name: string; onClose: () => void }) {
  const [show, setShow] = useState<ShowResponse>();
  const [error, setError] = useState<string>();
  const closeRef = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    closeRef.current?.focus();
    api.show(name).then(setShow, (e) => setError(messageOf(e)));
    const onKey = (e: KeyboardEvent) => e.key === 'Escape' && onClose();
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [name, onClose]);
  const info = Object.entries(show?.model_info ?? {}).filter(([, v]) => !Array.isArray(v) || v.length <= 16);
  return (
    <div className="drawer-backdrop" onMouseDown={onClose}>
      <aside className="drawer" role="dialog" aria-modal="true" aria-labelledby="drawer-title" onMouseDown={(e) => e.stopPropagation()}>
        <div className="drawer-head">
          <h2 id="drawer-title">{name}</h2>
          <button type="button" ref={closeRef} onClick={onClose} aria-label="Close details">
            Close
          </button>
        </div>
        <ErrorBox error={error} />
        {!show && !error && <p className="muted">Loading…</p>}
        {show && (
          <>
            <h3>Details</h3>
            <dl className="kv">
              {Object.entries(show.details ?? {}).map(([k, v]) => (
                <div key={k}>
                  <dt>{k}</dt>
                  <dd>{Array.isArray(v) ? v.join(', ') : String(v ?? '—')}</dd>
                </div>
              ))}
            </dl>
            {info.length > 0 && (
              <>
                <h3>Metadata</h3>
                <dl className="kv">
                  {info.map(([k, v]) => (
                    <div key={k}>
                      <dt>{k}</dt>
                      <dd>{typeof v === 'object' ? JSON.stringify(v) : String(v)}</dd>
                    </div>
                  ))}
                </dl>
              </>
            )}
            {show.mlxr && (
              <>
                <h3>Registry record</h3>
                <dl className="kv">
                  {Object.entries(show.mlxr).map(([k, v]) => (
                    <div key={k}>
                      <dt>{k}</dt>
                      <dd>{v !== null && typeof v === 'object' ? JSON.stringify(v) : String(v)}</dd>
                    </div>
                  ))}
                </dl>
              </>
            )}
            {show.parameters && (
              <>
                <h3>Parameters</h3>
                <pre className="pre-box">{show.parameters}</pre>
              </>
            )}
            {show.template && (
              <>
                <h3>Chat template</h3>
                <pre className="pre-box">{show.template}</pre>
              </>
            )}
          </>
        )}
      </aside>
    </div>
  );
}

export function ModelsPage() {
  const [rows, setRows] = useState<ModelRow[]>([]);
  const [loaded, setLoaded] = useState(false);
  const [error, setError] = useState<string>();
  const [details, setDetails] = useState<string>();
  const [confirming, setConfirming] = useState<string>();
  const [importName, setImportName] = useState('');
  const [importPath, setImportPath] = useState('');
  const [pullUrl, setPullUrl] = useState('');
  const [pullName, setPullName] = useState('');
  const importJob = useJob();
  const pullJob = useJob();
  const pullCtl = useRef<AbortController | null>(null);
  const closeDetails = useCallback(() => setDetails(undefined), []);

  const load = useCallback(async () => {
    try {
      const tags = await api.tags();
      const models = tags?.models ?? [];
      setRows(models.map((t) => toRow(t)));
      setError(undefined);
      // /api/show adds the context length; a failure there leaves the row as /api/tags gave it.
      const shows = await Promise.all(models.map((t) => api.show(t.name).catch(() => undefined)));
      setRows(models.map((t, i) => toRow(t, shows[i])));
    } catch (e) {
      setError(`Could not list models: ${messageOf(e)}`);
    } finally {
      setLoaded(true);
    }
  }, []);

  useEffect(() => {
    void load();
    return onCommand((c) => c === 'refresh' && void load());
  }, [load]);

  const doImport = async (e: FormEvent) => {
    e.preventDefault();
    const name = importName.trim();
    const path = importPath.trim();
    if (await importJob.run(`Import ${name}`, (onLine) => api.importFromPath(name, path, undefined, onLine))) {
      setImportName('');
      setImportPath('');
      await load();
    }
  };

  const doPull = async (e: FormEvent) => {
    e.preventDefault();
    const url = pullUrl.trim();
    const ctl = new AbortController();
    pullCtl.current = ctl;
    const ok = await pullJob.run(`Pull ${url}`, (onLine) => api.pull(url, pullName.trim(), ctl.signal, onLine));
    pullCtl.current = null;
    if (ok) {
      setPullUrl('');
      setPullName('');
      await load();
    }
  };

  const doDelete = async (name: string) => {
    setConfirming(undefined);
    try {
      await api.remove(name);
      await load();
    } catch (e) {
      setError(`Could not delete ${name}: ${messageOf(e)}`);
    }
  };

  return (
    <div className="models">
      <div className="page-head">
        <h1>Models</h1>
        <button type="button" onClick={() => void load()}>
          Refresh
        </button>
      </div>
      <ErrorBox error={error} onDismiss={() => setError(undefined)} />
      <div className="table-wrap">
        <table className="registry">
          <caption className="visually-hidden">Installed models</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Family</th>
              <th scope="col">Format</th>
              <th scope="col">Quant</th>
              <th scope="col" className="num">
                Size
              </th>
              <th scope="col" className="num">
                Context
              </th>
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {loaded && rows.length === 0 && (
              <tr>
                <td colSpan={7} className="muted">
                  No models yet. Import a file or pull one below.
                </td>
              </tr>
            )}
            {rows.map((r) => (
              <tr key={r.name}>
                <th scope="row" className="model-name">
                  {r.name}
                  {r.randomWeights && (
                    <span className="badge" title="A demo model with random weights: it runs, but its text is noise">
                      random weights
                    </span>
                  )}
                </th>
                <td>{r.family}</td>
                <td>{r.format}</td>
                <td>{r.quant}</td>
                <td className="num">{formatBytes(r.size)}</td>
                <td className="num">{r.context !== undefined ? formatCount(r.context) : '—'}</td>
                <td className="actions">
                  <button type="button" onClick={() => setDetails(r.name)} aria-label={`Details of ${r.name}`}>
                    Details
                  </button>
                  {confirming === r.name ? (
                    <>
                      <button type="button" className="danger" onClick={() => void doDelete(r.name)} aria-label={`Confirm deleting ${r.name}`}>
                        Confirm
                      </button>
                      <button type="button" onClick={() => setConfirming(undefined)}>
                        Keep
                      </button>
                    </>
                  ) : (
                    <button type="button" onClick={() => setConfirming(r.name)} aria-label={`Delete ${r.name}`}>
                      Delete
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>

      <div className="two-col">
        <form className="card" onSubmit={doImport} aria-labelledby="import-title">
          <h2 id="import-title">Import from a local path</h2>
          <p className="muted">A GGUF, safetensors folder or llama2.c .bin on the daemon’s machine.</p>
          <label htmlFor="import-name">Name</label>
          <input id="import-name" value={importName} onChange={(e) => setImportName(e.target.value)} placeholder="stories:260k" required />
          <label htmlFor="import-path">Path</label>
          <input id="import-path" value={importPath} onChange={(e) => setImportPath(e.target.value)} placeholder="/models/stories260K.gguf" required />
          <button type="submit" className="primary" disabled={!importName.trim() || !importPath.trim() || (importJob.job && !importJob.job.done)}>
            Import
          </button>
          {importJob.job && <ProgressView job={importJob.job} />}
        </form>
        <form className="card" onSubmit={doPull} aria-labelledby="pull-title">
          <h2 id="pull-title">Pull from a URL</h2>
          <p className="muted">An https:// URL of a model file, or a Hugging Face path org/repo/file.gguf.</p>
          <label htmlFor="pull-url">URL or path</label>
          <input id="pull-url" value={pullUrl} onChange={(e) => setPullUrl(e.target.value)} placeholder="https://…/model.gguf" required />
          <label htmlFor="pull-name">Save as (optional)</label>
          <input id="pull-name" value={pullName} onChange={(e) => setPullName(e.target.value)} placeholder="derived from the file name" />
          <div className="row">
            <button type="submit" className="primary" disabled={!pullUrl.trim() || (pullJob.job && !pullJob.job.done)}>
              Pull
            </button>
            {pullJob.job && !pullJob.job.done && (
              <button type="button" onClick={() => pullCtl.current?.abort()}>
                Cancel
              </button>
            )}
          </div>
          {pullJob.job && <ProgressView job={pullJob.job} />}
        </form>
      </div>
      {details && <DetailsDrawer name={details} onClose={closeDetails} />}
    </div>
  );
}
