/**
 * One notebook run: prepare the record, start a kernel, execute each code cell as its own
 * activity, finalize the record, and shut the kernel down whatever happened.
 *
 * The pieces: what the run knows in run-state.ts, the activities and their retry policies
 * in activity-options.ts, one cell in run-cell.ts, pauses and their repairs (--on-failure
 * pause) in repair.ts, the webhook in notify-run.ts, and every shape that enters history
 * in contracts.ts.
 */
import {
  ApplicationFailure,
  CancellationScope,
  allHandlersFinished,
  condition,
  defineQuery,
  isCancellation,
  log,
  makeContinueAsNewFunc,
  setHandler,
  sleep,
  upsertMemo,
  workflowInfo,
} from '@temporalio/workflow';
import {
  asActivityFailure,
  finalizeRun,
  finalizeRunLocally,
  prepareRun,
  prepareRunLocally,
  recordSavedLocally,
  replayCells,
  restoreCheckpoint,
  shutdownKernel,
  shutdownKernelLocally,
  sliceWorkflowTask,
  startKernel,
  CELL_HAND_OFF_MS,
} from './activity-options.js';
import {
  cellPassed,
  reassignedParameters,
  runInputSchema,
  scheduledRunInput,
  type CellFailureDetails,
  type CellResult,
  type FinishedCellResult,
  type ParsedRunInput,
  type KernelPlacement,
  type PrepareResult,
  type RunContinuation,
  type RunInput,
  type RunProgress,
  type RunResult,
  type RunStatus,
} from './contracts.js';
import { errorDetails, notifyRun } from './notify-run.js';
import { usesPatch } from './patches.js';
import { Repairs } from './repair.js';
import { handOffCell, isCleanSysExit, isKernelLoss, runCell, runCellAhead } from './run-cell.js';
import { RunState } from './run-state.js';
import { scheduledStartTime } from './scheduled-start.js';

// Clients query it by its name, 'progress' (cli/progress.ts, the inspector).
const progressQuery = defineQuery<RunProgress>('progress');

/**
 * Local activities keep one workflow task open, and queries (the live progress view) and
 * cancel requests wait for it to end. Every 2 s of cells, a no-op activity ends it: the
 * server dispatches it eagerly with the task's completion, so the slice costs one round
 * trip (a 1 ms timer waited about half a second for the dev server's timer queue). Each
 * slice costs some 10 ms of CPU across the worker and Temporal; runs recorded before
 * SLICE_EVERY_2S_PATCH sliced every second and replay so.
 */
const WORKFLOW_TASK_SLICE_MS = 2_000;
const WORKFLOW_TASK_SLICE_BEFORE_MS = 1_000;
const SLICE_ACTIVITY_PATCH = 'slice-with-activity';
const SLICE_EVERY_2S_PATCH = 'slice-every-2s';
const SCHEDULED_PARAMETERS_PATCH = 'scheduled-run-parameters-memo';
/** Runs recorded before it shut their kernel down with a regular activity, and replay so. */
const SHUTDOWN_LOCALLY_PATCH = 'shutdown-kernel-locally';
/** Runs recorded before it finalized with a regular activity, and replay so. */
const FINALIZE_LOCALLY_PATCH = 'finalize-locally';
/** Runs recorded before it prepared with a regular activity, and replay so. */
const PREPARE_LOCALLY_PATCH = 'prepare-locally';
/**
 * Local cells that pass save the record write-behind: the write overlaps the SDK's way
 * from one local activity to the next, and recordSaved waits for it before any other step.
 */
const RECORD_WRITE_BEHIND_PATCH = 'record-write-behind';
/**
 * Local cells add one small marker each, so the server may never suggest continuing as
 * new; past this many cells the run continues as new anyway, which bounds what a worker
 * replays after its cache lost the run.
 */
const MAX_CELLS_PER_EXECUTION = 1_000;
/**
 * Local cells of runs recorded since it are pipelined: the next cell's local activity
 * starts while a cell runs, and is sent in the worker as soon as that cell passed
 * (activities/cell-chain.ts), so the SDK's way from one local activity to the next
 * overlaps a cell. Never across a slice, a continue-as-new, a hand-off, a pause or a
 * kernel restart: the cell started ahead ends, not sent, before any of them.
 */
const PIPELINED_CELLS_PATCH = 'pipelined-local-cells';
/** What a local cell costs beyond its own duration, for slicing workflow tasks. */
const LOCAL_CELL_OVERHEAD_MS = 10;

