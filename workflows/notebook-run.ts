/**
 * One notebook run: prepare the record, start a kernel, execute each code cell as its own
 * activity, finalize the record, and shut the kernel down whatever happened.
 */
import {
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  defineQuery,
  isCancellation,
  proxyActivities,
  setHandler,
  sleep,
  makeContinueAsNewFunc,
  workflowInfo,
  log,
  type WorkflowInfo,
} from '@temporalio/workflow';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import type { MillraceActivities } from '../activities/index.js';
import {
  checkpointFolder,
  reassignedParameters,
  runInputSchema,
  scheduledRunInput,
  type CellFailureDetails,
  type CellPlan,
  type CellResult,
  type KernelHandle,
  type PrepareResult,
  type RunInput,
  type RunProgress,
  type RunResult,
  type RunStatus,
  type RunNotification,
} from './contracts.js';

export const progressQuery = defineQuery<RunProgress>('progress');

const { prepareRun, finalizeRun } = proxyActivities<MillraceActivities>({
  startToCloseTimeout: '2 minutes',
  retry: { maximumAttempts: 5, initialInterval: '500ms' },
});

const { startKernel, shutdownKernel } = proxyActivities<MillraceActivities>({
  startToCloseTimeout: '2 minutes',
  retry: { maximumAttempts: 3, initialInterval: '1s' },
});

const CELL_ACTIVITY = {
  // A cell may run for hours; liveness comes from heartbeats (every 2 s), not this bound.
  startToCloseTimeout: '7 days',
  // A dead worker is noticed this long after its last heartbeat; the retry re-attaches.
  heartbeatTimeout: '10 seconds',
  retry: { maximumAttempts: 3, initialInterval: '1s' },
  // On cancel, wait for the cell to interrupt its kernel and save the record before finalizing.
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
} as const;

const { executeCell } = proxyActivities<MillraceActivities>(CELL_ACTIVITY);

// Replaying runs earlier cells' side effects again: never more than once per restart.
const { replayCells } = proxyActivities<MillraceActivities>({ ...CELL_ACTIVITY, retry: { maximumAttempts: 1 } });

// Loading a checkpoint again into the same fresh kernel is harmless: retried like a cell.
const { restoreCheckpoint } = proxyActivities<MillraceActivities>(CELL_ACTIVITY);

/** How often one run may replace a dead kernel under --on-kernel-loss restart. */
const MAX_KERNEL_RESTARTS = 3;

function isKernelLoss(err: unknown): boolean {
  return err instanceof ActivityFailure && err.cause instanceof ApplicationFailure && err.cause.type === 'KernelLost';
}

/** `sys.exit()` and `sys.exit(0)` end a papermill run successfully, skipping later cells. */
function isCleanSysExit(result: CellResult): boolean {
  return result.ename === 'SystemExit' && (result.evalue === '' || result.evalue === '0');
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
  let finalized = false;
  let handedOver = false;
  let kernelRestarts = continuation?.kernelRestarts ?? 0;
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
    await shutdownKernel(lost);
    ({ kernel, languageInfo } = await startKernel({ runId: input.runId, kernelName: plan.kernelName }));
    const replay = plan.codeCells.slice(0, position).map((c) => c.index);
    await replayCells({ runId: input.runId, output: input.output, kernel: kernel!, cellIndices: replay, lostAtCell: plan.codeCells[position]!.index });
    revision += 1;
    return kernel!;
  };

  const executeCells = async (): Promise<void> => {
    for (let position = startAt; position < plan.codeCells.length; position++) {
      const cell = plan.codeCells[position]!;
      const cellProgress = progress.cells[position]!;
      cellProgress.status = 'running';
      current = cell.index;
      let handle = kernel!;
      const result = await runCell(input, handle, cell, revision).catch((err: unknown) => {
        cellProgress.status = 'failed';
        throw err;
      }).catch(async (err: unknown) => {
        if (!(input.onKernelLoss === 'restart' && isKernelLoss(err) && kernelRestarts < MAX_KERNEL_RESTARTS)) throw err;
        // The failed attempt saved the cell as failed (one revision); the replay saves another.
        revision += 1;
        handle = await restartKernel(handle, position);
        cellProgress.status = 'running';
        return runCell(input, handle, cell, revision);
      });
      current = undefined;
      revision += 1;
      executedCells += 1;
      cellProgress.durationMs = result.durationMs;
      if (result.status === 'ok' || (result.status === 'error' && cell.raisesException)) {
        cellProgress.status = 'completed';
        if (workflowInfo().continueAsNewSuggested && position + 1 < plan.codeCells.length) {
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

  if (failure) {
    if (failure.ename === 'RunTimeout') {
      throw ApplicationFailure.nonRetryable(`run timed out at cell ${failure.cellIndex}: ${failure.evalue}`, 'RunTimeout', failure);
    }
    throw ApplicationFailure.nonRetryable(
      `cell ${failure.cellIndex} failed: ${failure.ename}: ${failure.evalue}`,
      'CellFailed',
      failure,
    );
  }
  return { runId: input.runId, status: 'completed', output: input.output, executedCells, stoppedBySysExit };
}

function runCell(input: RunInput, kernel: KernelHandle, cell: CellPlan, revision: number): Promise<CellResult> {
  return executeCell.executeWithOptions(
    { ...CELL_ACTIVITY, summary: `cell ${cell.index}: ${cell.summary}` },
    [
      {
        runId: input.runId,
        output: input.output,
        kernel,
        cellIndex: cell.index,
        revision,
        timeoutS: cell.timeoutS ?? input.cellTimeoutS,
        idempotent: cell.idempotent,
        raisesException: cell.raisesException,
        ...(input.checkpoint ? { checkpoints: checkpointFolder(input) } : {}),
      },
    ],
  );
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
