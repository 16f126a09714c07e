/**
 * One notebook run: prepare the record, start a kernel, execute each code cell as its own
 * activity, finalize the record, and shut the kernel down whatever happened.
 */
import {
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  allHandlersFinished,
  condition,
  defineQuery,
  defineUpdate,
  isCancellation,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  sleep,
  makeContinueAsNewFunc,
  patched,
  upsertMemo,
  workflowInfo,
  log,
  type WorkflowInfo,
} from '@temporalio/workflow';
import { defineSearchAttributeKey, RetryState, SearchAttributeType } from '@temporalio/common';
import type { z } from 'zod';
import type { MillraceActivities } from '../activities/index.js';
import {
  execArgsSchema,
  PAUSE_TIMEOUT_S_DEFAULT,
  REPAIR_UPDATES,
  retryArgsSchema,
  checkpointFolder,
  reassignedParameters,
  runInputSchema,
  SCRATCH_TIMEOUT_S_DEFAULT,
  scheduledRunInput,
  type CellFailureDetails,
  type CellPlan,
  type CellResult,
  type ExecArgs,
  type ExecuteCellInput,
  type FinishedCellResult,
  type KernelHandle,
  type PauseInfo,
  type PrepareResult,
  type RepairDecision,
  type RepairExecution,
  type RetryArgs,
  type RunInput,
  type RunProgress,
  type RunResult,
  type RunStatus,
  type RunNotification,
  type SavedRevision,
} from './contracts.js';

export const progressQuery = defineQuery<RunProgress>('progress');

// A run paused by --on-failure pause is repaired through these; each answers with its result.
export const retryUpdate = defineUpdate<RepairExecution, [RetryArgs]>(REPAIR_UPDATES.retry);
export const execUpdate = defineUpdate<RepairExecution, [ExecArgs]>(REPAIR_UPDATES.exec);
export const skipUpdate = defineUpdate<RepairDecision, []>(REPAIR_UPDATES.skip);
export const abortUpdate = defineUpdate<RepairDecision, []>(REPAIR_UPDATES.abort);

const { prepareRun, finalizeRun } = proxyActivities<MillraceActivities>({
  startToCloseTimeout: '2 minutes',
  retry: { maximumAttempts: 5, initialInterval: '500ms' },
});

const { startKernel, shutdownKernel } = proxyActivities<MillraceActivities>({
  startToCloseTimeout: '2 minutes',
  retry: { maximumAttempts: 3, initialInterval: '1s' },
});

/**
 * Every attempt of a cell is exactly-once (the outcome registry and the record), so a
 * cell can afford patience with the infrastructure: a store or Jupyter Server that is
 * away for a couple of minutes delays the run instead of failing it. Failures of the
 * cell itself are not retried (they are non-retryable or results, not errors).
 */
const CELL_RETRY = { maximumAttempts: 10, initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s' } as const;

const CELL_ACTIVITY = {
  // A cell may run for hours; liveness comes from heartbeats (every 2 s), not this bound.
  startToCloseTimeout: '7 days',
  // A dead worker is noticed this long after its last heartbeat; the retry re-attaches.
  heartbeatTimeout: '10 seconds',
  retry: CELL_RETRY,
  // On cancel, wait for the cell to interrupt its kernel and save the record before finalizing.
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
} as const;

const { executeCell } = proxyActivities<MillraceActivities>(CELL_ACTIVITY);

/**
 * Short cells run as local activities: no Temporal round trip per cell, the result
 * recorded as a marker. Every attempt is exactly-once through the kernel's outcome
 * registry (activities/execute-cell.ts), which is why only kernels that keep one get
 * this path. A cell still running after CELL_HAND_OFF_MS continues as a regular
 * activity, with heartbeats, visible and cancellable like any other.
 */
const CELL_HAND_OFF_MS = 2_000;
const CELL_LOCAL_ACTIVITY = {
  startToCloseTimeout: '1 minute',
  retry: CELL_RETRY,
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
} as const;
const { executeCell: executeCellLocally } = proxyLocalActivities<MillraceActivities>(CELL_LOCAL_ACTIVITY);

/**
 * Local activities keep one workflow task open, and queries (the live progress view) and
 * cancel requests wait for it to end. About once a second, a no-op activity ends it: the
 * server dispatches it eagerly with the task's completion, so the slice costs one round
 * trip (a 1 ms timer waited about half a second for the dev server's timer queue).
 */
const WORKFLOW_TASK_SLICE_MS = 1_000;
const SLICE_ACTIVITY_PATCH = 'slice-with-activity';
const { sliceWorkflowTask } = proxyActivities<MillraceActivities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '100ms', maximumInterval: '5s' },
});
/**
 * Local cells add one small marker each, so the server may never suggest continuing as
 * new; past this many cells the run continues as new anyway, which bounds what a worker
 * replays after its cache lost the run.
 */
