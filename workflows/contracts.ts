/**
 * The shapes that cross the workflow boundary: workflow input and result, the progress
 * query, and what each activity takes and returns. Everything here ends up in Temporal
 * history, so it stays small and bounded: never cell outputs, never secrets.
 */
import { z } from 'zod';
import { paramsSchema } from '../notebook/param-schema.js';

export const TASK_QUEUE_DEFAULT = 'millrace';
// Plain values the CLI's option declarations need, kept where loading them costs no zod.
export { KERNEL_POOL_DEFAULT, SCRATCH_TIMEOUT_S_DEFAULT } from './defaults.js';
// ":" because a schedule's runs are named `<schedule>-<nominal time, RFC 3339>` by Temporal.
export const RUN_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

export const runIdSchema = z
  .string()
  .regex(RUN_ID_PATTERN, 'a run id is 1-128 letters, digits, ".", "_", ":" or "-", starting with a letter or digit')
  .refine((id) => !id.includes('..'), 'a run id may not contain ".."');

/**
 * A kernel checkpoint chosen to restore (`millrace resume --restore checkpoint`): the
 * namespace the earlier run's kernel held right after one of its cells.
 */
export const checkpointRefSchema = z.object({
  /** The earlier run's cell (index in its record) after which the namespace was saved. */
  cell: z.number().int().nonnegative(),
  /** The serialised namespace (dill) in the store, and what its bytes must hash to. */
  location: z.string().min(1),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  bytes: z.number().int().nonnegative(),
});
export type CheckpointRef = z.infer<typeof checkpointRefSchema>;

/** `millrace resume`: which run this one continues, and from which cell. */
export const resumeFromSchema = z.object({
  runId: runIdSchema,
  /** The earlier run's output notebook. */
  record: z.string().min(1),
  /** The earlier run's cell to start from, by its index there (for people)... */
  fromCell: z.number().int().nonnegative(),
  /** ...and by id, which survives a regenerated parameters cell shifting the indices. */
  fromCellId: z.string().min(1),
  /** How the kernel gets back the earlier cells' state (unset: replay). */
  restore: z.enum(['replay', 'checkpoint']).optional(),
  /** --restore checkpoint: the checkpoint to load; unset when no code cell precedes the resume point. */
  checkpoint: checkpointRefSchema.optional(),
  /** --restore checkpoint: parameters whose values the resume changed, assigned again after the restore. */
  reassign: z.array(z.string()).optional(),
});
export type ResumeFrom = z.infer<typeof resumeFromSchema>;

/** A secret sealed with AES-256-GCM under the workers' key: history holds only ciphertext. */
export const sealedSecretSchema = z.object({
  alg: z.literal('aes-256-gcm'),
  /** Which key sealed it: the first 12 hex digits of the key's sha256. */
  keyId: z.string(),
  iv: z.string(),
  tag: z.string(),
  data: z.string(),
});
export type SealedSecret = z.infer<typeof sealedSecretSchema>;

/** `--notify-on` / `--notify-webhook`: a JSON summary of the finished run is POSTed to the webhook. */
export const notifySchema = z.object({
  on: z.enum(['failure', 'success', 'always']),
  webhook: sealedSecretSchema,
});
export type NotifyConfig = z.infer<typeof notifySchema>;

/** The memo key of a run whose notification was not delivered: why, in one line (no URL). */
export const NOTIFICATION_FAILED_MEMO = 'notification_failed';

/**
 * The input of a schedule's action is fixed when the schedule is saved; each run takes its
 * id from the workflow id Temporal gives it (`<name>-<nominal time>`), writes
 * `<outputDir>/<run id>/<notebook file>`, and gets its nominal time from Temporal.
 */
export const scheduledRunSchema = z.object({
  name: z.string().min(1),
  /** The spec as the user wrote it (`cron 0 6 * * *`, `every 1h`), for `schedule describe`. */
  spec: z.string(),
  outputDir: z.string().min(1),
  /** IANA time zone: the injected time and date are local to it. */
  timezone: z.string().min(1),
  /** Parameters that receive the nominal time (ISO 8601) and its date, when the notebook declares them. */
  timeParameter: z.string().min(1),
  dateParameter: z.string().min(1),
  /** Filled in by the workflow from TemporalScheduledStartTime (ISO 8601, UTC). */
  nominalTime: z.string().optional(),
});
export type ScheduledRun = z.infer<typeof scheduledRunSchema>;

