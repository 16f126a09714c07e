/**
 * What a failed run came to, from the client's side: the failure Temporal reports, reduced
 * to the fields `run --json` promises (SPEC §3). The report itself, and what the command
 * prints of it, are cli/run-outcome.ts, which loads nothing of Temporal.
 */
import { ActivityFailure, ApplicationFailure, CancelledFailure, WorkflowFailedError } from '@temporalio/client';
import type { CellFailureDetails } from '../workflows/contracts.js';
import type { RunReport } from './run-outcome.js';

export function reportFromFailure(err: unknown, runId: string, output: string, durationS: number): RunReport {
  const base = { run_id: runId, output, duration_s: durationS };
  if (!(err instanceof WorkflowFailedError)) throw err;
  const cause = err.cause;
  if (cause instanceof CancelledFailure) {
    return { ...base, status: 'cancelled', failed_cell: null, error: null, reason: 'cancelled' };
  }
  const app =
    cause instanceof ActivityFailure && cause.cause instanceof ApplicationFailure
      ? cause.cause
      : cause instanceof ApplicationFailure
        ? cause
        : undefined;
  const details = app?.details?.[0] as Partial<CellFailureDetails> | undefined;
  if (details && typeof details.cellIndex === 'number' && details.cellIndex >= 0) {
    return {
      ...base,
      status: 'failed',
      failed_cell: details.cellIndex,
      error: { ename: details.ename ?? 'Error', evalue: details.evalue ?? '' },
      reason: app?.message,
      ...(typeof details.note === 'string' ? { note: details.note } : {}),
    };
  }
  return {
    ...base,
    status: 'failed',
    failed_cell: null,
    // A failure that is not a cell's still names itself: its type and message (e.g. RecordExists).
    error: app ? { ename: app.type ?? 'Error', evalue: app.message } : null,
    reason: app?.message ?? cause?.message ?? err.message,
  };
}
