/**
 * How a command reaches Temporal, in order: TEMPORAL_ADDRESS (a real cluster, where
 * `millrace worker` processes do the work); a running `millrace dev` in the state
 * directory; else the embedded stack, started for this command and stopped after it.
 */
import type { Client } from '@temporalio/client';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { LockHeldError, processStartTime } from '../worker/process.js';
import type { KernelPool } from '../activities/kernel-pool.js';
import type { JupyterConfig } from '../activities/jupyter.js';
import type { KernelPlacement } from '../workflows/contracts.js';
import { muteIpServerNameWarning, type TemporalConnectionOptions } from '../worker/temporal-connection.js';
import type { Config } from './config.js';
import type { RunTarget } from './start-run.js';
import { EXIT, UserError } from './errors.js';

export interface Session extends RunTarget {
  mode: 'cluster' | 'dev' | 'embedded';
  close(): Promise<void>;
}

const devFileSchema = z.object({
  pid: z.number(),
  temporalAddress: z.string(),
  namespace: z.string(),
  taskQueue: z.string(),
  jupyterUrl: z.string(),
  jupyterTokenFile: z.string(),
  worker: z.boolean(),
  /** With the pid, names the process: a pid alone may have been reused since (processStartTime). */
  startTime: z.string().optional(),
  /** The servers' pids, rewritten when `dev` restarts one. */
  temporalPid: z.number().optional(),
  jupyterPid: z.number().optional(),
});
export type DevFile = z.infer<typeof devFileSchema>;

export function devFilePath(config: Config): string {
  return join(config.stateDir, 'dev.json');
}

/** Whether `pid` is alive and, when its start time was recorded, still the same process. */
function isAlive(pid: number, startTime?: string): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  return startTime === undefined || processStartTime(pid) === startTime;
}

/** How this process is recorded in dev.json and embedded.lock: its pid and start time. */
export function thisProcess(): { pid: number; startTime?: string } {
  const startTime = processStartTime(process.pid);
  return { pid: process.pid, ...(startTime === undefined ? {} : { startTime }) };
}

/** A server that refuses to share the state another one holds: one line, exit 3. */
export function asEnvironmentError(err: unknown): unknown {
  return err instanceof LockHeldError ? new UserError(err.message, EXIT.environment) : err;
}

/** The running `millrace dev` of this state directory, if there is one. */
export function readDevFile(config: Config): DevFile | undefined {
  try {
    const dev = devFileSchema.parse(JSON.parse(readFileSync(devFilePath(config), 'utf8')));
    return isAlive(dev.pid, dev.startTime) ? dev : undefined;
  } catch {
    return undefined;
  }
}

export function writeDevFile(config: Config, dev: DevFile): void {
  writeFileSync(devFilePath(config), JSON.stringify(dev, null, 2), { mode: 0o600 });
}

export function removeDevFile(config: Config): void {
  rmSync(devFilePath(config), { force: true });
}

async function connectClient(address: string, namespace: string, options: TemporalConnectionOptions = {}): Promise<Client> {
  if (options.tls) muteIpServerNameWarning();
  // Loaded here: a one-shot `run` has spawned its servers by now, and they start meanwhile.
  const { Client, Connection } = await import('@temporalio/client');
  try {
    const connection = await Connection.connect({ address, connectTimeout: '10s', ...options });
    return new Client({ connection, namespace });
  } catch (err) {
    throw unreachable(address, err, options);
  }
}

/** Temporal could not be reached: one line, and what to check when TLS is on (gRPC does not say why a handshake failed). */
export function unreachable(address: string, err: unknown, options: TemporalConnectionOptions = {}): UserError {
  const hint = options.tls ? " (TLS: check the server's CA certificate, the server name and the client certificate)" : '';
  return new UserError(`cannot reach Temporal at ${address}: ${firstLine((err as Error).message)}${hint}`, EXIT.environment);
}

function firstLine(text: string): string {
  return text.split('\n')[0]!;
}

/** One embedded stack per state directory at a time: they would share one SQLite file. */
function lockStateDir(config: Config): () => void {
  mkdirSync(config.stateDir, { recursive: true, mode: 0o700 });
  const lock = join(config.stateDir, 'embedded.lock');
  const self = thisProcess();
  const content = `${self.pid} ${self.startTime ?? ''}`.trim();
  try {
    writeFileSync(lock, content, { flag: 'wx' });
  } catch {
    const [pid, startTime] = readFileSync(lock, 'utf8').trim().split(' ');
    const holder = Number(pid);
    if (Number.isInteger(holder) && isAlive(holder, startTime)) {
      throw new UserError(
        `another millrace process (pid ${holder}) is running the embedded stack in ${config.stateDir}; run \`millrace dev\` to share one stack between commands`,
        EXIT.environment,
      );
    }
    writeFileSync(lock, content);
  }
  return () => rmSync(lock, { force: true });
}

