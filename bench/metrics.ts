/**
 * Prometheus text scraped before and after a run (the Temporal dev server's `/metrics`,
 * and the worker's Core metrics when an experiment enables them), reduced to deltas.
 */

export type Samples = Map<string, number>;

export async function scrape(url: string): Promise<Samples> {
  const text = await (await fetch(url, { signal: AbortSignal.timeout(10_000) })).text();
  const samples: Samples = new Map();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    const value = Number(line.slice(space + 1));
    if (Number.isFinite(value)) samples.set(line.slice(0, space), value);
  }
  return samples;
}

function parseKey(key: string): { name: string; labels: Record<string, string> } {
  const brace = key.indexOf('{');
  if (brace < 0) return { name: key, labels: {} };
  const labels: Record<string, string> = {};
  for (const match of key.slice(brace + 1, -1).matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[match[1]!] = match[2]!;
  return { name: key.slice(0, brace), labels };
}

/**
 * Sum of (after − before) of metric `name`, grouped by the values of `by` labels,
 * keeping only series whose labels match `where`.
 */
export function delta(
  before: Samples,
  after: Samples,
  name: string,
  by: string[],
  where: Record<string, string> = {},
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [key, value] of after) {
    const parsed = parseKey(key);
    if (parsed.name !== name) continue;
    if (Object.entries(where).some(([k, v]) => parsed.labels[k] !== v)) continue;
    const d = value - (before.get(key) ?? 0);
    if (d === 0) continue;
    const group = by.map((k) => parsed.labels[k] ?? '').join(' ') || name;
    out[group] = (out[group] ?? 0) + d;
  }
  return out;
}

/** Count and mean (ms) per group of a histogram in seconds (`<name>_count`, `<name>_sum`). */
export function histogramDelta(
  before: Samples,
  after: Samples,
  name: string,
  by: string[],
  where: Record<string, string> = {},
  unitMs = 1000,
): Record<string, { count: number; meanMs: number; totalMs: number }> {
  const counts = delta(before, after, `${name}_count`, by, where);
  const sums = delta(before, after, `${name}_sum`, by, where);
  const out: Record<string, { count: number; meanMs: number; totalMs: number }> = {};
  for (const [group, count] of Object.entries(counts)) {
    const totalMs = (sums[group] ?? 0) * unitMs;
    out[group] = { count, meanMs: totalMs / count, totalMs };
  }
  return out;
}
