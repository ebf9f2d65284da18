import { useEffect, useMemo, useRef, useState } from 'react';
import { api } from '../api/client';
import { messageOf } from '../api/errors';
import type { LogEntry } from '../api/types';
import { ErrorBox } from '../components/ErrorBox';
import { formatTime } from '../lib/format';
import { fieldsText, filterLogs, LEVELS, mergeLogs } from '../lib/logs';

const MAX = 2000;

export function LogsPage() {
  const [entries, setEntries] = useState<LogEntry[]>([]);
  const [error, setError] = useState<string>();
  const [level, setLevel] = useState('info');
  const [text, setText] = useState('');
  const [follow, setFollow] = useState(true);
  const [paused, setPaused] = useState(false);
  const since = useRef(0);
  const box = useRef<HTMLDivElement>(null);

  useEffect(() => {
    if (paused) return;
    let cancelled = false;
    const ctl = new AbortController();
    const poll = async () => {
      try {
        const batch = await api.logs(since.current, ctl.signal);
        if (cancelled) return;
        setEntries((have) => {
          const next = mergeLogs(have, batch, MAX);
          if (next.length) since.current = next[next.length - 1].seq;
          return next;
        });
        setError(undefined);
      } catch (e) {
        if (!cancelled) setError(`Could not read logs: ${messageOf(e)}`);
      }
    };
    void poll();
    const id = setInterval(poll, 1000);
    return () => {
      cancelled = true;
      ctl.abort();
      clearInterval(id);
    };
  }, [paused]);

  const shown = useMemo(() => filterLogs(entries, level, text), [entries, level, text]);

  useEffect(() => {
    if (follow && box.current) box.current.scrollTop = box.current.scrollHeight;
  }, [shown, follow]);

  return (
    <div className="logs">
      <div className="page-head">
        <h1>Logs</h1>
        <div className="row wrap">
          <label htmlFor="log-level">Level</label>
          <select id="log-level" value={level} onChange={(e) => setLevel(e.target.value)}>
            {LEVELS.map((l) => (
              <option key={l} value={l}>
                {l}+
              </option>
            ))}
          </select>
          <label htmlFor="log-filter">Filter</label>
          <input id="log-filter" type="search" value={text} onChange={(e) => setText(e.target.value)} placeholder="text in message or fields" />
          <label className="check">
            <input type="checkbox" checked={follow} onChange={(e) => setFollow(e.target.checked)} /> Follow
          </label>
          <button type="button" onClick={() => setPaused((p) => !p)} aria-pressed={paused}>
            {paused ? 'Resume' : 'Pause'}
          </button>
          <button type="button" onClick={() => setEntries([])}>
            Clear
          </button>
        </div>
      </div>
      <ErrorBox error={error} />
      <p className="muted" role="status">
        {shown.length} of {entries.length} entries
      </p>
      <div className="log-box" ref={box} tabIndex={0} role="log" aria-label="Log entries">
        {shown.map((e) => (
          <div key={e.seq} className={`log-line level-${e.level.toLowerCase()}`}>
            <time>{formatTime(e.ts)}</time> <span className="level">{e.level.toUpperCase()}</span> <span className="msg">{e.msg}</span>{' '}
            <span className="fields">{fieldsText(e.fields)}</span>
          </div>
        ))}
      </div>
    </div>
  );
}
