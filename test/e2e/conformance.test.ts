/**
 * The same notebook and parameters run by papermill and by millrace give the same
 * injected cell, the same cell outputs and the same record shape.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { venvPython } from '../../worker/paths.js';
import { cellText, codeCell, markdownCell, notebook, startHarness, streamText, type Harness } from './harness.js';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

const exec = promisify(execFile);

function outputsOf(nb: any): unknown[] {
  return nb.cells.filter((c: any) => c.cell_type === 'code').map((c: any) => c.outputs);
}

it('matches papermill on injected cell, outputs and metadata shape', async () => {
  const nb = notebook([
    markdownCell('# conformance'),
    codeCell('name = "world"\ncount = 2\nratio = 0.25\nflags = None', ['parameters']),
    codeCell('print(f"hello {name}" * count)\nimport sys\nprint("to stderr", file=sys.stderr)'),
    codeCell('{"ratio": ratio, "flags": flags, "big": 10**20}'),
    codeCell('from IPython.display import display, Markdown, HTML\ndisplay(Markdown("**bold**"))\ndisplay(HTML("<b>x</b>"))'),
    codeCell('for i in range(3):\n    print(i)'),
  ]);
  const path = await h.writeNotebook('conformance.ipynb', nb);
  const args: Array<[string, string]> = [
    ['name', 'Zoë "Q"'],
    ['count', '3'],
    ['ratio', '1e-5'],
    ['flags', 'True'],
    ['extra', 'not declared'],
  ];
  const papermillOut = join(h.dir, 'papermill-out.ipynb');
  await exec(venvPython(), ['-m', 'papermill', '--no-progress-bar', '-k', 'python3', path, papermillOut, ...args.flatMap(([n, v]) => ['-p', n, v])]);
  const pm = JSON.parse(await readFile(papermillOut, 'utf8'));
  const run = await h.runNotebook(path, { parameters: args });
  expect(run.error).toBeUndefined();
  const mr = run.output;

  const injected = (x: any) => x.cells.find((c: any) => c.metadata.tags?.includes('injected-parameters'));
  expect(cellText(injected(mr))).toBe(cellText(injected(pm)));
  expect(mr.cells.map((c: any) => c.cell_type)).toEqual(pm.cells.map((c: any) => c.cell_type));
  expect(outputsOf(mr)).toEqual(outputsOf(pm));
  expect(mr.cells.map((c: any) => c.execution_count)).toEqual(pm.cells.map((c: any) => c.execution_count));
  expect(mr.metadata.papermill.parameters).toEqual(pm.metadata.papermill.parameters);
  expect(Object.keys(mr.metadata.papermill).sort()).toEqual(Object.keys(pm.metadata.papermill).sort());
  for (const [i, cell] of mr.cells.entries()) {
    expect(Object.keys(cell.metadata.papermill).sort()).toEqual(Object.keys(pm.cells[i].metadata.papermill).sort());
    expect(cell.metadata.papermill.status).toBe(pm.cells[i].metadata.papermill.status);
  }
});

/** Per cell: what papermill's NotebookExecutionManager and nbclient leave, with times reduced to whether they are set. */
function cellRecords(nb: any): unknown[] {
  return nb.cells.map((c: any) => {
    const r = c.metadata.papermill;
    const timed = (v: unknown) => (v === null || v === undefined ? null : typeof v);
    return {
      type: c.cell_type,
      tags: c.metadata.tags,
      status: r?.status,
      exception: r?.exception,
      start_time: timed(r?.start_time),
      end_time: timed(r?.end_time),
      duration: timed(r?.duration),
      execution: c.metadata.execution === undefined ? undefined : Object.keys(c.metadata.execution).length > 0,
      outputs: c.outputs,
      execution_count: c.execution_count,
    };
  });
}

async function bothRun(name: string, nb: ReturnType<typeof notebook>): Promise<{ pm: any; mr: any; failed: boolean }> {
  const path = await h.writeNotebook(`${name}.ipynb`, nb);
  const papermillOut = join(h.dir, `${name}-papermill.ipynb`);
  await exec(venvPython(), ['-m', 'papermill', '--no-progress-bar', '-k', 'python3', path, papermillOut]).catch(() => undefined);
  const pm = JSON.parse(await readFile(papermillOut, 'utf8'));
  const run = await h.runNotebook(path);
  return { pm, mr: run.output, failed: run.error !== undefined };
}

it('skips cells tagged skip-execution and times every cell it passes, as papermill does', async () => {
  const { pm, mr, failed } = await bothRun(
    'skip-trailing',
    notebook([
      markdownCell('# head'),
      codeCell('x = 1'),
      codeCell('x = 2\nprint("must not run")', ['skip-execution']),
      codeCell('print(x)'),
      codeCell('raise SystemExit("must not run either")', ['skip-execution']),
      markdownCell('trailing markdown'),
      codeCell(''),
    ]),
  );
  expect(failed).toBe(false);
  expect(cellRecords(mr)).toEqual(cellRecords(pm));
  // The cell after the skipped one printed 1: the skipped cell never ran.
  expect(streamText(mr.cells[3])).toBe('1\n');
});

it('leaves the cells after a failure as papermill leaves them', async () => {
  const { pm, mr, failed } = await bothRun(
    'fail-trailing',
    notebook([markdownCell('# head'), codeCell('x = 1'), codeCell('raise ValueError("boom")'), markdownCell('after'), codeCell('print("never")'), markdownCell('last')]),
  );
  expect(failed).toBe(true);
  // Outputs hold tracebacks with colour codes and paths that differ; the rest must match.
  const strip = (cells: any[]) => cells.map(({ outputs: _o, ...rest }: any) => rest);
  expect(strip(cellRecords(mr) as any[])).toEqual(strip(cellRecords(pm) as any[]));
});
