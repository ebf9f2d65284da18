import { useCallback, useEffect, useRef, useState, type FormEvent } from 'react';
import { api } from '../api/client';
import { isAbort, messageOf } from '../api/errors';
import type { EmbeddingsResponse, SamplingParams, Usage } from '../api/types';
import { ErrorBox } from '../components/ErrorBox';
import { SamplingControls } from '../components/SamplingControls';
import { onCommand } from '../lib/commands';
import { DEFAULT_PARAMS } from '../lib/conversations';
import { formatDuration, formatRate, StreamClock } from '../lib/format';
import { useModelIds } from '../lib/useModels';
import { cosine, norm } from '../lib/vectors';

function ModelSelect({ id, value, onChange, ids }: { id: string; value: string; onChange: (v: string) => void; ids: string[] }) {
  return (
    <>
      <label htmlFor={id}>Model</label>
      <select id={id} value={value} onChange={(e) => onChange(e.target.value)}>
        {ids.length === 0 && <option value="">No models</option>}
        {ids.map((m) => (
          <option key={m}>{m}</option>
        ))}
      </select>
    </>
  );
}

function Completion({ ids }: { ids: string[] }) {
  const [model, setModel] = useState('');
  const [prompt, setPrompt] = useState('Once upon a time');
  const [params, setParams] = useState<SamplingParams>(DEFAULT_PARAMS);
  const [output, setOutput] = useState('');
  const [stats, setStats] = useState<string>();
  const [error, setError] = useState<string>();
  const ctl = useRef<AbortController | null>(null);
  const [running, setRunning] = useState(false);
  const chosen = model || ids[0] || '';

  const stop = useCallback(() => ctl.current?.abort(), []);
  useEffect(() => onCommand((c) => c === 'stop' && stop()), [stop]);
  useEffect(() => {
    if (!running) return;
    const onKey = (e: KeyboardEvent) => e.key === 'Escape' && !document.querySelector('.palette') && stop();
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [running, stop]);

  const run = async (e: FormEvent) => {
    e.preventDefault();
    if (ctl.current) return;
    const c = new AbortController();
    ctl.current = c;
    setRunning(true);
    setOutput('');
    setError(undefined);
    const clock = new StreamClock(performance.now());
    let usage: Usage | undefined;
    const summary = (stopped: boolean) => {
      const total = usage?.completion_tokens ?? clock.tokens;
      return `${total} tokens · ${formatRate(clock.tokensPerSecond(total))} · first token ${formatDuration(clock.ttftMs)}${stopped ? ' · stopped' : ''}`;
    };
    try {
      await api.completionStream({ model: chosen, prompt, ...params }, c.signal, (chunk) => {
        if (chunk.usage) usage = chunk.usage;
        const t = chunk.choices?.[0]?.text;
        if (t) {
          clock.token(performance.now());
          setOutput((o) => o + t);
          setStats(summary(false));
        }
      });
      setStats(summary(false));
    } catch (err) {
      if (isAbort(err)) setStats(summary(true));
      else setError(messageOf(err));
    } finally {
      ctl.current = null;
      setRunning(false);
    }
  };

  return (
    <form className="card" onSubmit={run} aria-labelledby="completion-title">
      <h2 id="completion-title">Raw completion</h2>
      <ModelSelect id="completion-model" value={chosen} onChange={setModel} ids={ids} />
      <label htmlFor="completion-prompt">Prompt</label>
      <textarea id="completion-prompt" rows={4} value={prompt} onChange={(e) => setPrompt(e.target.value)} />
      <SamplingControls idPrefix="completion" value={params} onChange={setParams} />
      <div className="row">
        {running ? (
          <button type="button" className="danger" onClick={stop}>
            Stop
          </button>
        ) : (
          <button type="submit" className="primary" disabled={!chosen}>
            Complete
          </button>
        )}
      </div>
      <ErrorBox error={error} />
      <div className="completion-output" aria-live="off" aria-label="Completion output">
        <span className="prompt-echo">{prompt}</span>
        {output}
      </div>
      {stats && <p className="stats">{stats}</p>}
    </form>
  );
}

function Embeddings({ ids }: { ids: string[] }) {
  const [model, setModel] = useState('');
  const [input, setInput] = useState('The cat sat on the mat.\nA kitten rested on the rug.\nStock prices fell today.');
  const [result, setResult] = useState<{ lines: string[]; res: EmbeddingsResponse }>();
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const chosen = model || ids[0] || '';

  const run = async (e: FormEvent) => {
    e.preventDefault();
    const lines = input.split('\n').map((l) => l.trim()).filter(Boolean);
    setBusy(true);
    setError(undefined);
    try {
      const res = await api.embeddings({ model: chosen, input: lines });
      setResult({ lines, res });
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setBusy(false);
    }
  };
  const vecs = result ? [...result.res.data].sort((a, b) => a.index - b.index).map((d) => d.embedding) : [];

  return (
    <form className="card" onSubmit={run} aria-labelledby="embeddings-title">
      <h2 id="embeddings-title">Embeddings</h2>
      <ModelSelect id="embeddings-model" value={chosen} onChange={setModel} ids={ids} />
      <label htmlFor="embeddings-input">Inputs, one per line</label>
      <textarea id="embeddings-input" rows={4} value={input} onChange={(e) => setInput(e.target.value)} />
      <div className="row">
        <button type="submit" className="primary" disabled={!chosen || busy}>
          {busy ? 'Embedding…' : 'Embed'}
        </button>
      </div>
      <ErrorBox error={error} />
      {result && (
        <>
          <ul className="embeddings">
            {vecs.map((v, i) => (
              <li key={i}>
                <strong>{result.lines[i] ?? `#${i}`}</strong>: {v.length} dims, ‖v‖ = {norm(v).toFixed(4)}, [{v.slice(0, 4).map((x) => x.toFixed(4)).join(', ')}
                {v.length > 4 ? ', …' : ''}]
              </li>
            ))}
          </ul>
          {vecs.length > 1 && (
            <div className="table-wrap">
              <table className="similarity">
                <caption>Cosine similarity</caption>
                <thead>
                  <tr>
                    <th scope="col">
                      <span className="visually-hidden">Input</span>
                    </th>
                    {vecs.map((_, j) => (
                      <th scope="col" key={j} className="num">
                        #{j + 1}
                      </th>
                    ))}
                  </tr>
                </thead>
                <tbody>
                  {vecs.map((a, i) => (
                    <tr key={i}>
                      <th scope="row">#{i + 1}</th>
                      {vecs.map((b, j) => (
                        <td key={j} className="num">
                          {cosine(a, b).toFixed(3)}
                        </td>
                      ))}
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </>
      )}
    </form>
  );
}

export function PlaygroundPage() {
  const models = useModelIds();
  return (
    <div className="playground">
      <h1>Playground</h1>
      <ErrorBox error={models.error} />
      <div className="two-col">
        <Completion ids={models.ids} />
        <Embeddings ids={models.ids} />
      </div>
    </div>
  );
}
