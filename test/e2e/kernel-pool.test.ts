/**
 * The warm kernel pool of a long-running worker: a run takes an idle kernel that is
 * already connected (its session moved to the run), the pool starts a replacement, a
 * stopped worker shuts its idle kernels down, and the orphan reaper shuts down the idle
 * kernels of a worker that is gone.
 */
import { SessionAPI } from '@jupyterlab/services';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { serverSettings, shutdownKernel } from '../../activities/jupyter.js';
import { KernelPool } from '../../activities/kernel-pool.js';
import { reapOrphanKernels } from '../../worker/orphans.js';
import { codeCell, notebook, startHarness, streamText, type Harness, waitFor } from './harness.js';

const settings = () => {
  const stack = inject('stack');
  return serverSettings({ url: stack.jupyterUrl, token: stack.jupyterToken });
};

async function poolSessions(): Promise<Array<{ path: string; kernelId: string }>> {
  const sessions = await SessionAPI.listRunning(settings());
  return sessions.filter((s) => s.path.startsWith('millrace/pool-')).map((s) => ({ path: s.path, kernelId: s.kernel!.id }));
}

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ kernelPool: 1 });
});
afterAll(async () => {
  await h?.close();
});

describe('kernel pool', () => {
  it('gives a run an idle kernel, starts a replacement, and leaves idle kernels of a gone worker to the reaper', async () => {
    const path = await h.writeNotebook('pooled.ipynb', notebook([codeCell('import os\nprint(os.getpid())')]));
    // The pool fills on first demand for a kernel name: the first run starts its own kernel.
    const first = await h.runNotebook(path);
    expect(first.error).toBeUndefined();
    // (Other test files' workers may have pooled kernels on the same server: ask ours.)
    const idleId = await waitFor('an idle pooled kernel', async () => {
      const ids = h.kernelPool!.idleKernelIds('python3');
      return ids.length === 1 ? ids[0] : undefined;
    });
    const before = await SessionAPI.listRunning(settings());
    const idle = (await poolSessions()).find((s) => s.kernelId === idleId);
    expect(idle?.path).toMatch(/^millrace\/pool-/);

    const second = await h.runNotebook(path);
    expect(second.error).toBeUndefined();
    expect(streamText(second.output.cells[0]!)).toMatch(/^\d+\n$/);
    // The run used the pooled kernel (its session was moved to the run) ...
    const history = await h.client.workflow.getHandle(second.input.runId).fetchHistory();
    const started = history.events!.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'startKernel');
    const completed = history.events!.find((e) => e.activityTaskCompletedEventAttributes?.scheduledEventId?.toString() === started!.eventId!.toString());
    const result = Buffer.from(completed!.activityTaskCompletedEventAttributes!.result!.payloads![0]!.data!).toString('utf8');
    expect(JSON.parse(result).kernel.kernelId).toBe(idle!.kernelId);
    expect(before.find((s) => s.kernel?.id === idle!.kernelId)?.path).toBe(idle!.path);
    // ... which the run shut down at its end, and a replacement is waiting.
    const replacement = await waitFor('a replacement pooled kernel', async () => {
      const ids = h.kernelPool!.idleKernelIds('python3');
      return ids.length === 1 && ids[0] !== idle!.kernelId ? (await poolSessions()).find((s) => s.kernelId === ids[0]) : undefined;
    });
    // (shut down just after the run's result)
    const shutDown = await waitFor('the used kernel to be shut down', async () => {
      const running = (await SessionAPI.listRunning(settings())).map((s) => s.kernel?.id);
      return running.includes(idle!.kernelId) ? undefined : running;
    }, 15_000);
    expect(shutDown).not.toContain(idle!.kernelId);

    // An idle kernel nobody keeps alive (its worker died) is reaped like any orphan.
    const reaped = await reapOrphanKernels({ settings: settings(), client: h.client, intervalMs: 0, graceMs: 60_000 }, Date.now() + 120_000);
    expect(reaped).toContain(replacement.kernelId);
  });

  it('shuts its idle kernels down when the worker stops', async () => {
    const h2 = await startHarness({ kernelPool: 1 });
    let mine: string[] = [];
    try {
      const path = await h2.writeNotebook('warm.ipynb', notebook([codeCell('1')]));
      expect((await h2.runNotebook(path)).error).toBeUndefined();
      mine = await waitFor('its pooled kernel', async () => {
        const ids = h2.kernelPool!.idleKernelIds('python3');
        return ids.length > 0 ? ids : undefined;
      });
      const sessions = new Set((await poolSessions()).map((s) => s.kernelId));
      for (const id of mine) expect(sessions).toContain(id);
    } finally {
      await h2.close();
    }
    const running = (await SessionAPI.listRunning(settings())).map((s) => s.kernel?.id);
    for (const id of mine) expect(running).not.toContain(id);
  });

  // A one-shot `millrace run` starts its run's kernel while Temporal comes up (cli/environment.ts).
  it('starts one kernel early for a one-shot run: the run waits for it, nothing replaces it, an untaken one is shut down', async () => {
    const before = new Set((await poolSessions()).map((s) => s.kernelId));
    const pool = new KernelPool(settings(), 0);
    pool.prestart('python3');
    // Asked for while it still starts: the run waits for that kernel rather than starting one.
    const kernel = await pool.take('python3', 'early-run');
    expect(kernel).toBeDefined();
    const sessions = await SessionAPI.listRunning(settings());
    expect(sessions.find((s) => s.kernel?.id === kernel!.model.id)?.path).toBe('millrace/early-run');
    expect(await pool.take('python3', 'early-run-2')).toBeUndefined();
    expect(pool.idleKernelIds('python3')).toEqual([]);
    await shutdownKernel(settings(), kernel!.model.id);
    await pool.stop();

    const untaken = new KernelPool(settings(), 0);
    untaken.prestart('python3');
    await untaken.stop();
    const left = (await SessionAPI.listRunning(settings())).filter((s) => s.path.startsWith('millrace/pool-') && !before.has(s.kernel!.id));
    expect(left).toEqual([]);
    expect((await SessionAPI.listRunning(settings())).map((s) => s.kernel?.id)).not.toContain(kernel!.model.id);
  });
});