/** How often one run may replace a dead kernel under --on-kernel-loss restart. */
const MAX_KERNEL_RESTARTS = 3;

/** One execution of the workflow: its input, plan and state, and the repairs of its pauses. */
interface Run {
  input: ParsedRunInput;
  plan: PrepareResult;
  state: RunState;
  repairs: Repairs;
  /** When the run's --timeout runs out (workflow time, epoch ms). */
  deadline: number | undefined;
}

export async function notebookRun(rawInput: RunInput, continuation?: RunContinuation): Promise<RunResult> {
  const input = parseInput(rawInput);
  const state = new RunState(input, continuation);
  setHandler(progressQuery, () => state.progress);
  const repairs = new Repairs(input, state);

  const plan = continuation?.plan ?? (await prepare(input));
  // A schedule's memo is fixed for all its runs: each run adds its own parameters (nominal time too) for `millrace runs`.
  if (!continuation && plan.parameters && usesPatch(SCHEDULED_PARAMETERS_PATCH)) upsertMemo({ parameters: plan.parameters });
  const startAt = continuation?.position ?? plan.startAt;
  state.showPlan(plan, startAt);

  // The run's time budget spans continue-as-new; workflow time is deterministic.
  const deadline = continuation?.deadline ?? (input.runTimeoutS ? Date.now() + input.runTimeoutS * 1000 : undefined);
  const run: Run = { input, plan, state, repairs, deadline };
  const cellsScope = new CancellationScope();
  if (deadline !== undefined) {
    sleep(Math.max(0, deadline - Date.now())).then(
      () => {
        state.timedOut = true;
        cellsScope.cancel();
      },
      () => undefined, // the run was cancelled or ended first
    );
  }

  try {
    if (!state.kernel) await startRunKernel(run, startAt);
    state.progress.phase = 'executing';
    try {
      await cellsScope.run(() => executeCells(run, startAt));
    } catch (err) {
      if (!(state.timedOut && isCancellation(err))) throw err;
      const evalue = `the run exceeded its ${input.runTimeoutS} s timeout`;
      state.failure = { runId: input.runId, cellIndex: state.cellInFlight ?? -1, ename: 'RunTimeout', evalue, output: input.output };
    }
    const { failure } = state;
    // Finalize while the kernel is still up, as papermill does.
    await finish(run, failure ? 'failed' : 'completed', failure && failure.cellIndex >= 0 ? failure.cellIndex : undefined);
    await notifyRun(input, failure ? 'failed' : 'completed', failure);
  } catch (err) {
    if (!state.finalized && !state.handedOver) {
      const cancelled = isCancellation(err);
      const details = errorDetails(err, state.cellInFlight);
      // The record says why (`show` prints it): the only place a failure that is no cell's is kept.
      await CancellationScope.nonCancellable(() => finish(run, cancelled ? 'cancelled' : 'failed', cancelled ? undefined : state.cellInFlight, cancelled ? undefined : details.evalue));
      await CancellationScope.nonCancellable(() => notifyRun(input, cancelled ? 'cancelled' : 'failed', details));
    }
    throw err;
  } finally {
    // The kernel outlives a continue-as-new: the next run of this workflow uses it.
    if (state.kernel && !state.handedOver) {
      const handle = state.kernel;
      const shutdown = usesPatch(SHUTDOWN_LOCALLY_PATCH) ? shutdownKernelLocally : shutdownKernel;
      // A kernel that cannot be shut down (its server is gone) must not replace the run's
      // own outcome; the orphan reaper shuts it down once the server is back.
      await CancellationScope.nonCancellable(() => shutdown(handle)).catch((err: unknown) =>
        log.warn('could not shut the kernel down', { kernelId: handle.kernelId, error: String(err) }),
      );
    }
  }

  // Repair Updates are answered before the run ends.
  await condition(allHandlersFinished);
  if (state.failure) throw runFailure(state.failure, state.pauseExpired);
  return state.result();
}

/** The run's record written and its plan made: a local activity since PREPARE_LOCALLY_PATCH. */
function prepare(input: ParsedRunInput): Promise<PrepareResult> {
  if (usesPatch(PREPARE_LOCALLY_PATCH)) return prepareRunLocally(input).catch(asActivityFailure('prepareRun'));
  return prepareRun(input);
}

