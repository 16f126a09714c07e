/**
 * The millrace worker: polls a task queue for notebook runs and executes their cells on
 * the configured Jupyter Server. Used by `millrace worker`, `millrace dev` and the
 * embedded stack of `millrace run`.
 */
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { packageRoot, stateDir } from './paths.js';
import { Client } from '@temporalio/client';
import { createActivities } from '../activities/index.js';
import { closeKernelConnections, serverSettings } from '../activities/jupyter.js';
import { allowListFromEnv, mergeAllowLists, placementsDir, type AllowList } from '../activities/kernel-placement.js';
import { BackgroundWork } from '../activities/background.js';
import { KernelPool } from '../activities/kernel-pool.js';
import { startOrphanReaper } from './orphans.js';
import { quietJupyterServices } from './quiet-jupyter.js';
import type { JupyterConfig } from '../activities/jupyter.js';
import type { TemporalConnectionOptions } from './temporal-connection.js';

/** Compiled workflow code: tests run from sources but always load workflows from dist/. */
export function workflowsSourcePath(): string {
  return join(packageRoot(), 'dist', 'workflows', 'index.js');
}

export function workflowBundlePath(): string {
  return join(packageRoot(), 'dist', 'workflow-bundle.js');
}

export interface WorkerConfig {
  temporalAddress: string;
  namespace: string;
  taskQueue: string;
  jupyter: JupyterConfig;
  maxConcurrentRuns?: number;
  /**
   * Idle kernels kept started per kernel name and container shape, so a run does not wait for one (default 0:
   * a one-shot `millrace run` would only start a kernel nobody uses), or a pool the caller
   * made (a one-shot `run`'s, with its run's kernel started early); the worker stops it.
   */
  kernelPool?: number | KernelPool;
  /** Shut down kernels of finished runs (default: every 30 s, after 60 s idle); false: off. */
  orphanReaper?: { intervalMs: number; graceMs: number } | false;
  /** What runs may choose for their kernel's container, added to MILLRACE_ALLOW_* (deny by default). */
  allow?: Partial<AllowList>;
  /** Where container placements go for the Jupyter Server (default: the embedded server's, in the state directory). */
  placementsDir?: string;
  /** The user kernels start for on Enterprise Gateway (KERNEL_USERNAME; none: the gateway's choice). */
  kernelUsername?: string;
  /** Where the worker's own warnings go (default: a line on stderr). */
  warn?: (line: string) => void;
  /** TLS, API key and gRPC metadata for a cluster (worker/temporal-connection.ts). */
  connection?: TemporalConnectionOptions;
  /** The workflow code (default: this build's bundle); the upgrade test gives the next build's. */
  workflowBundlePath?: string;
  /**
   * Run workflow code on this thread, not on the SDK's workflow thread (default false).
   * For the one-shot stack's single run: the thread would load the SDK's modules a second
   * time (about 0.2 s of CPU while the stack starts, on the way to the first cell). The
   * SDK's 5 s deadlock detection is kept.
   */
  workflowsOnMainThread?: boolean;
}

export interface MillraceWorker {
  worker: Worker;
  connection: NativeConnection;
  /** The warm kernel pool, when the worker keeps one. */
  kernelPool?: KernelPool;
  /** Runs the worker (and the orphan reaper) until worker.shutdown(); then releases both. */
  run(): Promise<void>;
}

let runtimeInstalled = false;

/** The SDK logs to stderr; a CLI user only needs its errors (MILLRACE_DEBUG=1 for all). */
function installQuietRuntime(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  Runtime.install({
    logger: new DefaultLogger(process.env['MILLRACE_DEBUG'] ? 'DEBUG' : 'ERROR'),
    // The commands own their signals: Ctrl-C on `millrace run` must cancel the run while
    // the worker keeps serving it, not shut the worker down under it.
    shutdownSignals: [],
  });
  quietJupyterServices();
}

/** The SDK's workflow-task pollers (its default): each holds a workflow-task slot while it waits for a task. */
const WORKFLOW_TASK_POLLS = 10;

/**
 * The worker's slots for `runs` runs at once. A run holds a workflow-task slot for as long
 * as its local cells run (a slice of up to 2 s), and every poller holds one while it waits
 * for a task, so the slots are the runs plus the pollers. With one slot per run, 20 runs
 * at once filled them: the pollers had none, and the last runs' first workflow task and
 * the task after each slice waited up to 2 s (20 runs of 20 cells of 0.2 s: 8.6 → 7.1 s).
 * Twice the runs plus the pollers was no faster with 200 runs queued and kept 81 kernels
 * alive at once instead of 31: more runs than `runs` then wait for a slot between slices.
 */
