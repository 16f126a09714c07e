/**
 * The output notebook of one run, as this worker process holds it while cells execute,
 * and how it is kept in the store so that a live or crashed run can be read and resumed
 * without rewriting the whole notebook after every cell (O(cells²) bytes; see
 * docs/storage.md for the measurements):
 *
 * - `<output>`: the whole notebook. Written when the run starts, whenever the bytes
 *   journaled since the last whole write exceed that write's size (so whole writes grow
 *   geometrically and cost O(final size) in all), and when the run finishes.
 * - `<output>.journal/<revision>.json`: every revision after the first, written once
 *   (create-if-absent): the cells that changed and the top-level metadata that changed.
 * - `<output>.journal/<revision>.live.json`: the executing cell's outputs so far,
 *   rewritten at most every second while it runs (the only object ever replaced).
 *
 * `readRecord` merges them, and is the one way to read a record: `openRecord` (a worker
 * that did not run the previous cell), `millrace show`, `resume`, `inspect`, `metrics`
 * and the viewer. It checks metadata.millrace against its schema (record/metadata.ts).
 *
 * Cells of a run may execute on different workers, so every activity states the record
 * revision it expects; a worker whose copy is older reloads it from the store. Writes
 * are coalesced: a cell that finishes quickly costs one write, a long one is flushed
 * every second so a live or crashed run can be read.
 */
// The module, not the package's index, which loads all of @temporalio/common (about 0.05 s of
// CPU in every command that touches the store); the same class either way.
import { ApplicationFailure } from '@temporalio/common/lib/failure.js';
import { z } from 'zod';
import { NotebookError, parseNotebook, serializeNotebook, type Notebook } from '../notebook/nbformat.js';
import type { CellOutputCollector } from '../notebook/outputs.js';
import { pyJsonDumps, pyJsonLoads, setOwn } from '../notebook/pyjson.js';
import { cellMillrace, isFinishedRecord, notebookMillrace, recordRevision, runRecordMillrace, type RunRecordMillrace } from './metadata.js';
import { isWritableLocation, joinLocation, locationBasename, ObjectExistsError, ObjectNotFoundError, store } from './store/index.js';
import { mapLimited } from './store/map-limited.js';

export class StaleRecordError extends Error {
  constructor(
    location: string,
    readonly expected: number,
    readonly found: number,
  ) {
    super(`output notebook ${location} is at revision ${found}, expected ${expected}`);
    this.name = 'StaleRecordError';
  }
}

/** Another worker wrote this revision first: its record wins, this copy is dropped. */
export class RecordConflictError extends Error {
  constructor(location: string, revision: number) {
    super(`revision ${revision} of ${location} was written by another worker`);
    this.name = 'RecordConflictError';
  }
}

// --- the journal: pure parts -------------------------------------------------------------

export function journalFolder(output: string): string {
  return `${output}.journal`;
}

function entryName(revision: number, live: boolean): string {
  return `${String(revision).padStart(8, '0')}${live ? '.live' : ''}.json`;
}

const ENTRY_NAME_RE = /^(\d{8,})(\.live)?\.json$/;

/** One journal entry: how revision `revision` differs from revision `revision - 1` (or, live, from `revision`). */
export const journalEntrySchema = z.object({
  revision: z.number().int().nonnegative(),
  live: z.boolean().optional(),
  cell_count: z.number().int().nonnegative(),
  /** [index, cell] for every cell that changed; cells are checked with the notebook after merging. */
  cells: z.array(z.tuple([z.number().int().nonnegative(), z.looseObject({})])),
  /** Top-level notebook metadata keys that changed, with their new values. */
  metadata: z.record(z.string(), z.unknown()),
});
export type JournalEntry = z.infer<typeof journalEntrySchema>;

/**
 * What changed from `base` to `next`, by identity: notebook/ functions never mutate, so
 * an unchanged cell or metadata value is the same object in both. undefined when the
 * change cannot be journaled (nbformat itself changed). An empty entry has no cells and
 * no metadata.
 */
