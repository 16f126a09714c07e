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
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { packageRoot } from './paths.js';

const exec = promisify(execFile);

export interface ReaperOptions {
  settings: ServerConnection.ISettings;
  client: Client;
  intervalMs: number;
  /** How long a finished run's kernel must have been idle before it is shut down. */
  graceMs: number;
  log?: (line: string) => void;
  /**
   * The Jupyter Server's placements folder, the label of its kernels' containers: those
   * whose kernel the server no longer knows (it was killed with its worker) are removed.
   */
  placementsDir?: string;
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

/** podman with the project's containers.conf unless the operator chose one. */
export function podman(args: string[]): Promise<{ stdout: string }> {
  const env = { ...process.env, CONTAINERS_CONF: process.env['CONTAINERS_CONF'] ?? join(packageRoot(), 'docker', 'containers.conf') };
  return exec('podman', args, { env, maxBuffer: 16 * 1024 * 1024 });
}

/**
 * One pass over the kernel containers of this server (worker/container_provisioner.py):
 * removes those whose kernel it does not know, once older than the grace period (a kernel
 * being started has its container before the server lists it). A kernel that died with
 * its server leaves its container running: nothing else would remove it.
 */
export async function reapOrphanContainers(options: Pick<ReaperOptions, 'settings' | 'graceMs' | 'log'> & { placementsDir: string }, now = Date.now()): Promise<string[]> {
  const { stdout } = await podman(['ps', '--all', '--filter', `label=millrace.placements=${options.placementsDir}`, '--format', 'json']);
  const containers = JSON.parse(stdout || '[]') as Array<{ Names: string[]; Labels?: Record<string, string>; Created: number }>;
  if (!containers.length) return [];
  const known = new Set((await KernelAPI.listRunning(options.settings)).map((k) => k.id));
  const removed: string[] = [];
  for (const container of containers) {
    const kernelId = container.Labels?.['millrace.kernel'];
    if (!kernelId || known.has(kernelId) || now - container.Created * 1000 < options.graceMs) continue;
    const name = container.Names[0]!;
    await podman(['rm', '--force', '--time', '0', name]);
    options.log?.(`removed container ${name} of a kernel the Jupyter Server no longer knows`);
    removed.push(name);
  }
  return removed;
}

/** Reaps on an interval until stopped; errors (server briefly away) wait for the next pass. */
export function startOrphanReaper(options: ReaperOptions): () => void {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    reapOrphanKernels(options)
      .catch(() => undefined)
      // Only where container kernels were ever placed: others need no podman process each pass.
      .then(() => (options.placementsDir && existsSync(options.placementsDir) ? reapOrphanContainers({ ...options, placementsDir: options.placementsDir }) : undefined))
      .catch(() => undefined)
      .finally(() => (running = false));
  }, options.intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
