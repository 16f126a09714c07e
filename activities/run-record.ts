/**
 * The output notebook of one run, as this worker process holds it while cells execute.
 * Cells of a run may execute on different workers, so every activity states the record
 * revision it expects; a worker whose copy is older reloads it from the store.
 * Writes are coalesced: a cell that finishes quickly costs one write, a long one is
 * flushed every second so a live or crashed run can be read.
 */
import { parseNotebook, serializeNotebook, type Notebook } from '../notebook/nbformat.js';
import type { CellOutputCollector } from '../notebook/outputs.js';
import { store } from './store/index.js';

export interface MillraceMetadata {
  run_id: string;
  revision: number;
}

export class StaleRecordError extends Error {
  constructor(location: string, expected: number, found: number) {
    super(`output notebook ${location} is at revision ${found}, expected ${expected}`);
    this.name = 'StaleRecordError';
  }
}

export class RunRecord {
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();
  /** The cell executing now: its outputs join the notebook when it is written. */
  private collector: CellOutputCollector | undefined;
  /**
   * This process wrote the current revision itself, so no other process can have sent
   * the next cell's request (a record read from the store proves nothing of the kind).
   */
  owned = false;

  constructor(
    readonly location: string,
    /** The record without the executing cell's outputs (notebook/ functions never mutate). */
    public notebook: Notebook,
  ) {}

  get meta(): MillraceMetadata {
    return this.notebook.metadata['millrace'] as MillraceMetadata;
  }

  update(change: (nb: Notebook) => Notebook): void {
    this.notebook = change(this.notebook);
  }

  /** Outputs of this execution are included in every write until settle(). */
  follow(collector: CellOutputCollector): void {
    this.collector = collector;
  }

  /** Folds the executing cell's outputs into the record. */
  settle(): void {
    if (this.collector) this.notebook = this.collector.applyTo(this.notebook);
    this.collector = undefined;
  }

  current(): Notebook {
    return this.collector ? this.collector.applyTo(this.notebook) : this.notebook;
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
    clearTimeout(this.timer);
    this.timer = undefined;
    this.enqueueWrite();
    await this.writing;
  }

  private enqueueWrite(): void {
    const text = serializeNotebook(this.current());
    this.writing = this.writing.catch(() => undefined).then(() => store.write(this.location, text));
  }

  discard(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}

const records = new Map<string, RunRecord>();

/** The record at `revision` when this process wrote that revision itself (see RunRecord.owned). */
export function ownedRecord(location: string, revision: number): RunRecord | undefined {
  const cached = records.get(location);
  return cached?.owned && cached.meta.revision === revision ? cached : undefined;
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
 * the store is authoritative between activities (used to finalize after a failure).
 */
export async function openRecord(location: string, revision: number | 'latest'): Promise<RunRecord> {
  const cached = records.get(location);
  if (cached && cached.meta.revision === revision) return cached;
  cached?.discard();
  const text = (await store.read(location)).toString('utf8');
  const record = new RunRecord(location, parseNotebook(text, location));
  const found = record.meta?.revision;
  if (revision !== 'latest' && found !== revision) throw new StaleRecordError(location, revision, found ?? -1);
  records.set(location, record);
  return record;
}