export function journalEntry(base: Notebook, next: Notebook, live: boolean): JournalEntry | undefined {
  if (base.nbformat !== next.nbformat || base.nbformat_minor !== next.nbformat_minor) return undefined;
  const cells: Array<[number, Record<string, unknown>]> = [];
  next.cells.forEach((cell, index) => {
    if (base.cells[index] !== cell) cells.push([index, cell as unknown as Record<string, unknown>]);
  });
  const metadata: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(next.metadata)) {
    // setOwn: a key named "__proto__" is data, and must not become the object's prototype.
    if (base.metadata[key] !== value) setOwn(metadata, key, value);
  }
  for (const key of Object.keys(base.metadata)) {
    // A removed key cannot be said in an entry; nothing removes one today.
    if (!(key in next.metadata)) return undefined;
  }
  return { revision: recordRevision(next), ...(live ? { live } : {}), cell_count: next.cells.length, cells, metadata };
}

function isEmpty(entry: JournalEntry, base: Notebook): boolean {
  return entry.cells.length === 0 && Object.keys(entry.metadata).length === 0 && entry.cell_count === base.cells.length;
}

/**
 * Applies entries, in order, to a notebook as parsed JSON (not yet validated: the merged
 * result is validated as a whole notebook by the caller).
 */
export function applyEntries(raw: Record<string, any>, entries: readonly JournalEntry[], where: string): Record<string, any> {
  const cells: unknown[] = [...(raw['cells'] as unknown[])];
  const metadata: Record<string, unknown> = { ...(raw['metadata'] as Record<string, unknown>) };
  for (const entry of entries) {
    const before = cells.length;
    cells.length = entry.cell_count;
    for (const [index, cell] of entry.cells) {
      if (index >= entry.cell_count) throw new Error(`${where}: journal entry ${entry.revision} has cell ${index} of ${entry.cell_count}`);
      cells[index] = cell;
    }
    for (let i = before; i < entry.cell_count; i++) {
      if (cells[i] === undefined) throw new Error(`${where}: journal entry ${entry.revision} leaves cell ${i} undefined`);
    }
    for (const [key, value] of Object.entries(entry.metadata)) setOwn(metadata, key, value);
  }
  return { ...raw, cells, metadata };
}

// --- reading -------------------------------------------------------------------------------

export interface LoadedRecord {
  notebook: Notebook;
  /** Size of the whole-notebook object read, and of the journal entries applied to it. */
  wholeBytes: number;
  journaledBytes: number;
}

const READ_CONCURRENCY = 16;

async function readEntry(location: string): Promise<{ entry: JournalEntry; bytes: number }> {
  const text = (await store.read(location)).toString('utf8');
  const parsed = journalEntrySchema.safeParse(pyJsonLoads(text));
  if (!parsed.success) throw new Error(`${location}: not a journal entry (${parsed.error.issues[0]?.message})`);
  return { entry: parsed.data, bytes: Buffer.byteLength(text) };
}

/**
 * A notebook read from the store, with its metadata.millrace checked, the notebook's and
 * every cell's: what comes out of readRecord can be read with the typed accessors (throws
 * NotebookError).
 */
function parsedRecord(text: string, where: string): Notebook {
  const nb = parseNotebook(text, where);
  notebookMillrace(nb, where);
  for (const cell of nb.cells) cellMillrace(cell, where);
  return nb;
}

/**
 * The record at `location` as it stands now: the whole notebook, plus the journal
 * entries newer than it (consecutive revisions only), plus the running cell's live
 * entry. A finished record is the whole notebook alone. Every journal entry is written
 * once and never removed, and the notebook is read before the journal is listed, so
 * what is merged is a state the run really had (at worst a moment old).
 */
