/**
 * `millrace metrics`: the values runs recorded with scrapbook's `glue()`, gathered from
 * their output notebooks in the store into one table, with each run's id, status, start
 * time, parameters and per-cell durations beside them (what papermill users did with
 * `scrapbook.read_notebooks(...)` and a DataFrame). Runs are chosen by schedule, notebook
 * file name and start time; every matching run is a row, with or without values.
 */
import { mapLimited } from '../../record/store/map-limited.js';
import { z } from 'zod';
import { joinLocation, store } from '../../record/store/index.js';
import { NotebookError } from '../../notebook/nbformat.js';
import { readRecord } from '../../record/run-record.js';
import { extractScraps, isDecoded, runFacts } from '../../notebook/scrapbook.js';
import { runNotebook } from '../../viewer/runs.js';
import { storeToRead } from '../config.js';
import { EXIT, UserError } from '../errors.js';
import { SCHEDULE_NAME_PATTERN } from '../schedule-input.js';
import { table } from '../table.js';

export const metricsOptionsSchema = z.object({
  schedule: z.string().optional(),
  notebook: z.string().min(1).optional(),
  since: z.string().optional(),
  until: z.string().optional(),
  format: z.enum(['text', 'csv', 'json']).default('text'),
  json: z.boolean().default(false),
  /** --no-csv-escape: cells that look like spreadsheet formulas written as they are. */
  csvEscape: z.boolean().default(true),
  store: z.string().min(1).optional(),
});

export interface MetricsRow {
  run_id: string;
  status: string;
  notebook: string;
  schedule: string | null;
  start_time: string | null;
  end_time: string | null;
  duration_s: number | null;
  parameters: Record<string, unknown>;
  /** Glued values by name; values other encoders wrote (pandas) as {encoder, encoded}. */
  values: Record<string, unknown>;
  /** Seconds per executed code cell, by cell index. */
  cell_durations: Record<string, number>;
}

const UNITS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** ISO 8601 date or time (a date alone is midnight UTC), or a span ago: `30m`, `12h`, `7d`. */
export function parseTimeBound(flag: string, value: string, now = Date.now()): number {
  const ago = /^(\d+)([smhdw])$/.exec(value.trim());
  if (ago) return now - Number(ago[1]) * UNITS[ago[2]!]!;
  if (/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/i.test(value.trim())) {
    const iso = value.trim().replace(' ', 'T');
    // A time without an offset is UTC, as everywhere in millrace's records.
    const t = Date.parse(/T/.test(iso) && !/(Z|[+-]\d{2}:?\d{2})$/i.test(iso) ? `${iso}Z` : iso);
    if (!Number.isNaN(t)) return t;
  }
  throw new UserError(`${flag} ${JSON.stringify(value)}: give an ISO 8601 date or time (2024-05-01, 2024-05-01T06:00:00Z) or a span ago (30m, 12h, 7d)`);
}

function scheduledIdPattern(schedule: string): RegExp {
  return new RegExp(`^${schedule.replace(/[.]/g, '\\.')}-\\d{4}-\\d{2}-\\d{2}T`);
}

export interface MetricsFilter {
  schedule?: string;
  notebook?: string;
  since?: number;
  until?: number;
}

/** Rows for every run in the store that matches, oldest first. */
export async function collectMetrics(storeRoot: string, filter: MetricsFilter, warn: (line: string) => void): Promise<MetricsRow[]> {
  const { folders } = await store.listFolder(joinLocation(storeRoot, 'runs'));
  if (folders.length === 0) warn(`millrace metrics: no runs in the store at ${storeRoot} (see --store, MILLRACE_STORE)`);
  const wantNotebook = filter.notebook?.replace(/\.ipynb$/, '');
  const rows = await mapLimited(folders, 8, async (folder): Promise<MetricsRow | undefined> => {
    const folderId = folder.replace(/\/+$/, '').split('/').pop() ?? '';
    // A schedule's runs are named `<schedule>-<nominal time>`: others are not read at all.
    if (filter.schedule && !folderId.startsWith(`${filter.schedule}-`)) return undefined;
    const object = await runNotebook(folder);
    if (!object) return undefined;
    if (wantNotebook && object.name.replace(/\.ipynb$/, '') !== wantNotebook) return undefined;
    let nb;
    try {
      nb = (await readRecord(object.location)).notebook;
    } catch (err) {
      if (!(err instanceof NotebookError)) throw err;
      warn(`millrace metrics: skipped ${object.location}: ${err.message}`);
      return undefined;
    }
    const facts = runFacts(nb);
    // Records from before metadata.millrace.schedule existed: the id's shape decides.
    if (filter.schedule && (facts.schedule ?? (scheduledIdPattern(filter.schedule).test(folderId) ? filter.schedule : null)) !== filter.schedule) return undefined;
    if (filter.since !== undefined || filter.until !== undefined) {
      const started = facts.start_time ? Date.parse(facts.start_time) : NaN;
      if (Number.isNaN(started)) return undefined;
      if (filter.since !== undefined && started < filter.since) return undefined;
      if (filter.until !== undefined && started >= filter.until) return undefined;
    }
    const values: Record<string, unknown> = {};
    for (const scrap of extractScraps(nb).values()) {
      values[scrap.name] = isDecoded(scrap) ? scrap.data : { encoder: scrap.encoder, encoded: scrap.data };
    }
    return {
      run_id: facts.run_id ?? folderId,
      status: facts.status,
      notebook: object.name,
      schedule: facts.schedule,
      start_time: facts.start_time,
      end_time: facts.end_time,
      duration_s: facts.duration_s,
      parameters: facts.parameters,
      values,
      cell_durations: facts.cell_durations,
    };
  });
  return rows
    .filter((r): r is MetricsRow => r !== undefined)
    .sort((a, b) => (a.start_time ?? '').localeCompare(b.start_time ?? '') || a.run_id.localeCompare(b.run_id));
}

