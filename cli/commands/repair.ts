/**
 * `millrace retry | exec | skip | abort RUN`: repair a run paused by `--on-failure pause`.
 * Each sends one Temporal Update to the paused run and prints its answer; the run refuses
 * (exit 2) when it is not paused.
 */
import {
  WorkflowFailedError,
  WorkflowUpdateFailedError,
  ApplicationFailure,
  type Client,
  type WorkflowHandle,
} from '@temporalio/client';
import { readFile } from 'node:fs/promises';
import {
  MAX_RETRY_SOURCE_CHARS,
  MAX_SCRATCH_CODE_CHARS,
  REPAIR_UPDATES,
  type ExecArgs,
  type RepairDecision,
  type RepairExecution,
  type RetryArgs,
  type RunProgress,
} from '../../workflows/contracts.js';
import { EXIT, UserError } from '../errors.js';
import { reportFromFailure } from '../run-report.js';
import { describeReport, reportFromResult, type RunReport } from '../run-outcome.js';
import { checkRunArgument, withRunSession } from '../run-ids.js';
import { longLivedOnly, runNotFound } from '../session.js';

export type RepairName = keyof typeof REPAIR_UPDATES;

/** Refusals of the paused run's validators: the person asked for something it cannot do. */
const REFUSALS = new Set(['NotPaused', 'RepairBusy', 'BadRepair']);

/** `millrace retry RUN [--source FILE]`. */
export async function retryCommand(run: string, opts: { source?: string; json: boolean }): Promise<number> {
  const args: RetryArgs = opts.source === undefined ? {} : { source: await readSource(opts.source) };
  return repairCommand(run, 'retry', args, opts.json);
}

/** `millrace exec RUN CODE|-`. */
export async function execCommand(run: string, code: string, opts: { timeout?: number; json: boolean }): Promise<number> {
  const text = code === '-' ? await readStdin() : code;
  if (text.length > MAX_SCRATCH_CODE_CHARS) throw new UserError(`scratch code is limited to ${MAX_SCRATCH_CODE_CHARS} characters`);
  if (!text.trim()) throw new UserError('exec: there is no code to run');
  const args: ExecArgs = { code: text, ...(opts.timeout !== undefined ? { timeoutS: opts.timeout } : {}) };
  return repairCommand(run, 'exec', args, opts.json);
}

/** `millrace skip RUN` and `millrace abort RUN`. */
export async function decisionCommand(run: string, name: 'skip' | 'abort', opts: { json: boolean }): Promise<number> {
  return repairCommand(run, name, undefined, opts.json);
}

async function readSource(file: string): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => {
    throw new UserError(`--source ${file}: cannot read the file`);
  });
  if (text.length > MAX_RETRY_SOURCE_CHARS) throw new UserError(`--source ${file}: a cell's new source is limited to ${MAX_RETRY_SOURCE_CHARS} characters`);
  return text;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

const NO_STACK = longLivedOnly('no running stack here: paused runs live in `millrace dev` or on TEMPORAL_ADDRESS');

async function repairCommand(run: string, name: RepairName, args: RetryArgs | ExecArgs | undefined, json: boolean): Promise<number> {
  checkRunArgument(run, name);
  return withRunSession({ needs: NO_STACK, json, run }, async (session, runId) => {
    const repaired = await sendRepair(session.client, runId, name, args);
    if (repaired.kind === 'execution') return reportExecution(repaired, json);
    return reportDecision(repaired, json);
  });
}

/** What a repair came to: the run's answer, and for an abort how the run then ended. */
export type Repaired =
  | { kind: 'execution'; name: 'retry' | 'exec'; answer: RepairExecution }
  | { kind: 'decision'; answer: RepairDecision; report?: RunReport };

/**
 * Sends one repair Update to a paused run and waits for its answer; after an abort, also
 * for the run's end (record final, kernel shut down). Refusals (not paused, busy, bad
 * arguments) and unknown runs reject with a UserError of one line. Shared by the
 * commands here and the inspector's keys (cli/inspect/actions.ts).
 */
export async function sendRepair(client: Client, runId: string, name: RepairName, args?: RetryArgs | ExecArgs): Promise<Repaired> {
  const handle = client.workflow.getHandle(runId);
  try {
    const description = await handle.describe();
    if (description.status.name !== 'RUNNING') {
      throw new UserError(`run ${runId} is not paused (${description.status.name.toLowerCase()})`);
    }
    if (name === 'retry' || name === 'exec') {
      const answer = await handle.executeUpdate<RepairExecution, [RetryArgs | ExecArgs]>(REPAIR_UPDATES[name], { args: [args ?? {}] });
      return { kind: 'execution', name, answer };
    }
    const answer = await handle.executeUpdate<RepairDecision, []>(REPAIR_UPDATES[name]);
    if (answer.action === 'skipped') return { kind: 'decision', answer };
    return { kind: 'decision', answer, report: await endOf(handle, answer.runId) };
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError) {
      const cause = err.cause instanceof ApplicationFailure ? err.cause : undefined;
      const refused = cause?.type ? REFUSALS.has(cause.type) : false;
      throw new UserError(cause?.message ?? err.message, refused ? EXIT.badInput : EXIT.runFailed);
    }
    throw runNotFound(err, runId);
  }
}

