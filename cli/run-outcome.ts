/**
 * What a foreground `run` or `resume` shows of its run and how it ends: which followers it
 * wants, and the report as it prints it (SPEC §3). A light module, nothing of Temporal: the
 * command prints from here whether it followed the run itself (cli/follow-run.ts) or
 * `millrace dev` followed it for it (cli/follow-dev.ts). Mapping a Temporal failure to a
 * report needs the client: cli/run-report.ts.
 */
import type { RunResult } from '../workflows/contracts.js';
import { EXIT } from './errors.js';
import type { ProgressStyle } from './progress.js';

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

/** How a foreground run is followed, from its options: what the follower (here or in dev) shows. */
export interface FollowChoices {
  /** The per-cell progress (cli/progress.ts), in this style; none when undefined. */
  progress?: ProgressStyle;
  /** --on-failure pause: say how to repair a paused run. */
  pauses: boolean;
  /** --log-output: each cell's outputs on stderr, read from the record here. */
  logOutput: boolean;
}

export function followChoices(options: { json: boolean; progressBar?: boolean; logOutput?: boolean; onFailure?: 'fail' | 'pause' }): FollowChoices {
  // --json keeps stderr quiet; papermill turns its progress bar off for --log-output unless asked.
  const showProgress = !options.json && (options.progressBar ?? !options.logOutput);
  return {
    ...(showProgress ? { progress: process.stderr.isTTY ? 'terminal' : 'lines' } : {}),
    pauses: options.onFailure === 'pause' && !options.json,
    logOutput: !options.json && options.logOutput === true,
  };
}

/** What Ctrl-C on a foreground run says, however the run is followed. */
export const CANCELLING = 'cancelling the run (Ctrl-C again is ignored; the kernel is being shut down)...';

/** Prints how the run ended, as `run` and `resume` do, and returns the command's exit code. */
export async function printReport(report: RunReport, options: { json: boolean; warnings: string[] }): Promise<number> {
  if (options.json) {
    const { reason: _reason, ...json } = report;
    process.stdout.write(`${JSON.stringify({ ...json, warnings: options.warnings })}\n`);
  } else if (report.status === 'completed') {
    process.stdout.write(`${describeReport(report)}\n`);
  } else {
    process.stderr.write(`${describeReport(report)}\n`);
    // papermill's PapermillExecutionError: the failed cell's traceback, from the record.
    if (report.failed_cell !== null) {
      const { recordedExecutionError } = await import('./traceback.js');
      const traceback = await recordedExecutionError(report.output, report.failed_cell, { colour: process.stderr.isTTY === true });
      if (traceback) process.stderr.write(`\n${traceback}`);
    }
  }
  return reportExitCode(report);
}
