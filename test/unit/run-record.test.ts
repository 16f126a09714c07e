/**
 * The run record's journal: entries hold only what changed, merging them gives back the
 * record, whole rewrites are geometric, a live run and a crashed one read back as they
 * stood, and a second writer of a revision is refused. Against the local store in a
 * temporary directory (the same code path as S3).
 */
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseNotebook, serializeNotebook, type CodeCell, type Notebook } from '../../notebook/nbformat.js';
import { CellOutputCollector } from '../../notebook/outputs.js';
import { finishRecord, markCellCompleted, markCellRunning } from '../../notebook/record.js';
import {
  applyEntries,
  forgetRecord,
  journalEntry,
  journalFolder,
  openRecord,
  ownedRecord,
  readRecord,
  RecordConflictError,
  rememberRecord,
  RunRecord,
  StaleRecordError,
} from '../../record/run-record.js';
import { store } from '../../record/store/index.js';
import { recordSaved } from '../../activities/execute-cell.js';

function skeleton(cells: number): Notebook {
  const nb = {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: { kernelspec: { name: 'python3', display_name: 'Python 3', language: 'python' }, millrace: { run_id: 'r1', revision: 0 } },
    cells: Array.from({ length: cells }, (_, i) => ({ cell_type: 'code', id: `c${i}`, metadata: {}, source: `x = ${i}`, outputs: [], execution_count: null })),
  };
  return parseNotebook(JSON.stringify(nb), 'skeleton');
}

function withRevision(nb: Notebook, revision: number): Notebook {
  return { ...nb, metadata: { ...nb.metadata, millrace: { ...(nb.metadata['millrace'] as object), revision } } };
}

/** One cell as executeCell records it: running, its output, completed, next revision. */
function runCell(record: RunRecord, index: number, text = `out ${index}\n`): void {
  record.update((nb) => markCellRunning(nb, index, '2024-01-01T00:00:00.000Z'));
  const collector = new CellOutputCollector(record.notebook, index);
  collector.apply({ header: { msg_type: 'stream' }, content: { name: 'stdout', text } });
  record.includeLiveOutputs(collector);
  record.settle();
  record.update((nb) => markCellCompleted(nb, index, '2024-01-01T00:00:01.000Z'));
  record.update((nb) => withRevision(nb, record.meta.revision + 1));
}

describe('journal entries (pure)', () => {
  it('hold only the cells and metadata keys that changed, and merge back to the same notebook', () => {
    const base = skeleton(5);
    let next = markCellRunning(base, 2, '2024-01-01T00:00:00.000Z');
    next = withRevision(next, 1);
    const entry = journalEntry(base, next, false)!;
    expect(entry.cells.map(([i]) => i)).toEqual([2]);
    expect(Object.keys(entry.metadata)).toEqual(['millrace']);
    expect(entry.revision).toBe(1);
    const merged = applyEntries(JSON.parse(serializeNotebook(base)), [entry], 'test');
    expect(serializeNotebook(parseNotebook(JSON.stringify(merged), 'merged'))).toBe(serializeNotebook(next));
  });

  it('follow a change in the number of cells (the error banner at the top)', () => {
    const base = skeleton(3);
    const next = withRevision({ ...base, cells: [{ cell_type: 'markdown', id: 'banner', metadata: {}, source: 'failed' }, ...base.cells] }, 1);
    const entry = journalEntry(base, next, false)!;
    expect(entry.cell_count).toBe(4);
    const merged = applyEntries(JSON.parse(serializeNotebook(base)), [entry], 'test');
    expect(serializeNotebook(parseNotebook(JSON.stringify(merged), 'merged'))).toBe(serializeNotebook(next));
  });
});

