/**
 * Every activity the workflow calls, with its timeouts and retry policy: one place to read
 * (and change) how patient a run is with each of its side effects.
 */
import { ActivityCancellationType, ActivityFailure, ApplicationFailure, proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import { RetryState } from '@temporalio/common';
import type { MillraceActivities } from '../activities/index.js';
import type { StartedKernel, StartKernelRequest } from './contracts.js';

/**
 * How long after its last heartbeat an activity's worker is taken for dead and the attempt
 * retried elsewhere. Every activity but the webhook's (30 s at most) has it: cells and
 * scratch code heartbeat every 2 s, the others while they run (activities/index.ts), and
 * the no-op slice ends at once. Without it, a worker killed during prepare, a kernel start
 * or finalize held its runs for the whole start-to-close timeout (2 minutes); the
 * start-to-close timeouts still bound a live worker's attempt.
 */
const HEARTBEAT_TIMEOUT = '10 seconds';

/** Writing the record outside a cell (prepare, finalize, a repair's change): each is safe to retry. */
const RECORD_ACTIVITY = {
  startToCloseTimeout: '2 minutes',
  heartbeatTimeout: HEARTBEAT_TIMEOUT,
  retry: { maximumAttempts: 5, initialInterval: '500ms' },
} as const;

export const { prepareRun, finalizeRun } = proxyActivities<MillraceActivities>(RECORD_ACTIVITY);

/**
 * finalizeRun as a local activity: the worker that ran the cells writes the final record
 * with no round trip through the server (an activity and a workflow task fewer per run).
 */
export const { finalizeRun: finalizeRunLocally } = proxyLocalActivities<MillraceActivities>({
  startToCloseTimeout: RECORD_ACTIVITY.startToCloseTimeout,
  retry: RECORD_ACTIVITY.retry,
});

/**
 * prepareRun as a local activity, in the run's first workflow task: the record is written
 * and `startKernel` scheduled in one task, with no activity of its own. An attempt cut
 * short (its worker died, the task failed) runs again, as a regular activity's retry
 * would: it writes revision 0 of this run's own record again, nothing later exists yet.
 */
export const { prepareRun: prepareRunLocally } = proxyLocalActivities<MillraceActivities>({
  startToCloseTimeout: RECORD_ACTIVITY.startToCloseTimeout,
  retry: RECORD_ACTIVITY.retry,
});

/**
 * A local activity's failure arrives unwrapped: given a regular activity's shape
 * (ActivityFailure caused by the ApplicationFailure), the workflow and its clients see one
 * kind of failure whichever way the step ran. For `.catch` after a local activity.
 */
export function asActivityFailure(activityType: string): (err: unknown) => never {
  return (err) => {
    if (err instanceof ApplicationFailure) {
      const retryState = err.nonRetryable ? RetryState.NON_RETRYABLE_FAILURE : RetryState.MAXIMUM_ATTEMPTS_REACHED;
      throw new ActivityFailure('Activity task failed', activityType, undefined, retryState, undefined, err);
    }
    throw err;
  };
}

const KERNEL_ACTIVITY = {
  startToCloseTimeout: '2 minutes',
  heartbeatTimeout: HEARTBEAT_TIMEOUT,
  retry: { maximumAttempts: 3, initialInterval: '1s' },
} as const;

export const { startKernel: startKernelActivity, shutdownKernel } = proxyActivities<MillraceActivities>(KERNEL_ACTIVITY);

/**
 * The run's last step as a local activity: the worker that ran the run asks Jupyter to
 * shut its kernel down (in the background, activities/kernel-lifecycle.ts), with no round
 * trip through the server, whose activity and extra workflow task cost each run about as
 * much CPU as a slice. A kernel that is not shut down is the orphan reaper's.
 */
export const { shutdownKernel: shutdownKernelLocally } = proxyLocalActivities<MillraceActivities>({ startToCloseTimeout: '2 minutes', retry: KERNEL_ACTIVITY.retry });

/**
 * Starts the run's kernel. With --start-timeout, the attempt lasts as long as the kernel
 * may take to answer plus a minute for the rest (pool, registry, working directory).
 */
export function startKernel(request: StartKernelRequest): Promise<StartedKernel> {
  const { startTimeoutS } = request;
  if (startTimeoutS === undefined) return startKernelActivity(request);
  const startToCloseTimeout = `${Math.max(120, Math.ceil(startTimeoutS) + 60)} seconds`;
  return startKernelActivity.executeWithOptions({ ...KERNEL_ACTIVITY, startToCloseTimeout }, [request]);
}

/**
 * Every attempt of a cell is exactly-once (the outcome registry and the record), so a
 * cell can afford patience with the infrastructure: a store or Jupyter Server that is
 * away for a couple of minutes delays the run instead of failing it. Failures of the
 * cell itself are not retried (they are non-retryable or results, not errors).
 */
const CELL_RETRY = { maximumAttempts: 10, initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s' } as const;

export const CELL_ACTIVITY = {
  // A cell may run for hours; liveness comes from heartbeats (every 2 s), not this bound.
  startToCloseTimeout: '7 days',
  // A dead worker is noticed this long after its last heartbeat; the retry re-attaches.
  heartbeatTimeout: HEARTBEAT_TIMEOUT,
  retry: CELL_RETRY,
  // On cancel, wait for the cell to interrupt its kernel and save the record before finalizing.
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
} as const;

export const { executeCell } = proxyActivities<MillraceActivities>(CELL_ACTIVITY);

/**
 * Short cells run as local activities: no Temporal round trip per cell, the result
 * recorded as a marker. Every attempt is exactly-once through the kernel's outcome
 * registry (activities/execute-cell.ts), which is why only kernels that keep one get
 * this path. A cell still running after CELL_HAND_OFF_MS continues as a regular
 * activity, with heartbeats, visible and cancellable like any other.
 */
export const CELL_HAND_OFF_MS = 2_000;
export const CELL_LOCAL_ACTIVITY = {
  startToCloseTimeout: '1 minute',
  retry: CELL_RETRY,
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
} as const;
export const { executeCell: executeCellLocally } = proxyLocalActivities<MillraceActivities>(CELL_LOCAL_ACTIVITY);

/** Waits, in the worker that ran them, for the record revisions local cells saved write-behind. */
export const { recordSaved: recordSavedLocally } = proxyLocalActivities<MillraceActivities>({ startToCloseTimeout: '1 minute', retry: CELL_RETRY });

/** The no-op that ends a workflow task of local cells (WORKFLOW_TASK_SLICE_MS in notebook-run.ts). */
export const { sliceWorkflowTask } = proxyActivities<MillraceActivities>({
  startToCloseTimeout: '1 minute',
  heartbeatTimeout: HEARTBEAT_TIMEOUT,
  retry: { initialInterval: '100ms', maximumInterval: '5s' },
});

// Replaying runs earlier cells' side effects again: never more than once per restart.
export const { replayCells } = proxyActivities<MillraceActivities>({ ...CELL_ACTIVITY, retry: { maximumAttempts: 1 } });

// Loading a checkpoint again into the same fresh kernel is harmless: retried like a cell.
export const { restoreCheckpoint } = proxyActivities<MillraceActivities>(CELL_ACTIVITY);

// Record changes of a repair: each saves one revision.
export const { prepareRetry, skipCell, cellOutputExcerpt } = proxyActivities<MillraceActivities>(RECORD_ACTIVITY);

// Scratch code is a person's, sent at most once; liveness from heartbeats, like a cell's.
export const SCRATCH_ACTIVITY = { ...CELL_ACTIVITY, retry: { maximumAttempts: 1 } } as const;
export const { execScratch } = proxyActivities<MillraceActivities>(SCRATCH_ACTIVITY);

export const { notifyWebhook } = proxyActivities<MillraceActivities>({
  startToCloseTimeout: '30 seconds',
  // The run ends once the notification is delivered or given up: about a minute at worst.
  retry: { maximumAttempts: 5, initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '10s' },
});