/**
 * What a command needs of the stack it reaches:
 * - `worker`: it executes runs itself; an embedded stack with a worker in this process
 *   will do (`run`, `resume`);
 * - `history`: it reads or changes what Temporal keeps; the embedded Temporal server will
 *   do (`runs`, `show`, `inspect`, most `schedule` commands);
 * - `long-lived`: what it acts on lives on after this command (a run to cancel or repair,
 *   a detached run, a schedule that starts runs), so only TEMPORAL_ADDRESS or a live
 *   `millrace dev` will do; without one it is refused with `refusal`, before anything starts.
 */
export type StackNeed = { kind: 'worker' } | { kind: 'history' } | { kind: 'long-lived'; refusal: string };

export interface SessionOptions {
  needs: StackNeed;
  log?: (line: string) => void;
  /** The kernel the command's run will ask for: an embedded stack starts it while Temporal comes up. */
  kernelHint?: KernelHint;
}

/** The kernel a run will ask for: its name, and the command line's and the notebook's placement (a container). */
export interface KernelHint {
  name: string;
  placement?: KernelPlacement;
  /** The notebook's `metadata.millrace.kernel`, unchecked. */
  notebookPlacement?: unknown;
}

export async function openSession(config: Config, options: SessionOptions): Promise<Session> {
  if (config.temporalAddress) {
    const client = await connectClient(config.temporalAddress, config.namespace, config.temporalConnection);
    return { client, taskQueue: config.taskQueue, mode: 'cluster', close: () => client.connection.close() };
  }
  const dev = readDevFile(config);
  if (dev) {
    const client = await connectClient(dev.temporalAddress, dev.namespace);
    return { client, taskQueue: dev.taskQueue, mode: 'dev', close: () => client.connection.close() };
  }
  if (options.needs.kind === 'long-lived') throw new UserError(options.needs.refusal);
  return openEmbedded(config, options.needs.kind === 'worker', options.log, options.kernelHint);
}

async function openEmbedded(config: Config, withWorker: boolean, log?: (line: string) => void, kernelHint?: KernelHint): Promise<Session> {
  const unlock = lockStateDir(config);
  const stops: Array<() => Promise<void>> = [async () => unlock()];
  const closeAll = async () => {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
  };
  try {
    if (!withWorker) {
      log?.('starting the embedded Temporal server to read run history...');
      // Loaded here, not at the top: commands that reach a running stack never pay for them.
      const { startTemporalServer } = await import('../worker/temporal-server.js');
      const temporal = await startTemporalServer({ stateDir: config.stateDir });
      stops.push(() => temporal.stop());
      const client = await connectClient(temporal.address, config.namespace);
      stops.push(() => client.connection.close());
      return { client, taskQueue: config.taskQueue, mode: 'embedded', close: closeAll };
    }
    log?.('starting the embedded stack (Temporal dev server, Jupyter Server, worker)...');
    // In parallel, as they depend on each other (docs/architecture.md, "Start-up"): the
    // servers are spawned first; the worker's modules load while they start; the run's
    // kernel starts as soon as Jupyter answers, while Temporal and the worker come up.
    const { startStack } = await import('../worker/stack.js');
    let pool: Promise<KernelPool> | undefined;
    const onJupyterReady = (jupyter: JupyterConfig) => {
      const modules = [import('../activities/jupyter.js'), import('../activities/kernel-pool.js'), import('../worker/quiet-jupyter.js'), import('../activities/kernel-placement.js')] as const;
      pool = Promise.all(modules).then(([{ serverSettings }, { KernelPool }, { quietJupyterServices }, { allowListFromEnv, placementAhead, placementsDir }]) => {
        quietJupyterServices();
        const early = new KernelPool(serverSettings(jupyter), 0, undefined, placementsDir(config.stateDir));
        // This command is the run's worker: its allow-list first, so a refused run starts nothing.
        const ahead = placementAhead(kernelHint!.placement, kernelHint!.notebookPlacement, allowListFromEnv(process.env), process.env);
        if (ahead !== 'refused') early.prestart(kernelHint!.name, ahead.placement);
        return early;
      });
    };
    const starting = startStack({ stateDir: config.stateDir, kernelEnv: config.kernelEnv, ...(kernelHint ? { onJupyterReady } : {}) });
    const workerModule = import('../worker/worker.js');
    workerModule.catch(() => undefined); // awaited below; a failed stack must not leave it unhandled
    const stack = await starting;
    stops.push(() => stack.stop());
    // Until the worker owns it (and stops it), the early kernel is this session's to stop.
    const early = await pool;
    if (early) stops.push(() => early.stop());
    if (stack.jupyterServer.kernelNote) log?.(stack.jupyterServer.kernelNote);
    const { startWorkerFor } = await workerModule;
    // The worker's own client: its run starts eagerly on this worker, and the worker closes it.
    // One run: its workflow code runs on this thread (WorkerConfig.workflowsOnMainThread).
    const worker = await startWorkerFor(stack, config.taskQueue, { ...(early ? { kernelPool: early } : {}), workflowsOnMainThread: true });
    stops.push(worker.stop);
    return { client: worker.client, taskQueue: config.taskQueue, eagerStart: true, mode: 'embedded', close: closeAll };
  } catch (err) {
    await closeAll();
    throw asEnvironmentError(err);
  }
}
