/**
 * `millrace dev`: the embedded stack in the foreground until Ctrl-C. Other shells in the
 * same directory attach to it automatically (through `.millrace/dev.json`); anywhere
 * else they use the printed settings. The Jupyter token stays in a 0600 file. A server
 * that exits is restarted on the same address (worker/stack-supervisor.ts); its servers
 * die with it even on SIGKILL (worker/tied_launcher.py).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startStack } from '../../worker/stack.js';
import { superviseStack } from '../../worker/stack-supervisor.js';
import { describePython } from '../../worker/kernelspecs.js';
import { KernelUserError, resolveKernelUser, type KernelUser } from '../../worker/kernel-user.js';
import { startWorkerFor } from '../../worker/worker.js';
import { kernelEnvPatterns, loadConfig } from '../config.js';
import { asEnvironmentError, readDevFile, removeDevFile, thisProcess, writeDevFile } from '../environment.js';
import { serveDevApi, type DevApi, type DevTemporal } from '../dev-server.js';
import { EXIT, UserError } from '../errors.js';
import { waitForSignal } from '../signals.js';
import type { AllowList } from '../../activities/kernel-placement.js';

export async function devCommand(options: { worker: boolean; kernelPool: number; kernelEnv: string[]; kernelUser?: string; allow?: Partial<AllowList> }): Promise<number> {
  const config = loadConfig();
  const kernelEnv = [...(config.kernelEnv ?? []), ...kernelEnvPatterns(options.kernelEnv, '--kernel-env')];
  const kernelUser = options.kernelUser === undefined ? undefined : kernelUserNamed(options.kernelUser);
  const existing = readDevFile(config);
  if (existing) throw new UserError(`millrace dev is already running here (pid ${existing.pid})`, EXIT.environment);
  process.stderr.write('starting Temporal dev server and Jupyter Server...\n');
  const stack = await startStack({ stateDir: config.stateDir, kernelEnv, kernelUser }).catch((err: unknown) => {
    throw asEnvironmentError(err);
  });
  // dev.json: how other commands find this stack; rewritten when a server is restarted.
  const devFile = () => ({
    ...thisProcess(),
    temporalAddress: stack.temporalAddress,
    namespace: stack.namespace,
    taskQueue: config.taskQueue,
    jupyterUrl: stack.jupyter.url,
    jupyterTokenFile: tokenFile,
    worker: options.worker,
    temporalPid: stack.temporal.pid,
    jupyterPid: stack.jupyterServer.pid,
  });
  const tokenFile = join(config.stateDir, 'jupyter-token');
  const supervision = superviseStack(stack, {
    log: (line) => process.stderr.write(`millrace dev: ${line}\n`),
    onRestart: () => writeDevFile(config, devFile()),
  });
  let stopWorker: (() => Promise<void>) | undefined;
  let api: DevApi | undefined;
  try {
    writeFileSync(tokenFile, stack.jupyter.token, { mode: 0o600 });
    const worker = options.worker ? await startWorkerFor(stack, config.taskQueue, { kernelPool: options.kernelPool, ...(options.allow ? { allow: options.allow } : {}) }) : undefined;
    stopWorker = worker?.stop;
    // Commands here ask dev through it rather than load the Temporal client (docs/architecture.md, "Start-up"),
    // and with a worker, dev starts their runs on its worker's client, eagerly.
    const temporal: DevTemporal = worker ? { client: worker.client, eagerStart: true } : { address: stack.temporalAddress, namespace: stack.namespace };
    api = await serveDevApi(config.stateDir, temporal, config.taskQueue);
    writeDevFile(config, devFile());
    if (stack.jupyterServer.kernelNote) process.stderr.write(`${stack.jupyterServer.kernelNote}\n`);
    process.stdout.write(
      [
        `millrace dev is running${options.worker ? ' with a worker' : ' without a worker'}; Ctrl-C stops it.`,
        `Kernels: python3 is ${describePython(stack.jupyterServer.python3)}; \`millrace kernels\` lists the others.`,
        'Commands run in this directory or below it attach automatically. Elsewhere, or for `millrace worker`:',
        `  export TEMPORAL_ADDRESS=${stack.temporalAddress}`,
        `  export TEMPORAL_NAMESPACE=${stack.namespace}`,
        `  export MILLRACE_TASK_QUEUE=${config.taskQueue}`,
        `  export MILLRACE_JUPYTER_URL=${stack.jupyter.url}`,
        `  export MILLRACE_JUPYTER_TOKEN_FILE=${tokenFile}`,
        `  export MILLRACE_STORE=${config.storeRoot}`,
        '',
      ].join('\n'),
    );
    const ended = await Promise.race([waitForSignal(), supervision.gaveUp.then((reason) => ({ reason }))]);
    if (typeof ended === 'object') throw new UserError(ended.reason, EXIT.environment);
    process.stderr.write('stopping...\n');
    return EXIT.ok;
  } finally {
    supervision.stop();
    removeDevFile(config);
    await api?.close().catch(() => undefined);
    await stopWorker?.().catch(() => undefined);
    await stack.stop();
  }
}

function kernelUserNamed(name: string): KernelUser {
  try {
    return resolveKernelUser(name);
  } catch (err) {
    if (err instanceof KernelUserError) throw new UserError(err.message);
    throw err;
  }
}
