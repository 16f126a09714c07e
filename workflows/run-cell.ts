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
  type ParsedRunInput,
} from './contracts.js';

/**
 * `writeBehind`: a local cell that passes may return before its record is in the store (the
 * caller then runs recordSaved). Not async, and one `.then` on the local path: runs once per
 * cell, and every promise workflow code makes costs a captured stack trace in the SDK's promise hook.
 */
export function runCell(input: ParsedRunInput, kernel: KernelHandle, cell: CellPlan, revision: number, writeBehind = false): Promise<FinishedCellResult> {
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
    return executeCellLocally.executeWithOptions({ ...CELL_LOCAL_ACTIVITY, summary }, [{ ...args, handOffAfterMs: CELL_HAND_OFF_MS, ...(writeBehind ? { writeBehind } : {}) }]).then(
      (localResult) =>
        localResult.status !== 'running'
          ? (localResult as FinishedCellResult)
          : (executeCell.executeWithOptions({ ...CELL_ACTIVITY, summary }, [{ ...args, attach: true }]) as Promise<FinishedCellResult>),
      // Only the local activity's failure: the regular activity's already has its shape.
      asActivityFailure('executeCell'),
    );
  }
  return executeCell.executeWithOptions({ ...CELL_ACTIVITY, summary }, [args]) as Promise<FinishedCellResult>;
}

export function isKernelLoss(err: unknown): boolean {
  return err instanceof ActivityFailure && err.cause instanceof ApplicationFailure && err.cause.type === 'KernelLost';
}

/** `sys.exit()` and `sys.exit(0)` end a papermill run successfully, skipping later cells. */
export function isCleanSysExit(result: CellResult): boolean {
  return result.ename === 'SystemExit' && (result.evalue === '' || result.evalue === '0');
}

/** A cell the run goes on after: it succeeded, or raised where it was tagged to. */
export function cellPassed(result: CellResult, cell: CellPlan): boolean {
  return result.status === 'ok' || (result.status === 'error' && cell.raisesException);
}
