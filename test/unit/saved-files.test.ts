// Files a cell saves to its run's folder (`-- @output`): the worker's side takes the parts the
// kernel sends over iopub out of the cell's outputs, checks them, writes the whole file once
// and gives the one small output recorded instead; paths are refused at wrap time.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SavedFiles } from '../../activities/saved-files.js';
import type { IopubMessage } from '../../notebook/outputs.js';
import { SAVED_FILE_MAX_BYTES, SAVED_FILE_PART_BYTES, savedFileDeclared, savedFilePathProblem, savedFilesOf } from '../../notebook/saved-files.js';
import { sourceText } from '../../notebook/nbformat.js';
import { wrapSqlJob } from '../../jobs/wrap.js';
import { statementDirectives } from '../../notebook/sql/header.js';

/** The parts the kernel sends for `data` (jobs/runtime/sql_runtime.py _millrace_save), `size` bytes a part. */
function parts(path: string, data: Buffer, size: number, rows: number | null = 3): IopubMessage[] {
  const sha256 = createHash('sha256').update(data).digest('hex');
  const n = Math.max(1, Math.ceil(data.length / size));
  return Array.from({ length: n }, (_, part) => ({
    header: { msg_type: 'display_data' },
    content: {
      data: {},
      metadata: {},
      transient: { millrace_file: { path, part, parts: n, bytes: data.length, sha256, rows, data: data.subarray(part * size, (part + 1) * size).toString('base64') } },
    },
  }));
}

function sink() {
  const written = new Map<string, Buffer>();
  const files = new SavedFiles('s3://b/store/runs/r1', async (location, data) => {
    if (location.includes('fail')) throw new Error('access denied');
    written.set(location, data);
  });
  return { files, written };
}

describe('saved files: the worker side', () => {
  it('writes the whole file once, under the run folder, and records one output in place of the parts', async () => {
    const { files, written } = sink();
    const data = Buffer.from('a'.repeat(25) + 'b'.repeat(25));
    const got = parts('out/t.parquet', data, 10).map((m) => files.take(m));
    expect(got.slice(0, 4)).toEqual([[], [], [], []]);
    expect(got[4]).toEqual([
      {
        header: { msg_type: 'display_data' },
        content: {
          data: { 'text/plain': 'saved out/t.parquet to s3://b/store/runs/r1/out/t.parquet (3 rows, 50 bytes)' },
          metadata: { millrace: { saved_file: { path: 'out/t.parquet', location: 's3://b/store/runs/r1/out/t.parquet', bytes: 50, rows: 3, sha256: createHash('sha256').update(data).digest('hex') } } },
        },
      },
    ]);
    expect(await files.settle()).toBeUndefined();
    expect([...written]).toEqual([['s3://b/store/runs/r1/out/t.parquet', data]]);
    // Anything else is collected as usual.
    expect(files.take({ header: { msg_type: 'display_data' }, content: { data: { 'text/plain': 'x' }, transient: { display_id: 'd' } } })).toBeUndefined();
    expect(files.take({ header: { msg_type: 'stream' }, content: { name: 'stdout', text: 'x' } })).toBeUndefined();
  });

  it('says which file was not saved: a failed write, a missing or damaged part, a path outside the folder, past the limit', async () => {
    const one = sink();
    one.files.take(parts('fail.csv', Buffer.from('x'), 10)[0]!);
    expect(await one.files.settle()).toBe('fail.csv was not saved to s3://b/store/runs/r1/fail.csv: access denied');

    const two = sink();
    two.files.take(parts('a.csv', Buffer.alloc(30), 10)[0]!);
    expect(await two.files.settle()).toBe('a.csv was not saved: the kernel did not send all of it');

    const three = sink();
    const [first, , last] = parts('b.csv', Buffer.alloc(30), 10);
    three.files.take(first!);
    three.files.take(last!);
    const damaged = parts('c.csv', Buffer.from('abc'), 10)[0]!;
    damaged.content.transient.millrace_file.data = Buffer.from('abd').toString('base64');
    three.files.take(damaged);
    expect(await three.files.settle()).toBe('b.csv was not saved: its parts arrived out of order; c.csv was not saved: its bytes arrived damaged');

    const four = sink();
    four.files.take(parts('../x.csv', Buffer.from('x'), 10)[0]!);
    const big = parts('big.csv', Buffer.from('x'), 10)[0]!;
    big.content.transient.millrace_file.bytes = SAVED_FILE_MAX_BYTES + 1;
    four.files.take(big);
    expect(await four.files.settle()).toBe(
      '../x.csv was not saved: its path must be a path inside the run\'s folder (relative, no ".."); big.csv was not saved: 64.0 MB is more than the 64 MB a cell may save to the run\'s folder',
    );
    expect(four.written.size + three.written.size + two.written.size).toBe(0);
  });

  it('reads the saved files back from a recorded cell', () => {
    const { files } = sink();
    const [m] = files.take(parts('t.csv', Buffer.from('x'), 10)[0]!)!;
    const cell = { cell_type: 'code' as const, id: 'c', metadata: {}, source: '', execution_count: 1, outputs: [{ output_type: 'display_data' as const, ...m!.content }] };
    expect(savedFilesOf(cell)).toEqual([{ path: 't.csv', location: 's3://b/store/runs/r1/t.csv', bytes: 1, rows: 3, sha256: expect.any(String) }]);
  });
});

