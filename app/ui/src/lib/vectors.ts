// Small vector helpers for the embeddings playground.
export function norm(v: number[]): number {
  return Math.sqrt(v.reduce((a, x) => a + x * x, 0));
}
/** Cosine similarity; NaN when either vector is zero or the lengths differ. */
export function cosine(a: number[], b: number[]): number {
  if (a.length !== b.length || a.length === 0) return NaN;
  let dot = 0;
  for (let i = 0; i < a.length; i++) dot += a[i] * b[i];
  const d = norm(a) * norm(b);
  return d === 0 ? NaN : dot / d;
}
