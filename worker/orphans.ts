/**
 * Kernels whose run is over but that were never shut down (a worker died during
 * teardown, a run was terminated) are found through their Jupyter session
 * (`millrace/<run id>`) and shut down once they have had no activity for a grace period
 * (a terminated run's kernel may still be busy in a cell nobody waits for).
 * Kernels that millrace did not start are never touched.
 */
import { KernelAPI, ServerConnection, SessionAPI } from '@jupyterlab/services';
import type { Client } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/client';
import { SESSION_PREFIX, shutdownKernel } from '../activities/jupyter.js';
import { execFile } from 'node:child_process';
import { z } from 'zod';
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
  /** Told once when the server refuses to list its kernels (ListingRefusedError). */
  warn?: (line: string) => void;
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

/**
 * The server answers 403 to listing sessions and kernels: Jupyter Kernel Gateway unless
 * started with --JupyterWebsocketPersonality.list_kernels=True. Nothing can be reaped.
 */
export class ListingRefusedError extends Error {
  constructor(serverUrl: string) {
    super(
      `the Jupyter server at ${serverUrl} refuses to list its kernels (403): kernels of runs that ended without their clean-up ` +
        'are not shut down (on Jupyter Kernel Gateway: start it with --JupyterWebsocketPersonality.list_kernels=True)',
    );
    this.name = 'ListingRefusedError';
  }
}

async function listing<T>(settings: ServerConnection.ISettings, list: () => Promise<T>): Promise<T> {
  try {
    return await list();
  } catch (err) {
    if (err instanceof ServerConnection.ResponseError && err.response.status === 403) throw new ListingRefusedError(settings.baseUrl);
    throw err;
  }
}

/**
 * Jupyter Kernel Gateway 3.0.1 answers 500 to a listing of sessions while one of them has
 * a kernel that was shut down by id (as millrace shuts kernels down), and forgets that
 * session as it answers: asked again until the dead ones are gone.
 */
const MAX_SESSION_LISTINGS = 200;

// Kernel Gateway answers in the sessions API's first form: the path in `notebook.path`.
const sessionsSchema = z.array(
  z
    .object({
      id: z.string(),
      path: z.string().optional(),
      notebook: z.object({ path: z.string() }).optional(),
      kernel: z.object({ id: z.string(), last_activity: z.string().optional() }).nullable().optional(),
    })
    .transform(({ id, path, notebook, kernel }) => ({ id, path: path ?? notebook?.path ?? '', kernel })),
);

/** Not SessionAPI.listRunning: it prints a failing server's Python traceback on stderr, each time. */
async function listSessions(settings: ServerConnection.ISettings): Promise<z.infer<typeof sessionsSchema>> {
  for (let attempt = 1; ; attempt++) {
    const response = await ServerConnection.makeRequest(`${settings.baseUrl}api/sessions`, {}, settings);
    if (response.status === 200) return sessionsSchema.parse(await response.json());
    await response.text();
    if (response.status === 403) throw new ListingRefusedError(settings.baseUrl);
    if (!(response.status === 500 && attempt < MAX_SESSION_LISTINGS)) throw new ServerConnection.ResponseError(response);
  }
}

/** One pass: returns the ids of the kernels it shut down. */
export async function reapOrphanKernels(options: ReaperOptions, now = Date.now()): Promise<string[]> {
  const sessions = await listSessions(options.settings);
  const reaped: string[] = [];
  for (const session of sessions) {
    if (!session.path.startsWith(SESSION_PREFIX) || !session.kernel) continue;
    const lastActivity = Date.parse(session.kernel.last_activity ?? '');
    if (Number.isFinite(lastActivity) && now - lastActivity < options.graceMs) continue;
    const runId = session.path.slice(SESSION_PREFIX.length);
    if (!(await runIsOver(options.client, runId))) continue;
    // Deleting the session shuts its kernel down too.
    await SessionAPI.shutdownSession(session.id, options.settings).catch(() =>
      shutdownKernel(options.settings, session.kernel!.id).catch(() => undefined),
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
  const known = new Set((await listing(options.settings, () => KernelAPI.listRunning(options.settings))).map((k) => k.id));
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

/**
 * Reaps at once and then on an interval until stopped; errors (server briefly away) wait
 * for the next pass. A server that refuses to list is warned of once and asked no more.
 */
export function startOrphanReaper(options: ReaperOptions): () => void {
  let running = false;
  let refused = false;
  let stopped = false;
  const refusedListing = (err: unknown) => {
    if (!(err instanceof ListingRefusedError)) return;
    refused = true;
    clearInterval(timer);
    options.warn?.(err.message);
  };
  const pass = () => {
    if (running || refused || stopped) return;
    running = true;
    reapOrphanKernels(options)
      .catch(refusedListing)
      // Only where container kernels were ever placed: others need no podman process each pass.
      .then(() => (!refused && options.placementsDir && existsSync(options.placementsDir) ? reapOrphanContainers({ ...options, placementsDir: options.placementsDir }) : undefined))
      .catch(refusedListing)
      .finally(() => (running = false));
  };
  const timer = setInterval(pass, options.intervalMs);
  timer.unref();
  setImmediate(pass);
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}