/**
 * Where the kernel runs (`run --image/--cpus/--memory/--env/--mount`): a container, checked
 * against the worker's allow-list (activities/kernel-placement.ts). Mounts are `SRC:DST[:ro]`.
 */
export const kernelPlacementSchema = z.object({
  image: z.string().min(1).optional(),
  cpus: z.number().positive().optional(),
  memory: z.string().min(1).optional(),
  env: z.record(z.string(), z.string()).optional(),
  mounts: z.array(z.string().min(1)).optional(),
  /** `--env NAME`: variables the kernel gets with the worker's own value, which never enters history. */
  workerEnv: z.array(z.string().min(1)).optional(),
});
export type KernelPlacement = z.infer<typeof kernelPlacementSchema>;

export const runInputSchema = z.object({
  runId: runIdSchema,
  /** Content-addressed snapshot of the notebook, taken when the run was submitted. */
  source: z.object({ location: z.string().min(1), sha256: z.string().regex(/^[0-9a-f]{64}$/) }),
  /** Where the user's notebook came from, for the record (papermill's input_path). */
  inputPath: z.string(),
  /** Where the output notebook is written (papermill's output_path). */
  output: z.string().min(1),
  parameters: paramsSchema,
  kernelName: z.string().min(1).optional(),
  cellTimeoutS: z.number().positive().optional(),
  /** What a dead kernel does to the run: fail it, or replay the earlier cells in a new kernel. */
  onKernelLoss: z.enum(['fail', 'restart']).default('fail'),
  /** What a failing cell does to the run: fail it, or pause it, kernel alive, for a repair. */
  onFailure: z.enum(['fail', 'pause']).default('fail'),
  /** How long a paused run waits for a repair before it fails (default 24 h). */
  pauseTimeoutS: z.number().positive().optional(),
  resume: resumeFromSchema.optional(),
  /** The whole run's budget: the running cell is interrupted when it is spent. */
  runTimeoutS: z.number().positive().optional(),
  schedule: scheduledRunSchema.optional(),
  notify: notifySchema.optional(),
  /** --checkpoint: save the kernel's namespace after cells (Python kernels), for `resume --restore checkpoint`. */
  checkpoint: z.boolean().optional(),
  /**
   * The kernel's working directory, absolute, resolved where the kernel runs: `run --cwd`,
   * else the directory `millrace run` was called from (papermill's rule). Absent in runs
   * submitted before it existed and in scheduled runs: the kernel stays where the Jupyter
   * Server starts it.
   */
  cwd: z.string().min(1).optional(),
  /** papermill --report-mode: every code cell's source hidden (metadata.jupyter.source_hidden). */
  reportMode: z.boolean().optional(),
  /** papermill --start-timeout: seconds a new kernel has to answer before the run fails (unset: 60). */
  startTimeoutS: z.number().positive().optional(),
  /** The command line's kernel placement; the notebook's metadata.millrace.kernel fills in the rest. */
  placement: kernelPlacementSchema.optional(),
});
/** What clients pass (defaults optional); the workflow works on the parsed form. */
export type RunInput = Omit<z.infer<typeof runInputSchema>, 'onKernelLoss' | 'onFailure'> & {
  onKernelLoss?: 'fail' | 'restart';
  onFailure?: 'fail' | 'pause';
};

/** The input as the workflow works on it: validated, defaults filled in. */
export type ParsedRunInput = z.infer<typeof runInputSchema>;

/**
 * The input one run of a schedule runs with: its id is the workflow id Temporal gave it
 * (`<schedule>-<nominal time>`), its output `<outputDir>/<run id>/<notebook file>`.
 * Plain runs are returned unchanged. Used by the workflow, and by anything that reads a
 * scheduled run's input back from history.
 */
export function scheduledRunInput<T extends RunInput>(input: T, workflowId: string, nominalTime?: string): T {
  const schedule = input.schedule;
  if (!schedule) return input;
  const file = input.inputPath.split(/[\\/]/).pop() || 'notebook.ipynb';
  return {
    ...input,
    runId: workflowId,
    output: `${schedule.outputDir.replace(/\/+$/, '')}/${workflowId}/${file}`,
    schedule: { ...schedule, ...((schedule.nominalTime ?? nominalTime) ? { nominalTime: schedule.nominalTime ?? nominalTime } : {}) },
  };
}