export async function readRecord(location: string, options: { name?: string } = {}): Promise<LoadedRecord> {
  // What errors call the file: the viewer names it by its path in the store.
  const where = options.name ?? location;
  const text = (await store.read(location)).toString('utf8');
  const whole = parsedRecord(text, where);
  const wholeBytes = Buffer.byteLength(text);
  if (isFinishedRecord(whole) || !isWritableLocation(location)) return { notebook: whole, wholeBytes, journaledBytes: 0 };
  const listing = await store.listFolder(journalFolder(location));
  const finals = new Map<number, string>();
  const lives = new Map<number, string>();
  for (const object of listing.objects) {
    const match = ENTRY_NAME_RE.exec(locationBasename(object.location));
    if (match) (match[2] ? lives : finals).set(Number(match[1]), object.location);
  }
  const wanted: string[] = [];
  let revision = recordRevision(whole);
  while (finals.has(revision + 1)) wanted.push(finals.get(++revision)!);
  const live = lives.get(revision);
  if (live) wanted.push(live);
  if (wanted.length === 0) return { notebook: whole, wholeBytes, journaledBytes: 0 };
  const read = await mapLimited(wanted, READ_CONCURRENCY, (entryLocation) =>
    readEntry(entryLocation).catch((err) => {
      // A live entry may be replaced while we read; it is optional.
      if (entryLocation === live && err instanceof ObjectNotFoundError) return undefined;
      throw err;
    }),
  );
  const entries = read.filter((r) => r !== undefined);
  const merged = applyEntries(pyJsonLoads(text) as Record<string, any>, entries.map((r) => r.entry), where);
  const notebook = parsedRecord(pyJsonDumps(merged), where);
  const journaledBytes = entries.filter((r) => !r.entry.live).reduce((sum, r) => sum + r.bytes, 0);
  return { notebook, wholeBytes, journaledBytes };
}

// --- writing -------------------------------------------------------------------------------

export class RunRecord {
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();
  /** The cell executing now: its outputs join the notebook when it is written. */
  private collector: CellOutputCollector | undefined;
  /**
   * This process wrote the current revision itself, by running the cell, so no other
   * process can have sent the next cell's request (a record read from the store proves
   * nothing of the kind, nor one whose cell was recovered from the kernel's registry: the
   * lost worker may have sent the next cell behind it before saving this revision).
   */
  owned = false;
  /** The notebook as the store holds it at its newest revision: the base of the next entry. */
  private stored: Notebook | undefined;
  private wholeBytes = 0;
  private journaledBytes = 0;
  /** The live entry last written, so an unchanged running cell is not written again. */
  private lastLive: string | undefined;
  /** Another worker wrote a revision first: this copy must not be used again. */
  superseded = false;
  /**
   * When this copy was loaded or the workflow last waited for it (recordSaved, just before
   * its workflow task ended), epoch ms: no later than the start of the workflow task that
   * runs the current local cells, which bounds how long they may save it write-behind
   * (activities/execute-cell.ts). A cell's own flush does not move it.
   */
  syncedAt = Date.now();

  constructor(
    readonly location: string,
    /** The record without the executing cell's outputs (notebook/ functions never mutate). */
    public notebook: Notebook,
    /** A record read from the store: what it holds and how it was written. */
    loaded?: Omit<LoadedRecord, 'notebook'>,
  ) {
    if (loaded) {
      this.stored = notebook;
      this.wholeBytes = loaded.wholeBytes;
      this.journaledBytes = loaded.journaledBytes;
    }
  }

  /** metadata.millrace of the record; throws when the notebook is not a run record. */
  get meta(): RunRecordMillrace {
    return runRecordMillrace(this.notebook, this.location);
  }

  update(change: (nb: Notebook) => Notebook): void {
    this.notebook = change(this.notebook);
  }

  /** The executing cell's outputs so far, from `collector`, are included in every write until settle(). */
  includeLiveOutputs(collector: CellOutputCollector): void {
    this.collector = collector;
  }

