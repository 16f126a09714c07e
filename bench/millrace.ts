/**
 * millrace under the benchmark: warm (the embedded stack and one worker running in this
 * process, runs submitted as `millrace run` submits them) and cold (the whole
 * `bin/millrace.js run` command with a fresh state directory).
 */
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { WorkflowIdReusePolicy } from '@temporalio/common';
import type { NativeConnection, Worker } from '@temporalio/worker';
import { chmod, mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Config } from '../cli/config.js';
import { buildRunInput } from '../cli/submit.js';
import { startStack, type Stack } from '../worker/stack.js';
import { createWorker } from '../worker/worker.js';
import { packageRoot, temporalBinary } from '../worker/paths.js';
import { KERNEL_POOL_DEFAULT, TASK_QUEUE_DEFAULT, type RunResult } from '../workflows/contracts.js';
import type { notebookRun } from '../workflows/index.js';
import { takeCellExecutions, type CellExecution } from './instrument.js';
import { runProcess } from './papermill.js';

export interface WarmOptions {
  /** Idle kernels the worker keeps (default: KERNEL_POOL_DEFAULT, as a long-running worker). */
  kernelPool?: number;
  /** Dynamic config for the Temporal dev server over the product's (experiments only). */
  dynamicConfig?: Record<string, unknown>;
  /** More flags for `temporal server start-dev` (e.g. `--metrics-port`), experiments only. */
  temporalArgs?: string[];
  /** Python kernels forked from a warm process (default true, as the product does). */
  forkKernels?: boolean;
}

export interface WarmMillrace {
  stack: Stack;
  client: Client;
  config: Config;
  submit(notebook: string): Promise<WarmRun>;
  stop(): Promise<void>;
}

export interface WarmRun {
  runId: string;
  output: string;
  /** From building the run input (the snapshot write) to the workflow's result. */
  wallMs: number;
  submittedAt: number;
  result: RunResult;
  /** The first workflow run of the chain (a long notebook continues as new). */
  firstRunId: string;
  handle: WorkflowHandle;
  /** Its executeCell executions in the worker (empty unless bench/instrument.ts is installed). */
  cells: CellExecution[];
}

/**
 * The Temporal CLI with extra dev-server flags (`--metrics-port`), through
 * MILLRACE_TEMPORAL_BIN, which worker/paths.ts honours: a script that execs the real
 * binary with the flags appended.
 */
async function temporalWithFlags(dir: string, args: string[]): Promise<string> {
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const flags = args.map(quote);
  await mkdir(dir, { recursive: true });
  const script = join(dir, 'temporal-with-flags.sh');
  await writeFile(script, `#!/bin/sh\nexec ${quote(temporalBinary())} "$@" ${flags.join(' ')}\n`);
  await chmod(script, 0o755);
  return script;
}

export async function startWarm(stateDir: string, options: WarmOptions = {}): Promise<WarmMillrace> {
  const taskQueue = TASK_QUEUE_DEFAULT;
  const previousBin = process.env['MILLRACE_TEMPORAL_BIN'];
  const temporalArgs = options.temporalArgs ?? [];
  if (temporalArgs.length > 0) process.env['MILLRACE_TEMPORAL_BIN'] = await temporalWithFlags(stateDir, temporalArgs);
  let stack: Stack;
  try {
    stack = await startStack({ stateDir, forkKernels: options.forkKernels, ...(options.dynamicConfig ? { temporalDynamicConfig: options.dynamicConfig } : {}) });
  } finally {
    if (previousBin === undefined) delete process.env['MILLRACE_TEMPORAL_BIN'];
    else process.env['MILLRACE_TEMPORAL_BIN'] = previousBin;
  }
  const stops: Array<() => Promise<void>> = [() => stack.stop()];
  const stopAll = async () => {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    stops.length = 0;
  };
  try {
    const created: { worker: Worker; connection: NativeConnection; run?: () => Promise<void> } = await createWorker({
      temporalAddress: stack.temporalAddress,
      namespace: stack.namespace,
      taskQueue,
      jupyter: stack.jupyter,
      // A warm worker is a long-running one, with its default kernel pool.
      kernelPool: options.kernelPool ?? KERNEL_POOL_DEFAULT,
    });
    // createWorker's run() (when it has one) also owns the connection and helpers.
    const running = created.run ? created.run() : created.worker.run();
    stops.push(async () => {
      created.worker.shutdown();
      await running;
      if (!created.run) await created.connection.close();
    });
    const clientConnection = await Connection.connect({ address: stack.temporalAddress });
    stops.push(() => clientConnection.close());
    const client = new Client({ connection: clientConnection, namespace: stack.namespace });
    const config: Config = { namespace: stack.namespace, taskQueue, stateDir, storeRoot: join(stateDir, 'store') };

    const submit = async (notebook: string): Promise<WarmRun> => {
      const submittedAt = Date.now();
      const started = performance.now();
      // As cli/commands/run.ts: build the input (snapshot into the store), start, await the result.
      const input = await buildRunInput(config, { notebookPath: notebook, params: {} });
      const handle = await client.workflow.start<typeof notebookRun>('notebookRun', {
        taskQueue,
        workflowId: input.runId,
        args: [input],
        memo: { notebook: basename(input.inputPath), output: input.output },
        workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
      });
      const result = await handle.result();
      const wallMs = performance.now() - started;
      return { runId: input.runId, output: input.output, wallMs, submittedAt, result, firstRunId: handle.firstExecutionRunId, handle, cells: takeCellExecutions(input.runId) };
    };
    return { stack, client, config, submit, stop: stopAll };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

export interface ColdRun {
  wallMs: number;
  output: string;
  /** What `run --json` reported as the run's duration (submit to result), ms. */
  reportedMs: number;
}

/** `bin/millrace.js run --json NOTEBOOK` with a fresh MILLRACE_HOME: starts and stops its own stack. */
export async function millraceCold(notebook: string, tempRoot: string): Promise<ColdRun> {
  const home = await mkdtemp(join(tempRoot, 'cold-home-'));
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (key.startsWith('TEMPORAL_') || key.startsWith('MILLRACE_')) continue;
    env[key] = value;
  }
  env['MILLRACE_HOME'] = home;
  const { wallMs, stdout } = await runProcess(process.execPath, [join(packageRoot(), 'bin', 'millrace.js'), 'run', '--json', notebook], {
    cwd: home,
    env,
  });
  const outcome = JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as { status?: string; output?: string; duration_s?: number };
  if (outcome.status !== 'completed' || !outcome.output) throw new Error(`millrace run ${notebook}: ${stdout}`);
  return { wallMs, output: outcome.output, reportedMs: (outcome.duration_s ?? NaN) * 1000 };
}
