/**
 * The side effects of a notebook run, one function per step of the workflow, assembled
 * here per worker with its configuration (the Jupyter token never travels through
 * history). Workflows import only the type `MillraceActivities`.
 *
 * Where each step lives:
 * - prepare-run.ts: the source snapshot, parameterized, becomes the run's record (resume.ts:
 *   what a resumed run carries over from the earlier one);
 * - kernel-lifecycle.ts: a kernel started (or taken from kernel-pool.ts) and shut down;
 *   restore-checkpoint.ts loads a saved namespace into it (checkpoint.ts);
 * - execute-cell.ts: one cell sent once, its outputs saved in the record as they come;
 *   execute-request.ts sends it, execution-registry.ts makes it exactly-once;
 * - repair.ts: retry, exec and skip on a run paused by --on-failure pause;
 * - finalize-run.ts: the record's end; notify.ts: the webhook.
 * jupyter.ts reaches the Jupyter Server; heartbeat.ts keeps long activities alive.
 */
import type { CellResult, ExecuteCellInput, NotifyInput, PrepareResult, RecordSavedInput, ReplayInput, ReplayResult, RestoreInput, RunInput } from '../workflows/contracts.js';
import { executeCell, recordSaved, replayCells } from './execute-cell.js';
import { finalizeRun } from './finalize-run.js';
import { withHeartbeats } from './heartbeat.js';
import { serverSettings, type JupyterConfig } from './jupyter.js';
import { createKernelActivities, type KernelLifecycleDeps } from './kernel-lifecycle.js';
import { notifyWebhook } from './notify.js';
import { prepareRun } from './prepare-run.js';
import { EMPTY_ALLOW_LIST, type AllowList } from './kernel-placement.js';
import { createRepairActivities } from './repair.js';
import { restoreCheckpoint } from './restore-checkpoint.js';

export interface ActivityDeps extends KernelLifecycleDeps {
  jupyter: JupyterConfig;
  /** The worker's state directory: its `secret.key` opens sealed webhook URLs (activities/notify.ts). */
  stateDir: string;
  /** Images, mount sources and variables runs may choose (deny by default). */
  allow?: AllowList;
}

/**
 * An activity that heartbeats while it runs. The workflows give every activity a heartbeat
 * timeout (workflows/activity-options.ts), so a worker that dies in one is noticed in
 * seconds and the retry goes to another worker, where waiting out the start-to-close
 * timeout took minutes (a scale-out test's SIGKILL took 130 s, mostly that).
 */
function heartbeating<A extends unknown[], R>(activity: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  return (...args) => withHeartbeats(() => activity(...args));
}

export function createActivities(deps: ActivityDeps) {
  const settings = serverSettings(deps.jupyter);
  const kernels = createKernelActivities(settings, deps);
  const repair = createRepairActivities(settings);

  return {
    prepareRun: heartbeating((input: RunInput): Promise<PrepareResult> => prepareRun(input, deps.allow ?? EMPTY_ALLOW_LIST)),

    startKernel: heartbeating(kernels.startKernel),
    shutdownKernel: heartbeating(kernels.shutdownKernel),

    executeCell(input: ExecuteCellInput): Promise<CellResult> {
      return executeCell(settings, input);
    },

    recordSaved(input: RecordSavedInput): Promise<void> {
      return recordSaved(input);
    },

    replayCells(input: ReplayInput): Promise<ReplayResult> {
      return replayCells(settings, input);
    },

    restoreCheckpoint(input: RestoreInput): Promise<{ names: number }> {
      return restoreCheckpoint(settings, input);
    },

    finalizeRun: heartbeating(finalizeRun),

    /**
     * Does nothing, on purpose: a workflow whose cells run as local activities schedules
     * it to end its workflow task (WORKFLOW_TASK_SLICE_MS in workflows/notebook-run.ts).
     * Dispatched eagerly, it costs one round trip through the server, where a timer
     * waited for the server's timer queue (about half a second on the dev server).
     */
    async sliceWorkflowTask(): Promise<void> {},

    notifyWebhook(input: NotifyInput): Promise<{ status: number }> {
      return notifyWebhook(deps.stateDir, input);
    },

    // --on-failure pause: retry, exec and skip on a paused run (execScratch heartbeats itself).
    ...repair,
    prepareRetry: heartbeating(repair.prepareRetry),
    skipCell: heartbeating(repair.skipCell),
    cellOutputExcerpt: heartbeating(repair.cellOutputExcerpt),
  };
}

export type MillraceActivities = ReturnType<typeof createActivities>;
