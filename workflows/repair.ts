/**
 * --on-failure pause: the failed cell's run keeps its kernel and waits for a person's
 * repair (the Updates retry, exec, skip, abort), one at a time and never beside a cell,
 * or for the pause timeout, which each repair restarts. Clients send the Updates by the
 * names in REPAIR_UPDATES (cli/commands/repair.ts) and read the answers' types from
 * contracts.ts.
 */
import { ApplicationFailure, condition, defineUpdate, setHandler, upsertMemo } from '@temporalio/workflow';
import type { z } from 'zod';
import { cellOutputExcerpt, execScratch, prepareRetry, SCRATCH_ACTIVITY, skipCell } from './activity-options.js';
import {
  execArgsSchema,
  PAUSE_TIMEOUT_S_DEFAULT,
  REPAIR_UPDATES,
  cellPassed,
  retryArgsSchema,
  SCRATCH_TIMEOUT_S_DEFAULT,
  type CellFailureDetails,
  type CellPlan,
  type CellProgress,
  type CellResult,
  type ExecArgs,
  type FinishedCellResult,
  type ParsedRunInput,
  type PauseInfo,
  type RepairDecision,
  type RepairExecution,
  type RetryArgs,
} from './contracts.js';
import { isCleanSysExit, runCell } from './run-cell.js';
import type { RunState } from './run-state.js';

const retryUpdate = defineUpdate<RepairExecution, [RetryArgs]>(REPAIR_UPDATES.retry);
const execUpdate = defineUpdate<RepairExecution, [ExecArgs]>(REPAIR_UPDATES.exec);
const skipUpdate = defineUpdate<RepairDecision, []>(REPAIR_UPDATES.skip);
const abortUpdate = defineUpdate<RepairDecision, []>(REPAIR_UPDATES.abort);

/** What a person asked a paused run to do, through one of the repair Updates. */
type Repair = { kind: 'retry'; source?: string } | { kind: 'exec'; code: string; timeoutS?: number } | { kind: 'skip' } | { kind: 'abort' };

interface RepairRequest {
  repair: Repair;
  answer(result: RepairExecution | RepairDecision): void;
  refuse(reason: string): void;
}

/** How a pause ended: the cell now passes, was skipped, or the run ends failed. */
export type PauseOutcome =
  | { kind: 'passed'; result: FinishedCellResult }
  | { kind: 'skipped' }
  | { kind: 'ended'; failure: CellFailureDetails; expired: boolean };