/** An aborted run's report, once its record is final and its kernel shut down. */
async function endOf(handle: WorkflowHandle, runId: string): Promise<RunReport> {
  const description = await handle.describe();
  const output = typeof description.memo?.['output'] === 'string' ? description.memo['output'] : '';
  const started = description.startTime.getTime();
  try {
    return reportFromResult(await handle.result(), (Date.now() - started) / 1000);
  } catch (err) {
    if (!(err instanceof WorkflowFailedError)) throw err;
    return reportFromFailure(err, runId, output, (Date.now() - started) / 1000);
  }
}

/**
 * A repair's answer as one line, as the commands print it and the inspector shows it;
 * null for scratch code that ran (its output says it all).
 */
export function repairLine(repaired: Repaired): string | null {
  if (repaired.kind === 'decision') {
    const { answer } = repaired;
    return answer.action === 'skipped'
      ? `cell ${answer.cell} skipped: run ${answer.runId} goes on with the next cell`
      : `run ${answer.runId} aborted; its kernel is shut down`;
  }
  const { name, answer } = repaired;
  const error = `${answer.ename ?? 'Error'}: ${answer.evalue ?? ''}`;
  const failed = answer.status !== 'ok';
  if (name === 'retry') {
    return failed ? `cell ${answer.cell} failed again: ${error}; run ${answer.runId} is still paused` : `cell ${answer.cell} completed: run ${answer.runId} goes on`;
  }
  return failed ? `scratch code failed: ${error}; run ${answer.runId} is still paused` : null;
}

/** retry and exec: what the code printed, then how it ended. Exit 1 when it failed. */
function reportExecution(repaired: Extract<Repaired, { kind: 'execution' }>, json: boolean): number {
  const { answer } = repaired;
  const failed = answer.status !== 'ok';
  if (json) {
    const error = answer.ename !== undefined ? { ename: answer.ename, evalue: answer.evalue ?? '' } : null;
    process.stdout.write(`${JSON.stringify({ run_id: answer.runId, cell: answer.cell, status: answer.status, error, output: answer.output, paused: answer.paused })}\n`);
    return failed ? EXIT.runFailed : EXIT.ok;
  }
  if (answer.output) process.stdout.write(answer.output.endsWith('\n') ? answer.output : `${answer.output}\n`);
  const line = repairLine(repaired);
  if (line) process.stderr.write(`${line}\n`);
  return failed ? EXIT.runFailed : EXIT.ok;
}

/** skip: the run goes on. abort: the run has ended (record final, kernel shut down). */
function reportDecision(repaired: Extract<Repaired, { kind: 'decision' }>, json: boolean): number {
  const { answer, report } = repaired;
  if (json) {
    const line: Record<string, unknown> = { run_id: answer.runId, cell: answer.cell, action: answer.action };
    if (report) {
      const { reason: _reason, ...run } = report;
      line['run'] = run;
    }
    process.stdout.write(`${JSON.stringify(line)}\n`);
  } else {
    process.stdout.write(`${repairLine(repaired)}\n${report ? `${describeReport(report)}\n` : ''}`);
  }
  return EXIT.ok;
}

const PAUSE_POLL_MS = 1_000;

/**
 * For a foreground `millrace run --on-failure pause`: each time the run pauses, say which
 * cell failed and how to repair it. Returns a function that stops watching.
 */
export function announcePauses(handle: WorkflowHandle, runId: string, log: (text: string) => void): () => Promise<void> {
  let stopped = false;
  let wasPaused = false;
  const loop = (async () => {
    while (!stopped) {
      try {
        const progress = await handle.query<RunProgress>('progress');
        const paused = progress.paused;
        if (paused && !wasPaused) {
          log(
            [
              `cell ${paused.cell} failed: ${paused.ename}: ${paused.evalue}`,
              `run ${runId} is paused with its kernel alive until ${paused.until}; repair it from another shell:`,
              `  millrace retry ${runId} [--source FILE]   run the cell again, with new source if given`,
              `  millrace exec ${runId} CODE               run scratch code in its kernel`,
              `  millrace skip ${runId}                    mark the cell skipped and go on`,
              `  millrace abort ${runId}                   end the run as failed`,
              'waiting for the run to end (Ctrl-C cancels it)...',
            ].join('\n'),
          );
        }
        wasPaused = paused !== undefined;
      } catch {
        // Not started yet, or finished.
      }
      await new Promise((r) => setTimeout(r, PAUSE_POLL_MS));
    }
  })();
  return async () => {
    stopped = true;
    await loop;
  };
}
