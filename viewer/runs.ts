/**
 * The runs in a store, newest first, a page at a time. One listing of `runs/` (the store
 * pages through any number of folders) gives the run ids; a run's time comes from its id
 * when millrace made it (`<notebook>-<YYYYMMDDTHHMMSSZ>-<hex>`, `<schedule>-<RFC 3339>`),
 * else from its output notebook's modification time, looked up once and remembered. Only
 * the runs on the page being shown have their records read, for status and duration.
 */
import { mapLimited } from '../record/store/map-limited.js';
import { joinLocation, store, type ObjectInfo } from '../record/store/index.js';
import { runFacts, type RunFacts } from '../notebook/scrapbook.js';
import { isFinishedRecord } from '../record/metadata.js';
import { readRecord } from '../record/run-record.js';

export interface RunEntry {
  runId: string;
  folder: string;
  /** Milliseconds since the epoch: when the run started, as well as the store can tell. */
  time: number;
}

export interface RunSummary extends RunEntry {
  notebook?: ObjectInfo & { name: string };
  facts?: RunFacts;
  note?: string;
}

/** Records larger than this are not read for the list (status shows as unknown). */
const SUMMARY_READ_LIMIT = 16 * 1024 * 1024;
const CONCURRENCY = 16;

export function timeFromRunId(runId: string): number | undefined {
  const compact = /-(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z(?:-|$)/.exec(runId);
  if (compact) {
    const [y, mo, d, h, mi, s] = compact.slice(1).map(Number) as [number, number, number, number, number, number];
    return Date.UTC(y, mo - 1, d, h, mi, s);
  }
  const rfc = /-(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2}))$/.exec(runId);
  if (rfc) {
    const t = Date.parse(rfc[1]!);
    return Number.isNaN(t) ? undefined : t;
  }
  return undefined;
}

const nameOf = (location: string) => location.replace(/\/+$/, '').split('/').pop() ?? '';

/** The output notebook of a run folder: the `.ipynb` directly inside it. */
async function runNotebook(folder: string): Promise<(ObjectInfo & { name: string }) | undefined> {
  const listing = await store.listFolder(folder);
  const notebooks = listing.objects.filter((o) => o.location.endsWith('.ipynb')).map((o) => ({ ...o, name: nameOf(o.location) }));
  return notebooks.sort((a, b) => b.modified.getTime() - a.modified.getTime())[0];
}

export class RunIndex {
  private readonly fallbackTimes = new Map<string, number>();
  private readonly summaries = new Map<string, { key: string; facts?: RunFacts; note?: string }>();

  constructor(private readonly storeRoot: string) {}

  get runsFolder(): string {
    return joinLocation(this.storeRoot, 'runs');
  }

  /** Every run, newest first (ties by id, descending). */
  async list(): Promise<RunEntry[]> {
    const { folders } = await store.listFolder(this.runsFolder);
    const entries = await mapLimited(folders, CONCURRENCY, async (folder): Promise<RunEntry> => {
      const runId = nameOf(folder);
      let time = timeFromRunId(runId) ?? this.fallbackTimes.get(runId);
      if (time === undefined) {
        time = (await runNotebook(folder))?.modified.getTime() ?? 0;
        if (this.fallbackTimes.size > 100_000) this.fallbackTimes.clear();
        this.fallbackTimes.set(runId, time);
      }
      return { runId, folder, time };
    });
    return entries.filter((e) => !e.runId.startsWith('.')).sort((a, b) => b.time - a.time || (a.runId < b.runId ? 1 : a.runId > b.runId ? -1 : 0));
  }

  /** Status and times of the runs on one page, from their records (cached by size and mtime). */
  async summarize(entries: RunEntry[]): Promise<RunSummary[]> {
    return mapLimited(entries, CONCURRENCY, async (entry) => {
      const notebook = await runNotebook(entry.folder);
      if (!notebook) return { ...entry, note: 'no output notebook' };
      const key = `${notebook.location}|${notebook.size}|${notebook.modified.getTime()}`;
      let cached = this.summaries.get(entry.runId);
      if (cached?.key !== key) {
        cached = { key };
        // A live record (the notebook plus its journal) changes without its notebook: not kept.
        let finished = true;
        if (notebook.size > SUMMARY_READ_LIMIT) cached.note = 'record too large to summarise here';
        else {
          try {
            const record = (await readRecord(notebook.location)).notebook;
            cached.facts = runFacts(record);
            finished = isFinishedRecord(record);
          } catch (err) {
            cached.note = `unreadable record: ${(err as Error).message.split('\n')[0]}`;
          }
        }
        if (this.summaries.size > 20_000) this.summaries.clear();
        if (finished) this.summaries.set(entry.runId, cached);
      }
      return { ...entry, notebook, ...(cached.facts ? { facts: cached.facts } : {}), ...(cached.note ? { note: cached.note } : {}) };
    });
  }
}

export { runNotebook };

/** The run list's filters, checked: times as milliseconds. */
export interface RunQuery {
  notebook?: string;
  status?: string;
  schedule?: string;
  since?: number;
  until?: number;
}

/** `2024-05-01` (midnight UTC) or an ISO 8601 time, as `millrace metrics --since` reads them. */
export function parseDateBound(value: string): number | undefined {
  if (!/^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/.test(value)) return undefined;
  const t = Date.parse(/[T ]\d{2}:\d{2}/.test(value) && !/(?:Z|[+-]\d{2}:?\d{2})$/.test(value) ? `${value.replace(' ', 'T')}Z` : value);
  return Number.isNaN(t) ? undefined : t;
}

/** Whether a summarised run matches: every filter given must hold (since ≤ start < until). */
export function matchesQuery(run: RunSummary, q: RunQuery): boolean {
  if (q.notebook && run.notebook?.name.replace(/\.ipynb$/, '') !== q.notebook.replace(/\.ipynb$/, '')) return false;
  if (q.status && run.facts?.status !== q.status) return false;
  if (q.schedule && run.facts?.schedule !== q.schedule) return false;
  const started = run.facts?.start_time ? Date.parse(run.facts.start_time.endsWith('Z') ? run.facts.start_time : `${run.facts.start_time}Z`) : run.time;
  if (q.since !== undefined && !(started >= q.since)) return false;
  if (q.until !== undefined && !(started < q.until)) return false;
  return true;
}