/**
 * Where a run's kernel checkpoints go: `runs/<run id>/checkpoints` in the store that holds
 * its source snapshot (`<store>/sources/<sha256>.ipynb`), wherever --output points.
 * Workers are not told the store root, and this is pure, for workflow code too. Falls
 * back to a `checkpoints` folder beside the output notebook.
 */
export function checkpointFolder(input: Pick<RunInput, 'runId' | 'source' | 'output'>): string {
  const root = /^(.*)\/sources\/[0-9a-f]{64}\.ipynb$/.exec(input.source.location)?.[1];
  if (root !== undefined) return `${root}/runs/${input.runId}/checkpoints`;
  return `${input.output.replace(/\/[^/]*$/, '')}/checkpoints`;
}

/** The values of the parameters a checkpoint-restoring resume changed. */
export function reassignedParameters(input: Pick<RunInput, 'parameters' | 'resume'>): RunInput['parameters'] {
  const names = input.resume?.reassign ?? [];
  return Object.fromEntries(names.filter((n) => n in input.parameters).map((n) => [n, input.parameters[n]!]));
}

/**
 * Where a run that continued as new picks up (the second argument of notebookRun): history
 * stays bounded for notebooks of thousands of cells, while the kernel, the record and the
 * progress carry on unchanged. Written by the workflow itself, so not validated.
 */
export interface RunContinuation {
  plan: PrepareResult;
  /** Position in plan.codeCells of the next cell to execute. */
  position: number;
  /** Record revision the next cell is sent with. */
  revision: number;
  kernel: KernelHandle;
  languageInfo: Record<string, unknown> | null;
  kernelEnvironment?: KernelEnvironment;
  executedCells: number;
  /** Durations of the cells already executed, for the progress query. */
  durationsMs: number[];
  /** When the run's --timeout runs out (workflow time, epoch ms). */
  deadline: number | undefined;
  kernelRestarts: number;
  /** Cells skipped while paused (`millrace skip`). */
  skippedCells?: number[];
}

export type RunStatus = 'completed' | 'failed' | 'cancelled';

export interface RunResult {
  runId: string;
  status: RunStatus;
  output: string;
  /** Code cells executed (a `sys.exit()` ends a run early but successfully). */
  executedCells: number;
  stoppedBySysExit: boolean;
  /** Failed cells a person skipped while the run was paused (`millrace skip`). */
  skippedCells?: number[];
}

/** Attached to the workflow's failure so clients can say which cell failed and why. */
export interface CellFailureDetails {
  runId: string;
  cellIndex: number;
  ename: string;
  evalue: string;
  output: string;
  /** Why a paused run ended without a repair: aborted, or the pause timed out. */
  note?: string;
}

export type CellStatus = 'pending' | 'running' | 'completed' | 'failed' | 'skipped';

export interface CellProgress {
  index: number;
  summary: string;
  status: CellStatus;
  durationMs?: number;
}

export interface RunProgress {
  runId: string;
  output: string;
  phase: 'preparing' | 'starting-kernel' | 'restoring' | 'executing' | 'paused' | 'finalizing' | 'done';
  cells: CellProgress[];
  /** Set while the run is paused (--on-failure pause); also in the memo, for `millrace runs`. */
  paused?: PauseInfo;
}

// ---- repairing a paused run (`--on-failure pause`) ----

/** A paused run's failed cell, shown by the progress query and kept in the memo as `paused`. */
export interface PauseInfo {
  cell: number;
  ename: string;
  evalue: string;
  /** When the run paused, and when it fails unless repaired (ISO 8601, workflow time). */
  since: string;
  until: string;
}

/** Default of --pause-timeout. */
export const PAUSE_TIMEOUT_S_DEFAULT = 24 * 3600;

/** The Temporal Updates a paused run accepts; each answers with its result. */
export const REPAIR_UPDATES = { retry: 'retry', exec: 'exec', skip: 'skip', abort: 'abort' } as const;

/** Update arguments are in history: both are bounded. */
export const MAX_RETRY_SOURCE_CHARS = 256 * 1024;
export const MAX_SCRATCH_CODE_CHARS = 64 * 1024;
/** What an answer carries of outputs: a few KB of text (history stays small). */
export const MAX_EXCERPT_CHARS = 4_000;

export const retryArgsSchema = z
  .object({ source: z.string().max(MAX_RETRY_SOURCE_CHARS, `new source is limited to ${MAX_RETRY_SOURCE_CHARS} characters`).optional() })
  .strict();
export type RetryArgs = z.infer<typeof retryArgsSchema>;

