/**
 * metadata.millrace has one owner (record/metadata.ts): no product code casts it, a record
 * written by the current writers reads back typed, unknown fields are kept, and a field of
 * the wrong type is refused with a message naming it and the file.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseNotebook, serializeNotebook, type CodeCell, type Notebook } from '../../notebook/nbformat.js';
import { CellOutputCollector } from '../../notebook/outputs.js';
import { finishRecord, initRecord, markCellCompleted, markCellFailed, markCellRunning } from '../../notebook/record.js';
import { recordedCells } from '../../record/cells.js';
import {
  cellMillrace,
  cellMillraceSchema,
  MillraceMetadataError,
  notebookMillrace,
  notebookMillraceSchema,
  replaceNotebookMillrace,
  runRecordMillrace,
  withCellMillrace,
  withNotebookMillrace,
} from '../../record/metadata.js';
import { forgetRecord, readRecord, RunRecord } from '../../record/run-record.js';
import { packageRoot } from '../../worker/paths.js';

const ROOT = packageRoot();
const SKIP = new Set(['node_modules', 'dist', 'test', '.git']);

async function productSources(dir = ROOT): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (SKIP.has(entry.name) || entry.name.startsWith('.')) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await productSources(path)));
    else if (/\.tsx?$/.test(entry.name) && !entry.name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

/** `metadata['millrace'] as`, `metadata.millrace as`, `(x.metadata['millrace'] ?? {}) as`, `millrace as`. */
const CASTS = [
  /metadata\s*(?:\.\s*millrace|\[\s*['"`]millrace['"`]\s*\])\s*(?:\?\?\s*\{\s*\}\s*\)\s*)?as\b/,
  /\bmillrace\s*\)?\s+as\s/,
];

describe('metadata.millrace has one owner', () => {
  it('is never cast in product code: it is read with record/metadata.ts', async () => {
    const sources = await productSources();
    expect(sources.some((p) => p.endsWith(join('record', 'run-record.ts')))).toBe(true);
    const found: string[] = [];
    for (const path of sources) {
      const lines = (await readFile(path, 'utf8')).split('\n');
      lines.forEach((line, i) => {
        if (CASTS.some((re) => re.test(line))) found.push(`${relative(ROOT, path)}:${i + 1}: ${line.trim()}`);
      });
    }
    expect(found).toEqual([]);
  });

  it('is read from the store only through record/: other modules parse input notebooks, not records', async () => {
    // Notebooks people give (submit, params, schedule, the run's source snapshot) and the
    // viewer's contents API, which serves files as they are.
    const inputs = ['cli/submit.ts', 'cli/commands/params.ts', 'cli/commands/schedule.ts', 'activities/prepare-run.ts', 'viewer/contents.ts'];
    const parsing: string[] = [];
    for (const path of await productSources()) {
      const name = relative(ROOT, path).split('\\').join('/');
      if (name.startsWith('record/') || name.startsWith('notebook/')) continue;
      if ((await readFile(path, 'utf8')).includes('parseNotebook(')) parsing.push(name);
    }
    expect(parsing.sort()).toEqual([...inputs].sort());
  });

  it('the cast patterns catch the casts there were', () => {
    for (const line of [
      "(cell.metadata['millrace'] as { timeout?: unknown } | undefined)?.timeout",
      'const m = nb.metadata.millrace as JsonObject;',
      "const mr = (nb.metadata['millrace'] ?? {}) as JsonObject;",
      '{ ...(millrace as JsonObject) }',
    ]) {
      expect(CASTS.some((re) => re.test(line)), line).toBe(true);
    }
    expect(CASTS.some((re) => re.test('const millrace = cellMillrace(cell);'))).toBe(false);
  });
});

const NOW = '2024-01-01T00:00:00.000Z';

function inputNotebook(): Notebook {
  const code = (id: string, source: string, metadata: object = {}) => ({ cell_type: 'code', id, metadata, source, outputs: [], execution_count: null });
  return parseNotebook(
    JSON.stringify({
      nbformat: 4,
      nbformat_minor: 5,
      metadata: { kernelspec: { name: 'python3', display_name: 'Python 3', language: 'python' } },
      cells: [
        { cell_type: 'markdown', id: 'm', metadata: {}, source: '# t' },
        code('a', 'x = 1', { millrace: { timeout: 30 } }),
        code('b', 'display(x, display_id="d")'),
        code('c', 'raise ValueError("boom")'),
      ],
    }),
    'input',
  );
}

/** The metadata a resumed run with a kernel restart, a scratch execution, a retry and a skip writes, by the product's writers. */
function writtenRecord(): Notebook {
  let nb = initRecord(inputNotebook(), { inputPath: 'in.ipynb', outputPath: 'out.ipynb', parameters: {}, startTime: NOW, version: 'test' });
  nb = replaceNotebookMillrace(nb, {
    run_id: 'r2',
    revision: 0,
    schedule: 'daily',
    resumed_from: { run_id: 'r1', from_cell: 2, restore: 'replay', replayed_cells: [1] },
  });
  const cells = [...nb.cells];
  cells[1] = withCellMillrace(cells[1]!, { carried_over_from: 'r1' });
  nb = { ...nb, cells };
  // A display with an id: the collector writes the cell's part of the display-id map.
  nb = markCellRunning(nb, 2, NOW);
  const collector = new CellOutputCollector(nb, 2);
  collector.apply({ header: { msg_type: 'display_data' }, content: { data: { 'text/plain': '1' }, metadata: {}, transient: { display_id: 'd' } } });
  nb = markCellCompleted(collector.applyTo(nb), 2, NOW);
  nb = markCellFailed(markCellRunning(nb, 3, NOW), 3, NOW);
  const restarts = notebookMillrace(nb).kernel_restarts ?? [];
  nb = withNotebookMillrace(nb, { kernel_restarts: [...restarts, { lost_at_cell: 3, time: NOW, replayed_cells: [1, 2] }], revision: 1 });
  nb = withNotebookMillrace(nb, { scratch: [{ cell: 3, time: NOW, code: 'print(1)', status: 'ok' }], revision: 2 });
  const failed = [...nb.cells];
  failed[3] = withCellMillrace(failed[3]!, { retried_after: [{ time: NOW, ename: 'ValueError', evalue: 'boom' }], original_source: 'raise ValueError("boom")' });
  failed[3] = withCellMillrace(failed[3]!, { skipped: true, skipped_at: NOW });
  nb = withNotebookMillrace({ ...nb, cells: failed }, { revision: 3 });
  return withNotebookMillrace(finishRecord(nb, { endTime: NOW, failed: false }), { revision: 4, status: 'completed' });
}

describe('the schema of metadata.millrace', () => {
  let dir: string;
  let location: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'millrace-metadata-'));
    location = join(dir, 'runs', 'r2', 'nb.ipynb');
  });
  afterEach(async () => {
    forgetRecord(location);
    await rm(dir, { recursive: true, force: true });
  });

  it('reads back a record written by the current writers, typed', async () => {
    await new RunRecord(location, writtenRecord()).flush();
    const { notebook } = await readRecord(location);
    const meta = runRecordMillrace(notebook);
    expect(meta).toMatchObject({ run_id: 'r2', revision: 4, status: 'completed', schedule: 'daily' });
    expect(meta.resumed_from).toEqual({ run_id: 'r1', from_cell: 2, restore: 'replay', replayed_cells: [1] });
    expect(meta.kernel_restarts).toEqual([{ lost_at_cell: 3, time: NOW, replayed_cells: [1, 2] }]);
    expect(meta.scratch?.[0]?.status).toBe('ok');
    expect(notebook.cells.map((c) => cellMillrace(c))).toEqual([
      {},
      { timeout: 30, carried_over_from: 'r1' },
      { display_ids: { d: [0] } },
      { retried_after: [{ time: NOW, ename: 'ValueError', evalue: 'boom' }], original_source: 'raise ValueError("boom")', skipped: true, skipped_at: NOW },
    ]);
    expect(recordedCells(notebook).map((c) => [c.status, c.skipped, c.carriedOver])).toEqual([
      ['completed', false, false],
      ['completed', false, true],
      ['completed', false, false],
      ['failed', true, false],
    ]);
    expect(serializeNotebook(notebook)).toBe(await readFile(location, 'utf8'));
  });

  it('keeps fields it does not know, at both levels (records of other versions)', () => {
    const nb = withNotebookMillrace(writtenRecord(), { revision: 5 });
    const future = { ...nb, metadata: { ...nb.metadata, millrace: { ...(nb.metadata['millrace'] as object), lineage: { parent: 'x' } } } };
    expect(notebookMillrace(future)).toMatchObject({ run_id: 'r2', lineage: { parent: 'x' } });
    expect(withNotebookMillrace(future, { revision: 6 }).metadata['millrace']).toMatchObject({ lineage: { parent: 'x' }, revision: 6 });
    expect(notebookMillraceSchema.parse({ resumed_from: { run_id: 'r', from_cell: 0, how: 'new' } }).resumed_from).toMatchObject({ how: 'new' });
    expect(cellMillraceSchema.parse({ pinned: true, skipped: false })).toEqual({ pinned: true, skipped: false });
    // Absent: {}, nothing to report.
    expect(notebookMillrace(inputNotebook())).toEqual({});
  });

  it('refuses a field of the wrong type, naming the field, the cell and the file', async () => {
    const nb = writtenRecord();
    const bad = { ...nb, metadata: { ...nb.metadata, millrace: { ...(nb.metadata['millrace'] as object), revision: '4' } } };
    expect(() => notebookMillrace(bad)).toThrow(MillraceMetadataError);
    expect(() => notebookMillrace(bad, 'out.ipynb')).toThrow(/^out\.ipynb: metadata\.millrace\.revision: .*expected number, received string/);
    const cells = [...nb.cells];
    cells[3] = { ...cells[3]!, metadata: { ...cells[3]!.metadata, millrace: { skipped: 'yes' } } } as CodeCell;
    expect(() => cellMillrace(cells[3]!)).toThrow(/^cell c: metadata\.millrace\.skipped: .*expected boolean, received string/);
    expect(() => notebookMillraceSchema.parse({ kernel_restarts: [{ lost_at_cell: 'two' }] })).toThrow(/expected number/);
    expect(() => runRecordMillrace(inputNotebook(), 'in.ipynb')).toThrow(/^in\.ipynb: not a run record: metadata\.millrace\.run_id is missing$/);
    // Read from the store: the record is refused with the file's name.
    await new RunRecord(location, { ...nb, cells }).flush();
    await expect(readRecord(location)).rejects.toThrow(`${location}: cell c: metadata.millrace.skipped`);
  });
});
