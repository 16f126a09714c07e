/**
 * A run's start and, unless detached, following it to its end (`run`, `resume`): where
 * the Temporal client is needed, so `cli/commands/run.ts` loads this module only when the
 * command reaches Temporal itself. `followRun` is also what `millrace dev` runs for a
 * foreground `run` that asked it (cli/dev-server.ts, cli/follow-dev.ts).
 */
import type { WorkflowHandle } from '@temporalio/client';
import type { RunInput, RunResult } from '../workflows/contracts.js';
import { EXIT, UserError } from './errors.js';
import { reportFromFailure } from './run-report.js';
import { CANCELLING, followChoices, printReport, reportFromResult, type FollowChoices, type RunReport } from './run-outcome.js';
import { followCellOutput } from './live-output.js';
import { followProgress } from './progress.js';
import { printStarted, progressLog } from './output.js';
import { temporalLost, type Session } from './session.js';
import { announcePauses } from './commands/repair.js';
import { startRun } from './start-run.js';
// A harmless cycle: run.ts loads this module only from inside runCommand, once it is itself loaded.
import { PAUSE_REFUSAL } from './run-here.js';

/** Where a follower's text goes: stderr of the command, here or through dev's socket. */
export interface FollowSink {
  /** Progress text, as it is (a terminal's status line has no newline). */
  stderr(text: string): void;
  /** A line of its own (pause announcements). */
  log(line: string): void;
}

/** How often a followed run is asked whether it ended (runResult). */
export const RESULT_CHECK_MS = 3_000;

/**
 * The run's result, as `handle.result()` gives it. That is a history long poll, which the
 * Temporal CLI's dev server sometimes does not wake when the run ends: with twenty runs at
 * once, one `millrace run` exited 14 s after its run had ended, when the poll expired (20 s
 * after it began). Asking every RESULT_CHECK_MS how the run's latest execution stands bounds
 * that wait; its result is then read again, which a closed run answers at once. The asking
 * stops when `signal` aborts (nobody follows the run any more).
 */
export async function runResult<T>(handle: Pick<WorkflowHandle, 'result' | 'client' | 'workflowId'>, checkMs = RESULT_CHECK_MS, signal?: AbortSignal): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  let settled = false;
  const ended = new Promise<void>((resolve) => {
    const check = async () => {
      // Not the handle's own run: a run that continued as new is still going in its latest execution.
      const status = await handle.client
        .getHandle(handle.workflowId)
        .describe()
        .then((d) => d.status.name, () => 'RUNNING');
      if (settled || signal?.aborted) return;
      if (status === 'RUNNING') timer = setTimeout(() => void check(), checkMs);
      else resolve();
    };
    timer = setTimeout(() => void check(), checkMs);
  });
  try {
    return (await Promise.race([handle.result(), ended.then(() => handle.result())])) as T;
  } finally {
    settled = true;
    clearTimeout(timer);
  }
}

/**
 * Follows a started run to its end: its progress and pauses as `choices` say, then the
 * report of how it ended. `started` is when the command began to start it (the report's
 * duration). Stops following, with no report, when `signal` aborts (the command that dev
 * follows for went away).
 */
export async function followRun(
  handle: WorkflowHandle,
  input: RunInput,
  choices: Omit<FollowChoices, 'logOutput'>,
  sink: FollowSink,
  started: number,
  signal?: AbortSignal,
): Promise<RunReport | undefined> {
  const stopProgress = choices.progress ? followProgress(handle, (text) => sink.stderr(text), choices.progress) : undefined;
  // A paused run waits for a person: say how to repair it, and keep following it.
  const stopPauses = choices.pauses ? announcePauses(handle, input.runId, (line) => sink.log(line)) : undefined;
  try {
    const aborted = new Promise<undefined>((resolve) => (signal?.aborted ? resolve(undefined) : signal?.addEventListener('abort', () => resolve(undefined), { once: true })));
    const ended = runResult<RunResult>(handle, RESULT_CHECK_MS, signal).then(
      (result) => reportFromResult(result, (Date.now() - started) / 1000),
      (err: unknown) => reportFromFailure(temporalLost(err, input.runId), input.runId, input.output, (Date.now() - started) / 1000),
    );
    return await Promise.race([ended, aborted]);
  } finally {
    await stopProgress?.();
    await stopPauses?.();
  }
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
  const choices = followChoices({ ...options, onFailure: input.onFailure });
  const log = progressLog(options);
  if (input.onFailure === 'pause' && session.mode === 'embedded') throw new UserError(PAUSE_REFUSAL);
  const started = Date.now();
  let cancelling = false;
  const onSigint = () => {
    if (cancelling) return;
    cancelling = true;
    log(CANCELLING);
    void handle?.cancel().catch(() => undefined);
  };
  let handle: WorkflowHandle | undefined;
  try {
    handle = await startRun(session, input);
    if (options.detach) {
      printStarted(input, { json: options.json, warnings });
      return EXIT.ok;
    }
    log(`run ${input.runId}`);
    process.on('SIGINT', onSigint);
    const toStderr = (text: string) => process.stderr.write(text);
    const stopOutput = choices.logOutput ? followCellOutput(input.output, toStderr) : undefined;
    const report = await followRun(handle, input, choices, { stderr: toStderr, log }, started);
    await stopOutput?.();
    return await printReport(report!, { json: options.json, warnings });
  } finally {
    process.off('SIGINT', onSigint);
  }
}