const FIXED = ['run_id', 'status', 'notebook', 'schedule', 'start_time', 'duration_s'] as const;

function cellText(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object' && 'encoder' in value && 'encoded' in value && Object.keys(value).length === 2) {
    const v = value as { encoder: string; encoded: unknown };
    return `<${v.encoder} value, ${typeof v.encoded === 'string' ? v.encoded.length : 0} bytes encoded>`;
  }
  return JSON.stringify(value);
}

/**
 * The rows as one flat table: the run's columns, then one column per glued name (in the
 * order first seen; `value.<name>` if it would shadow a run column), `param.<name>` per
 * parameter, and `cell<N>_s` per executed cell.
 */
export function flatten(rows: MetricsRow[]): { headers: string[]; cells: string[][] } {
  const values: string[] = [];
  const params: string[] = [];
  const cellIdx = new Set<number>();
  for (const r of rows) {
    for (const k of Object.keys(r.values)) if (!values.includes(k)) values.push(k);
    for (const k of Object.keys(r.parameters)) if (!params.includes(k)) params.push(k);
    for (const k of Object.keys(r.cell_durations)) cellIdx.add(Number(k));
  }
  const cells = [...cellIdx].sort((a, b) => a - b);
  const valueHeader = (k: string) => ((FIXED as readonly string[]).includes(k) ? `value.${k}` : k);
  const headers = [...FIXED, ...values.map(valueHeader), ...params.map((p) => `param.${p}`), ...cells.map((c) => `cell${c}_s`)];
  const body = rows.map((r) => [
    r.run_id,
    r.status,
    r.notebook,
    r.schedule ?? '',
    r.start_time ?? '',
    r.duration_s === null ? '' : String(r.duration_s),
    ...values.map((k) => cellText(r.values[k])),
    ...params.map((p) => cellText(r.parameters[p])),
    ...cells.map((c) => cellText(r.cell_durations[String(c)])),
  ]);
  return { headers, cells: body };
}

/** A cell a spreadsheet would read as a formula (OWASP's CSV injection list)... */
const FORMULA_START = /^[=+\-@\t\r]/;
/** ...unless it is a plain number such as -3 or +1.5e-3, which stays a number. */
const PLAIN_NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/**
 * OWASP's defence against CSV (formula) injection: a cell starting with = + - @ tab or CR
 * gets a leading single quote, so Excel, LibreOffice and Sheets show it as text rather
 * than run it (glued values and their names come from notebooks, anyone's).
 */
export function escapeFormula(s: string): string {
  return FORMULA_START.test(s) && !PLAIN_NUMBER.test(s) ? `'${s}` : s;
}

/**
 * RFC 4180: CRLF line ends; fields with a comma, quote, CR or LF quoted, quotes doubled.
 * Formula-like cells escaped (escapeFormula) unless `escapeFormulas` is false.
 */
export function toCsv(headers: string[], rows: string[][], options: { escapeFormulas?: boolean } = {}): string {
  const escape = options.escapeFormulas === false ? (s: string) => s : escapeFormula;
  const field = (raw: string) => {
    const s = escape(raw);
    return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  return [headers, ...rows].map((r) => r.map(field).join(',')).join('\r\n') + '\r\n';
}

export async function metricsCommand(raw: unknown): Promise<number> {
  const parsed = metricsOptionsSchema.safeParse(raw);
  if (!parsed.success) throw new UserError(`metrics --${parsed.error.issues[0]?.path.join('.')}: ${parsed.error.issues[0]?.message}`);
  const options = parsed.data;
  const format = options.json ? 'json' : options.format;
  if (options.schedule !== undefined && !SCHEDULE_NAME_PATTERN.test(options.schedule)) {
    throw new UserError(`metrics --schedule ${JSON.stringify(options.schedule)}: not a schedule name (see \`millrace schedule list\`)`);
  }
  const filter: MetricsFilter = {
    ...(options.schedule ? { schedule: options.schedule } : {}),
    ...(options.notebook ? { notebook: options.notebook } : {}),
    ...(options.since ? { since: parseTimeBound('--since', options.since) } : {}),
    ...(options.until ? { until: parseTimeBound('--until', options.until) } : {}),
  };
  if (filter.since !== undefined && filter.until !== undefined && filter.since >= filter.until) {
    throw new UserError('metrics: --since must be earlier than --until');
  }
  const storeRoot = storeToRead(options.store);
  const rows = await collectMetrics(storeRoot, filter, (line) => process.stderr.write(`${line}\n`));
  if (format === 'json') {
    process.stdout.write(`${JSON.stringify(rows)}\n`);
  } else if (format === 'csv') {
    const flat = flatten(rows);
    process.stdout.write(toCsv(flat.headers, flat.cells, { escapeFormulas: options.csvEscape }));
  } else if (rows.length === 0) {
    process.stdout.write('no runs match\n');
  } else {
    const flat = flatten(rows);
    process.stdout.write(table(flat.headers, flat.cells));
  }
  return EXIT.ok;
}
