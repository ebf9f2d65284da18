// Runtime settings: the daemon's nested config object shown as flat dotted keys, and edits turned
// back into a nested patch with the value's original type.

import type { ConfigObject, ConfigValue } from '../api/types';

export interface Setting {
  key: string; // dotted path, e.g. "scheduler.max_batch_tokens"
  value: ConfigValue;
}

export function flattenConfig(obj: ConfigObject, prefix = ''): Setting[] {
  const out: Setting[] = [];
  for (const [k, v] of Object.entries(obj)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) out.push(...flattenConfig(v as ConfigObject, key));
    else out.push({ key, value: Array.isArray(v) ? JSON.stringify(v) : (v as ConfigValue) });
  }
  return out;
}

/** Splits the daemon's config into editable and read-only settings. The daemon lists the keys it
 *  can change at runtime in `runtime_keys`; without that list every key is offered. */
export function splitConfig(obj: ConfigObject): { editable: Setting[]; readOnly: Setting[] } {
  const raw = (obj as Record<string, unknown>).runtime_keys;
  const rest = Object.fromEntries(Object.entries(obj).filter(([k]) => k !== 'runtime_keys')) as ConfigObject;
  const all = flattenConfig(rest);
  if (!Array.isArray(raw)) return { editable: all, readOnly: [] };
  const keys = new Set(raw.filter((k): k is string => typeof k === 'string'));
  return { editable: all.filter((s) => keys.has(s.key)), readOnly: all.filter((s) => !keys.has(s.key)) };
}

export function patchFor(key: string, value: ConfigValue): ConfigObject {
  const parts = key.split('.');
  let patch: ConfigObject | ConfigValue = value;
  for (let i = parts.length - 1; i >= 0; i--) patch = { [parts[i]]: patch };
  return patch as ConfigObject;
}

/** Parses what the user typed into the type the setting had; errors name the key. */
export function parseSettingInput(key: string, original: ConfigValue, input: string): { value: ConfigValue } | { error: string } {
  const t = input.trim();
  if (typeof original === 'number') {
    if (t === '' || !Number.isFinite(Number(t))) return { error: `${key}: "${input}" is not a number` };
    return { value: Number(t) };
  }
  if (typeof original === 'boolean') {
    if (t === 'true' || t === 'false') return { value: t === 'true' };
    return { error: `${key}: "${input}" must be true or false` };
  }
  return { value: input };
}
