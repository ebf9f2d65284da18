// Log tail state: merging polled batches and filtering.
import type { LogEntry } from '../api/types';

export const LEVELS = ['trace', 'debug', 'info', 'warn', 'error'] as const;

export function levelRank(level: string): number {
  const l = level.toLowerCase();
  const i = LEVELS.indexOf((l === 'warning' ? 'warn' : l === 'fatal' || l === 'critical' ? 'error' : l) as (typeof LEVELS)[number]);
  return i < 0 ? 2 : i;
}

/** Appends entries newer than what we have (the daemon may resend the boundary), keeping `max`. */
export function mergeLogs(have: LogEntry[], batch: LogEntry[], max: number): LogEntry[] {
  const lastSeq = have.length ? have[have.length - 1].seq : -Infinity;
  const fresh = batch.filter((e) => typeof e.seq === 'number' && e.seq > lastSeq).sort((a, b) => a.seq - b.seq);
  if (!fresh.length) return have;
  const merged = [...have, ...fresh];
  return merged.length > max ? merged.slice(merged.length - max) : merged;
}

export function fieldsText(fields: Record<string, unknown> | undefined): string {
  if (!fields) return '';
  return Object.entries(fields)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
}

export function filterLogs(entries: LogEntry[], minLevel: string, text: string): LogEntry[] {
  const min = levelRank(minLevel);
  const needle = text.trim().toLowerCase();
  return entries.filter(
    (e) => levelRank(e.level) >= min && (!needle || e.msg.toLowerCase().includes(needle) || fieldsText(e.fields).toLowerCase().includes(needle)),
  );
}
