// Registry rows: /api/tags entries joined with what /api/show adds (context length).
import type { ShowResponse, TagModel } from '../api/types';

export interface ModelRow {
  name: string;
  family: string;
  format: string;
  quant: string;
  size: number;
  parameterSize: string;
  context?: number;
  modifiedAt?: string;
  digest?: string;
  randomWeights: boolean;
}

/** Context length from Ollama-style model_info ("<arch>.context_length"). */
export function contextLength(show: ShowResponse | undefined): number | undefined {
  const info = show?.model_info;
  if (!info) return undefined;
  const arch = typeof info['general.architecture'] === 'string' ? (info['general.architecture'] as string) : undefined;
  const direct = arch ? info[`${arch}.context_length`] : undefined;
  if (typeof direct === 'number') return direct;
  for (const [k, v] of Object.entries(info)) if (k.endsWith('.context_length') && typeof v === 'number') return v;
  return undefined;
}

export function toRow(tag: TagModel, show?: ShowResponse): ModelRow {
  const d = { ...tag.details, ...show?.details };
  return {
    name: tag.name,
    family: d.family || '—',
    format: d.format || '—',
    quant: d.quantization_level || '—',
    size: tag.size,
    parameterSize: d.parameter_size || '—',
    context: contextLength(show),
    modifiedAt: tag.modified_at,
    digest: tag.digest,
    randomWeights: d.random_weights === true,
  };
}

/** Progress of a pull as a fraction, when the daemon reported sizes. */
export function progressFraction(completed?: number, total?: number): number | undefined {
  if (!total || total <= 0 || completed === undefined) return undefined;
  return Math.min(1, Math.max(0, completed / total));
}
