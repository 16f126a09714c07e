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
  const args = cellArgs(input, kernel, cell, revision);
  if (kernel.outcomeRegistry) {
    return executeLocally(cell, { ...args, ...(writeBehind ? { writeBehind } : {}) }).then(
      (localResult) => (localResult.status !== 'running' ? (localResult as FinishedCellResult) : handOffCell(input, kernel, cell, revision)),
      // Only the local activity's failure: the regular activity's already has its shape.
      asActivityFailure('executeCell'),
    );
  }
  return executeCell.executeWithOptions({ ...CELL_ACTIVITY, summary: cellSummary(cell) }, [args]) as Promise<FinishedCellResult>;
}

/**
 * The cell after one still running, started before that one ends (pipelined cells,
 * notebook-run.ts), at the revision that one saves when it passes. Sent only if it passed
 * (the activity waits for it in the worker); status `not-sent` otherwise.
 *
 * Its local result comes back as it is: `running` when it ran long and must be handed off
 * (handOffCell), which the caller does in cell order. A hand-off chained here would schedule
 * its activity as soon as the local result arrives, and replay delivers the local results of
 * one workflow task together, where the run first saw them apart: the commands would come in
 * another order than history's (nondeterminism: "Missing associated machine for LocalActivity").
 */
export function runCellAhead(input: ParsedRunInput, kernel: KernelHandle, cell: CellPlan, revision: number): Promise<CellResult> {
  return executeLocally(cell, { ...cellArgs(input, kernel, cell, revision), writeBehind: true, afterPrevious: true }).then(undefined, asActivityFailure('executeCell'));
}

/** The cell as a local activity, which returns `running` once it has run CELL_HAND_OFF_MS. */
function executeLocally(cell: CellPlan, args: ExecuteCellInput): Promise<CellResult> {
  return executeCellLocally.executeWithOptions({ ...CELL_LOCAL_ACTIVITY, summary: cellSummary(cell) }, [{ ...args, handOffAfterMs: CELL_HAND_OFF_MS }]);
}

/** A local cell that ran long (status `running`), followed to its end by a regular activity that attaches to it. */
export function handOffCell(input: ParsedRunInput, kernel: KernelHandle, cell: CellPlan, revision: number): Promise<FinishedCellResult> {
  return executeCell.executeWithOptions({ ...CELL_ACTIVITY, summary: cellSummary(cell) }, [{ ...cellArgs(input, kernel, cell, revision), attach: true }]) as Promise<FinishedCellResult>;
}

function cellSummary(cell: CellPlan): string {
  return `cell ${cell.index}: ${cell.summary}`;
}

function cellArgs(input: ParsedRunInput, kernel: KernelHandle, cell: CellPlan, revision: number): ExecuteCellInput {
  return {
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
}

export function isKernelLoss(err: unknown): boolean {
  return err instanceof ActivityFailure && err.cause instanceof ApplicationFailure && err.cause.type === 'KernelLost';
}

/** `sys.exit()` and `sys.exit(0)` end a papermill run successfully, skipping later cells. */
export function isCleanSysExit(result: CellResult): boolean {
  return result.ename === 'SystemExit' && (result.evalue === '' || result.evalue === '0');
}