describe('RunRecord on a store', () => {
  let dir: string;
  let location: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'millrace-record-'));
    location = join(dir, 'runs', 'r1', 'nb.ipynb');
  });
  afterEach(async () => {
    forgetRecord(location);
    await rm(dir, { recursive: true, force: true });
  });

  it('journals each revision once, rewrites the whole notebook geometrically, and reads back the current record', async () => {
    const record = new RunRecord(location, skeleton(200));
    await record.flush();
    const written: number[] = [];
    const original = store.write;
    store.write = async (loc, data, options) => {
      written.push(Buffer.byteLength(data));
      return original(loc, data, options);
    };
    try {
      for (let i = 0; i < 200; i++) {
        runCell(record, i);
        await record.flush();
      }
    } finally {
      store.write = original;
    }
    const entries = await readdir(journalFolder(location));
    expect(entries).toHaveLength(200);
    expect(entries[0]).toBe('00000001.json');
    // The whole notebook was rewritten a few times, not after every cell.
    const wholeWrites = written.filter((b) => b > 10_000).length;
    expect(wholeWrites).toBeGreaterThan(0);
    expect(wholeWrites).toBeLessThan(6);
    // Behind on disk, current once merged with the journal.
    const onDisk = parseNotebook(await readFile(location, 'utf8'), location);
    expect((onDisk.metadata['millrace'] as { revision: number }).revision).toBeLessThan(200);
    const read = await readRecord(location);
    expect(serializeNotebook(read.notebook)).toBe(serializeNotebook(record.notebook));

    // Finished: the whole notebook alone is the record.
    record.update((nb) => {
      const done = finishRecord(nb, { endTime: '2024-01-01T00:10:00.000Z', failed: false });
      return { ...done, metadata: { ...done.metadata, millrace: { ...(done.metadata['millrace'] as object), revision: 201, status: 'completed' } } };
    });
    await record.flush();
    expect(await readFile(location, 'utf8')).toBe(serializeNotebook(record.notebook));
  });

  it('shows a running cell from its live entry, and a crashed worker\'s record to the next one', async () => {
    const record = new RunRecord(location, skeleton(3));
    await record.flush();
    rememberRecord(record);
    runCell(record, 0);
    await record.flush();
    // Cell 1 starts and prints, then its worker dies before the cell ends.
    record.update((nb) => markCellRunning(nb, 1, '2024-01-01T00:00:02.000Z'));
    const collector = new CellOutputCollector(record.notebook, 1);
    collector.apply({ header: { msg_type: 'stream' }, content: { name: 'stdout', text: 'partial\n' } });
    record.includeLiveOutputs(collector);
    await record.flush();
    forgetRecord(location);

    const reader = await readRecord(location);
    const cell = reader.notebook.cells[1] as CodeCell;
    expect((cell.metadata['papermill'] as { status: string }).status).toBe('running');
    expect(cell.outputs).toEqual([{ output_type: 'stream', name: 'stdout', text: 'partial\n' }]);
    // Another worker picks the run up at the revision the activity states.
    const next = await openRecord(location, 1);
    expect(next).not.toBe(record);
    expect((next.notebook.cells[0] as CodeCell).outputs).toEqual([{ output_type: 'stream', name: 'stdout', text: 'out 0\n' }]);
    await expect(openRecord(location, 2)).rejects.toBeInstanceOf(StaleRecordError);
  });

  it('recordSaved passes a store ahead of the workflow (a workflow task lost with its cells\' results) and fails one behind it', async () => {
    const record = new RunRecord(location, skeleton(3));
    await record.flush();
    runCell(record, 0);
    runCell(record, 1);
    await record.flush();
    // This worker's copy and the store are at revision 2; history may know only revision 1.
    await expect(recordSaved({ output: location, revision: 1 })).resolves.toBeUndefined();
    forgetRecord(location);
    await expect(recordSaved({ output: location, revision: 1 })).resolves.toBeUndefined();
    await expect(recordSaved({ output: location, revision: 2 })).resolves.toBeUndefined();
    // History ahead of the store is what the barrier is for.
    forgetRecord(location);
    await expect(recordSaved({ output: location, revision: 3 })).rejects.toBeInstanceOf(StaleRecordError);
  });

  it('refuses a second writer of the same revision: the first one\'s record wins', async () => {
    const first = new RunRecord(location, skeleton(2));
    await first.flush();
    const loaded = await readRecord(location);
    const second = new RunRecord(location, loaded.notebook, loaded);
    runCell(second, 0, 'second\n');
    await second.flush();
    runCell(first, 0, 'first\n');
    await expect(first.flush()).rejects.toBeInstanceOf(RecordConflictError);
    expect(((await readRecord(location)).notebook.cells[0] as CodeCell).outputs[0]).toMatchObject({ text: 'second\n' });
  });

  it('write-behind: save() returns before the store has the revision; ownedRecord and openRecord wait for it', async () => {
    const record = new RunRecord(location, skeleton(3));
    await record.flush();
    rememberRecord(record);
    // Writes of revision 1 wait for a gate, as a slow store would.
    let open: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const original = store.write;
    store.write = async (loc, data, options) => {
      await gate;
      return original(loc, data, options);
    };
    try {
      runCell(record, 0);
      record.save();
      record.owned = true;
      const owned = ownedRecord(location, 1);
      const opened = openRecord(location, 1);
      await new Promise((r) => setTimeout(r, 20));
      expect((await readRecord(location)).notebook.metadata['millrace']).toMatchObject({ revision: 0 });
      let answered = false;
      void owned.then(() => (answered = true));
      await new Promise((r) => setTimeout(r, 20));
      expect(answered).toBe(false);
      open();
      expect(await owned).toBe(record);
      expect(await opened).toBe(record);
      expect((await readRecord(location)).notebook.metadata['millrace']).toMatchObject({ revision: 1 });
    } finally {
      store.write = original;
    }
  });

  it('write-behind that fails: the record is not trusted, and the next openRecord writes it again', async () => {
    const record = new RunRecord(location, skeleton(2));
    await record.flush();
    rememberRecord(record);
    const original = store.write;
    store.write = async () => {
      throw new Error('store away');
    };
    try {
      runCell(record, 0);
      record.save();
      record.owned = true;
      expect(await ownedRecord(location, 1)).toBeUndefined();
      await expect(record.written()).rejects.toThrow('store away');
    } finally {
      store.write = original;
    }
    expect(await openRecord(location, 1)).toBe(record);
    expect(((await readRecord(location)).notebook.cells[0] as CodeCell).outputs).toEqual([{ output_type: 'stream', name: 'stdout', text: 'out 0\n' }]);
  });

  it('refuses to create a record over another run\'s', async () => {
    await new RunRecord(location, skeleton(1)).flush();
    const other = skeleton(1);
    const intruder = new RunRecord(location, { ...other, metadata: { ...other.metadata, millrace: { run_id: 'r2', revision: 0 } } });
    await expect(intruder.flush()).rejects.toThrow(/is the record of run r1; a run never overwrites another run's record/);
    expect((await stat(location)).size).toBeGreaterThan(0);
  });
});
