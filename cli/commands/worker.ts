/**
 * `millrace worker`: a long-running worker for a Temporal cluster (TEMPORAL_ADDRESS), or
 * an extra worker for a `millrace dev` stack in this directory. SIGINT/SIGTERM drain it.
 */
import { TransportError } from '@temporalio/worker';
import { createWorker } from '../../worker/worker.js';
import type { AllowList } from '../../activities/kernel-placement.js';
import { loadConfig } from '../config.js';
import { readDevFile, unreachable } from '../environment.js';
import { EXIT, UserError } from '../errors.js';
import { waitForSignal } from '../signals.js';
import { readFileSync } from 'node:fs';

export interface WorkerOptions {
  taskQueue?: string;
  jupyterUrl?: string;
  maxConcurrentRuns?: number;
  kernelPool?: number;
  /** On Enterprise Gateway: the user kernels start for (KERNEL_USERNAME). */
  kernelUser?: string;
  /** --allow-image/--allow-mount/--allow-env. */
  allow?: Partial<AllowList>;
}

export async function workerCommand(options: WorkerOptions): Promise<number> {
  const config = loadConfig();
  const dev = config.temporalAddress ? undefined : readDevFile(config);
  const temporalAddress = config.temporalAddress ?? dev?.temporalAddress;
  if (!temporalAddress) {
    throw new UserError('no Temporal to attach to: set TEMPORAL_ADDRESS, or start `millrace dev --no-worker` here', EXIT.environment);
  }
  if (options.kernelUser !== undefined && !(options.jupyterUrl ?? config.jupyterUrl)) {
    throw new UserError("--kernel-user of `millrace worker` names the user of an Enterprise Gateway's kernels and needs --jupyter-url: give it to `millrace dev` to run this directory's kernels as another user");
  }
  if (options.kernelUser === '') throw new UserError('--kernel-user: expected a user name');
  const jupyterUrl = options.jupyterUrl ?? config.jupyterUrl ?? dev?.jupyterUrl;
  if (!jupyterUrl) throw new UserError('no Jupyter Server: set MILLRACE_JUPYTER_URL or pass --jupyter-url', EXIT.environment);
  const token = config.jupyterToken ?? (dev ? readFileSync(dev.jupyterTokenFile, 'utf8').trim() : '');
  const taskQueue = options.taskQueue ?? dev?.taskQueue ?? config.taskQueue;
  const millraceWorker = await createWorker({
    temporalAddress,
    ...(config.temporalConnection ? { connection: config.temporalConnection } : {}),
    namespace: dev?.namespace ?? config.namespace,
    taskQueue,
    jupyter: { url: jupyterUrl, token },
    maxConcurrentRuns: options.maxConcurrentRuns,
    kernelPool: options.kernelPool,
    ...(options.allow ? { allow: options.allow } : {}),
    ...(options.kernelUser ? { kernelUsername: options.kernelUser } : {}),
  }).catch((err: unknown) => {
    throw err instanceof TransportError ? unreachable(temporalAddress, err, config.temporalConnection) : err;
  });
  const worker = millraceWorker.worker;
  const running = millraceWorker.run();
  process.stderr.write(`worker polling task queue ${taskQueue} on ${temporalAddress}\n`);
  await Promise.race([waitForSignal(), running]);
  if (worker.getState() === 'RUNNING') worker.shutdown();
  await running;
  return EXIT.ok;
}