export const execArgsSchema = z
  .object({
    code: z.string().min(1, 'there is no code to run').max(MAX_SCRATCH_CODE_CHARS, `scratch code is limited to ${MAX_SCRATCH_CODE_CHARS} characters`),
    timeoutS: z.number().positive().optional(),
  })
  .strict();
export type ExecArgs = z.infer<typeof execArgsSchema>;

/** What `retry` and `exec` answer: how the code ended and a bounded excerpt of what it printed. */
export interface RepairExecution {
  runId: string;
  /** The paused run's failed cell. */
  cell: number;
  status: 'ok' | 'error' | 'timeout';
  ename?: string;
  evalue?: string;
  /** Text of the outputs (streams, text/plain, tracebacks), clipped to MAX_EXCERPT_CHARS. */
  output: string;
  /** Whether the run is still paused after this (a retried cell that failed again). */
  paused: boolean;
}

/** What `skip` and `abort` answer. */
export interface RepairDecision {
  runId: string;
  cell: number;
  action: 'skipped' | 'aborted';
}

// ---- activities ----

export interface CellPlan {
  index: number;
  summary: string;
  /** Tagged `raises-exception`: an error here does not fail the run (as in papermill). */
  raisesException: boolean;
  /** Tagged `idempotent`: safe to send again when a worker died mid-cell. */
  idempotent: boolean;
  /** From the tag `timeout=SECONDS` or metadata `millrace.timeout`; overrides --cell-timeout. */
  timeoutS?: number;
}

export interface PrepareResult {
  kernelName: string;
  /** Position in codeCells where execution starts (0 unless resuming). */
  startAt: number;
  totalCells: number;
  codeCells: CellPlan[];
  warnings: string[];
  /** A scheduled run's parameters as recorded (with its nominal time), for `millrace runs` (the memo). */
  parameters?: Record<string, unknown>;
  /** Where the kernel runs (command line over notebook metadata), allowed by the worker; absent: a process kernel. */
  placement?: KernelPlacement;
}

export interface KernelHandle {
  kernelId: string;
  kernelName: string;
  /**
   * The kernel keeps an execution registry (Python kernels, activities/execution-registry.ts): any
   * attempt can learn whether a request already ran, so cells may run as local activities.
   * (Named for the registry's first name, "outcome registry": workflow histories hold it.)
   */
  outcomeRegistry?: boolean;
  /**
   * The kernel's execute requests pass a gate (activities/execution-registry.ts): a cell may
   * be sent while the one before it runs, and runs only if that one passed.
   */
  cellGate?: boolean;
}

export interface StartKernelRequest {
  runId: string;
  kernelName: string;
  checkpoint?: boolean;
  cwd?: string;
  /** papermill --start-timeout: seconds the new kernel has to answer (default 60). */
  startTimeoutS?: number;
  /** A container to start the kernel in (activities/kernel-placement.ts); absent: a process kernel. */
  placement?: KernelPlacement;
}

export interface StartedKernel {
  kernel: KernelHandle;
  /** The kernel's language_info, recorded in the output notebook as papermill does. */
  languageInfo: Record<string, unknown> | null;
  /** Which interpreter and kernelspec the kernel is (metadata.millrace.kernel); absent from older workers. */
  environment?: KernelEnvironment;
}

/** metadata.millrace.kernel: what a run's kernel was, for reproducing it. Every field optional. */
export type KernelEnvironment = {
  name?: string;
  /** Python kernels: sys.executable and platform.python_version(). */
  python?: string;
  python_version?: string;
  /** Other kernels: the kernelspec's argv[0]. */
  argv0?: string;
  /** The kernelspec's directory, where the Jupyter Server says it (millrace's own server does). */
  spec_dir?: string;
};

export interface ExecuteCellInput {
  runId: string;
  output: string;
  kernel: KernelHandle;
  cellIndex: number;
  /** Record revision the workflow expects in the store before this cell. */
  revision: number;
  timeoutS?: number;
  idempotent: boolean;
  raisesException: boolean;
  /**
   * Local activity only: still running after this long, the cell is handed off (result
   * status `running`) to a regular activity with heartbeats, which adopts it (`attach`).
   */
  handOffAfterMs?: number;
  /** Adopt the execution a local activity handed off, instead of sending the cell. */
  attach?: boolean;
  /** --checkpoint: the run's checkpoint folder; the namespace is saved there after the cell succeeds. */
  checkpoints?: string;
  /**
   * Local activity only: a cell that passes may return before its record revision is in
   * the store; the next cell's send and the workflow's recordSaved wait for it.
   */
  writeBehind?: boolean;
  /**
   * Local activity only, started while the cell before it still runs (pipelined cells,
   * workflows/notebook-run.ts): joins the record only once that cell has passed in this
   * worker and saved `revision`; otherwise the result is `not-sent` and the record is
   * untouched. Where the kernel has the gate (KernelHandle.cellGate) it was sent already,
   * to run only if that cell passed; the activity that runs the cell later takes it over.
   */
  afterPrevious?: boolean;
}

