/**
 * What a finished run came to, from the client's side: the workflow result, or the failure
 * Temporal reports, reduced to the fields `run --json` promises (SPEC §3).
 */
import { ActivityFailure, ApplicationFailure, CancelledFailure, WorkflowFailedError } from '@temporalio/client';
import type { CellFailureDetails, RunResult } from '../workflows/contracts.js';
import { EXIT } from './errors.js';

export interface RunReport {
  run_id: string;
  status: 'completed' | 'failed' | 'cancelled';
  output: string;
  failed_cell: number | null;
  error: { ename: string; evalue: string } | null;
  duration_s: number;
  /** Human sentence for failures that are not a cell's (e.g. an unknown kernel). */
  reason?: string;
  /** How a paused run ended without a repair: `aborted while paused`, `paused for 24h without repair`. */
  note?: string;
}

export function reportFromResult(result: RunResult, durationS: number): RunReport {
  return {
    run_id: result.runId,
    status: result.status,
    output: result.output,
    failed_cell: null,
    error: null,
    duration_s: durationS,
  };
}

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

/**
 * Failures of a run that never started because of what it was given: exit 2 (bad input)
 * as the README's table says, not 1 (the run failed).
 */
const BAD_INPUT_FAILURES = new Set(['RecordExists']);

export function reportExitCode(report: RunReport): number {
  if (report.status === 'completed') return EXIT.ok;
  if (report.failed_cell === null && report.error && BAD_INPUT_FAILURES.has(report.error.ename)) return EXIT.badInput;
  return EXIT.runFailed;
}

export function describeReport(report: RunReport): string {
  if (report.status === 'completed') {
    return `completed in ${report.duration_s.toFixed(1)} s\noutput: ${report.output}`;
  }
  if (report.status === 'cancelled') return `cancelled\noutput: ${report.output}`;
  const what =
    report.failed_cell !== null && report.error
      ? `cell ${report.failed_cell} failed: ${report.error.ename}: ${report.error.evalue}${report.note ? ` (${report.note})` : ''}`
      : `failed: ${report.reason ?? 'unknown reason'}`;
  return `${what}\noutput: ${report.output}`;
}
