/**
 * `millrace dev`: the embedded stack in the foreground until Ctrl-C. Other shells in the
 * same directory attach to it automatically (through `.millrace/dev.json`); anywhere
 * else they use the printed settings. The Jupyter token stays in a 0600 file.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startStack } from '../../worker/stack.js';
import { describePython } from '../../worker/kernelspecs.js';
import { startWorkerFor } from '../../worker/worker.js';
import { loadConfig } from '../config.js';
import { readDevFile, removeDevFile, writeDevFile } from '../environment.js';
import { EXIT, UserError } from '../errors.js';
import { waitForSignal } from '../signals.js';
import type { AllowList } from '../../activities/kernel-placement.js';

export async function devCommand(options: { worker: boolean; kernelPool: number; allow?: Partial<AllowList> }): Promise<number> {
  const config = loadConfig();
  const existing = readDevFile(config);
  if (existing) throw new UserError(`millrace dev is already running here (pid ${existing.pid})`, EXIT.environment);
  process.stderr.write('starting Temporal dev server and Jupyter Server...\n');
  const stack = await startStack({ stateDir: config.stateDir });
  let stopWorker: (() => Promise<void>) | undefined;
  try {
    const tokenFile = join(config.stateDir, 'jupyter-token');
    writeFileSync(tokenFile, stack.jupyter.token, { mode: 0o600 });
    if (options.worker) stopWorker = await startWorkerFor(stack, config.taskQueue, { kernelPool: options.kernelPool, ...(options.allow ? { allow: options.allow } : {}) });
    writeDevFile(config, {
      pid: process.pid,
      temporalAddress: stack.temporalAddress,
      namespace: stack.namespace,
      taskQueue: config.taskQueue,
      jupyterUrl: stack.jupyter.url,
      jupyterTokenFile: tokenFile,
      worker: options.worker,
    });
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
    await waitForSignal();
    process.stderr.write('stopping...\n');
    return EXIT.ok;
  } finally {
    removeDevFile(config);
    await stopWorker?.().catch(() => undefined);
    await stack.stop();
  }
}