describe('saved files: paths and limits', () => {
  it('takes paths inside the run folder only, at wrap time', () => {
    expect(savedFilePathProblem('out/orders.parquet')).toBeUndefined();
    for (const p of ['/abs.csv', '../up.csv', 'a/../b.csv', 'a//b.csv', 'checkpoints/x.csv', 'x.ipynb.journal/y.csv', 'sp ace.csv']) {
      expect(savedFilePathProblem(p), p).toBeDefined();
    }
    expect(() => statementDirectives('-- @output ../up.parquet\nSELECT 1', 3)).toThrow('line 3: @output takes a path inside the run\'s folder (relative, no ".."), not "../up.parquet"');
  });

  it('the kernel side sends in the same parts, within the same limit', () => {
    const py = readFileSync(new URL('../../jobs/runtime/sql_runtime.py', import.meta.url), 'utf8');
    expect(py).toContain(`_MILLRACE_FILE_MAX_BYTES = ${SAVED_FILE_MAX_BYTES / 1024 / 1024} * 1024 * 1024`);
    expect(py).toContain(`_MILLRACE_FILE_PART_BYTES = ${SAVED_FILE_PART_BYTES / 1024} * 1024`);
  });
});

describe('savedFileDeclared: the file a wrapped SQL cell saves, read from its magic line', () => {
  it('reads output= plain and single-quoted, and nothing from other cells', () => {
    expect(savedFileDeclared('%%millrace_sql line=3 name=s1 params=n output=out/x.parquet\nselect 1')).toBe('out/x.parquet');
    expect(savedFileDeclared(`%%millrace_sql line=3 name=s1 'output=my dir/it'"'"'s.csv'\nselect 1`)).toBe("my dir/it's.csv");
    expect(savedFileDeclared('%%millrace_sql line=3 name=s1\nselect 1 -- output=x.csv')).toBeUndefined();
    expect(savedFileDeclared('print("output=x.csv")')).toBeUndefined();
    expect(savedFileDeclared('%%millrace_sqlx output=x.csv\n')).toBeUndefined();
  });

  it('reads back what wrap generates for an @output statement', async () => {
    const nb = await wrapSqlJob('o.sql', Buffer.from('-- @output out/a_b-1.csv\nselect 1;\n-- @output plain.parquet\nselect 2;\nselect 3;'));
    const declared = nb.cells.filter((c) => sourceText(c.source).startsWith('%%millrace_sql')).map((c) => savedFileDeclared(sourceText(c.source)));
    expect(declared).toEqual(['out/a_b-1.csv', 'plain.parquet', undefined]);
  });
});
