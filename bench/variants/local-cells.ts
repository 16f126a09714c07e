/**
 * A what-if for the profile, never registered by the product: `notebookRun` with each
 * code cell as a *local* activity. Same activities, same record, same result; it shows
 * what the Temporal round trips of a regular activity cost per cell. It does not keep
 * SPEC §4.3 as is: local activity results reach history only when the workflow task
 * completes, so a worker lost mid-task would run the unrecorded cells again (the record
 * revision check would refuse them, failing the run instead of resuming it).
 */
import { ApplicationFailure, CancellationScope, proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type { MillraceActivities } from '../../activities/index.js';
import type { CellResult, KernelHandle, RunInput, RunResult } from '../../workflows/contracts.js';

const { prepareRun, finalizeRun, startKernel, shutdownKernel } = proxyActivities<MillraceActivities>({
  startToCloseTimeout: '2 minutes',
  retry: { maximumAttempts: 3, initialInterval: '500ms' },
});

const { executeCell } = proxyLocalActivities<MillraceActivities>({
  startToCloseTimeout: '7 days',
  retry: { maximumAttempts: 1 },
});

export async function notebookRun(input: RunInput): Promise<RunResult> {
  const plan = await prepareRun(input);
  let kernel: KernelHandle | undefined;
  let languageInfo: Record<string, unknown> | null = null;
  let executedCells = 0;
  let failedCell: number | undefined;
  try {
    ({ kernel, languageInfo } = await startKernel({ runId: input.runId, kernelName: plan.kernelName }));
    for (const [revision, cell] of plan.codeCells.entries()) {
      const result: CellResult = await executeCell({
        runId: input.runId,
        output: input.output,
        kernel,
        cellIndex: cell.index,
        revision,
        idempotent: cell.idempotent,
        raisesException: cell.raisesException,
      });
      executedCells += 1;
      if (result.status !== 'ok' && !cell.raisesException) {
        failedCell = cell.index;
        break;
      }
    }
    await finalizeRun({
      runId: input.runId,
      output: input.output,
      status: failedCell === undefined ? 'completed' : 'failed',
      failedCell,
      languageInfo,
    });
  } finally {
    if (kernel) {
      const handle = kernel;
      await CancellationScope.nonCancellable(() => shutdownKernel(handle));
    }
  }
  if (failedCell !== undefined) throw ApplicationFailure.nonRetryable(`cell ${failedCell} failed`, 'CellFailed');
  return { runId: input.runId, status: 'completed', output: input.output, executedCells, stoppedBySysExit: false };
}
