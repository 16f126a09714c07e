/**
 * Servers killed mid-run (SPEC §4.8, issue 3 items 2 and 3): the Temporal dev server
 * SIGKILLed and restarted on the same port and SQLite database, and Jupyter Server
 * SIGKILLed. Each test starts its own servers in a temporary state directory and its own
 * `millrace worker` process (never the shared stack of global-setup, which other files
 * use), stops all of it whatever happens, and checks /proc that nothing it started lives on.
 */
import { KernelAPI } from '@jupyterlab/services';
import { readRecord as readStoredRecord } from '../../record/run-record.js';
import { ActivityFailure, ApplicationFailure, Client, Connection, WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { serverSettings } from '../../activities/jupyter.js';
import type { Config } from '../../cli/config.js';
import { reportFromFailure } from '../../cli/run-report.js';
import { buildRunInput } from '../../cli/submit.js';
import { ERROR_MARKER_TAG } from '../../notebook/record.js';
import { startJupyterServer, type JupyterServer } from '../../worker/jupyter-server.js';
import { packageRoot } from '../../worker/paths.js';
import { spawnSupervised, type SupervisedProcess } from '../../worker/process.js';
import { startTemporalServer, type TemporalServer } from '../../worker/temporal-server.js';
import type { RunInput, RunResult } from '../../workflows/contracts.js';
import { assertValidNotebook, cellText, codeCell, notebook, streamText, type NotebookJson, waitFor } from './harness.js';

// --- what a test starts, and stopping all of it ------------------------------------------

/** Everything a test started, stopped in reverse order by `release()`, even on failure. */
class Resources {
  private readonly stops: Array<{ what: string; stop: () => Promise<unknown> }> = [];
  /** Pids of processes started by this test (servers, restarted servers, workers). */
  readonly pids = new Set<number>();
  /** Environment markers carried by everything this test started and its descendants. */
  readonly markers = new Set<string>();

  defer(what: string, stop: () => Promise<unknown>): void {
    this.stops.push({ what, stop });
  }

  async release(): Promise<void> {
    const errors: string[] = [];
    while (this.stops.length) {
      const { what, stop } = this.stops.pop()!;
      const started = Date.now();
      try {
        await stop();
        const took = Date.now() - started;
        if (took > 3_000) console.log(`[server-faults] stopping ${what} took ${(took / 1000).toFixed(1)} s`);
      } catch (err) {
        errors.push(`stopping ${what}: ${(err as Error).message}`);
      }
    }
    if (errors.length) throw new Error(errors.join('\n'));
  }
}

let resources: Resources | undefined;
afterEach(async () => {
  // Safety net for a test that failed before its own `finally` ran; a no-op otherwise.
  await resources?.release();
  resources = undefined;
});

interface OwnStack {
  dir: string;
  stateDir: string;
  temporal: TemporalServer;
  jupyter: JupyterServer;
  client: Client;
  config: Config;
  taskQueue: string;
}

/**
 * The supervisor tags each server (and so every kernel Jupyter starts) with
 * MILLRACE_SUPERVISOR_TAG=<name>-<pid of the spawning process>-<random>; the shared stack
 * of global-setup is spawned by another process, so these prefixes are ours alone.
 */
function supervisorMarker(name: string): string {
  return `MILLRACE_SUPERVISOR_TAG=${name}-${process.pid}-`;
}

async function startOwnStack(r: Resources): Promise<OwnStack> {
  const dir = await mkdtemp(join(tmpdir(), 'millrace-server-faults-'));
  r.defer('the temporary directory', () => rm(dir, { recursive: true, force: true }));
  const stateDir = join(dir, 'state');
  r.markers.add(supervisorMarker('temporal'));
  r.markers.add(supervisorMarker('jupyter'));
  const [temporal, jupyter] = await Promise.all([
    startTemporalServer({ stateDir }).then((t) => {
      r.pids.add(t.pid);
      r.defer('the Temporal dev server', () => t.stop());
      return t;
    }),
    startJupyterServer({ stateDir }).then((j) => {
      r.pids.add(j.pid);
      r.defer('Jupyter Server', () => j.stop());
      return j;
    }),
  ]);
  const connection = await Connection.connect({ address: temporal.address });
  r.defer('the client connection', () => connection.close());
  const client = new Client({ connection, namespace: 'default' });
  const taskQueue = `server-faults-${randomBytes(4).toString('hex')}`;
  const config: Config = {
    namespace: 'default',
    taskQueue,
    stateDir,
    storeRoot: join(dir, 'store'),
    temporalAddress: temporal.address,
  };
  return { dir, stateDir, temporal, jupyter, client, config, taskQueue };
}

interface WorkerProcess {
  child: ChildProcess;
  stderr(): string;
}

/** `millrace worker` in its own process against this test's servers. */
async function startWorkerProcess(r: Resources, stack: OwnStack): Promise<WorkerProcess> {
  const marker = `MILLRACE_SERVER_FAULTS_WORKER=${randomBytes(6).toString('hex')}`;
  r.markers.add(marker);
  const [markerName, markerValue] = marker.split('=') as [string, string];
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('TEMPORAL_') && !key.startsWith('MILLRACE_')) env[key] = value;
  }
  const child = spawn(process.execPath, [join(packageRoot(), 'bin', 'millrace.js'), 'worker', '--kernel-pool', '0'], {
    env: {
      ...env,
      TEMPORAL_ADDRESS: stack.temporal.address,
      TEMPORAL_NAMESPACE: 'default',
      MILLRACE_HOME: stack.stateDir,
      MILLRACE_TASK_QUEUE: stack.taskQueue,
      MILLRACE_JUPYTER_URL: stack.jupyter.url,
      MILLRACE_JUPYTER_TOKEN: stack.jupyter.token,
      [markerName]: markerValue,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  if (child.pid !== undefined) r.pids.add(child.pid);
  r.defer('the worker process', () => stopChild(child));
  await waitUntil(
    'the worker to poll its task queue',
    async () => {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`worker exited early: ${stderr}`);
      return stderr.includes('worker polling') ? true : undefined;
    },
    { timeoutMs: 60_000, rethrow: true },
  );
  return { child, stderr: () => stderr };
}

function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((r) => child.once('exit', () => r()));
}

