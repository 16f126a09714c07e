/**
 * The embedded stack: the Temporal dev server and Jupyter Server, started in parallel for
 * one state directory. (Workers are started by their callers: `millrace run`, `millrace
 * dev`, tests.)
 */
import { startJupyterServer, type JupyterServer } from './jupyter-server.js';
import type { KernelUser } from './kernel-user.js';
import { makeStateDir } from './paths.js';
import { startTemporalServer, type TemporalServer } from './temporal-server.js';

export interface StackOptions {
  stateDir: string;
  namespace?: string;
  /** Progress lines for a terminal ("starting ..."); nothing secret is ever passed. */
  log?: (line: string) => void;
  /** Temporal Web UI on a free port (default headless). */
  ui?: boolean;
  /** Dynamic config values for the Temporal dev server, over its defaults. */
  temporalDynamicConfig?: Record<string, unknown>;
  /** Fork Python kernels from a warm process (default true; false only to measure its effect). */
  forkKernels?: boolean;
  /** Variables (names or globs) kernels get over the default allow-list (worker/kernel-env.ts). */
  kernelEnv?: readonly string[];
  /** Run kernels as this user (worker/kernel-user.ts; needs root). */
  kernelUser?: KernelUser;
  /** Called as soon as Jupyter Server answers, which may be before Temporal does (a kernel can start then). */
  onJupyterReady?: (jupyter: { url: string; token: string }) => void;
}

export interface Stack {
  temporalAddress: string;
  namespace: string;
  jupyter: { url: string; token: string };
  /** Set when the Temporal Web UI was asked for. */
  temporalUiPort?: number;
  /** Replaced by `restart`. */
  temporal: TemporalServer;
  jupyterServer: JupyterServer;
  /**
   * Starts a new server in place of one that exited, on the same address (and, for
   * Jupyter, with the same token) so that workers and their settings carry on.
   */
  restart(server: 'temporal' | 'jupyter'): Promise<void>;
  /** Stops both servers (in parallel). Idempotent: later calls return the same promise. */
  stop(): Promise<void>;
}

export async function startStack(options: StackOptions): Promise<Stack> {
  const namespace = options.namespace ?? 'default';
  makeStateDir(options.stateDir);
  const [temporal, jupyter] = await Promise.allSettled([
    startTemporalServer({
      stateDir: options.stateDir,
      namespace,
      ui: options.ui,
      dynamicConfig: options.temporalDynamicConfig,
      log: options.log,
    }),
    startJupyterServer({ stateDir: options.stateDir, log: options.log, forkKernels: options.forkKernels, kernelEnv: options.kernelEnv, kernelUser: options.kernelUser }).then((server) => {
      options.onJupyterReady?.({ url: server.url, token: server.token });
      return server;
    }),
  ]);
  if (temporal.status === 'rejected' || jupyter.status === 'rejected') {
    // Stop whichever did start; report the first failure (both when both failed).
    await Promise.all([
      temporal.status === 'fulfilled' ? temporal.value.stop() : undefined,
      jupyter.status === 'fulfilled' ? jupyter.value.stop() : undefined,
    ]);
    const failures = [temporal, jupyter].filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failures.length === 1) throw failures[0]!.reason;
    throw new Error(failures.map((f) => (f.reason instanceof Error ? f.reason.message : String(f.reason))).join('\n'));
  }
  let stopping: Promise<void> | undefined;
  let restarting: Promise<unknown> = Promise.resolve();
  const port = (address: string) => Number(new URL(address.includes('://') ? address : `tcp://${address}`).port);
  const stack: Stack = {
    temporalAddress: temporal.value.address,
    namespace,
    jupyter: { url: jupyter.value.url, token: jupyter.value.token },
    ...(temporal.value.uiPort === undefined ? {} : { temporalUiPort: temporal.value.uiPort }),
    temporal: temporal.value,
    jupyterServer: jupyter.value,
    restart(server) {
      const started = restarting.then(async () => {
        if (stopping) return;
        // The exited server's stop sweeps what it left (kernels of a dead Jupyter Server).
        await (server === 'temporal' ? stack.temporal : stack.jupyterServer).stop();
        if (server === 'temporal') {
          const next = await startTemporalServer({
            stateDir: options.stateDir,
            namespace,
            ui: options.ui,
            dynamicConfig: options.temporalDynamicConfig,
            log: options.log,
            port: port(stack.temporalAddress),
          });
          stack.temporal = next;
        } else {
          const next = await startJupyterServer({
            stateDir: options.stateDir,
            log: options.log,
            forkKernels: options.forkKernels,
            kernelEnv: options.kernelEnv,
            kernelUser: options.kernelUser,
            port: port(stack.jupyter.url),
            token: stack.jupyter.token,
          });
          stack.jupyterServer = next;
        }
      });
      restarting = started.catch(() => undefined);
      return started;
    },
    stop() {
      // After a restart in progress, so that the server it starts is stopped too.
      stopping ??= restarting.then(() => Promise.all([stack.temporal.stop(), stack.jupyterServer.stop()])).then(() => undefined);
      return stopping;
    },
  };
  return stack;
}
