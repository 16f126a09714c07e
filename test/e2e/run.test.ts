/**
 * A notebook run end to end on the real stack: parameters, outputs, failures, the record
 * papermill users expect, and the invariants of SPEC §4 that a single run can show.
 */
import { readdir } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { ApplicationFailure } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  assertValidNotebook,
  cellText,
  codeCell,
  markdownCell,
  notebook,
  startHarness,
  streamText,
  type Harness,
  liveKernelIds,
  kernelsLeftSince,
  localActivityTypes,
  localCellStatuses,
} from './harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

function papermillStatus(cell: Record<string, any>): string {
  return cell['metadata']['papermill']['status'];
}

describe('notebookRun', () => {
  it('injects parameters after the parameters cell and runs every code cell once', async () => {
    const path = await h.writeNotebook(
      'params.ipynb',
      notebook([
        markdownCell('# title'),
        codeCell('region = "us"\nlimit = 5', ['parameters']),
        codeCell('print(f"region={region} limit={limit} type={type(limit).__name__}")'),
        codeCell('limit * 2'),
      ]),
    );
    const before = await liveKernelIds();
    const run = await h.runNotebook(path, { parameters: [['region', 'eu'], ['limit', '10']] });
    expect(run.error).toBeUndefined();
    expect(run.result?.status).toBe('completed');
    const cells = run.output.cells;
    expect(cells.map((c) => c['cell_type'])).toEqual(['markdown', 'code', 'code', 'code', 'code']);
    expect(cells[2]!['metadata']['tags']).toEqual(['injected-parameters']);
    expect(cellText(cells[2]!)).toBe('# Parameters\nregion = "eu"\nlimit = 10\n');
    expect(streamText(cells[3]!)).toBe('region=eu limit=10 type=int\n');
    expect(cells[4]!['outputs'][0]['data']['text/plain']).toEqual(['20']);
    expect(cells[4]!['execution_count']).toBe(4);
    expect(cells.map(papermillStatus)).toEqual(['completed', 'completed', 'completed', 'completed', 'completed']);
    // A finished run leaves only its notebook: the record journal is gone.
    expect(await readdir(dirname(run.input.output))).toEqual([basename(run.input.output)]);
    const pm = run.output.metadata['papermill'];
    expect(pm['parameters']).toEqual({ region: 'eu', limit: 10 });
    expect(pm['exception']).toBeFalsy();
    expect(typeof pm['duration']).toBe('number');
    expect(run.output.metadata['language_info']['name']).toBe('python');
    await assertValidNotebook(run.input.output);
    // The kernel is shut down once the run is over.
    expect(await kernelsLeftSince(before)).toEqual([]);
  });

  it('keeps string parameters inside their literal, whatever they contain', async () => {
    const values = [
      'it\'s "quoted"',
      'back\\slash \\n not a newline',
      'line one\nline two\ttabbed\r\n',
      'unicode: é ü 中文 🚀 \u0000 \u2028',
      '"; import os; os.system(\'touch /tmp/pwned\') #',
    ];
    const cells = [codeCell('import json', ['parameters'])];
    cells.push(codeCell(`print(json.dumps([${values.map((_, i) => `s${i}`).join(', ')}]))`));
    const path = await h.writeNotebook('strings.ipynb', notebook(cells));
    const run = await h.runNotebook(path, { raw: values.map((v, i) => [`s${i}`, v] as [string, string]) });
    expect(run.error).toBeUndefined();
    expect(JSON.parse(streamText(run.output.cells[2]!))).toEqual(values);
    await assertValidNotebook(run.input.output);
  });

  it('records a failing cell as papermill does and fails the workflow naming the cell', async () => {
    const path = await h.writeNotebook(
      'fail.ipynb',
      notebook([
        codeCell('x = 1'),
        markdownCell('before the failure'),
        codeCell('print("about to fail")\nraise ValueError("bad input data")'),
        codeCell('print("never")'),
        markdownCell('after'),
      ]),
    );
    const before = await liveKernelIds();
    const run = await h.runNotebook(path);
    expect(run.result).toBeUndefined();
    const cause = run.error?.cause;
    expect(cause).toBeInstanceOf(ApplicationFailure);
    expect((cause as ApplicationFailure).nonRetryable).toBe(true);
    expect((cause as ApplicationFailure).type).toBe('CellFailed');
    expect(cause?.message).toBe('cell 2 failed: ValueError: bad input data');
    const cells = run.output.cells;
    // papermill's banner at the top, its anchor right before the failing cell.
    expect(cells[0]!['cell_type']).toBe('markdown');
    expect(cellText(cells[0]!)).toContain('An Exception was encountered at');
    expect(cellText(cells[3]!)).toContain('papermill-error-cell');
    const failing = cells[4]!;
    expect(cellText(failing)).toContain('bad input data');
    expect(streamText(failing)).toBe('about to fail\n');
    const error = failing['outputs'].find((o: any) => o['output_type'] === 'error');
    expect(error).toMatchObject({ ename: 'ValueError', evalue: 'bad input data' });
    expect(papermillStatus(failing)).toBe('failed');
    expect(failing['metadata']['papermill']['exception']).toBe(true);
    expect(papermillStatus(cells[5]!)).toBe('pending');
    expect(cells[5]!['outputs']).toEqual([]);
    expect(papermillStatus(cells[6]!)).toBe('pending');
    expect(run.output.metadata['papermill']['exception']).toBe(true);
    await assertValidNotebook(run.input.output);
    expect(await kernelsLeftSince(before)).toEqual([]);
  });

  it('lets a cell tagged raises-exception fail without failing the run', async () => {
    const path = await h.writeNotebook(
      'raises.ipynb',
      notebook([codeCell('1/0', ['raises-exception']), codeCell('print("went on")')]),
    );
    const run = await h.runNotebook(path);
    expect(run.error).toBeUndefined();
    expect(run.output.cells[0]!['outputs'][0]).toMatchObject({ output_type: 'error', ename: 'ZeroDivisionError' });
    expect(streamText(run.output.cells[1]!)).toBe('went on\n');
    await assertValidNotebook(run.input.output);
  });

  it.each([['sys.exit()'], ['sys.exit(0)']])('ends successfully at %s without running later cells', async (exit) => {
    const path = await h.writeNotebook(
      'exit.ipynb',
      notebook([codeCell('import sys\nprint("before")'), codeCell(exit), codeCell('print("after")')]),
    );
    const run = await h.runNotebook(path);
    expect(run.error).toBeUndefined();
    expect(run.result).toMatchObject({ status: 'completed', stoppedBySysExit: true, executedCells: 2 });
    expect(streamText(run.output.cells[1]!)).toBe('');
    expect(run.output.cells[2]!['outputs']).toEqual([]);
    expect(papermillStatus(run.output.cells[2]!)).toBe('pending');
    await assertValidNotebook(run.input.output);
  });

  it('fails at sys.exit(1) like any other error', async () => {
    const path = await h.writeNotebook('exit1.ipynb', notebook([codeCell('import sys\nsys.exit(1)'), codeCell('print("after")')]));
    const run = await h.runNotebook(path);
    expect(run.error?.cause?.message).toBe('cell 0 failed: SystemExit: 1');
  });

  it('applies display updates across cells and clear_output(wait=True)', async () => {
    const path = await h.writeNotebook(
      'display.ipynb',
      notebook([
        codeCell('from IPython.display import display, clear_output, update_display\nh = display("first", display_id=True)'),
        codeCell('update_display("updated", display_id=h.display_id)\nprint("second cell")'),
        codeCell('for i in range(3):\n    clear_output(wait=True)\n    print(f"tick {i}")'),
        codeCell('print("gone")\nclear_output()'),
      ]),
    );
    const run = await h.runNotebook(path);
    expect(run.error).toBeUndefined();
    const [first, second, ticks, cleared] = run.output.cells;
    expect(first!['outputs']).toHaveLength(1);
    expect(first!['outputs'][0]).toMatchObject({ output_type: 'display_data', data: { 'text/plain': ["'updated'"] } });
    expect(streamText(second!)).toBe('second cell\n');
    expect(second!['outputs']).toHaveLength(1);
    expect(ticks!['outputs']).toEqual([{ output_type: 'stream', name: 'stdout', text: ['tick 2\n'] }]);
    expect(cleared!['outputs']).toEqual([]);
    await assertValidNotebook(run.input.output);
  });

  it('injects at the top with a warning when there is no parameters cell', async () => {
    const path = await h.writeNotebook('noparams.ipynb', notebook([codeCell('print(alpha)')]));
    const run = await h.runNotebook(path, { parameters: [['alpha', '0.5']] });
    expect(run.error).toBeUndefined();
    expect(run.output.cells[0]!['metadata']['tags']).toEqual(['injected-parameters']);
    expect(cellText(run.output.cells[0]!)).toBe('# Parameters\nalpha = 0.5\n');
    expect(streamText(run.output.cells[1]!)).toBe('0.5\n');
    await assertValidNotebook(run.input.output);
  });

  it('runs short cells as local activities and hands a long cell to a regular activity without losing output', async () => {
    const path = await h.writeNotebook(
      'handoff.ipynb',
      notebook([
        codeCell('x = 1'),
        codeCell('import time\nprint("before", flush=True)\ntime.sleep(3)\nprint("after", x)'),
        codeCell('print("next")'),
      ]),
    );
    const run = await h.runNotebook(path);
    expect(run.error).toBeUndefined();
    expect(streamText(run.output.cells[1]!)).toBe('before\nafter 1\n');
    expect(streamText(run.output.cells[2]!)).toBe('next\n');
    const events = (await h.client.workflow.getHandle(run.input.runId).fetchHistory()).events ?? [];
    const cellActivities = events.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'executeCell');
    // Cells 0 and 2 and the first 2 s of cell 1 are local activities; the rest of cell 1 a regular one.
    // Cell 2 was also started ahead while cell 1 ran (pipelined cells) and, cell 1 handed off, not sent.
    const statuses = localCellStatuses(events);
    expect(statuses.filter((s) => s !== 'not-sent')).toEqual(['ok', 'running', 'ok']);
    expect(statuses.filter((s) => s === 'not-sent')).toHaveLength(1);
    expect(localActivityTypes(events).filter((type) => type === 'executeCell')).toHaveLength(4);
    expect(cellActivities).toHaveLength(1);
    expect(cellActivities[0]!.userMetadata?.summary).toBeDefined();
  });

  it('keeps outputs out of history: a 2 MB print leaves the history small', async () => {
    const path = await h.writeNotebook('big.ipynb', notebook([codeCell('print("x" * 2_000_000)')]));
    const run = await h.runNotebook(path);
    expect(run.error).toBeUndefined();
    expect(streamText(run.output.cells[0]!).length).toBe(2_000_001);
    const history = await h.client.workflow.getHandle(run.input.runId).fetchHistory();
    const bytes = Buffer.byteLength(JSON.stringify(history));
    expect(bytes).toBeLessThan(100_000);
  });

  it('writes the record while the run is in progress', async () => {
    const path = await h.writeNotebook(
      'live.ipynb',
      notebook([codeCell('print("early output", flush=True)\nimport time\ntime.sleep(4)'), codeCell('print("done")')]),
    );
    const parameters = { parameters: [] as Array<[string, string]> };
    const pending = h.runNotebook(path, parameters);
    // Poll the store for the live record (the notebook merged with its journal): the
    // first cell's output appears before it ends.
    const { readdir } = await import('node:fs/promises');
    const { readRecord } = await import('../../record/run-record.js');
    const { join } = await import('node:path');
    let seen: any;
    const deadline = Date.now() + 30_000;
    while (!seen && Date.now() < deadline) {
      const runs = await readdir(join(h.config.storeRoot, 'runs')).catch(() => [] as string[]);
      for (const id of runs.filter((r) => r.startsWith('live-'))) {
        const nb: any = await readRecord(join(h.config.storeRoot, 'runs', id, 'live.ipynb')).then((r) => r.notebook, () => null);
        if (nb && streamText(nb.cells[0]).includes('early output') && nb.cells[0].metadata.papermill.status === 'running') seen = nb;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(seen, 'a record showing the running cell with its first output').toBeDefined();
    expect(seen.cells[1].metadata.papermill.status).toBe('pending');
    const run = await pending;
    expect(run.output.cells[0]!['metadata']['papermill']['status']).toBe('completed');
  });
});
