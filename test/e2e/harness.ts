/**
 * What end-to-end tests share: a worker on its own task queue against the shared real
 * stack, a client, a temporary store, and helpers to run notebooks through the same code
 * path as `millrace run`, to run the CLI itself, and to ask the installed Python packages
 * (nbformat, papermill) for the truth.
 */
import { KernelAPI } from '@jupyterlab/services';
import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { inject } from 'vitest';
import { serverSettings } from '../../activities/jupyter.js';
import { startWorkerProcess as startWorkerProcessWith } from '../../bench/worker-process.js';
import type { KernelPool } from '../../activities/kernel-pool.js';
import { readRecord } from '../../record/run-record.js';
import type { Config } from '../../cli/config.js';
import { buildRunInput, resolveParameters, type ParameterArgs } from '../../cli/submit.js';
import { packageRoot, venvPython } from '../../worker/paths.js';
import { createWorker, workflowBundlePath } from '../../worker/worker.js';
import type { RunInput, RunResult } from '../../workflows/contracts.js';

const run = promisify(execFile);

export interface NotebookJson {
  nbformat: number;
  nbformat_minor: number;
  metadata: Record<string, any>;
  cells: Array<Record<string, any>>;
}

export function codeCell(source: string, tags: string[] = []): Record<string, unknown> {
  return { cell_type: 'code', execution_count: null, id: `c${randomBytes(4).toString('hex')}`, metadata: tags.length ? { tags } : {}, outputs: [], source };
}

export function markdownCell(source: string): Record<string, unknown> {
  return { cell_type: 'markdown', id: `m${randomBytes(4).toString('hex')}`, metadata: {}, source };
}

export function notebook(cells: Array<Record<string, unknown>>): NotebookJson {
  return {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: {
      kernelspec: { name: 'python3', display_name: 'Python 3', language: 'python' },
      language_info: { name: 'python' },
    },
    cells,
  };
}

export interface RunOutcomeForTest {
  input: RunInput;
  result?: RunResult;
  error?: WorkflowFailedError;
  output: NotebookJson;
}

export interface Harness {
  client: Client;
  taskQueue: string;
  dir: string;
  config: Config;
  /** The worker's warm kernel pool (startHarness({ kernelPool: N }) only). */
  kernelPool?: KernelPool;
  /** Environment for a CLI process attached to this harness's worker. */
  cliEnv: NodeJS.ProcessEnv;
  writeNotebook(name: string, nb: NotebookJson): Promise<string>;
  runNotebook(path: string, params?: Partial<ParameterArgs>, extra?: { cellTimeoutS?: number; runTimeoutS?: number; onKernelLoss?: 'fail' | 'restart'; cwd?: string }): Promise<RunOutcomeForTest>;
  close(): Promise<void>;
}

/** `jupyter`: a Jupyter Server of the test's own instead of the shared stack's. */
export async function startHarness(options: { kernelPool?: number; jupyter?: { url: string; token: string }; warn?: (line: string) => void } = {}): Promise<Harness> {
  const stack = inject('stack');
  const dir = await mkdtemp(join(tmpdir(), 'millrace-test-'));
  const taskQueue = `test-${randomBytes(4).toString('hex')}`;
  const config: Config = {
    namespace: stack.namespace,
    taskQueue,
    stateDir: join(dir, 'state'),
    storeRoot: join(dir, 'store'),
    temporalAddress: stack.temporalAddress,
  };
  const millraceWorker = await createWorker({
    temporalAddress: stack.temporalAddress,
    namespace: stack.namespace,
    taskQueue,
    jupyter: options.jupyter ?? { url: stack.jupyterUrl, token: stack.jupyterToken },
    kernelPool: options.kernelPool,
    ...(options.warn ? { warn: options.warn } : {}),
  });
  const worker = millraceWorker.worker;
  const running = millraceWorker.run();
  const connection = await Connection.connect({ address: stack.temporalAddress });
  const client = new Client({ connection, namespace: stack.namespace });

  return {
    client,
    taskQueue,
    dir,
    config,
    ...(millraceWorker.kernelPool ? { kernelPool: millraceWorker.kernelPool } : {}),
    cliEnv: {
      ...process.env,
      TEMPORAL_ADDRESS: stack.temporalAddress,
      TEMPORAL_NAMESPACE: stack.namespace,
      MILLRACE_TASK_QUEUE: taskQueue,
      MILLRACE_STORE: config.storeRoot,
      MILLRACE_HOME: config.stateDir,
    },
    async writeNotebook(name, nb) {
      const path = join(dir, name);
      await writeFile(path, JSON.stringify(nb, null, 1));
      return path;
    },
    async runNotebook(path, params = {}, extra = {}) {
      const parameters = await resolveParameters({ parameters: [], raw: [], files: [], yaml: [], ...params });
      const input = await buildRunInput(config, { notebookPath: path, params: parameters, ...extra });
      const outcome: Partial<RunOutcomeForTest> = { input };
      try {
        outcome.result = await client.workflow.execute('notebookRun', {
          taskQueue,
          workflowId: input.runId,
          args: [input],
          memo: { notebook: 'test', output: input.output },
        });
      } catch (err) {
        if (!(err instanceof WorkflowFailedError)) throw err;
        outcome.error = err;
      }
      outcome.output = JSON.parse(await readFile(input.output, 'utf8')) as NotebookJson;
      return outcome as RunOutcomeForTest;
    },
    async close() {
      const nondeterministic = await replayTaskQueue(client, taskQueue);
      worker.shutdown();
      await running;
      await connection.close();
      await rm(dir, { recursive: true, force: true });
      if (nondeterministic.length) throw new Error(`runs of this file do not replay on the current workflow code:\n${nondeterministic.join('\n')}`);
    },
  };
}