/** SIGTERM (the worker drains), SIGKILL if it has not exited 15 s later. */
async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const gone = await Promise.race([exited(child).then(() => true), delay(15_000).then(() => false)]);
  if (!gone) {
    child.kill('SIGKILL');
    await exited(child);
  }
}

// --- waiting on conditions ---------------------------------------------------------------

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/**
 * Polls `probe` until it returns a value, failing after the deadline. A probe that throws
 * counts as "not yet" (a record being replaced, a server restarting) unless `rethrow`.
 */
async function waitUntil<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  options: { timeoutMs: number; intervalMs?: number; rethrow?: boolean },
): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      if (options.rethrow) throw err;
      last = err;
    }
    if (Date.now() > deadline) {
      const why = last instanceof Error ? ` (last error: ${last.message.split('\n')[0]})` : '';
      throw new Error(`timed out after ${options.timeoutMs / 1000} s waiting for ${what}${why}`);
    }
    await delay(options.intervalMs ?? 50);
  }
}

/** Rejects with a message naming `what` when `promise` does not settle in time. */
async function within<T>(what: string, promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms / 1000} s`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

// --- processes ---------------------------------------------------------------------------

interface ProcEntry {
  pid: number;
  ppid: number;
  state: string;
  cmdline: string;
  environ: string[];
}

function readProc(pid: number): ProcEntry | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    let environ: string[] = [];
    try {
      environ = readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0');
    } catch {
      // not ours to read, or gone
    }
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
    return { pid, ppid: Number(fields[1]), state: fields[0] ?? '?', cmdline, environ };
  } catch {
    return undefined;
  }
}

function isGone(pid: number): boolean {
  const entry = readProc(pid);
  return entry === undefined || entry.state === 'Z';
}

/**
 * Live (non-zombie) processes this test started or that descend from them: a recorded
 * pid, a child of one, or a process carrying one of the test's environment markers
 * (kernels are re-parented to init when Jupyter Server dies, but keep the marker).
 */
function leftovers(r: Resources): string[] {
  const found: string[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (pid === process.pid) continue;
    const entry = readProc(pid);
    if (!entry || entry.state === 'Z') continue;
    const marked = entry.environ.some((kv) => [...r.markers].some((m) => kv.startsWith(m)));
    if (r.pids.has(pid) || r.pids.has(entry.ppid) || marked) found.push(`${pid} (ppid ${entry.ppid}): ${entry.cmdline.slice(0, 160)}`);
  }
  return found;
}

/**
 * The kernels among `leftovers()` lines: launched ones run ipykernel_launcher; forked ones
 * show the command line of the warm process (kernel_zygote.py) they are children of.
 */
function kernelsAmong(lines: string[]): string[] {
  const parse = (line: string) => /^(\d+) \(ppid (\d+)\): (.*)$/s.exec(line);
  const zygotes = new Set(lines.filter((l) => l.includes('kernel_zygote.py')).map((l) => parse(l)?.[1]));
  return lines.filter((l) => l.includes('ipykernel_launcher') || (l.includes('kernel_zygote.py') && zygotes.has(parse(l)?.[2])));
}

async function expectNothingLeftBehind(r: Resources): Promise<void> {
  // Stopping sends SIGKILL last and does not wait for the kernel to reap: allow a moment.
  const started = Date.now();
  const left = await waitUntil('every process this test started to be gone', async () => (leftovers(r).length === 0 ? [] : undefined), {
    timeoutMs: 10_000,
  }).catch(() => leftovers(r));
  const took = Date.now() - started;
  if (took > 1_000) console.log(`[server-faults] processes took ${(took / 1000).toFixed(1)} s to be gone after stopping`);
  expect(left).toEqual([]);
}

/** The Temporal dev server's exact command line (so a restart uses the same flags). */
function commandLine(pid: number): string[] {
  return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
}

/** What the supervisor gives the Temporal dev server: none of a user's client settings. */
function temporalServerEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('TEMPORAL_')));
}

async function namespaceAnswers(address: string): Promise<boolean> {
  const connection = await Connection.connect({ address, connectTimeout: 2_000 });
  try {
    await connection.workflowService.describeNamespace({ namespace: 'default' });
    return true;
  } finally {
    await connection.close();
  }
}

// --- notebooks and records -----------------------------------------------------------------

/** The record as it stands, live or finished: the notebook merged with its journal. */
async function readRecord(location: string): Promise<NotebookJson> {
  return (await readStoredRecord(location)).notebook as unknown as NotebookJson;
}

/** The record's cells without papermill's error banner and anchor (they shift indices). */
function ownCells(nb: NotebookJson): Array<Record<string, any>> {
  return nb.cells.filter((c) => !((c['metadata']?.['tags'] ?? []) as string[]).includes(ERROR_MARKER_TAG));
}

function status(cell: Record<string, any> | undefined): string | undefined {
  return cell?.['metadata']?.['papermill']?.['status'];
}

async function startRun(stack: OwnStack, path: string): Promise<{ input: RunInput; handle: WorkflowHandle }> {
  const input = await buildRunInput(stack.config, { notebookPath: path, params: {} });
  const handle = await stack.client.workflow.start('notebookRun', {
    taskQueue: stack.taskQueue,
    workflowId: input.runId,
    args: [input],
    memo: { notebook: 'server-faults', output: input.output },
  });
  return { input, handle };
}

async function writeNotebook(dir: string, name: string, nb: NotebookJson): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, JSON.stringify(nb, null, 1));
  return path;
}

/**
 * The activities that failed (their last attempt), from the run's history, as
 * `<type>: <message>`, each with the server's time of the failure in ms since the epoch.
 */
async function activityFailures(handle: WorkflowHandle): Promise<Array<{ text: string; atMs: number }>> {
  const events = (await handle.fetchHistory()).events ?? [];
  const typeOf = new Map<string, string>();
  for (const e of events) {
    const scheduled = e.activityTaskScheduledEventAttributes;
    if (scheduled) typeOf.set(String(e.eventId), scheduled.activityType?.name ?? '?');
  }
  return events.flatMap((e) => {
    const failed = e.activityTaskFailedEventAttributes;
    if (!failed) return [];
    const type = typeOf.get(String(failed.scheduledEventId)) ?? '?';
    const atMs = Number(String(e.eventTime?.seconds ?? 0)) * 1000 + (e.eventTime?.nanos ?? 0) / 1e6;
    return [{ text: `${type}: ${failed.failure?.message ?? '?'}`, atMs }];
  });
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

// --- the tests ---------------------------------------------------------------------------

describe('servers killed mid-run', () => {
  it('completes when the Temporal dev server is SIGKILLed mid-run and restarted on the same database', async () => {
    const r = (resources = new Resources());
    try {
      const setupStarted = Date.now();
      const stack = await startOwnStack(r);
      const worker = await startWorkerProcess(r, stack);
      console.log(`[server-faults] servers and worker ready in ${seconds(Date.now() - setupStarted)}`);
      const side = join(stack.dir, 'side-effects.txt');
      const cells = [0, 1, 2, 3, 4, 5].map((i) =>
        codeCell(
          `import time\nprint("start ${i}", flush=True)\ntime.sleep(1)\n` +
            `with open(${JSON.stringify(side)}, "a") as f:\n    f.write("cell ${i}\\n")\nprint("end ${i}")`,
        ),
      );
      const path = await writeNotebook(stack.dir, 'temporal-killed.ipynb', notebook(cells));
      const runStarted = Date.now();
      const { input, handle } = await startRun(stack, path);

      await waitUntil(
        'cell 2 to be running with its first output saved',
        async () => {
          const nb = await readRecord(input.output);
          return status(nb.cells[2]) === 'running' && streamText(nb.cells[2]!).includes('start 2') ? true : undefined;
        },
        { timeoutMs: 60_000 },
      );

      // SIGKILL the dev server, and restart it with its exact command line: same port,
      // same SQLite file (temporal.db in the state directory), same pragmas and config.
      // The /proc check at the end sees what this test started, kernels included.
      const alive = leftovers(r);
      expect(kernelsAmong(alive), alive.join('\n')).not.toEqual([]);
      expect(alive.some((p) => p.startsWith(`${worker.child.pid} `)), alive.join('\n')).toBe(true);
      const argv = commandLine(stack.temporal.pid);
      expect(argv).toContain(stack.temporal.address.split(':')[1]);
      expect(argv).toContain(join(stack.stateDir, 'temporal.db'));
      const killedAt = Date.now();
      process.kill(stack.temporal.pid, 'SIGKILL');
      await waitUntil('the killed Temporal dev server to be gone', async () => (isGone(stack.temporal.pid) ? true : undefined), {
        timeoutMs: 10_000,
      });
      r.markers.add(supervisorMarker('temporal-restarted'));
      const restarted: SupervisedProcess = await spawnSupervised({
        name: 'temporal-restarted',
        command: argv[0]!,
        args: argv.slice(1),
        stateDir: stack.stateDir,
        env: temporalServerEnv(),
        stopGraceMs: 10_000,
      });
      r.pids.add(restarted.pid);
      r.defer('the restarted Temporal dev server', () => restarted.stop());
      await restarted.waitFor(() => namespaceAnswers(stack.temporal.address), {
        timeoutMs: 60_000,
        what: `the restarted frontend at ${stack.temporal.address} to describe namespace default`,
        intervalMs: 100,
      });
      const serverBackAt = Date.now();

      // Watch the record for the first cell started after the kill (needs the server).
      let nextCellStartedAt: number | undefined;
      const watching = waitUntil(
        'cell 3 to start after the restart',
        async () => {
          const nb = await readRecord(input.output);
          return status(nb.cells[3]) !== 'pending' ? (nextCellStartedAt = Date.now()) : undefined;
        },
        { timeoutMs: 120_000 },
      ).catch(() => undefined);

      let result: RunResult;
      try {
        result = await within('the run completing after the restart', handle.result() as Promise<RunResult>, 90_000);
      } catch (err) {
        throw new Error(
          `${(err as Error).message}\n--- worker stderr ---\n${worker.stderr().slice(-4000)}\n` +
            `--- restarted Temporal log ---\n${restarted.logTail(40)}`,
        );
      }
      const completedAt = Date.now();
      await watching;

      expect(result).toMatchObject({ runId: input.runId, status: 'completed', executedCells: 6, stoppedBySysExit: false });
      // Exactly once: every cell's side effect, once, in order.
      expect((await readFile(side, 'utf8')).split('\n').filter(Boolean)).toEqual([0, 1, 2, 3, 4, 5].map((i) => `cell ${i}`));
      // The record: valid nbformat 4.5, complete, every cell with all its outputs.
      await assertValidNotebook(input.output);
      const nb = await readRecord(input.output);
      expect(nb.metadata['millrace']?.['status']).toBe('completed');
      expect(nb.metadata['papermill']?.['exception']).toBeFalsy();
      expect(nb.metadata['papermill']?.['end_time']).toBeTruthy();
      expect(nb.cells).toHaveLength(6);
      for (const [i, cell] of nb.cells.entries()) {
        expect(cellText(cell)).toContain(`"cell ${i}\\n"`);
        expect(status(cell), `cell ${i}`).toBe('completed');
        expect(streamText(cell), `cell ${i}`).toBe(`start ${i}\nend ${i}\n`);
        expect(cell['execution_count'], `cell ${i}`).toBe(i + 1);
      }
      // The kernel was shut down at the end of the run (just after its result).
      const running = () => KernelAPI.listRunning(serverSettings({ url: stack.jupyter.url, token: stack.jupyter.token }));
      await waitFor('the kernel to be shut down', async () => ((await running()).length === 0 ? true : undefined), 15_000);

      // Evidence for the report: how each cell's activity went, attempts included.
      const history = await handle.fetchHistory();
      const attempts = (history.events ?? [])
        .filter((e) => e.activityTaskStartedEventAttributes)
        .map((e) => e.activityTaskStartedEventAttributes!.attempt ?? 1);
      console.log(
        `[server-faults] Temporal SIGKILL: server back after ${seconds(serverBackAt - killedAt)}; ` +
          `next cell started ${nextCellStartedAt ? seconds(nextCellStartedAt - killedAt) : 'n/a'} after the kill; ` +
          `run completed ${seconds(completedAt - killedAt)} after the kill (${seconds(completedAt - runStarted)} in all, ` +
          `6 cells of ~1 s); activity attempts started: ${JSON.stringify(attempts)}`,
      );
      expect(completedAt - killedAt).toBeLessThan(60_000);
    } finally {
      await r.release();
    }
    await expectNothingLeftBehind(r);
  });

  it('fails within 30 s with "kernel lost at cell N" when Jupyter Server is SIGKILLed mid-run', async () => {
    const r = (resources = new Resources());
    try {
      const setupStarted = Date.now();
      const stack = await startOwnStack(r);
      const worker = await startWorkerProcess(r, stack);
      console.log(`[server-faults] servers and worker ready in ${seconds(Date.now() - setupStarted)}`);
      const cells = [
        codeCell('x = 40\nprint("done 0")'),
        codeCell('x += 2\nprint("done 1", x)'),
        codeCell('import time\nprint("start 2", flush=True)\ntime.sleep(120)\nprint("end 2")'),
        codeCell('print("never")'),
      ];
      const path = await writeNotebook(stack.dir, 'jupyter-killed.ipynb', notebook(cells));
      const { input, handle } = await startRun(stack, path);

      await waitUntil(
        'cell 2 to be running with its first output saved',
        async () => {
          const nb = await readRecord(input.output);
          return status(nb.cells[2]) === 'running' && streamText(nb.cells[2]!).includes('start 2') ? true : undefined;
        },
        { timeoutMs: 60_000 },
      );
      const killedAt = Date.now();
      process.kill(stack.jupyter.pid, 'SIGKILL');

      const error = await within(
        'the run failing after Jupyter Server was killed',
        handle.result().then(
          () => undefined,
          (err: unknown) => err,
        ),
        60_000,
      ).catch((err: Error) => {
        throw new Error(`${err.message}\n--- worker stderr ---\n${worker.stderr().slice(-4000)}`);
      });
      const detectedAt = Date.now();
      console.log(`[server-faults] Jupyter SIGKILL: the run failed ${seconds(detectedAt - killedAt)} after the kill`);

      expect(error, 'the run must fail, not complete').toBeInstanceOf(WorkflowFailedError);
      const failure = error as WorkflowFailedError;
      const chain: string[] = [];
      for (let e: Error | undefined = failure; e; e = (e as { cause?: Error }).cause) chain.push(`${e.constructor.name}: ${e.message}`);
      const failedActivities = await activityFailures(handle);
      console.log(
        `[server-faults] Jupyter SIGKILL: failure chain:\n  ${chain.join('\n  ')}\n` +
          `  failed activities in history (time after the kill):\n    ` +
          failedActivities.map((f) => `${f.text} (${seconds(f.atMs - killedAt)})`).join('\n    '),
      );
      // Kernels die with their server: each forked kernel has a death signal tied to the
      // warm process, which exits with the server (worker/kernel_zygote.py). By the time
      // the run has failed (seconds after the kill) none is left.
      const orphans = kernelsAmong(leftovers(r));
      expect.soft(orphans, 'kernel processes alive after their Jupyter Server was SIGKILLed').toEqual([]);
      // What `millrace run` reports: the cell and the reason. Soft, so that the record is
      // checked (below) even when the message is wrong.
      const outcome = reportFromFailure(failure, input.runId, input.output, 0);
      expect.soft(outcome, chain.join('\n')).toMatchObject({ status: 'failed', failed_cell: 2, error: { ename: 'DeadKernelError' } });
      expect.soft(outcome.reason).toMatch(/^kernel lost at cell 2: /);
      expect.soft(failure.cause).toBeInstanceOf(ActivityFailure);
      expect.soft(failure.cause?.cause).toBeInstanceOf(ApplicationFailure);
      expect.soft((failure.cause?.cause as ApplicationFailure | undefined)?.type).toBe('KernelLost');
      // The cell fails; shutting the kernel down may fail too (its server is gone), but
      // that must not replace the run's outcome (checked above).
      const failedTexts = failedActivities.map((f) => f.text);
      expect.soft(failedTexts[0]).toMatch(/^executeCell: kernel lost at cell 2: /);
      expect.soft(failedTexts.slice(1).every((t) => t.startsWith('shutdownKernel: '))).toBe(true);
      expect(detectedAt - killedAt).toBeLessThan(30_000);

      // The record, written up to the fault.
      await assertValidNotebook(input.output);
      const nb = await readRecord(input.output);
      expect(nb.metadata['millrace']?.['status']).toBe('failed');
      const own = ownCells(nb);
      expect(own).toHaveLength(4);
      expect(status(own[0])).toBe('completed');
      expect(streamText(own[0]!)).toBe('done 0\n');
      expect(status(own[1])).toBe('completed');
      expect(streamText(own[1]!)).toBe('done 1 42\n');
      expect(status(own[2])).toBe('failed');
      expect(streamText(own[2]!)).toContain('start 2');
      expect(own[2]!['outputs'].at(-1)).toMatchObject({ output_type: 'error', ename: 'DeadKernelError' });
      expect(status(own[3])).toBe('pending');
      expect(own[3]!['outputs']).toEqual([]);
      // papermill's banner at the top and anchor right before the failing cell.
      const markers = nb.cells.flatMap((c, i) => (((c['metadata']?.['tags'] ?? []) as string[]).includes(ERROR_MARKER_TAG) ? [i] : []));
      expect(markers).toEqual([0, nb.cells.indexOf(own[2]!) - 1]);
    } finally {
      await r.release();
    }
    await expectNothingLeftBehind(r);
  });
});