/** The input, validated; a scheduled run's id and output come from its workflow id. */
function parseInput(rawInput: RunInput): ParsedRunInput {
  const parsed = runInputSchema.safeParse(rawInput);
  if (!parsed.success) {
    throw ApplicationFailure.nonRetryable(`invalid run input: ${parsed.error.issues[0]?.message}`, 'InvalidInput');
  }
  // A schedule's input is the same for all its runs: this run's id and output come from its workflow id.
  return scheduledRunInput(parsed.data, workflowInfo().workflowId, scheduledStartTime(workflowInfo()));
}

/** A container kernel's placement for startKernel; nothing for a process kernel (and for histories from before placements). */
function placementOf(plan: PrepareResult): { placement?: KernelPlacement } {
  return plan.placement ? { placement: plan.placement } : {};
}

/** The run's kernel: started, and when resuming, given the state the carried-over cells built. */
async function startRunKernel({ input, plan, state }: Run, startAt: number): Promise<void> {
  state.progress.phase = 'starting-kernel';
  ({ kernel: state.kernel, languageInfo: state.languageInfo, environment: state.kernelEnvironment } = await startKernel({ runId: input.runId, kernelName: plan.kernelName, checkpoint: input.checkpoint, cwd: input.cwd, ...startTimeout(input), ...placementOf(plan) }));
  if (startAt > 0 && input.resume?.restore === 'checkpoint') {
    // Resuming from a checkpoint: load the namespace the earlier run saved; no earlier cell runs again.
    state.progress.phase = 'restoring';
    const { checkpoint } = input.resume;
    await restoreCheckpoint({ runId: input.runId, kernel: state.kernel, checkpoint, parameters: reassignedParameters(input) });
  } else if (startAt > 0) {
    // Resuming: rebuild the kernel state the carried-over cells built, by running them again.
    state.progress.phase = 'restoring';
    const replayed = plan.codeCells.slice(0, startAt).map((c) => c.index);
    await replayCells({ runId: input.runId, output: input.output, kernel: state.kernel, cellIndices: replayed });
  }
}

/** --start-timeout, passed on only when set: older runs' activity inputs stay as they were. */
function startTimeout(input: ParsedRunInput): { startTimeoutS?: number } {
  return input.startTimeoutS === undefined ? {} : { startTimeoutS: input.startTimeoutS };
}

/** Local cells' record revisions saved write-behind, waited for before any other step of the run. */
class WriteBehind {
  private unsaved = false;

  constructor(
    readonly on: boolean,
    private readonly run: Run,
  ) {}

  /** Only a cell that passed saves write-behind; one that did not waited for every earlier write first. */
  took(result: FinishedCellResult): void {
    this.unsaved = this.on && result.status === 'ok';
  }

  async saved(): Promise<void> {
    if (!this.unsaved) return;
    this.unsaved = false;
    await recordSavedLocally({ output: this.run.input.output, revision: this.run.state.revision });
  }
}

/** Executes the plan's cells from `startAt` until the run ends, fails, pauses for good, or continues as new. */
async function executeCells(run: Run, startAt: number): Promise<void> {
  // Runs recorded before write-behind (or pipelining) replay without it (Temporal's patching).
  const writeBehind = new WriteBehind(run.state.kernel!.outcomeRegistry === true && usesPatch(RECORD_WRITE_BEHIND_PATCH), run);
  const pipelined = writeBehind.on && usesPatch(PIPELINED_CELLS_PATCH);
  await executeCellsFrom(run, startAt, writeBehind, pipelined);
  await writeBehind.saved();
}

/**
 * The next cell's local activity, started while the cell before it runs, and the revision it
 * was started at: `not-sent` when that one did not pass in the worker, `running` when it must
 * be handed off (the loop does both, in cell order: see runCellAhead).
 */
interface CellAhead {
  local: Promise<CellResult>;
  revision: number;
}

/** Waits for a cell started ahead whose result the run will not use (it cannot have been sent). */
async function settle(ahead: CellAhead | undefined): Promise<void> {
  if (ahead) await ahead.local.catch(() => undefined);
}

