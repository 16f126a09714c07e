/**
 * `millrace run --on-failure pause` on the real stack: a failing cell pauses the run with
 * its kernel alive, and the repair Updates (retry, exec, skip, abort) or the pause timer
 * decide how it ends.
 */
import { SessionAPI } from '@jupyterlab/services';
import { WorkflowFailedError, WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { serverSettings } from '../../activities/jupyter.js';
import { buildRunInput } from '../../cli/submit.js';
import type { RepairDecision, RepairExecution, RunInput, RunProgress, RunResult } from '../../workflows/contracts.js';
import { assertValidNotebook, cellText, codeCell, markdownCell, notebook, runCli, startHarness, streamText, type Harness, type NotebookJson, waitFor, settledKernelIds } from './harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

function jupyter() {
  const stack = inject('stack');
  return serverSettings({ url: stack.jupyterUrl, token: stack.jupyterToken });
}

/** The kernel a run started, through its Jupyter session `millrace/<run id>`. */
async function kernelOf(runId: string): Promise<string> {
  const session = (await SessionAPI.listRunning(jupyter())).find((s) => s.path === `millrace/${runId}`);
  if (!session?.kernel) throw new Error(`no kernel for run ${runId}`);
  return session.kernel.id;
}

interface Started {
  handle: WorkflowHandle;
  input: RunInput;
}

async function startRun(name: string, cells: Array<Record<string, unknown>>, extra: Partial<Parameters<typeof buildRunInput>[1]> = {}): Promise<Started> {
  const runId = `${name}-${randomBytes(3).toString('hex')}`;
  const path = await h.writeNotebook(`${runId}.ipynb`, notebook(cells));
  const input = await buildRunInput(h.config, { notebookPath: path, params: {}, runId, onFailure: 'pause', ...extra });
  const handle = await h.client.workflow.start('notebookRun', {
    taskQueue: h.taskQueue,
    workflowId: runId,
    args: [input],
    memo: { notebook: basename(path), output: input.output },
  });
  return { handle, input };
}

function paused(handle: WorkflowHandle) {
  return waitFor('the run to pause', async () => (await handle.query<RunProgress>('progress')).paused);
}

async function record(input: RunInput): Promise<NotebookJson> {
  return JSON.parse(await readFile(input.output, 'utf8')) as NotebookJson;
}

async function failureOf(handle: WorkflowHandle): Promise<{ message: string; type: string | undefined }> {
  const err = await handle.result().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(WorkflowFailedError);
  const cause = (err as WorkflowFailedError).cause as { message: string; type?: string };
  return { message: cause.message, type: cause.type };
}

describe('--on-failure pause', () => {
  it('pauses on a failing cell; `millrace retry --source` repairs it and the run completes (CLI)', async () => {
    const { handle, input } = await startRun('retry-source', [
      codeCell('x = 41'),
      codeCell('raise ValueError("bad input")'),
      markdownCell('after the repair'),
      codeCell('print("later", y)'),
    ]);
    const pause = await paused(handle);
    expect(pause).toMatchObject({ cell: 1, ename: 'ValueError', evalue: 'bad input' });

    // Visible to `runs --status paused` and `show`, through the memo.
    const runs = await runCli(['runs', '--status', 'paused', '--json'], h.cliEnv);
    expect(runs.code, runs.stderr).toBe(0);
    expect(JSON.parse(runs.stdout).map((r: { run_id: string }) => r.run_id)).toContain(input.runId);
    const running = await runCli(['runs', '--status', 'running', '--json'], h.cliEnv);
    expect(JSON.parse(running.stdout).map((r: { run_id: string }) => r.run_id)).not.toContain(input.runId);
    const show = await runCli(['show', input.runId, '--json'], h.cliEnv);
    expect(show.code, show.stderr).toBe(0);
    expect(JSON.parse(show.stdout)).toMatchObject({
      status: 'paused',
      failed_cell: 1,
      error: { ename: 'ValueError', evalue: 'bad input' },
      paused: { cell: 1, ename: 'ValueError' },
    });

    const fix = join(h.dir, `${input.runId}-fix.py`);
    await writeFile(fix, 'y = x + 1\nprint("fixed", y)\n');
    const retry = await runCli(['retry', input.runId, '--source', fix], h.cliEnv);
    expect(retry.code, retry.stderr).toBe(0);
    expect(retry.stdout).toBe('fixed 42\n');
    expect(retry.stderr).toContain('cell 1 completed');

    const result = (await handle.result()) as RunResult;
    expect(result.status).toBe('completed');
    const nb = await record(input);
    await assertValidNotebook(input.output);
    expect(cellText(nb.cells[1]!)).toBe('y = x + 1\nprint("fixed", y)\n');
    expect(nb.cells[1]!['metadata']['millrace']['original_source']).toBe('raise ValueError("bad input")');
    expect(nb.cells[1]!['metadata']['millrace']['retried_after']).toMatchObject([{ ename: 'ValueError', evalue: 'bad input' }]);
    expect(nb.cells[1]!['metadata']['papermill']['status']).toBe('completed');
    expect(nb.cells[1]!['outputs'].some((o: { output_type: string }) => o.output_type === 'error')).toBe(false);
    expect(streamText(nb.cells[1]!)).toBe('fixed 42\n');
    expect(streamText(nb.cells[3]!)).toBe('later 42\n');
    expect(nb.metadata['papermill']['exception']).toBeNull();
    expect(nb.metadata['millrace']['status']).toBe('completed');
  });

  it('exec runs scratch code in the paused kernel and logs it; abort fails the run and shuts the kernel down', async () => {
    const { handle, input } = await startRun('exec-abort', [codeCell('secret = 7'), codeCell('1 / 0'), codeCell('print("never")')]);
    await paused(handle);
    const kernel = await kernelOf(input.runId);

    const seen = await handle.executeUpdate<RepairExecution, [{ code: string }]>('exec', { args: [{ code: 'print(secret * 6)\nsecret * 2' }] });
    expect(seen).toMatchObject({ status: 'ok', cell: 1, output: '42\n14\n', paused: true });
    const broken = await handle.executeUpdate<RepairExecution, [{ code: string }]>('exec', { args: [{ code: 'missing_name' }] });
    expect(broken).toMatchObject({ status: 'error', ename: 'NameError', paused: true });
    expect(broken.output).toContain("name 'missing_name' is not defined");
    expect((await handle.query<RunProgress>('progress')).paused).toMatchObject({ cell: 1 });

    const answer = await handle.executeUpdate<RepairDecision, []>('abort');
    expect(answer).toEqual({ runId: input.runId, cell: 1, action: 'aborted' });
    const failure = await failureOf(handle);
    expect(failure).toEqual({ type: 'CellFailed', message: 'cell 1 failed: ZeroDivisionError: division by zero (aborted while paused)' });
    expect(await settledKernelIds((ids) => !ids.includes(kernel))).not.toContain(kernel);

    const nb = await record(input);
    await assertValidNotebook(input.output);
    const scratch = nb.metadata['millrace']['scratch'];
    expect(scratch).toHaveLength(2);
    expect(scratch[0]).toMatchObject({ cell: 1, code: 'print(secret * 6)\nsecret * 2', status: 'ok' });
    expect(scratch[1]).toMatchObject({ cell: 1, code: 'missing_name', status: 'error', ename: 'NameError' });
    expect(typeof scratch[0].time).toBe('string');
    expect(nb.metadata['millrace']['status']).toBe('failed');
    // Scratch code is not a cell: its output is nowhere among the cells.
    expect(JSON.stringify(nb.cells)).not.toContain('missing_name');
    // papermill's banner names the failed cell; the later cell never ran.
    expect(nb.cells[0]!['metadata']['tags']).toContain('papermill-error-cell-tag');
    expect(nb.cells.at(-1)!['metadata']['papermill']['status']).toBe('pending');
  });

  it('skip marks the cell skipped, keeps its error, and goes on', async () => {
    const { handle, input } = await startRun('skip', [codeCell('a = 1'), codeCell('raise KeyError("gone")'), codeCell('print("after", a)')]);
    await paused(handle);
    const skip = await runCli(['skip', input.runId, '--json'], h.cliEnv);
    expect(skip.code, skip.stderr).toBe(0);
    expect(JSON.parse(skip.stdout)).toEqual({ run_id: input.runId, cell: 1, action: 'skipped' });
    const result = (await handle.result()) as RunResult;
    expect(result).toMatchObject({ status: 'completed', skippedCells: [1] });
    const nb = await record(input);
    await assertValidNotebook(input.output);
    expect(nb.cells[1]!['metadata']['millrace']['skipped']).toBe(true);
    expect(nb.cells[1]!['metadata']['papermill']['status']).toBe('failed');
    expect(nb.cells[1]!['outputs'].find((o: { output_type: string }) => o.output_type === 'error')).toMatchObject({ ename: 'KeyError' });
    expect(streamText(nb.cells[2]!)).toBe('after 1\n');
    const show = await runCli(['show', input.runId, '--json'], h.cliEnv);
    expect(JSON.parse(show.stdout).cells[1]).toMatchObject({ status: 'skipped' });
  });

  it('a retry that fails again keeps the run paused; a later retry with new source completes it', async () => {
    const { handle, input } = await startRun('retry-again', [codeCell('n = 0'), codeCell('n += 1\nprint("attempt", n)\nraise RuntimeError(f"flaky {n}")')]);
    await paused(handle);
    const again = await handle.executeUpdate<RepairExecution, [object]>('retry', { args: [{}] });
    // The cell was sent to the kernel once more: n counts the attempts.
    expect(again).toMatchObject({ status: 'error', ename: 'RuntimeError', evalue: 'flaky 2', paused: true });
    expect(again.output).toContain('attempt 2\n');
    expect(again.output).toContain('RuntimeError: flaky 2');
    expect(await paused(handle)).toMatchObject({ cell: 1, evalue: 'flaky 2' });
    const fixed = await handle.executeUpdate<RepairExecution, [object]>('retry', { args: [{ source: 'print("attempts before", n)' }] });
    expect(fixed).toEqual({ runId: input.runId, cell: 1, status: 'ok', output: 'attempts before 2\n', paused: false });
    expect(((await handle.result()) as RunResult).status).toBe('completed');
    const cell = (await record(input)).cells[1]!;
    expect(cell['metadata']['millrace']['retried_after']).toMatchObject([{ evalue: 'flaky 1' }, { evalue: 'flaky 2' }]);
    expect(cell['metadata']['millrace']['original_source']).toBe('n += 1\nprint("attempt", n)\nraise RuntimeError(f"flaky {n}")');
  });

  it('fails the run and shuts the kernel down when nobody repairs it before --pause-timeout', async () => {
    const { handle, input } = await startRun('expire', [codeCell('raise ValueError("nobody came")')], { pauseTimeoutS: 3 });
    const pause = await paused(handle);
    expect(Date.parse(pause.until) - Date.parse(pause.since)).toBe(3000);
    const kernel = await kernelOf(input.runId);
    const failure = await failureOf(handle);
    expect(failure).toEqual({ type: 'PauseExpired', message: 'cell 0 failed: ValueError: nobody came (paused for 3s without repair)' });
    expect(await settledKernelIds((ids) => !ids.includes(kernel))).not.toContain(kernel);
    expect((await record(input)).metadata['millrace']['status']).toBe('failed');
  });

  it('a foreground `millrace run --on-failure pause` says how to repair the run and waits for its end', async () => {
    const runId = `foreground-${randomBytes(3).toString('hex')}`;
    const path = await h.writeNotebook(`${runId}.ipynb`, notebook([codeCell('raise OSError("disk full")')]));
    const run = runCli(['run', path, '--id', runId, '--on-failure', 'pause', '--pause-timeout', '10m'], h.cliEnv);
    const handle = h.client.workflow.getHandle(runId);
    const pause = await paused(handle);
    expect(Date.parse(pause.until) - Date.parse(pause.since)).toBe(600_000);
    // The foreground command polls: abort only once it has seen the pause and said so.
    await waitFor('the foreground run to say how to repair it', async () => (run.printed().stderr.includes('repair it from another shell') ? true : undefined));
    const abort = await runCli(['abort', runId], h.cliEnv);
    expect(abort.code, abort.stderr).toBe(0);
    expect(abort.stdout).toContain(`run ${runId} aborted; its kernel is shut down\ncell 0 failed: OSError: disk full (aborted while paused)\n`);
    const foreground = await run;
    expect(foreground.code).toBe(1);
    expect(foreground.stderr).toContain(`cell 0 failed: OSError: disk full\nrun ${runId} is paused with its kernel alive until ${pause.until}; repair it from another shell:\n`);
    for (const command of ['retry', 'exec', 'skip', 'abort']) expect(foreground.stderr).toContain(`  millrace ${command} ${runId}`);
    expect(foreground.stderr).toContain('cell 0 failed: OSError: disk full (aborted while paused)\noutput: ');
    const badTimeout = await runCli(['run', path, '--pause-timeout', '10m'], h.cliEnv);
    expect(badTimeout.code).toBe(2);
    expect(badTimeout.stderr).toBe('millrace: --pause-timeout applies to runs with --on-failure pause\n');
  });

  it('cancelling a paused run works as for a running one', async () => {
    const { handle, input } = await startRun('cancel', [codeCell('raise ValueError("x")')]);
    await paused(handle);
    const kernel = await kernelOf(input.runId);
    await handle.cancel();
    await expect(handle.result()).rejects.toThrow();
    expect((await handle.describe()).status.name).toBe('CANCELLED');
    expect(await settledKernelIds((ids) => !ids.includes(kernel))).not.toContain(kernel);
    expect((await record(input)).metadata['millrace']['status']).toBe('cancelled');
  });

  it('refuses repairs of runs that are not paused, with one clear line', async () => {
    const sleeper = [codeCell('import time\ntime.sleep(60)')];
    const executing = await startRun('busy', sleeper);
    const plain = await startRun('plain', sleeper, { onFailure: 'fail' });
    for (const run of [executing, plain]) {
      await waitFor('the cell to run', async () => ((await run.handle.query<RunProgress>('progress')).cells[0]?.status === 'running' ? true : undefined));
    }
    const refusal = (run: Started, name: string, args: unknown[]) =>
      run.handle.executeUpdate(name, { args } as never).then(
        () => 'accepted',
        (err: unknown) => (err instanceof WorkflowUpdateFailedError ? (err.cause?.message ?? err.message) : String(err)),
      );
    expect(await refusal(executing, 'skip', [])).toBe(`run ${executing.input.runId} is not paused (it is executing)`);
    expect(await refusal(executing, 'exec', [{ code: 'print(1)' }])).toBe(`run ${executing.input.runId} is not paused (it is executing)`);
    expect(await refusal(plain, 'retry', [{}])).toBe(`run ${plain.input.runId} was not started with --on-failure pause: it cannot be repaired in place`);
    const cli = await runCli(['abort', executing.input.runId], h.cliEnv);
    expect(cli.code).toBe(2);
    expect(cli.stderr).toBe(`millrace: run ${executing.input.runId} is not paused (it is executing)\n`);
    await Promise.all([executing.handle.cancel(), plain.handle.cancel()]);
    await Promise.allSettled([executing.handle.result(), plain.handle.result()]);

    const ended = await runCli(['retry', executing.input.runId], h.cliEnv);
    expect(ended.code).toBe(2);
    expect(ended.stderr).toBe(`millrace: run ${executing.input.runId} is not paused (cancelled)\n`);
    const missing = await runCli(['exec', 'no-such-run', 'print(1)'], h.cliEnv);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe('millrace: no run no-such-run: see `millrace runs`\n');
  });
});
