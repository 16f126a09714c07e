/**
 * One code cell as an activity, and what its result means for the run: a local activity
 * first where the kernel allows it, handed off to a regular one when it runs long.
 */
import { ActivityFailure, ApplicationFailure } from '@temporalio/workflow';
import { asActivityFailure, CELL_ACTIVITY, CELL_HAND_OFF_MS, CELL_LOCAL_ACTIVITY, executeCell, executeCellLocally } from './activity-options.js';
import {
  checkpointFolder,
  type CellPlan,
  type CellResult,
  type ExecuteCellInput,
  type FinishedCellResult,
  type KernelHandle,
  type NotSentCellResult,
  type ParsedRunInput,
} from './contracts.js';

/**
 * `writeBehind`: a local cell that passes may return before its record is in the store (the
 * caller then runs recordSaved). Not async, and one `.then` on the local path: runs once per
 * cell, and every promise workflow code makes costs a captured stack trace in the SDK's promise hook.
 */
export function runCell(input: ParsedRunInput, kernel: KernelHandle, cell: CellPlan, revision: number, writeBehind = false): Promise<FinishedCellResult> {
  return runCellFrom(input, kernel, cell, revision, writeBehind ? { writeBehind } : {}) as Promise<FinishedCellResult>;
}

/**
 * The cell after one still running, started before that one ends (pipelined cells,
 * notebook-run.ts), at the revision that one saves when it passes. Sent only if it passed
 * (the activity waits for it in the worker); status `not-sent` otherwise.
 */
export function runCellAhead(input: ParsedRunInput, kernel: KernelHandle, cell: CellPlan, revision: number): Promise<FinishedCellResult | NotSentCellResult> {
  return runCellFrom(input, kernel, cell, revision, { writeBehind: true, afterPrevious: true }) as Promise<FinishedCellResult | NotSentCellResult>;
}

function runCellFrom(input: ParsedRunInput, kernel: KernelHandle, cell: CellPlan, revision: number, local: Pick<ExecuteCellInput, 'writeBehind' | 'afterPrevious'>): Promise<CellResult> {
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
    return executeCellLocally.executeWithOptions({ ...CELL_LOCAL_ACTIVITY, summary }, [{ ...args, handOffAfterMs: CELL_HAND_OFF_MS, ...local }]).then(
      (localResult) => (localResult.status !== 'running' ? localResult : executeCell.executeWithOptions({ ...CELL_ACTIVITY, summary }, [{ ...args, attach: true }])),
      // Only the local activity's failure: the regular activity's already has its shape.
      asActivityFailure('executeCell'),
    );
  }
  return executeCell.executeWithOptions({ ...CELL_ACTIVITY, summary }, [args]);
}

export function isKernelLoss(err: unknown): boolean {
  return err instanceof ActivityFailure && err.cause instanceof ApplicationFailure && err.cause.type === 'KernelLost';
}

/** `sys.exit()` and `sys.exit(0)` end a papermill run successfully, skipping later cells. */
export function isCleanSysExit(result: CellResult): boolean {
  return result.ename === 'SystemExit' && (result.evalue === '' || result.evalue === '0');
}