/**
 * Replays every workflow this harness's task queue ran against the current workflow bundle,
 * as a worker does after a restart or a cache eviction: the runs that do not replay. Every
 * test file's runs become replay tests (a run that replays wrongly gets stuck in production,
 * and a live run rarely replays).
 */
async function replayTaskQueue(client: Client, taskQueue: string): Promise<string[]> {
  const failures: string[] = [];
  const histories = async function* () {
    for await (const execution of client.workflow.list({ query: `TaskQueue = '${taskQueue}'` })) {
      yield { workflowId: execution.workflowId, history: await client.workflow.getHandle(execution.workflowId, execution.runId).fetchHistory() };
    }
  };
  for await (const result of Worker.runReplayHistories({ workflowBundle: { codePath: workflowBundlePath() } }, histories())) {
    if (result.error) failures.push(`${result.workflowId}: ${String(result.error)}`);
  }
  return failures;
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `bin/millrace.js` as a user would, in its own process. */
/** A CLI process under way: its result, and what it has printed so far. */
export type RunningCli = Promise<CliResult> & { printed(): { stdout: string; stderr: string } };

export function runCli(args: string[], env: NodeJS.ProcessEnv, cwd?: string): RunningCli {
  let stdout = '';
  let stderr = '';
  const result = new Promise<CliResult>((resolve, reject) => {
    const child = spawn(process.execPath, [join(packageRoot(), 'bin', 'millrace.js'), ...args], { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
  return Object.assign(result, { printed: () => ({ stdout, stderr }) });
}

/** Runs Python code in the project's venv (where nbformat and papermill are installed). */
export async function python(code: string, args: string[] = []): Promise<string> {
  const { stdout } = await run(venvPython(), ['-c', code, ...args], { maxBuffer: 64 * 1024 * 1024 });
  return stdout;
}

/** Validates against the nbformat 4.5 JSON schema shipped in the installed nbformat. */
export async function assertValidNotebook(path: string): Promise<void> {
  await python(
    'import json, sys, nbformat\n' +
      'nb = json.load(open(sys.argv[1]))\n' +
      'assert (nb["nbformat"], nb["nbformat_minor"]) == (4, 5), (nb["nbformat"], nb["nbformat_minor"])\n' +
      'nbformat.validate(nb, version=4, version_minor=5)\n',
    [path],
  );
}

export function cellText(cell: Record<string, any>): string {
  return Array.isArray(cell['source']) ? cell['source'].join('') : String(cell['source']);
}

export function streamText(cell: Record<string, any>, name = 'stdout'): string {
  return (cell['outputs'] as Array<Record<string, any>>)
    .filter((o) => o['output_type'] === 'stream' && o['name'] === name)
    .map((o) => (Array.isArray(o['text']) ? o['text'].join('') : o['text']))
    .join('');
}

/** Polls until probe gives a value (errors count as not yet). */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Waits until the live record (the notebook merged with its journal) shows cell `index` running with `text` in its saved output. */
export async function waitForSavedOutput(output: string, index: number, text: string): Promise<void> {
  await waitFor(`cell ${index} to be running with output saved`, async () => {
    const cell = (await readRecord(output)).notebook.cells[index] as Record<string, any> | undefined;
    return cell?.['metadata']?.['papermill']?.['status'] === 'running' && streamText(cell).includes(text) ? true : undefined;
  });
}

/** The ids of the kernels running on the shared Jupyter Server, sorted. */
export async function liveKernelIds(): Promise<string[]> {
  const stack = inject('stack');
  const kernels = await KernelAPI.listRunning(serverSettings({ url: stack.jupyterUrl, token: stack.jupyterToken }));
  return kernels.map((k) => k.id).sort();
}

/**
 * A run's kernel is shut down after its result, not before (activities/background.ts):
 * the running kernels once `settled` holds of them, or as they are after `timeoutMs`, for
 * the test's own assertion to show.
 */
export async function settledKernelIds(settled: (ids: string[]) => boolean, timeoutMs = 15_000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ids = await liveKernelIds();
    if (settled(ids) || Date.now() > deadline) return ids;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * The kernels started since `before` was taken that are still running once none is, or
 * after `timeoutMs` (kernels of earlier tests may end meanwhile: they are not counted).
 */
export async function kernelsLeftSince(before: string[], timeoutMs = 15_000): Promise<string[]> {
  const started = (ids: string[]) => ids.filter((id) => !before.includes(id));
  return started(await settledKernelIds((ids) => started(ids).length === 0, timeoutMs));
}

/**
 * `millrace worker` (no kernel pool) in its own process, on its own task queue, so it can
 * be killed; `jupyter`: another Jupyter server than the shared stack's (a gateway).
 */
export function startWorkerProcess(taskQueue: string, jupyter?: { url: string; token: string }): Promise<ChildProcess> {
  const stack = inject('stack');
  return startWorkerProcessWith({
    ...process.env,
    TEMPORAL_ADDRESS: stack.temporalAddress,
    MILLRACE_TASK_QUEUE: taskQueue,
    MILLRACE_JUPYTER_URL: jupyter?.url ?? stack.jupyterUrl,
    MILLRACE_JUPYTER_TOKEN: jupyter?.token ?? stack.jupyterToken,
  });
}

export function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((r) => child.once('exit', () => r()));
}

type HistoryEvent = NonNullable<Awaited<ReturnType<ReturnType<Client['workflow']['getHandle']>['fetchHistory']>>['events']>[number];

/** The activity type of each local activity a history recorded (its core_local_activity markers), in order. */
export function localActivityTypes(events: HistoryEvent[]): string[] {
  return events.flatMap((e) => {
    const attrs = e.markerRecordedEventAttributes;
    if (attrs?.markerName !== 'core_local_activity') return [];
    const data = attrs.details?.['data']?.payloads?.[0]?.data;
    const parsed = data ? (JSON.parse(Buffer.from(data).toString('utf8')) as { activity_type?: string }) : {};
    return [parsed.activity_type ?? '?'];
  });
}

/** The result status of each cell run as a local activity (`executeCell` markers), in history order. */
export function localCellStatuses(events: HistoryEvent[]): string[] {
  return events.flatMap((e) => {
    const attrs = e.markerRecordedEventAttributes;
    if (attrs?.markerName !== 'core_local_activity') return [];
    const decoded = (key: string) => {
      const data = attrs.details?.[key]?.payloads?.[0]?.data;
      return data ? (JSON.parse(Buffer.from(data).toString('utf8')) as Record<string, unknown>) : {};
    };
    return decoded('data')['activity_type'] === 'executeCell' ? [String(decoded('result')['status'] ?? 'failed')] : [];
  });
}

/** The attempt of each start of a (regular) activity of type `type` in a history, in order. */
export function activityAttempts(events: HistoryEvent[], type: string): number[] {
  const scheduled = new Set(events.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === type).map((e) => String(e.eventId)));
  return events.filter((e) => scheduled.has(String(e.activityTaskStartedEventAttributes?.scheduledEventId))).map((e) => e.activityTaskStartedEventAttributes!.attempt ?? 1);
}

/** The innermost cause's message: what the CLI prints after `failed: `. */
export function failureMessage(error: Error | undefined): string | undefined {
  let e: Error | undefined = error;
  while (e?.cause instanceof Error) e = e.cause;
  return e?.message;
}

/**
 * Each cell exactly once across a worker SIGKILLed mid-cell, on any backend: three cells
 * that each append a line to `side` (a path where the kernel runs: inside its container,
 * on the gateway's host) and a fourth that prints it. A `millrace worker` process with
 * `workerEnv` starts the run (`start`), is SIGKILLed in cell 1, and a second one finishes
 * it. Returns the output notebook; the fourth cell's output is the side effect.
 */
export async function runAcrossSigkill(options: {
  writeNotebook: (name: string, nb: NotebookJson) => Promise<string>;
  workerEnv: NodeJS.ProcessEnv;
  start: (path: string) => Promise<{ output: string; result: () => Promise<unknown> }>;
}): Promise<ReturnType<typeof JSON.parse>> {
  const side = `/tmp/side-${randomBytes(3).toString('hex')}.txt`;
  const cells = [0, 1, 2].map((i) => codeCell(`import time\nprint("start ${i}", flush=True)\ntime.sleep(1.5)\nopen(${JSON.stringify(side)}, "a").write("cell ${i}\\n")`));
  cells.push(codeCell(`print(open(${JSON.stringify(side)}).read(), end="")`));
  const path = await options.writeNotebook(`killed-${randomBytes(3).toString('hex')}.ipynb`, notebook(cells));
  const first = await startWorkerProcessWith(options.workerEnv);
  let second: ChildProcess | undefined;
  try {
    const run = await options.start(path);
    await waitForSavedOutput(run.output, 1, 'start 1');
    first.kill('SIGKILL');
    await exited(first);
    second = await startWorkerProcessWith(options.workerEnv);
    await run.result();
    return JSON.parse(await readFile(run.output, 'utf8'));
  } finally {
    first.kill('SIGKILL');
    second?.kill('SIGTERM');
    if (second) await exited(second);
  }
}