/** recordSaved: the record revision the workflow took from its last cells. */
export interface RecordSavedInput {
  output: string;
  revision: number;
}

/**
 * What an activity that saves a record revision returns: the revision it saved, which
 * the workflow sends with its next activity (message ids derive from it). Optional:
 * results recorded in histories before activities reported it have none.
 */
export interface SavedRevision {
  revision?: number;
}

export interface CellResult extends SavedRevision {
  /**
   * `running`: handed off by a local activity, still executing in the kernel (no revision saved yet).
   * `not-sent`: a cell started after the previous one (afterPrevious) that did not join the record, since that one did not pass here.
   */
  status: 'ok' | 'error' | 'timeout' | 'running' | 'not-sent';
  executionCount: number | null;
  ename?: string;
  evalue?: string;
  outputCount: number;
  durationMs: number;
}

/** A cell's result once it has ended (a hand-off between activities is not an end). */
export type FinishedCellResult = CellResult & { status: Exclude<CellResult['status'], 'running' | 'not-sent'> };

/** A cell the run goes on after: it succeeded, or raised where it was tagged to (`raises-exception`). */
export function cellPassed(result: CellResult, raisesException: boolean): boolean {
  return result.status === 'ok' || (result.status === 'error' && raisesException);
}

export interface ReplayInput {
  runId: string;
  output: string;
  kernel: KernelHandle;
  /** Code cells to execute again, in order, to rebuild the lost kernel's state. */
  cellIndices: number[];
  /** Set when the kernel died: the restart is noted in the record. Unset when resuming. */
  lostAtCell?: number;
}

/** What a replay saved: the kernel restart noted in the record (a resume's replay saves nothing). */
export type ReplayResult = SavedRevision;

export interface PrepareRetryInput {
  output: string;
  cellIndex: number;
  /** Record revision expected before; the record is saved at revision + 1. */
  revision: number;
  /** New source for the cell; the first original is kept in metadata.millrace.original_source. */
  source?: string;
}

export interface ScratchInput {
  runId: string;
  output: string;
  kernel: KernelHandle;
  /** The paused cell, noted beside the scratch code in the record. */
  cellIndex: number;
  revision: number;
  code: string;
  timeoutS: number;
}

export type PrepareRetryResult = SavedRevision & {
  /** The retried cell's summary, for progress views. */
  summary: string;
};

/** `exec`'s answer to the person, and the revision that logged the scratch code (not part of the answer). */
export type ScratchResult = RepairExecution & SavedRevision;

export type SkipCellResult = SavedRevision;

export interface SkipCellInput {
  output: string;
  cellIndex: number;
  revision: number;
}

export interface RestoreInput {
  runId: string;
  kernel: KernelHandle;
  /** The checkpoint to load; unset when no code cell ran before the resume point. */
  checkpoint?: CheckpointRef;
  /** Parameters the resume changed, assigned after the load (the checkpoint holds the old values). */
  parameters: z.infer<typeof paramsSchema>;
}

/** What `notifyWebhook` POSTs (plus a `text` line for Slack), and the sealed URL to POST it to. */
export interface RunNotification {
  run_id: string;
  notebook: string;
  status: RunStatus;
  failed_cell: number | null;
  error: { ename: string; evalue: string } | null;
  output: string;
  schedule: string | null;
  scheduled_time: string | null;
}

export interface NotifyInput {
  webhook: SealedSecret;
  notification: RunNotification;
}

export interface FinalizeInput {
  runId: string;
  output: string;
  status: RunStatus;
  failedCell?: number;
  languageInfo?: Record<string, unknown> | null;
  /** Why the run failed, when an error ended it (metadata.millrace.reason). */
  reason?: string;
  /** metadata.millrace.kernel. */
  kernelEnvironment?: KernelEnvironment;
}
