import type { SamplingParams } from '../api/types';

interface Field {
  key: keyof SamplingParams;
  label: string;
  min: number;
  max: number;
  step: number;
}
const fields: Field[] = [
  { key: 'temperature', label: 'Temperature', min: 0, max: 2, step: 0.05 },
  { key: 'top_p', label: 'Top-p', min: 0, max: 1, step: 0.01 },
  { key: 'top_k', label: 'Top-k', min: 0, max: 1000, step: 1 },
  { key: 'max_tokens', label: 'Max tokens', min: 1, max: 32768, step: 1 },
];

/** Sampling parameters as labelled number inputs; `idPrefix` keeps ids unique per page. */
export function SamplingControls({ value, onChange, idPrefix }: { value: SamplingParams; onChange: (p: SamplingParams) => void; idPrefix: string }) {
  return (
    <div className="sampling">
      {fields.map((f) => (
        <div className="field" key={f.key}>
          <label htmlFor={`${idPrefix}-${f.key}`}>{f.label}</label>
          <input
            id={`${idPrefix}-${f.key}`}
            type="number"
            inputMode="decimal"
            min={f.min}
            max={f.max}
            step={f.step}
            value={String(value[f.key] ?? '')}
            onChange={(e) => {
              const n = e.target.valueAsNumber;
              if (Number.isFinite(n)) onChange({ ...value, [f.key]: n });
            }}
          />
        </div>
      ))}
      <div className="field">
        <label htmlFor={`${idPrefix}-seed`}>Seed</label>
        <input
          id={`${idPrefix}-seed`}
          type="number"
          inputMode="numeric"
          placeholder="random"
          value={value.seed === undefined ? '' : String(value.seed)}
          onChange={(e) => {
            const n = e.target.valueAsNumber;
            onChange({ ...value, seed: Number.isFinite(n) ? Math.trunc(n) : undefined });
          }}
        />
      </div>
    </div>
  );
}
