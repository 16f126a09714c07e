/**
 * notebookRun's branches with mocked activities: no kernel, no store, only the workflow
 * (dist/workflow-bundle.js) on the shared Temporal dev server, each case in about a
 * second. The mocks keep each run's record revision and refuse an activity sent any
 * other (as the real record does with StaleRecordError), so every case also checks the
 * revision protocol: the workflow sends what the previous activity reported it saved.
 *
 * @temporalio/testing is not a dependency (its TestWorkflowEnvironment downloads its own
 * server): the worker is @temporalio/worker's, with the mocks as its activities, against
 * the dev server test/e2e/global-setup.ts started.
 */
import { ActivityFailure, Client, Connection, WorkflowFailedError, WorkflowUpdateFailedError, type WorkflowHandle, type WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import { ApplicationFailure, CancelledFailure, Context } from '@temporalio/activity';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { randomBytes } from 'node:crypto';
import { promiseHooks } from 'node:v8';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { inCellChain } from '../../activities/cell-chain.js';
import type { MillraceActivities } from '../../activities/index.js';
import { workflowBundlePath } from '../../worker/worker.js';
import type {
  CellResult,
  ExecuteCellInput,
  FinalizeInput,
  KernelHandle,
  PrepareResult,
  PrepareRetryInput,
  RecordSavedInput,
  RepairDecision,
  RepairExecution,
  ReplayInput,
  RunInput,
  RunProgress,
  RunResult,
  ScratchInput,
  SkipCellInput,
} from '../../workflows/contracts.js';

/**
 * What a mocked cell does: `ok`; `error` (ValueError); `error-once` (fails, then passes
 * when retried); `kernel-dies-once` (its kernel dies the first time); `hang` (runs until
 * cancelled, handed off to a regular activity as a long cell is).
 */
type CellScript = 'ok' | 'error' | 'error-once' | 'kernel-dies-once' | 'hang';

interface MockRun {
  cells: CellScript[];
  /** The record revision, as the real record keeps it. */
  revision: number;
  /** Activities in the order they ran, with what matters of their input. */
  calls: string[];
  /** How often each cell was sent. */
  sent: Map<number, number>;
  /** Cells sent as local activities that may save the record write-behind. */
  writeBehind: number[];
  /** Cells whose local activity started while the cell before ran (sent only if it passed). */
  startedAhead: number[];
  /** Those of them that were sent. */
  sentAhead: number[];
  finalStatus?: FinalizeInput['status'];
  /** finalizeRun fails with a non-retryable error of this type (a store that refuses the record). */
  finalizeFails?: string;
  /** prepareRun fails with a non-retryable error of this type (a notebook no attempt mends). */
  prepareFails?: string;
}

const runs = new Map<string, MockRun>();

function runOf(runId: string): MockRun {
  const run = runs.get(runId);
  if (!run) throw ApplicationFailure.nonRetryable(`no mocked run ${runId}`);
  return run;
}

/** Saves the next revision, refusing an activity sent a revision other than the record's. */
function save(run: MockRun, revision: number): number {
  if (revision !== run.revision) throw ApplicationFailure.nonRetryable(`sent revision ${revision}, record at ${run.revision}`, 'StaleRecord');
  run.revision += 1;
  return run.revision;
}

async function untilCancelled(): Promise<never> {
  const ctx = Context.current();
  const beating = setInterval(() => ctx.heartbeat(), 50);
  try {
    ctx.heartbeat();
    return await ctx.cancelled;
  } finally {
    clearInterval(beating);
  }
}

/** As the real activity: a cell started ahead is sent only once the cell before it passed (the real chain). */
function executeCell(input: ExecuteCellInput): Promise<CellResult> {
  if (input.afterPrevious) runOf(input.runId).startedAhead.push(input.cellIndex);
  // The mock kernel has no gate (cellGate): a cell started ahead is never sent ahead.
  return inCellChain(input, Context.current().info.attempt === 1 && !input.attach, {
    sendAhead: async () => undefined,
    execute: () => executeMockCell(input),
    park: () => undefined,
  });
}

async function executeMockCell(input: ExecuteCellInput): Promise<CellResult> {
  const run = runOf(input.runId);
  const script = run.cells[input.cellIndex]!;
  if (script === 'hang' && !input.attach) {
    // Handed off like a cell that outlives handOffAfterMs; the regular activity adopts it.
    run.calls.push(`executeCell ${input.cellIndex} hand-off`);
    return { status: 'running', executionCount: null, outputCount: 0, durationMs: 2_000 };
  }
  const attempt = (run.sent.get(input.cellIndex) ?? 0) + 1;
  run.sent.set(input.cellIndex, attempt);
  run.calls.push(`executeCell ${input.cellIndex}${Context.current().info.isLocal ? ' local' : ''}`);
  if (input.writeBehind) run.writeBehind.push(input.cellIndex);
  if (input.afterPrevious) run.sentAhead.push(input.cellIndex);
  if (script === 'hang') {
    try {
      return await untilCancelled();
    } catch (err) {
      if (err instanceof CancelledFailure) save(run, input.revision);
      throw err;
    }
  }
  if (script === 'kernel-dies-once' && attempt === 1) {
    save(run, input.revision);
    throw ApplicationFailure.nonRetryable(`kernel lost at cell ${input.cellIndex}: the kernel died`, 'KernelLost');
  }
  const revision = save(run, input.revision);
  const failed = script === 'error' || (script === 'error-once' && attempt === 1);
  return failed
    ? { status: 'error', executionCount: attempt, ename: 'ValueError', evalue: 'bad input', outputCount: 1, durationMs: 1, revision }
    : { status: 'ok', executionCount: attempt, outputCount: 0, durationMs: 1, revision };
}

let kernels = 0;

const mockActivities = {
  async prepareRun(input: RunInput): Promise<PrepareResult> {
    const run = runOf(input.runId);
    run.calls.push('prepareRun');
    if (run.prepareFails) throw ApplicationFailure.nonRetryable('metadata.millrace.skipped must be a boolean', run.prepareFails);
    const codeCells = run.cells.map((_, index) => ({ index, summary: `cell ${index}`, raisesException: false, idempotent: false }));
    return { kernelName: 'python3', startAt: 0, totalCells: codeCells.length, codeCells, warnings: [] };
  },
  async startKernel(request: { runId: string; kernelName: string }) {
    kernels += 1;
    runOf(request.runId).calls.push(`startKernel k${kernels}`);
    return { kernel: { kernelId: `k${kernels}`, kernelName: request.kernelName, outcomeRegistry: true }, languageInfo: null };
  },
  async shutdownKernel(kernel: KernelHandle, options: { wait?: boolean } = {}) {
    for (const run of runs.values()) {
      if (run.calls.includes(`startKernel ${kernel.kernelId}`)) run.calls.push(`shutdownKernel ${kernel.kernelId}${options.wait ? ' wait' : ''}`);
    }
  },
  executeCell,
  async replayCells(input: ReplayInput) {
    const run = runOf(input.runId);
    run.calls.push(`replayCells ${input.cellIndices.join(',')} lost at ${input.lostAtCell} in ${input.kernel.kernelId}`);
    if (input.lostAtCell === undefined) return {};
    run.revision += 1;
    return { revision: run.revision };
  },
  async finalizeRun(input: FinalizeInput) {
    const run = runOf(input.runId);
    run.calls.push(`finalizeRun ${input.status}${input.failedCell !== undefined ? ` at ${input.failedCell}` : ''}`);
    if (run.finalizeFails) throw ApplicationFailure.nonRetryable('the store refused the record', run.finalizeFails);
    run.revision += 1;
    run.finalStatus = input.status;
    return { output: input.output };
  },
  async prepareRetry(input: PrepareRetryInput) {
    const run = runOfOutput(input.output);
    run.calls.push(`prepareRetry ${input.cellIndex}`);
    return { summary: `cell ${input.cellIndex} retried`, revision: save(run, input.revision) };
  },
  async execScratch(input: ScratchInput) {
    const run = runOf(input.runId);
    run.calls.push(`execScratch ${input.cellIndex}`);
    const revision = save(run, input.revision);
    return { runId: input.runId, cell: input.cellIndex, status: 'ok' as const, output: `ran ${input.code}\n`, paused: true, revision };
  },
  async skipCell(input: SkipCellInput) {
    const run = runOfOutput(input.output);
    run.calls.push(`skipCell ${input.cellIndex}`);
    return { revision: save(run, input.revision) };
  },
  async cellOutputExcerpt(input: { output: string; cellIndex: number }) {
    return `output of cell ${input.cellIndex}\n`;
  },
  async sliceWorkflowTask() {
    runOf(Context.current().info.workflowExecution?.workflowId ?? '').calls.push('sliceWorkflowTask');
  },
  async recordSaved(input: RecordSavedInput) {
    const run = runOfOutput(input.output);
    if (input.revision !== run.revision) throw ApplicationFailure.nonRetryable(`waited for revision ${input.revision}, record at ${run.revision}`, 'StaleRecord');
    run.calls.push(`recordSaved ${input.revision}${Context.current().info.isLocal ? ' local' : ''}`);
  },
  async restoreCheckpoint() {
    return { names: 0 };
  },
  async notifyWebhook() {},
} satisfies Partial<Record<keyof MillraceActivities, unknown>>;

/** Repair activities find their run by its output (they are not sent the run id). */
function runOfOutput(output: string): MockRun {
  return runOf(output.replace(/^mock:\/\//, ''));
}

let worker: Worker;
let running: Promise<void>;
let client: Client;
let taskQueue: string;

beforeAll(async () => {
  // This file's process has no other worker: the SDK's errors only (runs here fail on purpose).
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  const stack = inject('stack');
  taskQueue = `workflow-${randomBytes(4).toString('hex')}`;
  const connection = await NativeConnection.connect({ address: stack.temporalAddress });
  worker = await Worker.create({
    connection,
    namespace: stack.namespace,
    taskQueue,
    workflowBundle: { codePath: workflowBundlePath() },
    activities: mockActivities,
    // A cancel reaches a heartbeating mock within a tenth of a second.
    maxHeartbeatThrottleInterval: '100 ms',
  });
  running = worker.run().finally(() => connection.close());
  client = new Client({ connection: await Connection.connect({ address: stack.temporalAddress }), namespace: stack.namespace });
});

afterAll(async () => {
  worker?.shutdown();
  await running;
  await client?.connection.close();
});

interface Started {
  handle: WorkflowHandleWithFirstExecutionRunId;
  run: MockRun;
}

async function start(cells: CellScript[], options: Partial<RunInput> = {}, mock: Partial<MockRun> = {}, queue = taskQueue): Promise<Started> {
  const runId = `wf-${randomBytes(4).toString('hex')}`;
  const run: MockRun = { cells, revision: 0, calls: [], sent: new Map(), writeBehind: [], startedAhead: [], sentAhead: [], ...mock };
  runs.set(runId, run);
  const input: RunInput = {
    runId,
    source: { location: `mock://sources/${runId}`, sha256: '0'.repeat(64) },
    inputPath: `${runId}.ipynb`,
    output: `mock://${runId}`,
    parameters: {},
    ...options,
  };
  const handle = await client.workflow.start('notebookRun', { taskQueue: queue, workflowId: runId, args: [input], memo: { notebook: input.inputPath, output: input.output } });
  return { handle, run };
}

async function pausedAt(handle: WorkflowHandle, cell: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while ((await handle.query<RunProgress>('progress')).paused?.cell !== cell) {
    if (Date.now() > deadline) throw new Error(`the run did not pause at cell ${cell}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function failureOf(handle: WorkflowHandle): Promise<{ type: string | undefined; message: string }> {
  const err = await handle.result().then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(WorkflowFailedError);
  const cause = (err as WorkflowFailedError).cause as { type?: string; message: string };
  return { type: cause.type, message: cause.message };
}

/** The run's failure, which must be an activity's, as a regular activity's failure reads. */
async function activityFailureOf(handle: WorkflowHandle): Promise<ActivityFailure> {
  const err = await handle.result().then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(WorkflowFailedError);
  const cause = (err as WorkflowFailedError).cause;
  expect(cause).toBeInstanceOf(ActivityFailure);
  return cause as ActivityFailure;
}

describe('notebookRun with mocked activities', () => {
  it('runs every cell, finalizes, and shuts the kernel down', async () => {
    const { handle, run } = await start(['ok', 'ok', 'ok']);
    const result = (await handle.result()) as RunResult;
    expect(result).toMatchObject({ status: 'completed', executedCells: 3, stoppedBySysExit: false, skippedCells: [] });
    const kernel = run.calls.find((c) => c.startsWith('startKernel'))!.split(' ')[1];
    expect(run.calls).toEqual(['prepareRun', `startKernel ${kernel}`, 'executeCell 0 local', 'executeCell 1 local', 'executeCell 2 local', 'recordSaved 3 local', 'finalizeRun completed', `shutdownKernel ${kernel}`]);
    expect(run.revision).toBe(4);
    // Preparing, finalizing and the kernel's shutdown are local activities: no round trips through the server of their own.
    const history = await handle.fetchHistory();
    const scheduled = history.events!.flatMap((e) => e.activityTaskScheduledEventAttributes?.activityType?.name ?? []);
    expect(scheduled).toEqual(['startKernel']);
    // The record is prepared and the kernel's start scheduled in the run's first workflow task.
    const kernelScheduled = history.events!.findIndex((e) => e.activityTaskScheduledEventAttributes);
    expect(history.events!.slice(0, kernelScheduled).filter((e) => e.workflowTaskCompletedEventAttributes)).toHaveLength(1);
  });

  it('pipelines local cells: each one after the first starts while the one before runs, and is sent once that one passed', async () => {
    const { handle, run } = await start(['ok', 'ok', 'ok', 'ok', 'ok', 'ok']);
    expect(await handle.result()).toMatchObject({ status: 'completed', executedCells: 6 });
    expect(run.startedAhead).toEqual([1, 2, 3, 4, 5]);
    expect(run.sentAhead).toEqual([1, 2, 3, 4, 5]);
    // Each cell sent once, in order, at the revision the one before saved (the mock refuses any other).
    expect(run.calls.filter((c) => c.startsWith('executeCell'))).toEqual([0, 1, 2, 3, 4, 5].map((i) => `executeCell ${i} local`));
    expect([...run.sent.values()]).toEqual([1, 1, 1, 1, 1, 1]);
    // One marker per cell: a cell started ahead is one activity, not one more.
    const history = await handle.fetchHistory();
    const markers = history.events!.filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_local_activity');
    expect(markers).toHaveLength(1 + 6 + 1 + 1 + 1); // prepare, the cells, recordSaved, finalize, shutdown
  });

  it('a cell started ahead of one that fails is never sent', async () => {
    const { handle, run } = await start(['ok', 'error', 'ok']);
    expect((await failureOf(handle)).type).toBe('CellFailed');
    expect(run.startedAhead).toContain(2);
    expect(run.sent.has(2)).toBe(false);
    expect(run.calls.slice(2)).toEqual(['executeCell 0 local', 'executeCell 1 local', 'finalizeRun failed at 1', expect.stringMatching(/^shutdownKernel /)]);
  });

  it('local cells may save the record write-behind; the run waits for it before finalizing', async () => {
    const { handle, run } = await start(['ok', 'ok', 'error']);
    expect((await failureOf(handle)).type).toBe('CellFailed');
    expect(run.writeBehind).toEqual([0, 1, 2]);
    // The failed cell waited for the earlier writes and saved its own at once: nothing to wait for.
    expect(run.calls.slice(2, 6)).toEqual(['executeCell 0 local', 'executeCell 1 local', 'executeCell 2 local', 'finalizeRun failed at 2']);
  });

  it('pause, exec, then a retry that passes: the run goes on', async () => {
    const { handle, run } = await start(['ok', 'error-once', 'ok'], { onFailure: 'pause' });
    await pausedAt(handle, 1);
    expect(await handle.executeUpdate<RepairExecution, [object]>('exec', { args: [{ code: 'x' }] })).toEqual({
      runId: handle.workflowId, cell: 1, status: 'ok', output: 'ran x\n', paused: true,
    });
    const answer = await handle.executeUpdate<RepairExecution, [object]>('retry', { args: [{}] });
    expect(answer).toEqual({ runId: handle.workflowId, cell: 1, status: 'ok', output: 'output of cell 1\n', paused: false });
    expect(await handle.result()).toMatchObject({ status: 'completed', executedCells: 3 });
    expect(run.calls.slice(2, 8)).toEqual(['executeCell 0 local', 'executeCell 1 local', 'execScratch 1', 'prepareRetry 1', 'executeCell 1 local', 'executeCell 2 local']);
    expect(run.sent.get(1)).toBe(2);
  });

  it('a retry that fails again keeps the run paused', async () => {
    const { handle } = await start(['error'], { onFailure: 'pause' });
    await pausedAt(handle, 0);
    const again = await handle.executeUpdate<RepairExecution, [object]>('retry', { args: [{}] });
    expect(again).toMatchObject({ status: 'error', ename: 'ValueError', evalue: 'bad input', paused: true });
    expect((await handle.query<RunProgress>('progress')).paused).toMatchObject({ cell: 0, ename: 'ValueError' });
    await handle.executeUpdate<RepairDecision, []>('abort');
    expect((await failureOf(handle)).type).toBe('CellFailed');
  });

  it('skip: the cell stays failed and the run goes on', async () => {
    const { handle, run } = await start(['error', 'ok'], { onFailure: 'pause' });
    await pausedAt(handle, 0);
    expect(await handle.executeUpdate<RepairDecision, []>('skip')).toEqual({ runId: handle.workflowId, cell: 0, action: 'skipped' });
    expect(await handle.result()).toMatchObject({ status: 'completed', executedCells: 2, skippedCells: [0] });
    expect(run.calls).toContain('skipCell 0');
    expect((await handle.query<RunProgress>('progress')).cells.map((c) => c.status)).toEqual(['skipped', 'completed']);
  });

  it('abort: the run fails at the paused cell', async () => {
    const { handle, run } = await start(['ok', 'error', 'ok'], { onFailure: 'pause' });
    await pausedAt(handle, 1);
    expect(await handle.executeUpdate<RepairDecision, []>('abort')).toEqual({ runId: handle.workflowId, cell: 1, action: 'aborted' });
    expect(await failureOf(handle)).toEqual({ type: 'CellFailed', message: 'cell 1 failed: ValueError: bad input (aborted while paused)' });
    expect(run.finalStatus).toBe('failed');
    expect(run.calls).toContain('finalizeRun failed at 1');
  });

  it('a pause nobody repairs fails the run when --pause-timeout runs out', async () => {
    const { handle } = await start(['error'], { onFailure: 'pause', pauseTimeoutS: 1 });
    expect(await failureOf(handle)).toEqual({ type: 'PauseExpired', message: 'cell 0 failed: ValueError: bad input (paused for 1s without repair)' });
  });

  it('refuses repairs of a run that is not paused', async () => {
    const { handle, run } = await start(['hang'], { onFailure: 'pause' });
    await waitForCall(run, 'executeCell 0');
    const refusal = await handle.executeUpdate('skip').then(
      () => undefined,
      (err: unknown) => (err instanceof WorkflowUpdateFailedError ? err.cause : err),
    );
    expect(refusal).toMatchObject({ type: 'NotPaused', message: `run ${handle.workflowId} is not paused (it is executing)` });
    await handle.cancel();
    await expect(handle.result()).rejects.toThrow();
  });

  it('--on-kernel-loss restart: a new kernel, the earlier cells replayed, the cell sent again', async () => {
    const { handle, run } = await start(['ok', 'kernel-dies-once', 'ok'], { onKernelLoss: 'restart' });
    expect(await handle.result()).toMatchObject({ status: 'completed', executedCells: 3 });
    const [first, second] = run.calls.filter((c) => c.startsWith('startKernel')).map((c) => c.split(' ')[1]);
    expect(run.calls.slice(3)).toEqual([
      'executeCell 1 local',
      `shutdownKernel ${first} wait`,
      `startKernel ${second}`,
      `replayCells 0 lost at 1 in ${second}`,
      'executeCell 1 local',
      'executeCell 2 local',
      'recordSaved 5 local',
      'finalizeRun completed',
      `shutdownKernel ${second}`,
    ]);
    // Cells, the failed attempt, the replay and the finalize each saved one revision.
    expect(run.revision).toBe(6);
    expect((await handle.query<RunProgress>('progress')).cells.every((c) => c.status === 'completed')).toBe(true);
  });

  it('without restart, a lost kernel fails the run at its cell', async () => {
    const { handle, run } = await start(['ok', 'kernel-dies-once']);
    const failure = await failureOf(handle);
    expect(failure.message).toBe('Activity task failed');
    expect(run.calls).toContain('finalizeRun failed at 1');
  });

  it('--timeout interrupts the running cell and fails the run there', async () => {
    const { handle, run } = await start(['ok', 'hang', 'ok'], { runTimeoutS: 1 });
    expect(await failureOf(handle)).toEqual({ type: 'RunTimeout', message: 'run timed out at cell 1: the run exceeded its 1 s timeout' });
    expect(run.calls.slice(3)).toEqual(['executeCell 1 hand-off', 'executeCell 1', 'finalizeRun failed at 1', expect.stringMatching(/^shutdownKernel k\d+$/)]);
  });

  it('cancel: the running cell is cancelled and the record says so', async () => {
    const { handle, run } = await start(['hang'], { onFailure: 'pause' });
    await waitForCall(run, 'executeCell 0');
    await handle.cancel();
    await expect(handle.result()).rejects.toThrow();
    expect((await handle.describe()).status.name).toBe('CANCELLED');
    expect(run.finalStatus).toBe('cancelled');
    expect(run.calls.at(-1)).toMatch(/^shutdownKernel k\d+$/);
  });

  it('a finalize that fails fails the run with the activity failure a regular activity would give', async () => {
    const { handle, run } = await start(['ok']);
    run.finalizeFails = 'StoreFull';
    const failure = await activityFailureOf(handle);
    expect(failure.activityType).toBe('finalizeRun');
    expect(failure.cause).toMatchObject({ type: 'StoreFull', message: 'the store refused the record' });
    // Tried as completed, then as failed; the kernel is shut down either way.
    expect(run.calls.filter((c) => c.startsWith('finalizeRun'))).toEqual(['finalizeRun completed', 'finalizeRun failed']);
    expect(run.calls.at(-1)).toMatch(/^shutdownKernel /);
  });

  it('a prepare that fails fails the run with the activity failure a regular activity would give, once, starting nothing', async () => {
    const { handle, run } = await start(['ok'], {}, { prepareFails: 'BadNotebook' });
    const failure = await activityFailureOf(handle);
    expect(failure.activityType).toBe('prepareRun');
    expect(failure.cause).toMatchObject({ type: 'BadNotebook', message: 'metadata.millrace.skipped must be a boolean' });
    expect(run.calls).toEqual(['prepareRun']);
  });

  it('local cells end their workflow task every 2 s of cells, each counted as its duration plus 10 ms', async () => {
    // Each mocked cell reports 1 ms: 182 cells are the first to reach 2 s (2,002 ms), and the
    // 183rd had already started ahead of the 182nd (pipelined cells): the slice comes after it.
    const { handle, run } = await start(Array.from({ length: 400 }, (): CellScript => 'ok'));
    expect(await handle.result()).toMatchObject({ status: 'completed', executedCells: 400 });
    const cellsBetweenSlices = run.calls
      .filter((c) => c.startsWith('executeCell') || c === 'sliceWorkflowTask')
      .join(' ')
      .split('sliceWorkflowTask')
      .map((part) => part.match(/executeCell/g)?.length ?? 0);
    expect(cellsBetweenSlices).toEqual([183, 183, 34]);
    // Write-behind is waited for before each slice.
    expect(run.calls[run.calls.indexOf('sliceWorkflowTask') - 1]).toBe('recordSaved 183 local');
  });

  it('continues as new after 1,000 cells with the same kernel, record revision and progress', async () => {
    const cells = Array.from({ length: 1_005 }, (): CellScript => 'ok');
    const { handle, run } = await start(cells);
    const result = (await handle.result()) as RunResult;
    expect(result).toMatchObject({ status: 'completed', executedCells: 1_005 });
    // One kernel for both executions, shut down once by the last.
    expect(run.calls.filter((c) => c.startsWith('startKernel'))).toHaveLength(1);
    expect(run.calls.filter((c) => c.startsWith('shutdownKernel'))).toHaveLength(1);
    expect(run.calls.filter((c) => c === 'prepareRun')).toHaveLength(1);
    expect(run.revision).toBe(1_006);
    // Write-behind is waited for before each workflow-task slice, before continuing as new, and before finalizing.
    const handOver = run.calls.indexOf('executeCell 999 local');
    expect(run.calls.slice(handOver, handOver + 3)).toEqual(['executeCell 999 local', 'recordSaved 1000 local', 'executeCell 1000 local']);
    expect(run.calls.filter((c) => c.startsWith('recordSaved')).length).toBeGreaterThan(3);
    expect(run.calls.at(-3)).toBe('recordSaved 1005 local');
    const first = await client.workflow.getHandle(handle.workflowId, handle.firstExecutionRunId).describe();
    expect(first.status.name).toBe('CONTINUED_AS_NEW');
    const progress = await handle.query<RunProgress>('progress');
    expect(progress.cells).toHaveLength(1_005);
    expect(progress.cells.every((c) => c.status === 'completed' && c.durationMs !== undefined)).toBe(true);
  });
});

async function waitForCall(run: MockRun, call: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!run.calls.includes(call)) {
    if (Date.now() > deadline) throw new Error(`no ${call}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('the workflow thread per cell', () => {
  it('a local cell makes 8 promises in the workflow sandbox, not 9 (the SDK captures a stack trace for each)', async () => {
    // debugMode runs workflows in this thread, where a promise hook sees the sandbox's promises (its own Promise).
    const stack = inject('stack');
    const queue = `workflow-promises-${randomBytes(4).toString('hex')}`;
    const connection = await NativeConnection.connect({ address: stack.temporalAddress });
    const debugWorker = await Worker.create({ connection, namespace: stack.namespace, taskQueue: queue, workflowBundle: { codePath: workflowBundlePath() }, activities: mockActivities, debugMode: true });
    const debugRunning = debugWorker.run().finally(() => connection.close());
    let created = 0;
    let counting = false;
    const stopHook = promiseHooks.createHook({ init: (promise) => void (counting && promise.constructor !== Promise && created++) });
    const promisesOfRun = async (cells: number): Promise<number> => {
      created = 0;
      counting = true;
      const { handle } = await start(Array.from({ length: cells }, (): CellScript => 'ok'), {}, {}, queue);
      expect(await handle.result()).toMatchObject({ status: 'completed', executedCells: cells });
      counting = false;
      return created;
    };
    try {
      // The difference between two runs is the cells' alone (fewer than a slice's worth in either).
      const perCell = ((await promisesOfRun(60)) - (await promisesOfRun(20))) / 40;
      // 2 of them are ours (runCell's .then and the loop's await; 6 before), 6 the SDK's. The
      // SDK's per activation vary with how the pipelined cells' results group into activations
      // under load (CI once counted 8.025: one promise more in 40 cells); one more per cell makes 9.
      expect(perCell).toBeLessThan(9);
    } finally {
      stopHook();
      debugWorker.shutdown();
      await debugRunning;
    }
  });
});
