/**
 * What the inspector shows, computed from what the data layer loaded: run list rows, the
 * run header, per-cell rows (record merged with the live `progress` query) and a cell's
 * source and outputs as lines of text. Pure: no I/O, no clock (callers pass `now`), so
 * every rule here has a unit test.
 */
import { sourceText, type Cell, type Notebook, type Output } from '../../notebook/nbformat.js';
import { formatBytes } from '../../notebook/bytes.js';
import { recordedCells } from '../../record/cells.js';
import { notebookMillrace } from '../../record/metadata.js';
import { describePlacement } from '../../notebook/placement-syntax.js';
import type { CellProgress, RunProgress } from '../../workflows/contracts.js';
import type { RunSummary } from '../run-summaries.js';
import { parametersText } from '../table.js';

/** A run in the list: `millrace runs`' summary plus the failed cell, when it failed in one. */
export interface RunListEntry extends RunSummary {
  failed_cell: number | null;
  error: { ename: string; evalue: string } | null;
}

/** Everything the run view shows, as loaded by the data layer. */
export interface RunDetail {
  summary: RunSummary;
  /** The output notebook without papermill's banner and anchor (cell numbers as the run reported them). */
  notebook: Notebook | null;
  /** The workflow's `progress` query, for runs still running. */
  progress: RunProgress | null;
  /** How the run failed, from the workflow's failure. */
  failure: { failed_cell: number | null; error: { ename: string; evalue: string } | null; reason: string | null } | null;
  resumedAs: Array<{ run_id: string; output: string }>;
  /** Why the record could not be read, if it could not. */
  note: string | null;
}

// ---- statuses ----

export const STATUS_COLORS: Record<string, string> = {
  running: 'yellow',
  completed: 'green',
  failed: 'red',
  cancelled: 'gray',
  paused: 'magenta',
  pending: 'gray',
  skipped: 'yellow',
};

/** Runs whose workflow is still open: read again while on screen, and asked for `progress`. */
export function isLive(status: string): boolean {
  return status === 'running' || status === 'paused';
}

export function statusColor(status: string): string | undefined {
  return STATUS_COLORS[status];
}

/** The status filters `/` and `s` cycle through (undefined: all runs); live ones first. */
export const STATUS_FILTERS = [undefined, 'running', 'paused', 'completed', 'failed', 'cancelled'] as const;
export type StatusFilter = (typeof STATUS_FILTERS)[number];

export function nextStatusFilter(current: StatusFilter): StatusFilter {
  const at = STATUS_FILTERS.indexOf(current);
  return STATUS_FILTERS[(at + 1) % STATUS_FILTERS.length];
}

// ---- search ----

/**
 * What `/` typed: `status:`, `notebook:` and `schedule:` terms narrow the list as `millrace
 * runs` options do; every other word must appear (any case) in the run's id, notebook,
 * schedule or parameters. A term with an unknown status is an error, not free text.
 */
export interface RunSearch {
  status?: Exclude<StatusFilter, undefined>;
  notebook?: string;
  schedule?: string;
  words: string[];
  error?: string;
}

export function parseSearch(text: string): RunSearch {
  const search: RunSearch = { words: [] };
  for (const term of text.trim().split(/\s+/).filter(Boolean)) {
    const m = /^(status|notebook|schedule):(.*)$/.exec(term);
    if (!m) {
      search.words.push(term.toLowerCase());
    } else if (m[1] === 'status') {
      const status = STATUS_FILTERS.find((s) => s === m[2]);
      if (status) search.status = status;
      else search.error = `no status ${JSON.stringify(m[2])}: one of ${STATUS_FILTERS.filter(Boolean).join(', ')}`;
    } else {
      search[m[1] as 'notebook' | 'schedule'] = m[2];
    }
  }
  return search;
}

/** Whether every free word of the search is in the run's id, notebook, schedule or parameters. */
export function matchesSearch(run: RunSummary, words: readonly string[]): boolean {
  if (words.length === 0) return true;
  const haystack = [run.run_id, run.notebook ?? '', run.schedule ?? '', parametersText(run.parameters)].join('\n').toLowerCase();
  return words.every((w) => haystack.includes(w));
}

// ---- formatting ----