async function executeCellsFrom(run: Run, startAt: number, writeBehind: WriteBehind, pipelined: boolean): Promise<void> {
  const { input, plan, state } = run;
  /** Time spent in local cells since a workflow task last ended. */
  let sliceMs = 0;
  let sliceEveryMs: number | undefined;
  let ahead: CellAhead | undefined;
  try {
    for (let position = startAt; position < plan.codeCells.length; position++) {
      // Asked at the first slice, where runs recorded before the patch find no marker. A
      // slice waits for a cell started ahead (none is started ahead once one is due).
      if (!ahead && sliceMs >= WORKFLOW_TASK_SLICE_BEFORE_MS && sliceEveryMs === undefined) {
        sliceEveryMs = usesPatch(SLICE_EVERY_2S_PATCH) ? WORKFLOW_TASK_SLICE_MS : WORKFLOW_TASK_SLICE_BEFORE_MS;
      }
      if (!ahead && sliceEveryMs !== undefined && sliceMs >= sliceEveryMs) {
        sliceMs = 0;
        await writeBehind.saved();
        // Runs whose history already ended slices with the timer replay it (Temporal's patching).
        if (usesPatch(SLICE_ACTIVITY_PATCH)) await sliceWorkflowTask();
        else await sleep(1);
      }
      const cell = plan.codeCells[position]!;
      const cellProgress = state.progress.cells[position]!;
      cellProgress.status = 'running';
      state.cellInFlight = cell.index;
      const started = ahead;
      const pending = started?.local ?? runCell(input, state.kernel!, cell, state.revision, writeBehind.on);
      ahead = undefined;
      const nextCell = plan.codeCells[position + 1];
      if (pipelined && nextCell && !sliceDue(sliceMs, sliceEveryMs) && !continuesAsNewAfter(position, startAt)) {
        // At the revision this cell saves when it passes.
        ahead = { local: runCellAhead(input, state.kernel!, nextCell, state.revision + 1), revision: state.revision + 1 };
      }
      // try/catch around the await, not .catch: each promise workflow code makes costs a
      // captured stack trace in the SDK's promise hook, and this runs once per cell.
      let result: FinishedCellResult;
      try {
        const outcome = await pending;
        // A cell started ahead and not sent (the one before had not passed in that worker) runs
        // now; one that ran long is handed off now, after the next cell was started ahead.
        if (outcome.status === 'not-sent') result = await runCell(input, state.kernel!, cell, state.revision, writeBehind.on);
        else if (outcome.status === 'running') result = await handOffCell(input, state.kernel!, cell, started!.revision);
        else result = outcome as FinishedCellResult;
      } catch (err) {
        await settle(ahead);
        ahead = undefined;
        result = await afterCellError(run, position, writeBehind.on, err);
      }
      state.cellInFlight = undefined;
      state.tookRevision(result, 1);
      writeBehind.took(result);
      state.executedCells += 1;
      cellProgress.durationMs = result.durationMs;
      // A cell that was handed off to a regular activity already ended a workflow task.
      if (state.kernel!.outcomeRegistry) sliceMs = result.durationMs >= CELL_HAND_OFF_MS ? 0 : sliceMs + result.durationMs + LOCAL_CELL_OVERHEAD_MS;
      if (!cellPassed(result, cell.raisesException) && !isCleanSysExit(result) && input.onFailure === 'pause') {
        cellProgress.status = 'failed';
        await settle(ahead);
        ahead = undefined;
        const repaired = await run.repairs.pauseUntilRepaired(cell, cellProgress, result);
        if (repaired.kind === 'ended') {
          state.failure = repaired.failure;
          state.pauseExpired = repaired.expired;
          return;
        }
        if (repaired.kind === 'skipped') {
          state.skippedCells.push(cell.index);
          continue;
        }
        result = repaired.result;
      }
      if (cellPassed(result, cell.raisesException)) {
        cellProgress.status = 'completed';
        // Not with a cell started ahead: the suggestion came after it started; the run continues as new after it.
        if (!ahead && continuesAsNewAfter(position, startAt) && position + 1 < plan.codeCells.length) {
          await writeBehind.saved();
          await continueAsNew(run, position + 1);
        }
        continue;
      }
      cellProgress.status = 'failed';
      if (isCleanSysExit(result)) {
        state.stoppedBySysExit = true;
        return;
      }
      state.failure = { runId: input.runId, cellIndex: cell.index, ename: result.ename ?? 'Error', evalue: result.evalue ?? '', output: input.output };
      return;
    }
  } finally {
    // A cell after one that did not pass was not sent; its activity ends before anything else runs.
    await settle(ahead);
  }
}

