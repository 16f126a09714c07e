/**
 * Faults injected for real (SPEC §4.3, §4.7, §4.8): a worker SIGKILLed mid-cell, a kernel
 * that dies, a cell asking for stdin, a cell that runs too long, a cancelled run. Each
 * ends in a clear, attributed outcome, with no kernel left behind.
 */
import { ActivityFailure, ApplicationFailure, CancelledFailure, Client, WorkflowFailedError } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { wrapSqlJob } from '../../jobs/wrap.js';
import { sourceText } from '../../notebook/nbformat.js';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { serverSettings, startKernel } from '../../activities/jupyter.js';
import { buildRunInput } from '../../cli/submit.js';
import { reapOrphanKernels } from '../../worker/orphans.js';
import type { RunProgress } from '../../workflows/contracts.js';
import { codeCell, notebook, startHarness, streamText, type Harness, waitFor, waitForSavedOutput, startWorkerProcess, exited, liveKernelIds, kernelsLeftSince, localActivityTypes, activityAttempts } from './harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

describe('faults', () => {
  it('survives a worker SIGKILLed mid-cell: each cell runs exactly once and the record is whole', async () => {
    const side = join(h.dir, `side-${randomBytes(3).toString('hex')}.txt`);
    const cells = [0, 1, 2, 3].map((i) =>
      codeCell(`import time\nprint("start ${i}", flush=True)\ntime.sleep(1.5)\nopen(${JSON.stringify(side)}, "a").write("cell ${i}\\n")\nprint("end ${i}")`),
    );
    const path = await h.writeNotebook('killed.ipynb', notebook(cells));
    const taskQueue = `killed-${randomBytes(3).toString('hex')}`;
    const before = await liveKernelIds();
    let first = await startWorkerProcess(taskQueue);
    let second: ChildProcess | undefined;
    try {
      const input = await buildRunInput({ ...h.config, taskQueue }, { notebookPath: path, params: {} });
      const handle = await h.client.workflow.start('notebookRun', { taskQueue, workflowId: input.runId, args: [input] });
      // Kill once the record shows cell 1 running with its first output saved.
      await waitForSavedOutput(input.output, 1, 'start 1');
      first.kill('SIGKILL');
      await exited(first);
      second = await startWorkerProcess(taskQueue);
      await handle.result();
      expect((await readFile(side, 'utf8')).split('\n').filter(Boolean)).toEqual(['cell 0', 'cell 1', 'cell 2', 'cell 3']);
      const nb = JSON.parse(await readFile(input.output, 'utf8'));
      for (const [i, cell] of nb.cells.entries()) {
        expect(cell.metadata.papermill.status).toBe('completed');
        expect(streamText(cell)).toContain(`start ${i}`);
      }
      expect(nb.cells[1].metadata.millrace.recovered).toBe(true);
      expect(streamText(nb.cells[1], 'stderr')).toContain('the worker running this cell was lost');
      expect(await kernelsLeftSince(before)).toEqual([]);
    } finally {
      first.kill('SIGKILL');
      second?.kill('SIGTERM');
      if (second) await exited(second);
    }
  });

  it("fails a SQL cell whose @output file went to a worker SIGKILLed while it ran, rather than passing without the file", async () => {
    const marker = join(h.dir, `udf-${randomBytes(3).toString('hex')}`);
    const wrapped = await wrapSqlJob('saves.sql', Buffer.from('-- @output out/picked.csv\nselect pause(4.0) as waited, 7 as n;\n'));
    const setup = wrapped.cells.findIndex((c) => sourceText(c.source).includes('register_magic_function'));
    // A DuckDB function that says it started, then takes 4 s: the worker is killed meanwhile.
    const udf = codeCell(
      `import time\nfrom duckdb.sqltypes import DOUBLE\n` +
        `def pause(s):\n    open(${JSON.stringify(marker)}, "w").write("started")\n    time.sleep(s)\n    return s\n` +
        `_millrace_sql.conn.create_function("pause", pause, [DOUBLE], DOUBLE)`,
    );
    const cells = [...wrapped.cells.slice(0, setup + 1), udf, ...wrapped.cells.slice(setup + 1)];
    const path = await h.writeNotebook('saves.ipynb', { ...wrapped, cells } as never);
    const taskQueue = `killed-${randomBytes(3).toString('hex')}`;
    let first = await startWorkerProcess(taskQueue);
    let second: ChildProcess | undefined;
    try {
      const input = await buildRunInput({ ...h.config, taskQueue }, { notebookPath: path, params: {} });
      const handle = await h.client.workflow.start('notebookRun', { taskQueue, workflowId: input.runId, args: [input] });
      await waitFor('the SQL statement to be running', async () => (existsSync(marker) ? true : undefined));
      first.kill('SIGKILL');
      await exited(first);
      second = await startWorkerProcess(taskQueue);
      await expect(handle.result()).rejects.toThrow(WorkflowFailedError);
      // The cell's number is the notebook's own index (the CLI's numbering); the record also holds papermill's cells.
      const number = cells.findIndex((c) => sourceText((c as { source: string }).source).startsWith('%%millrace_sql'));
      const nb = JSON.parse(await readFile(input.output, 'utf8'));
      const cell = nb.cells.find((c: { source: string | string[] }) => sourceText(c.source).startsWith('%%millrace_sql'));
      expect(cell.metadata.millrace.recovered).toBe(true);
      expect(cell.metadata.papermill.status).toBe('failed');
      const error = cell.outputs.find((o: { output_type: string }) => o.output_type === 'error');
      expect(error).toMatchObject({ ename: 'SavedFileError', evalue: `out/picked.csv was not saved: the worker receiving it was lost while cell ${number} ran; resume from cell ${number} to save it` });
      expect(existsSync(join(dirname(input.output), 'out', 'picked.csv'))).toBe(false);
    } finally {
      first.kill('SIGKILL');
      second?.kill('SIGTERM');
      if (second) await exited(second);
    }
  });

  it('survives a worker SIGKILLed in a stretch of short cells: cells run as local activities whose results were not yet in history run exactly once', async () => {
    const side = join(h.dir, `side-${randomBytes(3).toString('hex')}.txt`);
    const count = 120;
    const cells = Array.from({ length: count }, (_, i) => codeCell(`import time\nopen(${JSON.stringify(side)}, "a").write("${i}\\n")\ntime.sleep(0.03)`));
    const path = await h.writeNotebook('killed-short.ipynb', notebook(cells));
    const taskQueue = `killed-${randomBytes(3).toString('hex')}`;
    let first = await startWorkerProcess(taskQueue);
    let second: ChildProcess | undefined;
    try {
      const input = await buildRunInput({ ...h.config, taskQueue }, { notebookPath: path, params: {} });
      const handle = await h.client.workflow.start('notebookRun', { taskQueue, workflowId: input.runId, args: [input] });
      // Mid-stretch: some cells done, their local activity results partly not yet in history.
      await waitFor('40 cells to have run', async () => {
        const ran = (await readFile(side, 'utf8').catch(() => '')).split('\n').filter(Boolean).length;
        return ran >= 40 ? true : undefined;
      });
      first.kill('SIGKILL');
      await exited(first);
      second = await startWorkerProcess(taskQueue);
      await handle.result();
      expect((await readFile(side, 'utf8')).split('\n').filter(Boolean)).toEqual(Array.from({ length: count }, (_, i) => String(i)));
      const nb = JSON.parse(await readFile(input.output, 'utf8'));
      expect(nb.cells.map((c: { metadata: { papermill: { status: string } } }) => c.metadata.papermill.status)).toEqual(Array(count).fill('completed'));
      const events = (await handle.fetchHistory()).events ?? [];
      // The short cells really ran as local activities (markers), not as activity tasks.
      expect(localActivityTypes(events).filter((type) => type === 'executeCell')).toHaveLength(count);
      expect(events.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'executeCell')).toHaveLength(0);
    } finally {
      first.kill('SIGKILL');
      second?.kill('SIGTERM');
      if (second) await exited(second);
    }
  });

  it('fails within seconds, naming the cell, when the kernel dies', async () => {
    const path = await h.writeNotebook('dies.ipynb', notebook([codeCell('x = 1'), codeCell('import os\nos._exit(1)'), codeCell('print("never")')]));
    const started = Date.now();
    const run = await h.runNotebook(path);
    expect(Date.now() - started).toBeLessThan(30_000);
    const cause = run.error?.cause;
    expect(cause).toBeInstanceOf(ActivityFailure);
    expect((cause as ActivityFailure).cause).toBeInstanceOf(ApplicationFailure);
    expect(((cause as ActivityFailure).cause as ApplicationFailure).type).toBe('KernelLost');
    expect((cause as ActivityFailure).cause?.message).toMatch(/^kernel lost at cell 1: the kernel died/);
    const failing = run.output.cells.find((c) => c['metadata']['papermill']?.['status'] === 'failed');
    expect(failing?.['outputs'].at(-1)).toMatchObject({ output_type: 'error', ename: 'DeadKernelError' });
  });

  it('with --on-kernel-loss restart, replays earlier cells in a new kernel and goes on', async () => {
    const flag = join(h.dir, `died-${randomBytes(3).toString('hex')}`);
    const side = `${flag}.side`;
    const path = await h.writeNotebook(
      'restart.ipynb',
      notebook([
        codeCell(`base = 41\nopen(${JSON.stringify(side)}, "a").write("setup\\n")`),
        codeCell(`import os\nif not os.path.exists(${JSON.stringify(flag)}):\n    open(${JSON.stringify(flag)}, "w").close()\n    os._exit(1)\nprint(base + 1)`),
        codeCell('print("after")'),
      ]),
    );
    const run = await h.runNotebook(path, {}, { onKernelLoss: 'restart' });
    expect(run.error).toBeUndefined();
    expect(streamText(run.output.cells[1]!)).toBe('42\n');
    expect(streamText(run.output.cells[2]!)).toBe('after\n');
    // The first cell ran twice: once, then once more when replayed in the new kernel.
    expect((await readFile(side, 'utf8')).split('\n').filter(Boolean)).toEqual(['setup', 'setup']);
    expect(run.output.metadata['millrace']['kernel_restarts']).toMatchObject([{ lost_at_cell: 1, replayed_cells: [0] }]);
    // The new kernel started at the first attempt. (When the dead kernel's shutdown was
    // still under way, Jupyter answered the new session with the dead kernel, and the
    // attempt waited out its timeout: a minute.)
    const history = await h.client.workflow.getHandle(run.input.runId).fetchHistory();
    expect(activityAttempts(history.events!, 'startKernel')).toEqual([1, 1]);
  });

  it('fails at once on input(): no stdin, nothing hangs', async () => {
    const path = await h.writeNotebook('stdin.ipynb', notebook([codeCell('name = input("who? ")')]));
    const run = await h.runNotebook(path);
    expect(run.error?.cause?.message).toMatch(/^cell 0 failed: StdinNotImplementedError/);
  });

  it('interrupts a cell that outlives --cell-timeout and fails it with a timeout error', async () => {
    const path = await h.writeNotebook('slow.ipynb', notebook([codeCell('import time\ntime.sleep(60)'), codeCell('print("never")')]));
    const started = Date.now();
    const run = await h.runNotebook(path, {}, { cellTimeoutS: 2 });
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(run.error?.cause?.message).toBe('cell 0 failed: CellTimeoutError: Cell execution timed out after 2 s');
    const failing = run.output.cells.find((c) => c['metadata']['papermill']?.['status'] === 'failed');
    expect(failing?.['outputs'].at(-1)).toMatchObject({ output_type: 'error', ename: 'CellTimeoutError' });
  });

  it('honours the timeout a cell declares in its tags', async () => {
    const path = await h.writeNotebook('tagged.ipynb', notebook([codeCell('import time\ntime.sleep(60)', ['timeout=1'])]));
    const run = await h.runNotebook(path, {}, { cellTimeoutS: 600 });
    expect(run.error?.cause?.message).toBe('cell 0 failed: CellTimeoutError: Cell execution timed out after 1 s');
  });

  it('fails a run that outlives its --timeout at the cell that was running', async () => {
    const path = await h.writeNotebook(
      'budget.ipynb',
      notebook([codeCell('import time\ntime.sleep(0.5)'), codeCell('time.sleep(60)'), codeCell('print("never")')]),
    );
    const before = await liveKernelIds();
    const started = Date.now();
    const run = await h.runNotebook(path, {}, { runTimeoutS: 3 });
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(run.error?.cause?.message).toBe('run timed out at cell 1: the run exceeded its 3 s timeout');
    expect(run.output.cells[0]!['cell_type']).toBe('markdown'); // papermill's banner
    expect(await kernelsLeftSince(before)).toEqual([]);
  });

  it('cancels: the kernel is interrupted and shut down, the record says cancelled', async () => {
    const path = await h.writeNotebook('cancel.ipynb', notebook([codeCell('import time\ntime.sleep(120)'), codeCell('print("never")')]));
    const before = await liveKernelIds();
    const input = await buildRunInput(h.config, { notebookPath: path, params: {} });
    const handle = await h.client.workflow.start('notebookRun', { taskQueue: h.taskQueue, workflowId: input.runId, args: [input] });
    await waitFor('cell 0 to be running', async () => ((await handle.query<RunProgress>('progress')).cells[0]?.status === 'running' ? true : undefined));
    const started = Date.now();
    await handle.cancel();
    const error = await handle.result().then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(WorkflowFailedError);
    expect((error as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);
    expect(Date.now() - started).toBeLessThan(15_000);
    const nb = JSON.parse(await readFile(input.output, 'utf8'));
    expect(nb.metadata.millrace.status).toBe('cancelled');
    expect(nb.cells[0].metadata.papermill.status).toBe('failed');
    expect(nb.cells[0].outputs.at(-1)).toMatchObject({ output_type: 'error', ename: 'RunCancelled' });
    expect(await kernelsLeftSince(before)).toEqual([]);
  });

  it('keeps a 50 MB print and a 20 MB image in the notebook while the history stays under 1 MB', async () => {
    const path = await h.writeNotebook(
      'huge.ipynb',
      notebook([
        codeCell('print("x" * 50_000_000)'),
        codeCell('import base64, os\nfrom IPython.display import display\ndisplay({"image/png": base64.b64encode(os.urandom(15_000_000)).decode()}, raw=True)'),
      ]),
    );
    const run = await h.runNotebook(path);
    expect(run.error).toBeUndefined();
    expect(streamText(run.output.cells[0]!).length).toBe(50_000_001);
    const png = run.output.cells[1]!['outputs'][0]['data']['image/png'];
    expect((Array.isArray(png) ? png.join('') : png).length).toBe(20_000_000);
    const history = await h.client.workflow.getHandle(run.input.runId).fetchHistory();
    expect(Buffer.byteLength(JSON.stringify(history))).toBeLessThan(1_000_000);
  });

  it('shuts down the kernels of runs that ended without their clean-up, and only those', async () => {
    const stack = inject('stack');
    const path = await h.writeNotebook('orphan.ipynb', notebook([codeCell('import time\ntime.sleep(120)')]));
    const started = async () => {
      const input = await buildRunInput(h.config, { notebookPath: path, params: {} });
      const handle = await h.client.workflow.start('notebookRun', { taskQueue: h.taskQueue, workflowId: input.runId, args: [input] });
      await waitFor('cell 0 running', async () => ((await handle.query<RunProgress>('progress')).cells[0]?.status === 'running' ? true : undefined));
      return handle;
    };
    const before = await liveKernelIds();
    const doomed = await started();
    const alive = await started();
    const settings = serverSettings({ url: stack.jupyterUrl, token: stack.jupyterToken });
    // A session named for a run Temporal never had (its workflow is not found).
    const stray = await startKernel(settings, 'python3', `no-such-run-${randomBytes(4).toString('hex')}`);
    const kernels = (await liveKernelIds()).filter((id) => !before.includes(id));
    expect(kernels).toHaveLength(3);
    // Terminated: no finalize, no shutdownKernel; its kernel is left running.
    await doomed.terminate('test: leave an orphan');
    // The reaper asks on the worker's own connection, Core's client (worker/worker.ts).
    const native = await NativeConnection.connect({ address: stack.temporalAddress });
    let reaped: string[];
    try {
      const client = new Client({ connection: native, namespace: stack.namespace });
      // (A kernel of an earlier test's finished run may still be on its way out: fair game.)
      reaped = (await reapOrphanKernels({ settings, client, intervalMs: 0, graceMs: 0 })).filter((id) => kernels.includes(id));
    } finally {
      await native.close();
    }
    expect(reaped).toHaveLength(2);
    expect(reaped).toContain(stray.model.id);
    const left = (await liveKernelIds()).filter((id) => kernels.includes(id));
    expect(left).toHaveLength(1);
    expect(reaped).not.toContain(left[0]);
    await alive.cancel();
    await alive.result().catch(() => undefined);
    expect(await kernelsLeftSince(before)).toEqual([]);
  });
});