const MAX_CELLS_PER_EXECUTION = 1_000;
/** What a local cell costs beyond its own duration, for slicing workflow tasks. */
const LOCAL_CELL_OVERHEAD_MS = 10;

// Replaying runs earlier cells' side effects again: never more than once per restart.
const { replayCells } = proxyActivities<MillraceActivities>({ ...CELL_ACTIVITY, retry: { maximumAttempts: 1 } });

// Record changes of a repair: each saves one revision and is safe to retry.
const { prepareRetry, skipCell, cellOutputExcerpt } = proxyActivities<MillraceActivities>({
  startToCloseTimeout: '2 minutes',
  retry: { maximumAttempts: 5, initialInterval: '500ms' },
});

// Scratch code is a person's, sent at most once; liveness from heartbeats, like a cell's.
const SCRATCH_ACTIVITY = { ...CELL_ACTIVITY, retry: { maximumAttempts: 1 } } as const;
const { execScratch } = proxyActivities<MillraceActivities>(SCRATCH_ACTIVITY);
// Loading a checkpoint again into the same fresh kernel is harmless: retried like a cell.
const { restoreCheckpoint } = proxyActivities<MillraceActivities>(CELL_ACTIVITY);

/** How often one run may replace a dead kernel under --on-kernel-loss restart. */
const MAX_KERNEL_RESTARTS = 3;

function isKernelLoss(err: unknown): boolean {
  return err instanceof ActivityFailure && err.cause instanceof ApplicationFailure && err.cause.type === 'KernelLost';
}

/**
 * The record revision the workflow sends next: the one the activity reports it saved.
 * Results recorded before activities reported it have none (histories from before issue
 * 12): a run that was in flight then goes on counting the revisions each such activity is
 * known to save (`saves`) on from the one it was sent, as the workflow used to.
 */
function savedRevision(result: SavedRevision | undefined, sent: number, saves: number): number {
  return result?.revision ?? sent + saves;
}

/** `sys.exit()` and `sys.exit(0)` end a papermill run successfully, skipping later cells. */
function isCleanSysExit(result: CellResult): boolean {
  return result.ename === 'SystemExit' && (result.evalue === '' || result.evalue === '0');
}

/** A cell the run goes on after: it succeeded, or raised where it was tagged to. */
function cellPassed(result: CellResult, cell: CellPlan): boolean {
  return result.status === 'ok' || (result.status === 'error' && cell.raisesException);
}

/** What a person asked a paused run to do, through one of the repair Updates. */
type Repair = { kind: 'retry'; source?: string } | { kind: 'exec'; code: string; timeoutS?: number } | { kind: 'skip' } | { kind: 'abort' };

interface RepairRequest {
  repair: Repair;
  answer(result: RepairExecution | RepairDecision): void;
  refuse(reason: string): void;
}

/** How a pause ended: the cell now passes, was skipped, or the run ends failed. */
type PauseOutcome =
  | { kind: 'passed'; result: FinishedCellResult }
  | { kind: 'skipped' }
  | { kind: 'ended'; failure: CellFailureDetails; expired: boolean };

