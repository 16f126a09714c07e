/**
 * A run's start and, unless detached, following it to its end (`run`, `resume`): where
 * the Temporal client is needed, so `cli/commands/run.ts` loads this module only when the
 * command reaches Temporal itself.
 */
import type { WorkflowHandle } from '@temporalio/client';
import type { RunInput } from '../workflows/contracts.js';
import { EXIT, UserError } from './errors.js';
import { describeReport, reportExitCode, reportFromFailure, reportFromResult, type RunReport } from './run-report.js';
import { followCellOutput } from './live-output.js';
import { followProgress } from './progress.js';
import { recordedExecutionError } from './traceback.js';
import { printStarted, progressLog } from './output.js';
import { temporalLost, type Session } from './session.js';
import { announcePauses } from './commands/repair.js';
import { startRun } from './start-run.js';
// A harmless cycle: run.ts loads this module only from inside runCommand, once it is itself loaded.
import { PAUSE_REFUSAL } from './commands/run.js';

/**
 * Starts the run and, unless detached, follows it to its end and reports how it ended.
 * The caller declared what the run needs of the stack (`DETACHED`, `PAUSABLE`); a resumed
 * run inherits --on-failure pause, which is only known now.
 */
export async function submitRun(
  session: Session,
  input: RunInput,
  options: { detach: boolean; json: boolean; warnings?: string[]; progressBar?: boolean; logOutput?: boolean },
): Promise<number> {
  const warnings = options.warnings ?? [];
  // --json keeps stderr quiet; papermill turns its progress bar off for --log-output unless asked.
  const showProgress = !options.json && (options.progressBar ?? !options.logOutput);
  const logOutput = !options.json && options.logOutput === true;
  const log = progressLog(options);
  if (input.onFailure === 'pause' && session.mode === 'embedded') throw new UserError(PAUSE_REFUSAL);
  const started = Date.now();
  let cancelling = false;
  const onSigint = () => {
    if (cancelling) return;
    cancelling = true;
    log('cancelling the run (Ctrl-C again is ignored; the kernel is being shut down)...');
    void handle?.cancel().catch(() => undefined);
  };
  let handle: WorkflowHandle | undefined;
  try {
    handle = await startRun(session.client, session.taskQueue, input);
    if (options.detach) {
      printStarted(input, { json: options.json, warnings });
      return EXIT.ok;
    }
    log(`run ${input.runId}`);
    process.on('SIGINT', onSigint);
    const toStderr = (text: string) => process.stderr.write(text);
    const stopProgress = showProgress ? followProgress(handle, toStderr, process.stderr.isTTY ? 'terminal' : 'lines') : undefined;
    const stopOutput = logOutput ? followCellOutput(input.output, toStderr) : undefined;
    // A paused run waits for a person: say how to repair it, and keep following it.
    const stopPauses = input.onFailure === 'pause' && !options.json ? announcePauses(handle, input.runId, log) : undefined;
    let report: RunReport;
    try {
      const result = await handle.result();
      report = reportFromResult(result, (Date.now() - started) / 1000);
    } catch (err) {
      report = reportFromFailure(temporalLost(err, input.runId), input.runId, input.output, (Date.now() - started) / 1000);
    }
    await stopOutput?.();
    await stopProgress?.();
    await stopPauses?.();
    if (options.json) {
      const { reason: _reason, ...json } = report;
      process.stdout.write(`${JSON.stringify({ ...json, warnings })}\n`);
    } else if (report.status === 'completed') {
      process.stdout.write(`${describeReport(report)}\n`);
    } else {
      process.stderr.write(`${describeReport(report)}\n`);
      // papermill's PapermillExecutionError: the failed cell's traceback, from the record.
      const traceback = report.failed_cell === null ? undefined : await recordedExecutionError(report.output, report.failed_cell, { colour: process.stderr.isTTY === true });
      if (traceback) process.stderr.write(`\n${traceback}`);
    }
    return reportExitCode(report);
  } finally {
    process.off('SIGINT', onSigint);
  }
}
