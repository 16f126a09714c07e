/**
 * The shapes that cross the workflow boundary: workflow input and result, the progress
 * query, and what each activity takes and returns. Everything here ends up in Temporal
 * history, so it stays small and bounded: never cell outputs, never secrets.
 */
import { z } from 'zod';
import { paramsSchema } from '../notebook/param-schema.js';

export const TASK_QUEUE_DEFAULT = 'millrace';
export const RUN_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export const runIdSchema = z
  .string()
  .regex(RUN_ID_PATTERN, 'a run id is 1-128 letters, digits, ".", "_" or "-", starting with a letter or digit')
  .refine((id) => !id.includes('..'), 'a run id may not contain ".."');

/** `millrace resume`: which run this one continues, and from which cell. */
export const resumeFromSchema = z.object({
  runId: runIdSchema,
  /** The earlier run's output notebook. */
  record: z.string().min(1),
  /** The earlier run's cell to start from, by its index there (for people)... */
  fromCell: z.number().int().nonnegative(),
  /** ...and by id, which survives a regenerated parameters cell shifting the indices. */
  fromCellId: z.string().min(1),
});
export type ResumeFrom = z.infer<typeof resumeFromSchema>;

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
  resume: resumeFromSchema.optional(),
  /** The whole run's budget: the running cell is interrupted when it is spent. */
  runTimeoutS: z.number().positive().optional(),
});
/** What clients pass (defaults optional); the workflow works on the parsed form. */
export type RunInput = Omit<z.infer<typeof runInputSchema>, 'onKernelLoss'> & { onKernelLoss?: 'fail' | 'restart' };

export type RunStatus = 'completed' | 'failed' | 'cancelled';

export interface RunResult {
  runId: string;
  status: RunStatus;
  output: string;
  /** Code cells executed (a `sys.exit()` ends a run early but successfully). */
  executedCells: number;
  stoppedBySysExit: boolean;
}

/** Attached to the workflow's failure so clients can say which cell failed and why. */
export interface CellFailureDetails {
  runId: string;
  cellIndex: number;
  ename: string;
  evalue: string;
  output: string;
}

export type CellStatus = 'pending' | 'running' | 'completed' | 'failed';

export interface CellProgress {
  index: number;
  summary: string;
  status: CellStatus;
  durationMs?: number;
}

export interface RunProgress {
  runId: string;
  output: string;
  phase: 'preparing' | 'starting-kernel' | 'restoring' | 'executing' | 'finalizing' | 'done';
  cells: CellProgress[];
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
}

export interface KernelHandle {
  kernelId: string;
  kernelName: string;
}

export interface StartedKernel {
  kernel: KernelHandle;
  /** The kernel's language_info, recorded in the output notebook as papermill does. */
  languageInfo: Record<string, unknown> | null;
}

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
}

export interface CellResult {
  status: 'ok' | 'error' | 'timeout';
  executionCount: number | null;
  ename?: string;
  evalue?: string;
  outputCount: number;
  durationMs: number;
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

export interface FinalizeInput {
  runId: string;
  output: string;
  status: RunStatus;
  failedCell?: number;
  languageInfo?: Record<string, unknown> | null;
}