/** `86400` -> `24h`, `90` -> `1m30s`: the pause timeout as the user wrote it. */
function durationText(seconds: number): string {
  const parts: string[] = [];
  let rest = Math.round(seconds);
  for (const [unit, size] of [['d', 86_400], ['h', 3_600], ['m', 60], ['s', 1]] as const) {
    if (rest >= size || (unit === 's' && parts.length === 0)) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  return parts.join('');
}

/**
 * Where a run that continued as new picks up: history stays bounded for notebooks of
 * thousands of cells, while the kernel, the record and the progress carry on unchanged.
 */
export interface RunContinuation {
  plan: PrepareResult;
  /** Position in plan.codeCells of the next cell to execute. */
  position: number;
  revision: number;
  kernel: KernelHandle;
  languageInfo: Record<string, unknown> | null;
  executedCells: number;
  /** Durations of the cells already executed, for the progress query. */
  durationsMs: number[];
  /** When the run's --timeout runs out (workflow time, epoch ms). */
  deadline: number | undefined;
  kernelRestarts: number;
  /** Cells skipped while paused (`millrace skip`). */
  skippedCells?: number[];
}

export async function notebookRun(rawInput: RunInput, continuation?: RunContinuation): Promise<RunResult> {
  const parsed = runInputSchema.safeParse(rawInput);
  if (!parsed.success) {
    throw ApplicationFailure.nonRetryable(`invalid run input: ${parsed.error.issues[0]?.message}`, 'InvalidInput');
  }
  // A schedule's input is the same for all its runs: this run's id and output come from its workflow id.
  const input = scheduledRunInput(parsed.data, workflowInfo().workflowId, scheduledStartTime(workflowInfo()));
  const progress: RunProgress = { runId: input.runId, output: input.output, phase: 'preparing', cells: [] };
  setHandler(progressQuery, () => progress);

  /** A repair an Update asked for, until the paused run has acted on it and answered. */
  let repairRequest: RepairRequest | undefined;
  const requestRepair = <R extends RepairExecution | RepairDecision>(repair: Repair): Promise<R> =>
    new Promise<R>((resolve, reject) => {
      repairRequest = {
        repair,
        answer: (result) => resolve(result as R),
        refuse: (reason) => reject(ApplicationFailure.nonRetryable(reason, 'RunEnding')),
      };
    });
  // Validators refuse before anything is written to history, with a message for the person.
  const mustBePaused = (): void => {
    if (input.onFailure !== 'pause') {
      throw ApplicationFailure.nonRetryable(`run ${input.runId} was not started with --on-failure pause: it cannot be repaired in place`, 'NotPaused');
    }
    if (!progress.paused) throw ApplicationFailure.nonRetryable(`run ${input.runId} is not paused (it is ${progress.phase})`, 'NotPaused');
    if (repairRequest) {
      throw ApplicationFailure.nonRetryable(`run ${input.runId} is busy with a ${repairRequest.repair.kind}: wait for its answer`, 'RepairBusy');
    }
  };
  const validArgs = <T>(schema: z.ZodType<T>, args: unknown): T => {
    const parsed = schema.safeParse(args ?? {});
    if (!parsed.success) throw ApplicationFailure.nonRetryable(parsed.error.issues[0]?.message ?? 'invalid arguments', 'BadRepair');
    return parsed.data;
  };
  setHandler(retryUpdate, (args) => requestRepair<RepairExecution>({ kind: 'retry', ...validArgs(retryArgsSchema, args) }), {
    validator: (args) => {
      mustBePaused();
      validArgs(retryArgsSchema, args);
    },
  });
  setHandler(execUpdate, (args) => requestRepair<RepairExecution>({ kind: 'exec', ...validArgs(execArgsSchema, args) }), {
    validator: (args) => {
      mustBePaused();
      validArgs(execArgsSchema, args);
    },
  });
  setHandler(skipUpdate, () => requestRepair<RepairDecision>({ kind: 'skip' }), { validator: mustBePaused });
  setHandler(abortUpdate, () => requestRepair<RepairDecision>({ kind: 'abort' }), { validator: mustBePaused });

  const plan = continuation?.plan ?? (await prepareRun(input));
  const startAt = continuation?.position ?? plan.startAt;
  progress.cells = plan.codeCells.map((c, position) => ({
    index: c.index,
    summary: c.summary,
    status: position < startAt ? 'completed' : 'pending',
    ...(position < startAt ? { durationMs: continuation?.durationsMs[position] } : {}),
  }));
  let revision = continuation?.revision ?? 0;
  let kernel: KernelHandle | undefined = continuation?.kernel;
  let languageInfo: Record<string, unknown> | null = continuation?.languageInfo ?? null;
  let failure: CellFailureDetails | undefined;
  let executedCells = continuation?.executedCells ?? 0;
  let stoppedBySysExit = false;
  /** A paused run that nobody repaired in time (fails as PauseExpired). */
  let pauseExpired = false;
  let finalized = false;
  let handedOver = false;
  let kernelRestarts = continuation?.kernelRestarts ?? 0;
  const skippedCells: number[] = [...(continuation?.skippedCells ?? [])];
  /** The cell in flight, blamed in the record when its activity fails (e.g. kernel lost). */
  let current: number | undefined;

  const finish = async (status: RunStatus, failedCell?: number): Promise<void> => {
    progress.phase = 'finalizing';
    await finalizeRun({ runId: input.runId, output: input.output, status, failedCell, languageInfo });
    finalized = true;
    progress.phase = 'done';
  };

  // The run's time budget spans continue-as-new; workflow time is deterministic.
  const deadline = continuation?.deadline ?? (input.runTimeoutS ? Date.now() + input.runTimeoutS * 1000 : undefined);
  const cellsScope = new CancellationScope();
  let timedOut = false;
  if (deadline !== undefined) {
    sleep(Math.max(0, deadline - Date.now())).then(
      () => {
        timedOut = true;
        cellsScope.cancel();
      },
      () => undefined, // the run was cancelled or ended first
    );
  }

  /** --on-kernel-loss restart: a fresh kernel, the cells before `position` replayed in it. */
  const restartKernel = async (lost: KernelHandle, position: number): Promise<KernelHandle> => {
    kernelRestarts += 1;
    // Gone before the new kernel starts in the run's session (see the activity).
    await shutdownKernel(lost, { wait: true });
    ({ kernel, languageInfo } = await startKernel({ runId: input.runId, kernelName: plan.kernelName }));
    const replay = plan.codeCells.slice(0, position).map((c) => c.index);
    const replayed = await replayCells({ runId: input.runId, output: input.output, kernel: kernel!, cellIndices: replay, lostAtCell: plan.codeCells[position]!.index });
    // The failed attempt saved the cell as failed (one revision); the replay saved another.
    revision = savedRevision(replayed, revision, 2);
    return kernel!;
  };

  let sliceMs = 0;
  const pauseTimeoutS = input.pauseTimeoutS ?? PAUSE_TIMEOUT_S_DEFAULT;

  const enterPause = (cell: number, error: { ename: string; evalue: string }): void => {
    const now = Date.now();
    const paused: PauseInfo = { cell, ...error, since: new Date(now).toISOString(), until: new Date(now + pauseTimeoutS * 1000).toISOString() };
    progress.phase = 'paused';
    progress.paused = paused;
    // The memo is what `millrace runs` and `show` see without a worker: nothing to register.
    upsertMemo({ paused });
  };

  const leavePause = (): void => {
    if (!progress.paused) return;
    progress.phase = 'executing';
    progress.paused = undefined;
    upsertMemo({ paused: null });
  };

  /**
   * --on-failure pause: the failed cell's run keeps its kernel and waits for a person's
   * repair (the Updates retry, exec, skip, abort), one at a time and never beside a cell,
   * or for the pause timeout, which each repair restarts.
   */
  const pauseForRepair = async (position: number, failed: CellResult): Promise<PauseOutcome> => {
    const cell = plan.codeCells[position]!;
    const cellProgress = progress.cells[position]!;
    let error = { ename: failed.ename ?? 'Error', evalue: failed.evalue ?? '' };
    const end = (note: string, expired: boolean): PauseOutcome => ({
      kind: 'ended',
      failure: { runId: input.runId, cellIndex: cell.index, ...error, output: input.output, note },
      expired,
    });
    current = cell.index;
    try {
      for (;;) {
        enterPause(cell.index, error);
        if (!(await condition(() => repairRequest !== undefined, pauseTimeoutS * 1000))) {
          return end(`paused for ${durationText(pauseTimeoutS)} without repair`, true);
        }
        const { repair, answer } = repairRequest!;
        if (repair.kind === 'abort') {
          answer({ runId: input.runId, cell: cell.index, action: 'aborted' });
          return end('aborted while paused', false);
        }
        if (repair.kind === 'skip') {
          const skipped = await skipCell({ output: input.output, cellIndex: cell.index, revision });
          revision = savedRevision(skipped, revision, 1);
          cellProgress.status = 'skipped';
          answer({ runId: input.runId, cell: cell.index, action: 'skipped' });
          return { kind: 'skipped' };
        }
        if (repair.kind === 'exec') {
          const timeoutS = repair.timeoutS ?? SCRATCH_TIMEOUT_S_DEFAULT;
          const scratch = { runId: input.runId, output: input.output, kernel: kernel!, cellIndex: cell.index, revision, code: repair.code, timeoutS };
          const { revision: saved, ...result } = await execScratch.executeWithOptions({ ...SCRATCH_ACTIVITY, summary: `scratch code at cell ${cell.index}` }, [scratch]);
          revision = savedRevision({ revision: saved }, revision, 1);
          answer(result);
          repairRequest = undefined;
          continue;
        }
        // retry: a new record revision, so a new message id: the cell is sent once more.
        leavePause();
        const retried = await prepareRetry({ output: input.output, cellIndex: cell.index, revision, source: repair.source });
        revision = savedRevision(retried, revision, 1);
        const { summary } = retried;
        cellProgress.summary = summary;
        cellProgress.status = 'running';
        const again = await runCell(input, kernel!, { ...cell, summary }, revision);
        revision = savedRevision(again, revision, 1);
        cellProgress.durationMs = again.durationMs;
        const goesOn = cellPassed(again, cell) || isCleanSysExit(again);
        const excerpt = await cellOutputExcerpt({ output: input.output, cellIndex: cell.index });
        answer({
          runId: input.runId,
          cell: cell.index,
          status: again.status,
          ...(again.ename !== undefined ? { ename: again.ename, evalue: again.evalue ?? '' } : {}),
          output: excerpt,
          paused: !goesOn,
        });
        if (goesOn) return { kind: 'passed', result: again };
        cellProgress.status = 'failed';
        error = { ename: again.ename ?? 'Error', evalue: again.evalue ?? '' };
        repairRequest = undefined;
      }
    } catch (err) {
      // Cancelled, timed out, or the kernel was lost during a repair: the run ends.
      repairRequest?.refuse(`run ${input.runId} is ending: ${err instanceof Error ? err.message : String(err)}`);
      throw err;
    } finally {
      repairRequest = undefined;
      leavePause();
    }
  };

  const executeCells = async (): Promise<void> => {
    for (let position = startAt; position < plan.codeCells.length; position++) {
      if (sliceMs >= WORKFLOW_TASK_SLICE_MS) {
        sliceMs = 0;
        // Runs whose history already ended slices with the timer replay it (Temporal's patching).
        if (patched(SLICE_ACTIVITY_PATCH)) await sliceWorkflowTask();
        else await sleep(1);
      }
      const cell = plan.codeCells[position]!;
      const cellProgress = progress.cells[position]!;
      cellProgress.status = 'running';
      current = cell.index;
      let handle = kernel!;
      let result = await runCell(input, handle, cell, revision).catch((err: unknown) => {
        cellProgress.status = 'failed';
        throw err;
      }).catch(async (err: unknown) => {
        if (!(input.onKernelLoss === 'restart' && isKernelLoss(err) && kernelRestarts < MAX_KERNEL_RESTARTS)) throw err;
        handle = await restartKernel(handle, position);
        cellProgress.status = 'running';
        return runCell(input, handle, cell, revision);
      });
      current = undefined;
      revision = savedRevision(result, revision, 1);
      executedCells += 1;
      cellProgress.durationMs = result.durationMs;
      // A cell that was handed off to a regular activity already ended a workflow task.
      if (handle.outcomeRegistry) sliceMs = result.durationMs >= CELL_HAND_OFF_MS ? 0 : sliceMs + result.durationMs + LOCAL_CELL_OVERHEAD_MS;
      if (!cellPassed(result, cell) && !isCleanSysExit(result) && input.onFailure === 'pause') {
        cellProgress.status = 'failed';
        const repaired = await pauseForRepair(position, result);
        if (repaired.kind === 'ended') {
          failure = repaired.failure;
          pauseExpired = repaired.expired;
          return;
        }
        if (repaired.kind === 'skipped') {
          skippedCells.push(cell.index);
          continue;
        }
        result = repaired.result;
      }
      if (cellPassed(result, cell)) {
        cellProgress.status = 'completed';
        const cellsHere = position + 1 - startAt;
        if ((workflowInfo().continueAsNewSuggested || cellsHere >= MAX_CELLS_PER_EXECUTION) && position + 1 < plan.codeCells.length) {
          // A repair's answer is delivered before the hand-over.
          await condition(allHandlersFinished);
          handedOver = true;
          // The memo (notebook name, output location) lets `millrace runs` list the run.
          const next = makeContinueAsNewFunc<typeof notebookRun>({ memo: workflowInfo().memo });
          await next(input, {
            plan,
            position: position + 1,
            revision,
            kernel: handle,
            languageInfo,
            kernelRestarts,
            executedCells,
            durationsMs: progress.cells.slice(0, position + 1).map((c) => c.durationMs ?? 0),
            deadline,
            skippedCells,
          });
        }
        continue;
      }
      cellProgress.status = 'failed';
      if (isCleanSysExit(result)) {
        stoppedBySysExit = true;
        return;
      }
      failure = {
        runId: input.runId,
        cellIndex: cell.index,
        ename: result.ename ?? 'Error',
        evalue: result.evalue ?? '',
        output: input.output,
      };
      return;
    }
  };

  try {
    if (!kernel) {
      progress.phase = 'starting-kernel';
      ({ kernel, languageInfo } = await startKernel({ runId: input.runId, kernelName: plan.kernelName, checkpoint: input.checkpoint }));
      if (startAt > 0 && input.resume?.restore === 'checkpoint') {
        // Resuming from a checkpoint: load the namespace the earlier run saved; no earlier cell runs again.
        progress.phase = 'restoring';
        const { checkpoint } = input.resume;
        await restoreCheckpoint({ runId: input.runId, kernel, checkpoint, parameters: reassignedParameters(input) });
      } else if (startAt > 0) {
        // Resuming: rebuild the kernel state the carried-over cells built, by running them again.
        progress.phase = 'restoring';
        const replayed = plan.codeCells.slice(0, startAt).map((c) => c.index);
        await replayCells({ runId: input.runId, output: input.output, kernel, cellIndices: replayed });
      }
    }
    progress.phase = 'executing';
    try {
      await cellsScope.run(() => executeCells());
    } catch (err) {
      if (!(timedOut && isCancellation(err))) throw err;
      const evalue = `the run exceeded its ${input.runTimeoutS} s timeout`;
      failure = { runId: input.runId, cellIndex: current ?? -1, ename: 'RunTimeout', evalue, output: input.output };
    }
    // Finalize while the kernel is still up, as papermill does.
    await finish(failure ? 'failed' : 'completed', failure && failure.cellIndex >= 0 ? failure.cellIndex : undefined);
    await notifyRun(input, failure ? 'failed' : 'completed', failure);
  } catch (err) {
    if (!finalized && !handedOver) {
      const cancelled = isCancellation(err);
      await CancellationScope.nonCancellable(() => finish(cancelled ? 'cancelled' : 'failed', cancelled ? undefined : current));
      await CancellationScope.nonCancellable(() => notifyRun(input, cancelled ? 'cancelled' : 'failed', errorDetails(err, current)));
    }
    throw err;
  } finally {
    // The kernel outlives a continue-as-new: the next run of this workflow uses it.
    if (kernel && !handedOver) {
      const handle = kernel;
      // A kernel that cannot be shut down (its server is gone) must not replace the run's
      // own outcome; the orphan reaper shuts it down once the server is back.
      await CancellationScope.nonCancellable(() => shutdownKernel(handle)).catch((err: unknown) =>
        log.warn('could not shut the kernel down', { kernelId: handle.kernelId, error: String(err) }),
      );
    }
  }

  // Repair Updates are answered before the run ends.
  await condition(allHandlersFinished);
  if (failure) {
    if (failure.note) {
      throw ApplicationFailure.nonRetryable(
        `cell ${failure.cellIndex} failed: ${failure.ename}: ${failure.evalue} (${failure.note})`,
        pauseExpired ? 'PauseExpired' : 'CellFailed',
        failure,
      );
    }
    if (failure.ename === 'RunTimeout') {
      throw ApplicationFailure.nonRetryable(`run timed out at cell ${failure.cellIndex}: ${failure.evalue}`, 'RunTimeout', failure);
    }
    throw ApplicationFailure.nonRetryable(
      `cell ${failure.cellIndex} failed: ${failure.ename}: ${failure.evalue}`,
      'CellFailed',
      failure,
    );
  }
  return { runId: input.runId, status: 'completed', output: input.output, executedCells, stoppedBySysExit, skippedCells };
}

async function runCell(input: RunInput, kernel: KernelHandle, cell: CellPlan, revision: number): Promise<FinishedCellResult> {
  const summary = `cell ${cell.index}: ${cell.summary}`;
  const args: ExecuteCellInput = {
    runId: input.runId,
    output: input.output,
    kernel,
    cellIndex: cell.index,
    revision,
    timeoutS: cell.timeoutS ?? input.cellTimeoutS,
    idempotent: cell.idempotent,
    raisesException: cell.raisesException,
    ...(input.checkpoint ? { checkpoints: checkpointFolder(input) } : {}),
  };
  if (kernel.outcomeRegistry) {
    const quick = await executeCellLocally
      .executeWithOptions({ ...CELL_LOCAL_ACTIVITY, summary }, [{ ...args, handOffAfterMs: CELL_HAND_OFF_MS }])
      .catch((err: unknown) => {
        // A local activity's failure arrives unwrapped: give it a regular activity's
        // shape, so the workflow and its clients see one kind of cell failure.
        if (err instanceof ApplicationFailure) {
          const retryState = err.nonRetryable ? RetryState.NON_RETRYABLE_FAILURE : RetryState.MAXIMUM_ATTEMPTS_REACHED;
          throw new ActivityFailure('Activity task failed', 'executeCell', undefined, retryState, undefined, err);
        }
        throw err;
      });
    if (quick.status !== 'running') return quick as FinishedCellResult;
    return (await executeCell.executeWithOptions({ ...CELL_ACTIVITY, summary }, [{ ...args, attach: true }])) as FinishedCellResult;
  }
  return (await executeCell.executeWithOptions({ ...CELL_ACTIVITY, summary }, [args])) as FinishedCellResult;
}

const { notifyWebhook } = proxyActivities<MillraceActivities>({
  startToCloseTimeout: '30 seconds',
  // The run ends once the notification is delivered or given up: about a minute at worst.
  retry: { maximumAttempts: 5, initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '10s' },
});

type ParsedInput = ReturnType<typeof runInputSchema.parse>;

const SCHEDULED_START_TIME = defineSearchAttributeKey('TemporalScheduledStartTime', SearchAttributeType.DATETIME);

/** The nominal time of a run started by a schedule (a trigger's is the time it was triggered). */
function scheduledStartTime(info: WorkflowInfo): string | undefined {
  // The typed map needs the server's type metadata; the untyped one is the fallback.
  const raw = info.typedSearchAttributes.get(SCHEDULED_START_TIME) ?? info.searchAttributes?.['TemporalScheduledStartTime']?.[0];
  if (raw === undefined || raw === null) return undefined;
  const time = new Date(raw as string | Date);
  return Number.isNaN(time.getTime()) ? undefined : time.toISOString();
}

function errorDetails(err: unknown, cellIndex: number | undefined): Pick<CellFailureDetails, 'cellIndex' | 'ename' | 'evalue'> {
  const cause = err instanceof ActivityFailure && err.cause ? err.cause : err;
  const ename = cause instanceof ApplicationFailure ? (cause.type ?? 'Error') : cause instanceof Error ? cause.name : 'Error';
  return { cellIndex: cellIndex ?? -1, ename, evalue: cause instanceof Error ? cause.message : String(cause) };
}

/** --notify-on: POST the run's summary. A webhook that stays down never changes the run's outcome. */
async function notifyRun(input: ParsedInput, status: RunStatus, failure?: Pick<CellFailureDetails, 'cellIndex' | 'ename' | 'evalue'>): Promise<void> {
  const notify = input.notify;
  if (!notify || !{ always: true, success: status === 'completed', failure: status === 'failed' }[notify.on]) return;
  const notification: RunNotification = {
    run_id: input.runId,
    notebook: input.inputPath.split(/[\\/]/).pop() ?? input.inputPath,
    status,
    failed_cell: failure && failure.cellIndex >= 0 ? failure.cellIndex : null,
    error: failure && status !== 'cancelled' ? { ename: failure.ename, evalue: failure.evalue } : null,
    output: input.output,
    schedule: input.schedule?.name ?? null,
    scheduled_time: input.schedule?.nominalTime ?? null,
  };
  try {
    await notifyWebhook({ webhook: notify.webhook, notification });
  } catch (err) {
    log.warn('the run notification could not be delivered', { runId: input.runId, error: (err as Error).message });
  }
}
