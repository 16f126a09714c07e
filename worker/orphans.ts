/**
 * Kernels whose run is over but that were never shut down (a worker died during
 * teardown, a run was terminated) are found through their Jupyter session
 * (`millrace/<run id>`) and shut down once they have had no activity for a grace period
 * (a terminated run's kernel may still be busy in a cell nobody waits for).
 * Kernels that millrace did not start are never touched.
 */
import { KernelAPI, SessionAPI, type ServerConnection } from '@jupyterlab/services';
import type { Client } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/client';
import { SESSION_PREFIX } from '../activities/jupyter.js';

export interface ReaperOptions {
  settings: ServerConnection.ISettings;
  client: Client;
  intervalMs: number;
  /** How long a finished run's kernel must have been idle before it is shut down. */
  graceMs: number;
  log?: (line: string) => void;
}

async function runIsOver(client: Client, runId: string): Promise<boolean> {
  try {
    const description = await client.workflow.getHandle(runId).describe();
    return description.status.name !== 'RUNNING';
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return true;
    throw err;
  }
}

/** One pass: returns the ids of the kernels it shut down. */
export async function reapOrphanKernels(options: ReaperOptions, now = Date.now()): Promise<string[]> {
  const sessions = await SessionAPI.listRunning(options.settings);
  const reaped: string[] = [];
  for (const session of sessions) {
    if (!session.path.startsWith(SESSION_PREFIX) || !session.kernel) continue;
    const lastActivity = Date.parse(session.kernel.last_activity ?? '');
    if (Number.isFinite(lastActivity) && now - lastActivity < options.graceMs) continue;
    const runId = session.path.slice(SESSION_PREFIX.length);
    if (!(await runIsOver(options.client, runId))) continue;
    // Deleting the session shuts its kernel down too.
    await SessionAPI.shutdownSession(session.id, options.settings).catch(() =>
      KernelAPI.shutdownKernel(session.kernel!.id, options.settings).catch(() => undefined),
    );
    options.log?.(`shut down kernel ${session.kernel.id} of finished run ${runId}`);
    reaped.push(session.kernel.id);
  }
  return reaped;
}

/** Reaps on an interval until stopped; errors (server briefly away) wait for the next pass. */
export function startOrphanReaper(options: ReaperOptions): () => void {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    reapOrphanKernels(options)
      .catch(() => undefined)
      .finally(() => (running = false));
  }, options.intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