/** `86400` -> `24h`, `90` -> `1m30s`: the pause timeout as the user wrote it. */
function durationText(seconds: number): string {
  const parts: string[] = [];
  let rest = Math.round(seconds);
  for (const [unit, size] of [['d', 86_400], ['h', 3_600], ['m', 60], ['s', 1]] as const) {
    if (rest >= size || (unit === 's' && parts.length === 0)) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  return parts.join('');
}

function validArgs<T>(schema: z.ZodType<T>, args: unknown): T {
  const parsed = schema.safeParse(args ?? {});
  if (!parsed.success) throw ApplicationFailure.nonRetryable(parsed.error.issues[0]?.message ?? 'invalid arguments', 'BadRepair');
  return parsed.data;
}

/** The repair Updates of one run, and its pauses. Created before the run's first activity, so no Update is missed. */
export class Repairs {
  /** A repair an Update asked for, until the paused run has acted on it and answered. */
  private request: RepairRequest | undefined;
  private readonly pauseTimeoutS: number;

  constructor(
    private readonly input: ParsedRunInput,
    private readonly state: RunState,
  ) {
    this.pauseTimeoutS = input.pauseTimeoutS ?? PAUSE_TIMEOUT_S_DEFAULT;
    // Validators refuse before anything is written to history, with a message for the person.
    setHandler(retryUpdate, (args) => this.requestRepair<RepairExecution>({ kind: 'retry', ...validArgs(retryArgsSchema, args) }), {
      validator: (args) => {
        this.mustBePaused();
        validArgs(retryArgsSchema, args);
      },
    });
    setHandler(execUpdate, (args) => this.requestRepair<RepairExecution>({ kind: 'exec', ...validArgs(execArgsSchema, args) }), {
      validator: (args) => {
        this.mustBePaused();
        validArgs(execArgsSchema, args);
      },
    });
    setHandler(skipUpdate, () => this.requestRepair<RepairDecision>({ kind: 'skip' }), { validator: () => this.mustBePaused() });
    setHandler(abortUpdate, () => this.requestRepair<RepairDecision>({ kind: 'abort' }), { validator: () => this.mustBePaused() });
  }

  private requestRepair<R extends RepairExecution | RepairDecision>(repair: Repair): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.request = {
        repair,
        answer: (result) => resolve(result as R),
        refuse: (reason) => reject(ApplicationFailure.nonRetryable(reason, 'RunEnding')),
      };
    });
  }

  private mustBePaused(): void {
    const { input, state } = this;
    if (input.onFailure !== 'pause') {
      throw ApplicationFailure.nonRetryable(`run ${input.runId} was not started with --on-failure pause: it cannot be repaired in place`, 'NotPaused');
    }
    if (!state.progress.paused) throw ApplicationFailure.nonRetryable(`run ${input.runId} is not paused (it is ${state.progress.phase})`, 'NotPaused');
    if (this.request) {
      throw ApplicationFailure.nonRetryable(`run ${input.runId} is busy with a ${this.request.repair.kind}: wait for its answer`, 'RepairBusy');
    }
  }

  private enterPause(cell: number, error: { ename: string; evalue: string }): void {
    const now = Date.now();
    const paused: PauseInfo = { cell, ...error, since: new Date(now).toISOString(), until: new Date(now + this.pauseTimeoutS * 1000).toISOString() };
    this.state.progress.phase = 'paused';
    this.state.progress.paused = paused;
    // The memo is what `millrace runs` and `show` see without a worker: nothing to register.
    upsertMemo({ paused });
  }

  private leavePause(): void {
    const { progress } = this.state;
    if (!progress.paused) return;
    progress.phase = 'executing';
    progress.paused = undefined;
    upsertMemo({ paused: null });
  }

  /** Pauses the run at `cell`, which failed with `failed`, until a repair or the pause timeout ends the pause. */
  async pauseUntilRepaired(cell: CellPlan, cellProgress: CellProgress, failed: CellResult): Promise<PauseOutcome> {
    const { input, state } = this;
    let error = { ename: failed.ename ?? 'Error', evalue: failed.evalue ?? '' };
    const end = (note: string, expired: boolean): PauseOutcome => ({
      kind: 'ended',
      failure: { runId: input.runId, cellIndex: cell.index, ...error, output: input.output, note },
      expired,
    });
    state.cellInFlight = cell.index;
    try {
      for (;;) {
        this.enterPause(cell.index, error);
        if (!(await condition(() => this.request !== undefined, this.pauseTimeoutS * 1000))) {
          return end(`paused for ${durationText(this.pauseTimeoutS)} without repair`, true);
        }
        const { repair, answer } = this.request!;
        if (repair.kind === 'abort') {
          answer({ runId: input.runId, cell: cell.index, action: 'aborted' });
          return end('aborted while paused', false);
        }
        if (repair.kind === 'skip') {
          state.tookRevision(await skipCell({ output: input.output, cellIndex: cell.index, revision: state.revision }), 1);
          cellProgress.status = 'skipped';
          answer({ runId: input.runId, cell: cell.index, action: 'skipped' });
          return { kind: 'skipped' };
        }
        if (repair.kind === 'exec') {
          const timeoutS = repair.timeoutS ?? SCRATCH_TIMEOUT_S_DEFAULT;
          const scratch = { runId: input.runId, output: input.output, kernel: state.kernel!, cellIndex: cell.index, revision: state.revision, code: repair.code, timeoutS };
          // The saved revision is the workflow's, not part of the person's answer.
          const { revision, ...result } = await execScratch.executeWithOptions({ ...SCRATCH_ACTIVITY, summary: `scratch code at cell ${cell.index}` }, [scratch]);
          state.tookRevision({ revision }, 1);
          answer(result);
          this.request = undefined;
          continue;
        }
        // retry: a new record revision, so a new message id: the cell is sent once more.
        this.leavePause();
        const retried = await prepareRetry({ output: input.output, cellIndex: cell.index, revision: state.revision, source: repair.source });
        state.tookRevision(retried, 1);
        cellProgress.summary = retried.summary;
        cellProgress.status = 'running';
        const again = await runCell(input, state.kernel!, { ...cell, summary: retried.summary }, state.revision);
        state.tookRevision(again, 1);
        cellProgress.durationMs = again.durationMs;
        const goesOn = cellPassed(again, cell.raisesException) || isCleanSysExit(again);
        const excerpt = await cellOutputExcerpt({ output: input.output, cellIndex: cell.index });
        answer({
          runId: input.runId,
          cell: cell.index,
          status: again.status,
          ...(again.ename !== undefined ? { ename: again.ename, evalue: again.evalue ?? '' } : {}),
          output: excerpt,
          paused: !goesOn,
        });
        if (goesOn) return { kind: 'passed', result: again };
        cellProgress.status = 'failed';
        error = { ename: again.ename ?? 'Error', evalue: again.evalue ?? '' };
        this.request = undefined;
      }
    } catch (err) {
      // Cancelled, timed out, or the kernel was lost during a repair: the run ends.
      this.request?.refuse(`run ${input.runId} is ending: ${err instanceof Error ? err.message : String(err)}`);
      throw err;
    } finally {
      this.request = undefined;
      this.leavePause();
    }
  }
}
