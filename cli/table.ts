/** Plain aligned columns for terminal listings, and the text of what goes in them. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const format = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return `${[headers, ...rows].map(format).join('\n')}\n`;
}

/**
 * `k=v, k=v` as people read parameters: strings as they are, other values as JSON; by name,
 * as papermill records them, so `runs` (from the memo) and `show` (the record) agree.
 */
export function parametersText(parameters: Record<string, unknown> | null): string {
  if (!parameters) return '';
  return Object.entries(parameters)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(', ');
}
