/**
 * A kernel that no longer exists is a kernel loss (issue 14 item 4): a run whose worker
 * died comes back on another worker to a kernel the Jupyter Server answers 404 for (the
 * server restarted under it, or the kernel was deleted). It is found within seconds, and
 * --on-kernel-loss decides: fail with the reason recorded, or restart and replay.
 */
import { KernelAPI, SessionAPI } from '@jupyterlab/services';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import { afterAll, beforeAll, expect, inject, it, vi } from 'vitest';
import { serverSettings, SESSION_PREFIX, shutdownKernel } from '../../activities/jupyter.js';
import { buildRunInput } from '../../cli/submit.js';
import { codeCell, exited, notebook, runCli, startHarness, startWorkerProcess, streamText, waitForSavedOutput, type Harness } from './harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

/** Generous: the hang was 19 minutes; a lost worker is noticed after its 10 s heartbeat timeout. */
const BOUND_MS = 90_000;

function settings() {
  const stack = inject('stack');
  return serverSettings({ url: stack.jupyterUrl, token: stack.jupyterToken });
}

/** The id of the kernel in run `runId`'s Jupyter session. */
async function runKernelId(runId: string): Promise<string> {
  const session = (await SessionAPI.listRunning(settings())).find((s) => s.path === `${SESSION_PREFIX}${runId}`);
  if (!session?.kernel) throw new Error(`no kernel session for run ${runId}`);
  return session.kernel.id;
}

/**
 * Runs a notebook whose cell 1 waits for a file, on a worker process that is SIGKILLed
 * while the cell waits; the kernel is deleted through the REST API, as a restarted server
 * would have lost it; a second worker takes over. Returns how the run ended.
 */
async function runAcrossVanishedKernel(onKernelLoss: 'fail' | 'restart') {
  const flag = join(h.dir, `go-${randomBytes(3).toString('hex')}`);
  const path = await h.writeNotebook(
    `vanished-${onKernelLoss}.ipynb`,
    notebook([
      codeCell('x = 41'),
      codeCell(`import os, time\nprint("waiting", flush=True)\nwhile not os.path.exists(${JSON.stringify(flag)}):\n    time.sleep(0.1)\nprint("go")`),
      codeCell('print(x + 1)'),
    ]),
  );
  const taskQueue = `vanished-${randomBytes(3).toString('hex')}`;
  const first = await startWorkerProcess(taskQueue);
  let second: ChildProcess | undefined;
  try {
    const input = await buildRunInput({ ...h.config, taskQueue }, { notebookPath: path, params: {}, onKernelLoss });
    const handle = await h.client.workflow.start('notebookRun', { taskQueue, workflowId: input.runId, args: [input], memo: { notebook: 'vanished', output: input.output } });
    await waitForSavedOutput(input.output, 1, 'waiting');
    const kernelId = await runKernelId(input.runId);
    first.kill('SIGKILL');
    await exited(first);
    await KernelAPI.shutdownKernel(kernelId, settings());
    // A replacement kernel finds the file: the cell ends there.
    await writeFile(flag, '');
    second = await startWorkerProcess(taskQueue);
    const started = Date.now();
    let bound: NodeJS.Timeout | undefined;
    const ended = await Promise.race([
      handle.result().then(
        () => 'completed' as const,
        (err: unknown) => {
          if (err instanceof WorkflowFailedError) return 'failed' as const;
          throw err;
        },
      ),
      new Promise<'still running'>((resolve) => (bound = setTimeout(() => resolve('still running'), BOUND_MS))),
    ]).finally(() => clearTimeout(bound));
    if (ended === 'still running') await handle.terminate('the test gave up').catch(() => undefined);
    return { ended, kernelId, input, tookMs: Date.now() - started };
  } finally {
    first.kill('SIGKILL');
    second?.kill('SIGTERM');
    if (second) await exited(second);
  }
}

it('--on-kernel-loss fail: the run fails promptly, the reason recorded, and show prints it', async () => {
  const { ended, kernelId, input, tookMs } = await runAcrossVanishedKernel('fail');
  console.log(`[kernel-vanished] fail: ended ${ended} ${(tookMs / 1000).toFixed(1)} s after the second worker started`);
  expect(ended).toBe('failed');
  const why = `kernel ${kernelId} no longer exists on the Jupyter Server (restarted?)`;
  const shown = await runCli(['show', input.runId, '--json'], h.cliEnv, h.dir);
  expect(shown.code, shown.stderr).toBe(0);
  expect(JSON.parse(shown.stdout)).toMatchObject({
    status: 'failed',
    failed_cell: 1,
    error: { ename: 'DeadKernelError', evalue: why },
    reason: `kernel lost at cell 1: ${why}`,
  });
  const text = await runCli(['show', input.runId], h.cliEnv, h.dir);
  expect(text.stdout).toContain(`failed:   cell 1: DeadKernelError: ${why}`);
  const nb = JSON.parse(await readFile(input.output, 'utf8'));
  expect(nb.metadata.millrace.status).toBe('failed');
  // (papermill's banner comes first in the file.)
  const lost = nb.cells.find((c: any) => c.outputs?.some((o: any) => o.ename === 'DeadKernelError'));
  expect(lost?.metadata.papermill.status).toBe('failed');
  expect(streamText(lost)).toBe('waiting\n');
});

it('--on-kernel-loss restart: a new kernel, the earlier cells replayed, and the run completes', async () => {
  const { ended, input, tookMs } = await runAcrossVanishedKernel('restart');
  console.log(`[kernel-vanished] restart: ended ${ended} ${(tookMs / 1000).toFixed(1)} s after the second worker started`);
  expect(ended).toBe('completed');
  const nb = JSON.parse(await readFile(input.output, 'utf8'));
  expect(nb.metadata.millrace.kernel_restarts).toEqual([expect.objectContaining({ lost_at_cell: 1, replayed_cells: [0] })]);
  expect(streamText(nb.cells[1])).toContain('go');
  expect(streamText(nb.cells[2])).toBe('42\n');
});

it('shuts down a kernel that is already gone without a word: a lost kernel prints nothing in the terminal', async () => {
  const gone = await KernelAPI.startNew({ name: 'python3' }, settings());
  await shutdownKernel(settings(), gone.id);
  expect((await KernelAPI.listRunning(settings())).map((k) => k.id)).not.toContain(gone.id);
  // @jupyterlab/services' own shutdownKernel says "The kernel … does not exist on the server" on the console.
  const warn = vi.spyOn(console, 'warn');
  try {
    await shutdownKernel(settings(), gone.id);
    expect(warn).not.toHaveBeenCalled();
  } finally {
    warn.mockRestore();
  }
});
