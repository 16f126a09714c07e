/** The pure parts of kernel checkpoints: where they go, when they are taken, which one a resume needs. */
import { describe, expect, it } from 'vitest';
import {
  assignmentCode,
  base64Chunks,
  checkpointCellFor,
  checkpointManifestSchema,
  checkpointUnusable,
  checkpointWanted,
  type CheckpointManifest,
} from '../../activities/checkpoint.js';
import { parseNotebook, type Notebook } from '../../notebook/nbformat.js';
import { float, int, str } from '../../notebook/params.js';
import { checkpointFolder, reassignedParameters, runInputSchema } from '../../workflows/contracts.js';

const SHA = 'a'.repeat(64);

function nb(cells: Array<['code' | 'markdown', string, string[]?]>): Notebook {
  return parseNotebook(
    JSON.stringify({
      nbformat: 4,
      nbformat_minor: 5,
      metadata: { kernelspec: { name: 'python3', display_name: 'Python 3' } },
      cells: cells.map(([type, source, tags], i) =>
        type === 'code'
          ? { id: `c${i}`, cell_type: 'code', metadata: tags ? { tags } : {}, source, outputs: [], execution_count: null }
          : { id: `m${i}`, cell_type: 'markdown', metadata: {}, source },
      ),
    }),
    'test.ipynb',
  );
}

const manifest = (patch: Partial<CheckpointManifest> = {}): CheckpointManifest => ({
  run_id: 'r',
  cell: 3,
  cell_id: 'c3',
  saved_at: '2024-01-01T00:00:00.000Z',
  duration_ms: 4,
  data: 'cell-3.dill',
  bytes: 10,
  sha256: SHA,
  names: ['x'],
  unserialisable: [],
  python: '3.11.2',
  dill: '0.4.1',
  error: null,
  ...patch,
});

describe('checkpointFolder', () => {
  it('puts checkpoints in the store that holds the source snapshot, under the run, wherever the output goes', () => {
    const source = { location: `/data/store/sources/${SHA}.ipynb`, sha256: SHA };
    expect(checkpointFolder({ runId: 'r1', source, output: '/elsewhere/out.ipynb' })).toBe('/data/store/runs/r1/checkpoints');
    expect(checkpointFolder({ runId: 'r1', source: { ...source, location: `s3://bucket/pre/sources/${SHA}.ipynb` }, output: 'x' })).toBe(
      's3://bucket/pre/runs/r1/checkpoints',
    );
  });

  it('falls back to a folder beside the output when the snapshot is not in a store layout', () => {
    expect(checkpointFolder({ runId: 'r1', source: { location: '/tmp/nb.ipynb', sha256: SHA }, output: '/out/r1/nb.ipynb' })).toBe('/out/r1/checkpoints');
  });
});

describe('checkpointWanted', () => {
  it('takes one after every code cell when no cell is tagged checkpoint', () => {
    const book = nb([['code', 'a = 1'], ['markdown', '# m'], ['code', 'b = 2'], ['code', '']]);
    expect([0, 1, 2, 3].map((i) => checkpointWanted(book, i))).toEqual([true, false, true, false]);
  });

  it('takes them only after tagged cells when some cell is tagged', () => {
    const book = nb([['code', 'a = 1'], ['code', 'b = 2', ['checkpoint']], ['code', 'c = 3']]);
    expect([0, 1, 2].map((i) => checkpointWanted(book, i))).toEqual([false, true, false]);
  });
});

describe('checkpointCellFor', () => {
  it('is the last executed cell before the resume point, skipping markdown and empty cells', () => {
    const book = nb([['code', 'a = 1'], ['code', 'b = 2'], ['markdown', '# m'], ['code', '   '], ['code', 'fail()']]);
    expect(checkpointCellFor(book, 4)).toBe(1);
    expect(checkpointCellFor(book, 1)).toBe(0);
    expect(checkpointCellFor(book, 0)).toBeUndefined();
    expect(checkpointCellFor(nb([['markdown', '# m'], ['code', 'x']]), 1)).toBeUndefined();
  });
});

describe('checkpointUnusable', () => {
  it('accepts a complete checkpoint', () => {
    expect(checkpointUnusable(manifest())).toBeUndefined();
  });

  it('names every object dill could not serialise, with the reason', () => {
    const why = checkpointUnusable(
      manifest({
        unserialisable: [
          { name: 'gen', reason: "TypeError: cannot pickle 'generator' object" },
          { name: 'sock', reason: "TypeError: cannot pickle 'socket' object" },
        ],
      }),
    );
    expect(why).toBe(
      "it lacks objects dill cannot serialise: gen (TypeError: cannot pickle 'generator' object), sock (TypeError: cannot pickle 'socket' object)",
    );
  });

  it('refuses a checkpoint that could not be saved at all', () => {
    expect(checkpointUnusable(manifest({ data: null, sha256: null, error: "ModuleNotFoundError: No module named 'dill'" }))).toBe(
      "it could not be saved (ModuleNotFoundError: No module named 'dill')",
    );
  });
});

describe('checkpoint manifests', () => {
  it('are checked when read back from the store', () => {
    expect(checkpointManifestSchema.safeParse(manifest()).success).toBe(true);
    expect(checkpointManifestSchema.safeParse({ ...manifest(), cell: -1 }).success).toBe(false);
    expect(checkpointManifestSchema.safeParse({ ...manifest(), names: 'x' }).success).toBe(false);
  });
});

describe('base64Chunks', () => {
  it('splits bytes into chunks that decode back to the same bytes', () => {
    const data = Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 251));
    const chunks = base64Chunks(data, 300);
    expect(chunks).toHaveLength(4);
    expect(Buffer.concat(chunks.map((c) => Buffer.from(c, 'base64')))).toEqual(data);
    expect(base64Chunks(Buffer.alloc(0))).toEqual([]);
  });
});

describe('parameters after a restore', () => {
  it('assigns the changed parameters as papermill writes them', () => {
    expect(assignmentCode({ threshold: int(20), label: str('a "b"\n'), ratio: float(1) })).toBe(
      'threshold = 20\nlabel = "a \\"b\\"\\n"\nratio = 1.0',
    );
    expect(assignmentCode({})).toBe('');
  });

  it('picks the values of the parameters the resume changed', () => {
    const parameters = { a: int(1), b: int(2) };
    expect(reassignedParameters({ parameters, resume: { runId: 'r', record: 'x', fromCell: 1, fromCellId: 'c', reassign: ['b', 'gone'] } })).toEqual({
      b: int(2),
    });
    expect(reassignedParameters({ parameters })).toEqual({});
  });

  it('accepts run inputs with and without the checkpoint fields', () => {
    const base = { runId: 'r', source: { location: '/s', sha256: SHA }, inputPath: 'nb.ipynb', output: '/o', parameters: {} };
    expect(runInputSchema.parse(base).checkpoint).toBeUndefined();
    const resumed = runInputSchema.parse({
      ...base,
      checkpoint: true,
      resume: { runId: 'e', record: '/e', fromCell: 5, fromCellId: 'c5', restore: 'checkpoint', checkpoint: { cell: 4, location: '/c', sha256: SHA, bytes: 3 }, reassign: [] },
    });
    expect(resumed.resume?.checkpoint?.cell).toBe(4);
    expect(runInputSchema.safeParse({ ...base, resume: { runId: 'e', record: '/e', fromCell: 5, fromCellId: 'c5', restore: 'snapshot' } }).success).toBe(false);
  });
});