  /** Folds the executing cell's outputs into the record. */
  settle(): void {
    if (this.collector) this.notebook = this.collector.applyTo(this.notebook);
    this.collector = undefined;
  }

  /** The notebook as the next write will store it: with the executing cell's outputs so far. */
  private withLiveOutputs(): Notebook {
    return this.collector ? this.collector.applyTo(this.notebook) : this.notebook;
  }

  /** Whether this copy holds a revision the store does not have (a write failed). */
  unwritten(): boolean {
    return this.stored === undefined || recordRevision(this.stored) !== recordRevision(this.notebook);
  }

  /** Writes soon: at most one pending write, so bursts of output become one write. */
  saveSoon(delayMs: number): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.enqueueWrite();
    }, delayMs);
  }

  /** Writes now and waits until everything written so far is in the store. */
  async flush(): Promise<void> {
    this.save();
    await this.writing;
  }

  /**
   * Starts writing now without waiting (write-behind): `written()` waits for it. A write
   * that fails is written again by the next one, as a failed flush is.
   */
  save(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.enqueueWrite();
  }

  /** Waits until every write started so far is in the store; throws when the last one failed. */
  async written(): Promise<void> {
    await this.writing;
  }

  private enqueueWrite(): void {
    const snapshot = this.withLiveOutputs();
    // A failed write leaves `stored` behind, so the next one carries its changes too.
    const writing = this.writing.catch(() => undefined).then(() => this.write(snapshot));
    // A background (live) write that fails is nobody's to handle: the next write covers
    // it, and flush() reports a failure of the write it waits for.
    writing.catch(() => undefined);
    this.writing = writing;
  }

  private async write(nb: Notebook): Promise<void> {
    const base = this.stored;
    if (this.superseded) throw new RecordConflictError(this.location, recordRevision(nb));
    if (base === undefined) return this.writeWhole(nb, { create: true });
    if (isFinishedRecord(nb)) return this.writeWhole(nb);
    const revision = recordRevision(nb);
    const baseRevision = recordRevision(base);
    if (revision === baseRevision) return this.writeLive(base, nb);
    const entry = revision === baseRevision + 1 ? journalEntry(base, nb, false) : undefined;
    if (!entry) return this.writeWhole(nb);
    const text = pyJsonDumps(entry, 0);
    await this.writeEntry(revision, text);
    this.stored = nb;
    this.lastLive = undefined;
    this.journaledBytes += Buffer.byteLength(text);
    // Geometric: the whole notebook is rewritten once the journal since the last whole
    // write outgrows it, so whole writes add up to about twice the final size.
    if (this.journaledBytes > this.wholeBytes) await this.writeWhole(nb);
  }

  private async writeLive(base: Notebook, nb: Notebook): Promise<void> {
    const entry = journalEntry(base, nb, true);
    if (!entry || isEmpty(entry, base)) return;
    const text = pyJsonDumps(entry, 0);
    if (text === this.lastLive) return;
    await store.write(joinLocation(journalFolder(this.location), entryName(entry.revision, true)), text);
    this.lastLive = text;
  }

  private async writeEntry(revision: number, text: string): Promise<void> {
    const location = joinLocation(journalFolder(this.location), entryName(revision, false));
    try {
      await store.write(location, text, { ifAbsent: true });
    } catch (err) {
      if (!(err instanceof ObjectExistsError)) throw err;
      // Our own earlier attempt (its answer lost) wrote the same bytes; anything else is
      // another worker's, and its record wins.
      const existing = (await store.read(location)).toString('utf8');
      if (existing !== text) {
        this.superseded = true;
        throw new RecordConflictError(this.location, revision);
      }
    }
  }

  private async writeWhole(nb: Notebook, options: { create?: boolean } = {}): Promise<void> {
    const text = serializeNotebook(nb);
    if (options.create) {
      // A run never overwrites another run's record: the first write creates it or fails.
      await store.write(this.location, text, { ifAbsent: true }).catch(async (err) => {
        if (!(err instanceof ObjectExistsError)) throw err;
        await refuseOtherRunsRecord(this.location, notebookMillrace(nb).run_id);
        // This run's own record, from an earlier attempt of the same step.
        await store.write(this.location, text);
      });
    } else {
      await store.write(this.location, text);
    }
    this.stored = nb;
    this.lastLive = undefined;
    this.wholeBytes = Buffer.byteLength(text);
    this.journaledBytes = 0;
  }

  discard(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/**
 * A run never overwrites another run's record: throws (non-retryable) when `location`
 * holds anything but run `runId`'s own record. A file there that is not a record millrace
 * can read (not a notebook, no run id) has an unknown owner and is refused too: it may be
 * someone's notebook. Nothing there, or this run's record from an earlier attempt, passes.
 */
export async function refuseOtherRunsRecord(location: string, runId: string | undefined): Promise<void> {
  let owner: string;
  try {
    const existing = parseNotebook((await store.read(location)).toString('utf8'), location);
    owner = notebookMillrace(existing).run_id ?? '(unknown)';
  } catch (err) {
    if (err instanceof ObjectNotFoundError) return;
    if (!(err instanceof NotebookError)) throw err;
    owner = '(unknown)';
  }
  if (owner !== runId) {
    throw ApplicationFailure.nonRetryable(`${location} is the record of run ${owner}; a run never overwrites another run's record`, 'RecordExists');
  }
}

const records = new Map<string, RunRecord>();

/**
 * The record at `revision` when this process wrote that revision itself (see
 * RunRecord.owned), once that write is in the store: a revision saved write-behind is
 * waited for here. undefined when the write failed (openRecord writes it again).
 */
export async function ownedRecord(location: string, revision: number): Promise<RunRecord | undefined> {
  const cached = records.get(location);
  if (!cached?.owned || cached.superseded || cached.meta.revision !== revision) return undefined;
  const saved = await cached.written().then(
    () => true,
    () => false,
  );
  return saved && !cached.superseded && !cached.unwritten() ? cached : undefined;
}

/**
 * This worker's own copy of the record at whatever revision it is, without waiting for its
 * writes: a cell sent ahead takes its code from it (no cell's code changes while cells run).
 */
export function recordInMemory(location: string): RunRecord | undefined {
  const cached = records.get(location);
  return cached?.owned && !cached.superseded ? cached : undefined;
}

export function rememberRecord(record: RunRecord): void {
  records.set(record.location, record);
}

export function forgetRecord(location: string): void {
  records.get(location)?.discard();
  records.delete(location);
}

/**
 * The record at `revision`, from this worker's memory when current, else from the store.
 * `latest` takes whatever the store holds: every activity flushes before it returns, so
 * the store is authoritative between activities (used to finalize after a failure, and
 * by retried attempts).
 */
export async function openRecord(location: string, revision: number | 'latest'): Promise<RunRecord> {
  let cached = records.get(location);
  if (cached && cached.unwritten() && !cached.superseded) {
    // An earlier write failed (the store was away), so this copy is ahead of the store
    // and holds outputs nobody else has: write them now. If the store is still away this
    // fails and the activity is retried.
    try {
      await cached.flush();
    } catch (err) {
      if (!(err instanceof RecordConflictError)) throw err;
    }
  }
  if (cached?.superseded) {
    forgetRecord(location);
    cached = undefined;
  }
  if (cached && cached.meta.revision === revision) return cached;
  cached?.discard();
  const loaded = await readRecord(location);
  const record = new RunRecord(location, loaded.notebook, loaded);
  const found = recordRevision(record.notebook);
  if (revision !== 'latest' && found !== revision) throw new StaleRecordError(location, revision, found);
  records.set(location, record);
  return record;
}