/** A slice is due before the next cell (a cell started ahead would hold the workflow task open). */
function sliceDue(sliceMs: number, sliceEveryMs: number | undefined): boolean {
  return sliceMs >= (sliceEveryMs ?? WORKFLOW_TASK_SLICE_BEFORE_MS);
}

/** The run continues as new after the cell at `position` passes (bounded history, or the server suggests it). */
function continuesAsNewAfter(position: number, startAt: number): boolean {
  return position + 1 - startAt >= MAX_CELLS_PER_EXECUTION || workflowInfo().continueAsNewSuggested;
}

/**
 * A cell whose activity failed. Under --on-kernel-loss restart, a kernel that died during
 * the cell is replaced (the earlier cells replayed in the new one) and the cell runs again
 * there; any other failure is the run's.
 */
async function afterCellError(run: Run, position: number, writeBehind: boolean, err: unknown): Promise<FinishedCellResult> {
  const { input, plan, state } = run;
  const cell = plan.codeCells[position]!;
  const cellProgress = state.progress.cells[position]!;
  cellProgress.status = 'failed';
  if (!(input.onKernelLoss === 'restart' && isKernelLoss(err) && state.kernelRestarts < MAX_KERNEL_RESTARTS)) throw err;
  await restartKernel(run, position);
  cellProgress.status = 'running';
  return runCell(input, state.kernel!, cell, state.revision, writeBehind);
}

/** --on-kernel-loss restart: a fresh kernel, the cells before `position` replayed in it. */
async function restartKernel({ input, plan, state }: Run, position: number): Promise<void> {
  state.kernelRestarts += 1;
  // Gone before the new kernel starts in the run's session (see the activity).
  await shutdownKernel(state.kernel!, { wait: true });
  ({ kernel: state.kernel, languageInfo: state.languageInfo, environment: state.kernelEnvironment } = await startKernel({ runId: input.runId, kernelName: plan.kernelName, cwd: input.cwd, ...startTimeout(input), ...placementOf(plan) }));
  const replay = plan.codeCells.slice(0, position).map((c) => c.index);
  const replayed = await replayCells({ runId: input.runId, output: input.output, kernel: state.kernel, cellIndices: replay, lostAtCell: plan.codeCells[position]!.index });
  // The failed attempt saved the cell as failed (one revision); the replay saved another.
  state.tookRevision(replayed, 2);
}

/** Hands the run over to a new execution of this workflow, with the same kernel and record. */
async function continueAsNew({ input, plan, state, deadline }: Run, position: number): Promise<never> {
  // A repair's answer is delivered before the hand-over.
  await condition(allHandlersFinished);
  state.handedOver = true;
  // The memo (notebook name, output location) lets `millrace runs` list the run.
  const next = makeContinueAsNewFunc<typeof notebookRun>({ memo: workflowInfo().memo });
  return next(input, state.continuation(plan, position, deadline));
}

async function finish({ input, state }: Run, status: RunStatus, failedCell?: number, reason?: string): Promise<void> {
  state.progress.phase = 'finalizing';
  const request = { runId: input.runId, output: input.output, status, failedCell, languageInfo: state.languageInfo, ...(reason ? { reason } : {}), ...(state.kernelEnvironment ? { kernelEnvironment: state.kernelEnvironment } : {}) };
  if (usesPatch(FINALIZE_LOCALLY_PATCH)) await finalizeRunLocally(request).catch(asActivityFailure('finalizeRun'));
  else await finalizeRun(request);
  state.finalized = true;
  state.progress.phase = 'done';
}

/** How a failed run ends: the workflow's failure, with the cell's details for clients. */
function runFailure(failure: CellFailureDetails, pauseExpired: boolean): ApplicationFailure {
  if (failure.note) {
    return ApplicationFailure.nonRetryable(
      `cell ${failure.cellIndex} failed: ${failure.ename}: ${failure.evalue} (${failure.note})`,
      pauseExpired ? 'PauseExpired' : 'CellFailed',
      failure,
    );
  }
  if (failure.ename === 'RunTimeout') {
    return ApplicationFailure.nonRetryable(`run timed out at cell ${failure.cellIndex}: ${failure.evalue}`, 'RunTimeout', failure);
  }
  return ApplicationFailure.nonRetryable(`cell ${failure.cellIndex} failed: ${failure.ename}: ${failure.evalue}`, 'CellFailed', failure);
}
