/** `millrace run NOTEBOOK`: submit one run and, unless detached, follow it to the end. */
import { WorkflowExecutionAlreadyStartedError, type WorkflowHandle } from '@temporalio/client';
import { WorkflowIdReusePolicy } from '@temporalio/common';
import { basename } from 'node:path';
import type { notebookRun } from '../../workflows/index.js';
import type { KernelPlacement, RunInput } from '../../workflows/contracts.js';
import { paramsToJson } from '../../notebook/params.js';
import { loadConfig } from '../config.js';
import { EXIT, UserError } from '../errors.js';
import { describeReport, reportExitCode, reportFromFailure, reportFromResult, type RunReport } from '../run-report.js';
import { followCellOutput } from '../live-output.js';
import { followProgress } from '../progress.js';
import { recordedExecutionError } from '../traceback.js';
import { progressLog } from '../output.js';
import { longLivedOnly, NEEDS_WORKER, outlives, temporalLost, withSession, type Session, type StackNeed } from '../session.js';
import { announcePauses } from './repair.js';
import { buildRunInput, resolveParameters, validateNewRunId, writePreparedNotebook, type ParameterArgs } from '../submit.js';

export interface RunOptions extends ParameterArgs {
  kernel?: string;
  output?: string;
  id?: string;
  /** --cwd: the kernel's working directory (default: this process's). */
  cwd?: string;
  cellTimeout?: number;
  timeout?: number;
  onKernelLoss?: 'fail' | 'restart';
  onFailure?: 'fail' | 'pause';
  /** Seconds. */
  pauseTimeout?: number;
  checkpoint?: boolean;
  /** --image/--cpus/--memory/--env/--mount: the kernel in a container. */
  placement?: KernelPlacement;
  /** papermill --report-mode. */
  reportMode?: boolean;
  /** papermill --start-timeout, seconds. */
  startTimeout?: number;
  /** papermill --prepare-only: write the parameterized notebook, run nothing. */
  prepareOnly?: boolean;
  /** papermill --inject-input-path / --inject-output-path / --inject-paths. */
  injectPaths?: { input?: boolean; output?: boolean };
  detach: boolean;
  json: boolean;
  /** --progress-bar / --no-progress-bar; unset: on unless --log-output (papermill's default). */
  progressBar?: boolean;
  /** --log-output: stream each cell's outputs to stderr as papermill does. */
  logOutput?: boolean;
}

/** `--detach`: the run goes on after this command, so it needs a stack that does too. */
export const DETACHED: StackNeed = outlives('--detach');
/** `--on-failure pause`: the paused run waits for repairs from other commands. */
const PAUSE_REFUSAL =
  '--on-failure pause needs a stack that other commands can reach to repair the run: start `millrace dev` or set TEMPORAL_ADDRESS';
const PAUSABLE = longLivedOnly(PAUSE_REFUSAL);

export async function runCommand(notebook: string, options: RunOptions): Promise<number> {
  const params = await resolveParameters(options);
  // papermill logs these as it starts; under --json they are in the object instead.
  const warnings: string[] = [];
  const onWarning = (message: string) => {
    warnings.push(message);
    if (!options.json) process.stderr.write(`${message}\n`);
  };
  if (options.prepareOnly) {
    const { output } = await writePreparedNotebook({ notebookPath: notebook, params, kernelName: options.kernel, output: options.output, reportMode: options.reportMode, injectPaths: options.injectPaths, onWarning });
    process.stdout.write(options.json ? `${JSON.stringify({ status: 'prepared', output, warnings })}\n` : `prepared: ${output}\n`);
    return EXIT.ok;
  }
  const config = loadConfig();
  const input = await buildRunInput(config, {
    notebookPath: notebook,
    params,
    kernelName: options.kernel,
    output: options.output,
    // `latest` and `-` name the newest run; refused here, as buildRunInput's runId may also be a schedule's name.
    runId: options.id === undefined ? undefined : validateNewRunId(options.id),
    // papermill's rule: the kernel works where the command was called, unless --cwd says otherwise.
    cwd: options.cwd ?? '.',
    cellTimeoutS: options.cellTimeout,
    runTimeoutS: options.timeout,
    onKernelLoss: options.onKernelLoss,
    onFailure: options.onFailure,
    pauseTimeoutS: options.pauseTimeout,
    checkpoint: options.checkpoint,
    reportMode: options.reportMode,
    startTimeoutS: options.startTimeout,
    placement: options.placement,
    injectPaths: options.injectPaths,
    onWarning,
  });
  const needs = options.detach ? DETACHED : input.onFailure === 'pause' ? PAUSABLE : NEEDS_WORKER;
  return withSession({ needs, json: options.json, config, createsState: true }, (session) => submitRun(session, input, { ...options, warnings }));
}

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
    try {
      handle = await session.client.workflow.start<typeof notebookRun>('notebookRun', {
        taskQueue: session.taskQueue,
        workflowId: input.runId,
        args: [input],
        // A resumed run names the run it continues (the earlier run's closed memo cannot
        // change: its link forward is resumed-as.json beside its record).
        // The parameters too, so `millrace runs` shows them without reading any record.
        memo: {
          notebook: basename(input.inputPath),
          output: input.output,
          parameters: paramsToJson(input.parameters),
          ...(input.resume ? { resumed_from: input.resume.runId } : {}),
        },
        workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
      });
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) {
        throw new UserError(`run id ${input.runId} is already taken: choose another --id`);
      }
      throw err;
    }
    if (options.detach) {
      if (options.json) {
        process.stdout.write(`${JSON.stringify({ run_id: input.runId, status: 'running', output: input.output, warnings })}\n`);
      } else {
        process.stdout.write(`${input.runId}\noutput: ${input.output}\n`);
      }
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