export function workerSlots(runs: number): { maxConcurrentWorkflowTaskExecutions: number; maxConcurrentActivityTaskExecutions: number; maxCachedWorkflows: number } {
  // The SDK allows no more workflow-task slots than cached workflows.
  const maxCachedWorkflows = Math.max(runs * 2, 100);
  return {
    maxConcurrentWorkflowTaskExecutions: Math.min(runs + WORKFLOW_TASK_POLLS, maxCachedWorkflows),
    // Each run holds at most one cell activity at a time; the rest is setup and teardown.
    maxConcurrentActivityTaskExecutions: runs * 2,
    maxCachedWorkflows,
  };
}

export async function createWorker(config: WorkerConfig): Promise<MillraceWorker> {
  installQuietRuntime();
  const connection = await NativeConnection.connect({ address: config.temporalAddress, ...config.connection });
  const bundle = config.workflowBundlePath ?? workflowBundlePath();
  const warn = config.warn ?? ((line: string) => void process.stderr.write(`millrace: warning: ${line}\n`));
  const wanted = config.kernelPool;
  const placements = config.placementsDir ?? placementsDir(stateDir());
  const pool = typeof wanted === 'number' ? (wanted > 0 ? new KernelPool(serverSettings(config.jupyter), wanted, warn, placements, config.kernelUsername) : undefined) : wanted;
  const background = new BackgroundWork();
  const worker = await Worker.create({
    connection,
    namespace: config.namespace,
    taskQueue: config.taskQueue,
    ...(existsSync(bundle) ? { workflowBundle: { codePath: bundle } } : { workflowsPath: workflowsSourcePath() }),
    activities: createActivities({
      jupyter: config.jupyter,
      kernelPool: pool,
      background,
      stateDir: stateDir(),
      allow: mergeAllowLists(allowListFromEnv(process.env), config.allow ?? {}),
      placementsDir: placements,
      ...(config.kernelUsername ? { kernelUsername: config.kernelUsername } : {}),
    }),
    ...workerSlots(config.maxConcurrentRuns ?? 20),
    // Cells heartbeat every 2 s; sending them that often delivers a cancellation (Ctrl-C,
    // `millrace cancel`, a run's --timeout) to the running cell within about 2 s.
    maxHeartbeatThrottleInterval: '2 seconds',
    // The SDK's debugMode is what runs workflows on this thread; it would also lift the
    // deadlock timeout, which is set back to the SDK's default.
    ...(config.workflowsOnMainThread ? { debugMode: true, isolateExecutionTimeout: '5 seconds' } : {}),
  });
  const reaper = config.orphanReaper ?? { intervalMs: 30_000, graceMs: 60_000 };
  const run = async () => {
    let stopReaper = () => undefined as void;
    if (reaper) {
      // On the worker's own connection (Core's client), not a second one through grpc-js:
      // one connection, and one GetSystemInfo at start, fewer per worker.
      const client = new Client({ connection, namespace: config.namespace });
      stopReaper = startOrphanReaper({ settings: serverSettings(config.jupyter), client, ...reaper, placementsDir: placements, warn });
    }
    try {
      await worker.run();
    } finally {
      await background.drain();
      await pool?.stop();
      stopReaper();
      await connection.close();
    }
  };
  return { worker, connection, run, ...(pool ? { kernelPool: pool } : {}) };
}

/** A worker for an embedded stack, running in this process. */
export interface EmbeddedWorker {
  /**
   * A client on the worker's own connection, closed with the worker: the runs it starts
   * with `requestEagerStart` get their first workflow task in the start's reply, handed
   * to this worker, instead of through the server's matching (eager workflow start).
   */
  client: Client;
  stop(): Promise<void>;
}

export async function startWorkerFor(
  stack: { temporalAddress: string; namespace: string; jupyter: JupyterConfig },
  taskQueue: string,
  options: { kernelPool?: number | KernelPool; allow?: Partial<AllowList>; workflowsOnMainThread?: boolean } = {},
): Promise<EmbeddedWorker> {
  const millraceWorker = await createWorker({
    temporalAddress: stack.temporalAddress,
    namespace: stack.namespace,
    taskQueue,
    jupyter: stack.jupyter,
    kernelPool: options.kernelPool,
    ...(options.allow ? { allow: options.allow } : {}),
    ...(options.workflowsOnMainThread ? { workflowsOnMainThread: true } : {}),
  });
  const running = millraceWorker.run();
  return {
    // An identity of its own, not the worker's, so history tells the starter from the worker.
    client: new Client({ connection: millraceWorker.connection, namespace: stack.namespace, identity: `${process.pid}@${hostname()} (client)` }),
    stop: async () => {
      millraceWorker.worker.shutdown();
      await running;
      // The stack stops next: a connection left open to a kernel of a run still going would
      // try to reconnect to the stopped Jupyter Server, and say so on the terminal.
      closeKernelConnections();
    },
  };
}