/** `4.2s`, `3m05s`, `2h03m`: short enough for a column. */
export function formatDuration(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds) || seconds < 0) return '';
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 2 : 1)}s`;
  const s = Math.floor(seconds);
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** `2025-06-01 06:00:03Z`: UTC, like the ISO times `runs --json` prints, without the fraction. */
export function formatTime(iso: string | null): string {
  if (!iso) return '';
  const m = /^(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)/.exec(iso);
  return m ? `${m[1]} ${m[2]}Z` : iso;
}

/** `06-01 06:00Z`: a start time short enough for the run list (the run view has the full one). */
export function formatShortTime(iso: string | null): string {
  if (!iso) return '';
  const m = /^\d{4}-(\d\d-\d\d)T(\d\d:\d\d)/.exec(iso);
  return m ? `${m[1]} ${m[2]}Z` : iso;
}

/** Seconds a run took, or has taken so far while it runs. */
export function runSeconds(run: Pick<RunSummary, 'started' | 'ended' | 'duration_s'>, now: Date): number | null {
  if (run.duration_s !== null) return run.duration_s;
  if (!run.started || run.ended) return null;
  return Math.max(0, (now.getTime() - Date.parse(run.started)) / 1000);
}

// ---- the run list ----

export interface RunRow {
  runId: string;
  notebook: string;
  status: string;
  started: string;
  duration: string;
  failed: string;
}

export function runRows(runs: readonly RunListEntry[], now: Date): RunRow[] {
  return runs.map((r) => ({
    runId: r.run_id,
    notebook: r.notebook ?? '',
    status: r.status,
    started: formatShortTime(r.started),
    duration: formatDuration(runSeconds(r, now)),
    failed: r.failed_cell === null ? '' : `cell ${r.failed_cell}${r.error ? `: ${r.error.ename}` : ''}`,
  }));
}

/** Column widths so that every row lines up: the widest value or header, capped. */
export function columnWidths(headers: readonly string[], rows: readonly (readonly string[])[], caps: readonly number[] = []): number[] {
  return headers.map((h, i) => Math.min(caps[i] ?? Infinity, Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length))));
}

/**
 * Narrows columns so that a row of `widths` (joined by `gap` spaces after a `lead`-wide
 * marker) fits in `columns`: the columns in `shrink` give up characters in that order,
 * each down to its minimum, so short columns such as status and the failed cell stay whole.
 */
export function fitColumns(widths: readonly number[], columns: number, shrink: ReadonlyArray<readonly [index: number, min: number]>, lead = 2, gap = 2): number[] {
  const out = [...widths];
  let excess = lead + out.reduce((a, b) => a + b, 0) + gap * (out.length - 1) - columns;
  for (const [i, min] of shrink) {
    if (excess <= 0) break;
    const give = Math.max(0, Math.min(excess, out[i]! - min));
    out[i] = out[i]! - give;
    excess -= give;
  }
  return out;
}

/**
 * A run id in `width` characters: cut in the middle, so that the end (a run's time and
 * random suffix, what tells runs of one notebook apart) stays visible; padded when short.
 */
export function fitMiddle(value: string, width: number): string {
  if (value.length <= width) return value.padEnd(width);
  if (width <= 1) return value.slice(0, width);
  const head = Math.min(8, Math.floor((width - 1) / 3));
  return `${value.slice(0, head)}…${value.slice(value.length - (width - 1 - head))}`;
}

/** `value` cut or padded to exactly `width` characters (a cut shows as `…`). */
export function fit(value: string, width: number): string {
  if (value.length <= width) return value.padEnd(width);
  return width <= 1 ? value.slice(0, width) : `${value.slice(0, width - 1)}…`;
}

// ---- one run ----

export interface CellRow {
  index: number;
  cellType: 'code' | 'markdown' | 'raw';
  status: string;
  durationS: number | null;
  summary: string;
  error: { ename: string; evalue: string } | null;
  /** Carried over from the run this one resumed (`millrace resume`), outputs and all. */
  carriedOver: boolean;
}

// A skip follows the failure: `skipped` from the live query beats a record still saying `failed`.
const STATUS_RANK: Record<string, number> = { pending: 0, running: 1, completed: 2, failed: 2, skipped: 3 };

/**
 * One row per cell of the record; while the run is live the `progress` query is fresher
 * (the record is written at most once a second), so a code cell takes whichever of the
 * two is further along. Before the record exists, the progress query's code cells alone.
 */
export function cellRows(nb: Notebook | null, progress: RunProgress | null): CellRow[] {
  const live = new Map<number, CellProgress>((progress?.cells ?? []).map((c) => [c.index, c]));
  if (!nb) {
    return (progress?.cells ?? []).map((c) => ({
      index: c.index,
      cellType: 'code',
      status: c.status,
      durationS: c.durationMs === undefined ? null : c.durationMs / 1000,
      summary: c.summary,
      error: null,
      carriedOver: false,
    }));
  }
  return recordedCells(nb).map((cell) => {
    // `millrace skip` leaves papermill's `failed`: millrace's note says what happened.
    let status = cell.skipped ? 'skipped' : (cell.status ?? (cell.cellType === 'code' ? 'unknown' : ''));
    let durationS = cell.durationS;
    const p = live.get(cell.index);
    if (p && (STATUS_RANK[p.status] ?? 0) > (STATUS_RANK[status] ?? -1)) {
      status = p.status;
      if (p.durationMs !== undefined) durationS = p.durationMs / 1000;
    }
    // The whole first line: the table cuts it to the terminal's width.
    const { index, cellType, firstLine: summary, error, carriedOver } = cell;
    return { index, cellType, status, durationS, summary, error, carriedOver };
  });
}

/**
 * The row to select when a run opens: the failed cell (a `sys.exit()` is no failure),
 * else the running one, else the first code cell.
 */
export function initialCellPosition(rows: readonly CellRow[], failedCell: number | null = null): number {
  const byIndex = failedCell === null ? -1 : rows.findIndex((r) => r.index === failedCell);
  if (byIndex >= 0) return byIndex;
  const failed = rows.findIndex((r) => r.status === 'failed' && r.error?.ename !== 'SystemExit');
  if (failed >= 0) return failed;
  const running = rows.findIndex((r) => r.status === 'running');
  if (running >= 0) return running;
  return Math.max(0, rows.findIndex((r) => r.cellType === 'code'));
}

export interface HeaderField {
  label: string;
  value: string;
  color?: string;
}

function formatParameter(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 40 ? `${text.slice(0, 39)}…` : text;
}

/** The run view's header, one labelled line each; links name the runs `f` and `a` open. */
export function runHeader(detail: RunDetail, now: Date): HeaderField[] {
  const { summary, notebook } = detail;
  const fields: HeaderField[] = [
    { label: 'run', value: summary.run_id },
    { label: 'status', value: summary.status, color: statusColor(summary.status) },
    { label: 'notebook', value: summary.notebook ?? '' },
    { label: 'output', value: summary.output ?? '' },
    {
      label: 'started',
      value: `${formatTime(summary.started)}${summary.started ? `  (${formatDuration(runSeconds(summary, now))}${summary.ended ? '' : ' so far'})` : ''}`,
    },
  ];
  const params = (notebook?.metadata.papermill as { parameters?: unknown } | undefined)?.parameters;
  if (params && typeof params === 'object' && Object.keys(params).length > 0) {
    fields.push({
      label: 'parameters',
      value: Object.entries(params as Record<string, unknown>)
        .map(([k, v]) => `${k}=${formatParameter(v)}`)
        .join('  '),
    });
  }
  // Where a container kernel ran (variable names only, as recorded).
  const placement = notebook ? describePlacement(notebookMillrace(notebook).kernel) : undefined;
  if (placement) fields.push({ label: 'image', value: placement });
  const from = resumedFrom(detail);
  if (from) fields.push({ label: 'resumed from', value: `${from.run_id} at cell ${from.from_cell}  [f]` });
  if (detail.resumedAs.length > 0) {
    fields.push({ label: 'resumed as', value: `${detail.resumedAs.map((r) => r.run_id).join(', ')}  [a]` });
  }
  const paused = detail.progress?.paused;
  if (paused) {
    const what = `cell ${paused.cell}: ${paused.ename}: ${paused.evalue}`.split('\n')[0]!;
    fields.push({ label: 'paused', value: `${what}  (until ${formatTime(paused.until)})`, color: statusColor('paused') });
  }
  const failure = detail.failure;
  if (failure && summary.status !== 'completed') {
    const what =
      failure.failed_cell !== null && failure.error
        ? `cell ${failure.failed_cell}: ${failure.error.ename}: ${failure.error.evalue}`
        : (failure.reason ?? '');
    if (what) fields.push({ label: 'failed', value: what.split('\n')[0]!, color: 'red' });
  }
  if (summary.notification_failed) fields.push({ label: 'notification failed', value: summary.notification_failed, color: 'yellow' });
  if (detail.note) fields.push({ label: 'note', value: detail.note, color: 'yellow' });
  return fields;
}

export function resumedFrom(detail: RunDetail): { run_id: string; from_cell: number } | null {
  const from = detail.notebook ? notebookMillrace(detail.notebook).resumed_from : undefined;
  return from ? { run_id: from.run_id, from_cell: from.from_cell } : null;
}

// ---- one cell ----

export type LineTone = 'heading' | 'source' | 'stdout' | 'stderr' | 'result' | 'error' | 'note';

export interface DetailLine {
  text: string;
  tone: LineTone;
}

/**
 * What a terminal line can hold: tabs expanded, and of a line a progress bar rewrote with
 * `\r` only what is left last (as a terminal would show it). ANSI colour codes stay: the
 * renderer keeps SGR sequences and strips the rest.
 */
export function terminalLines(text: string): string[] {
  const lines = text.replace(/\r\n/g, '\n').split('\n');
  if (lines.length > 1 && lines[lines.length - 1] === '') lines.pop();
  return lines.map((line) => {
    const parts = line.split('\r').filter((p) => p !== '');
    return (parts[parts.length - 1] ?? '').replace(/\t/g, '    ');
  });
}

function outputLines(output: Output): DetailLine[] {
  switch (output.output_type) {
    case 'stream':
      return terminalLines(sourceText(output.text)).map((text) => ({ text, tone: output.name === 'stderr' ? 'stderr' : 'stdout' }));
    case 'execute_result':
    case 'display_data': {
      const plain = output.data['text/plain'];
      const images = Object.keys(output.data).filter((m) => m.startsWith('image/'));
      const others = Object.keys(output.data).filter((m) => m !== 'text/plain' && !m.startsWith('image/'));
      const lines: DetailLine[] = images.map((mime) => ({ text: imagePlaceholder(mime, output.data[mime], output.metadata[mime]), tone: 'note' }));
      // An image's text/plain is `<Figure size 640x480 with 1 Axes>`: the placeholder says more.
      if ((typeof plain === 'string' || Array.isArray(plain)) && images.length === 0) {
        lines.push(...terminalLines(sourceText(plain as string | string[])).map((text): DetailLine => ({ text, tone: 'result' })));
      }
      if (others.length > 0) lines.push({ text: `[${others.join(', ')}]`, tone: 'note' });
      return lines;
    }
    case 'error':
      return output.traceback.length > 0
        ? output.traceback.flatMap((entry) => terminalLines(entry)).map((text) => ({ text, tone: 'error' }))
        : [{ text: `${output.ename}: ${output.evalue}`, tone: 'error' }];
    default:
      return [];
  }
}

/**
 * An image output as one line: its type, its size in pixels when known (a PNG's header,
 * else the width and height its output metadata gives) and in bytes, and the key that
 * shows it (in the browser viewer, run-view's `v`).
 */
export function imagePlaceholder(mime: string, data: unknown, metadata: unknown): string {
  const text = typeof data === 'string' ? data : Array.isArray(data) ? data.join('') : '';
  // Images other than SVG are base64 in nbformat.
  const bytes = mime === 'image/svg+xml' ? Buffer.byteLength(text) : Math.floor((text.replace(/\s/g, '').replace(/=+$/, '').length * 3) / 4);
  const header = mime === 'image/png' ? Buffer.from(text.replace(/\s/g, '').slice(0, 32), 'base64') : Buffer.alloc(0);
  const given = (metadata ?? {}) as { width?: unknown; height?: unknown };
  const pixels =
    header.length >= 24 && header.readUInt32BE(12) === 0x49484452 // "IHDR"
      ? `${header.readUInt32BE(16)}×${header.readUInt32BE(20)}`
      : typeof given.width === 'number' && typeof given.height === 'number'
        ? `${given.width}×${given.height}`
        : null;
  return `[${mime}${pixels ? ` ${pixels}` : ''}, ${formatBytes(bytes)} · v opens it in the viewer]`;
}

/** A cell as text: its source, then its outputs in order (stream text, text/plain, errors with their traceback). */
export function cellDetailLines(cell: Cell | undefined): DetailLine[] {
  if (!cell) return [{ text: 'the record of this cell is not written yet', tone: 'note' }];
  const lines: DetailLine[] = [{ text: `── source (${cell.cell_type}) ──`, tone: 'heading' }];
  const source = sourceText(cell.source);
  lines.push(...(source === '' ? [{ text: '(empty)', tone: 'note' as const }] : terminalLines(source).map((text) => ({ text, tone: 'source' as const }))));
  if (cell.cell_type !== 'code') return lines;
  lines.push({ text: `── outputs (${cell.outputs.length}) ──`, tone: 'heading' });
  for (const output of cell.outputs) lines.push(...outputLines(output));
  return lines;
}

// ---- scrolling ----

/** The first item to show so that `selected` is inside a window of `height` items. */
export function windowStart(selected: number, count: number, height: number, current = 0): number {
  if (height <= 0 || count <= height) return 0;
  let start = Math.min(current, count - height);
  if (selected < start) start = selected;
  if (selected >= start + height) start = selected - height + 1;
  return Math.max(0, Math.min(start, count - height));
}

/** `value` kept between 0 and `count - 1` (0 when there is nothing). */
export function clamp(value: number, count: number): number {
  return Math.max(0, Math.min(value, count - 1));
}
