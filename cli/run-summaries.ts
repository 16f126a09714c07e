/**
 * Runs as `millrace runs` lists them, from Temporal visibility: the summary of one run
 * (its memo), the filters, and the listing itself; what dev answers `runs` with
 * (cli/dev-server.ts), the inspector's list and `show` read too.
 */
import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import { z } from 'zod';
import { NOTIFICATION_FAILED_MEMO, runIdSchema } from '../workflows/contracts.js';
import { UserError } from './errors.js';
import { SCHEDULE_NAME_PATTERN } from './schedule-input.js';

const STATUS_QUERY: Record<string, string> = {
  running: "ExecutionStatus = 'Running'",
  completed: "ExecutionStatus = 'Completed'",
  failed: "ExecutionStatus IN ('Failed', 'TimedOut', 'Terminated')",
  cancelled: "ExecutionStatus = 'Canceled'",
  // A paused run is running for Temporal; the memo says it is paused (filtered below).
  paused: "ExecutionStatus = 'Running'",
};

/** `millrace runs`' filtering options (its --json is the command's own business). */
export const runFilterSchema = z.object({
  status: z.enum(['running', 'completed', 'failed', 'cancelled', 'paused']).optional(),
  notebook: z.string().optional(),
  schedule: z.string().optional(),
  limit: z.coerce.number().int().positive().default(20),
});

export interface RunSummary {
  run_id: string;
  status: string;
  notebook: string | null;
  output: string | null;
  /** The schedule that started the run, if one did. */
  schedule: string | null;
  started: string | null;
  ended: string | null;
  duration_s: number | null;
  /**
   * The values the run was started with, as papermill records them (JSON); from the memo
   * `millrace run` writes at start, so listing runs reads nothing else. null for runs
   * started without it (schedules' runs, runs of earlier versions): `show` reads the record.
   */
  parameters: Record<string, unknown> | null;
  /** Why the run's webhook notification was not delivered (`--notify-on`); null if it was, or none was due. */
  notification_failed?: string | null;
}

const memoParametersSchema = z.record(z.string(), z.unknown());

export function statusName(info: Pick<WorkflowExecutionInfo, 'status'> & Partial<Pick<WorkflowExecutionInfo, 'memo'>>): string {
  switch (info.status.name) {
    case 'RUNNING':
      // --on-failure pause: the run keeps the memo `paused` while it waits for a repair.
      return info.memo?.['paused'] ? 'paused' : 'running';
    case 'COMPLETED':
      return 'completed';
    case 'CANCELLED':
      return 'cancelled';
    case 'CONTINUED_AS_NEW':
      return 'running';
    default:
      return 'failed';
  }
}

export function summarize(
  info: Pick<WorkflowExecutionInfo, 'workflowId' | 'status' | 'memo' | 'startTime' | 'closeTime'>,
): RunSummary {
  const memo = info.memo ?? {};
  const started = info.startTime ?? null;
  const ended = info.closeTime ?? null;
  return {
    run_id: info.workflowId,
    status: statusName(info),
    notebook: typeof memo['notebook'] === 'string' ? memo['notebook'] : null,
    output: typeof memo['output'] === 'string' ? memo['output'] : scheduledOutput(info.workflowId, memo),
    schedule: typeof memo['schedule'] === 'string' ? memo['schedule'] : null,
    started: started?.toISOString() ?? null,
    ended: ended?.toISOString() ?? null,
    duration_s: started && ended ? (ended.getTime() - started.getTime()) / 1000 : null,
    parameters: memoParametersSchema.safeParse(memo['parameters']).data ?? null,
    notification_failed: typeof memo[NOTIFICATION_FAILED_MEMO] === 'string' ? memo[NOTIFICATION_FAILED_MEMO] : null,
  };
}

/**
 * A schedule's runs share one memo, fixed when the schedule was saved: their output is
 * `<outputDir>/<run id>/<notebook>`, the rule the workflow follows (see docs/schedules.md).
 */
function scheduledOutput(runId: string, memo: Record<string, unknown>): string | null {
  const dir = memo['outputDir'];
  const notebook = memo['notebook'];
  if (typeof dir !== 'string' || typeof notebook !== 'string') return null;
  return `${dir.replace(/\/+$/, '')}/${runId}/${notebook}`;
}

/** Which runs to list: `millrace runs` options, also the inspector's list. */
export type RunFilter = z.infer<typeof runFilterSchema> & {
  /** Only runs whose id starts with this (a RUN argument's prefix, see cli/run-ids.ts). */
  idPrefix?: string;
};

/**
 * Runs from Temporal visibility in its order (running runs first, then by end time, newest
 * first), one entry per run (continue-as-new folded).
 */
export async function* visibleRuns(client: Client, options: Omit<RunFilter, 'limit'>): AsyncGenerator<RunSummary> {
  const clauses = ["WorkflowType = 'notebookRun'"];
  if (options.status) clauses.push(STATUS_QUERY[options.status]!);
  // A valid run id has no quote to escape (runIdSchema); anything else is a bug upstream.
  if (options.idPrefix !== undefined) clauses.push(`WorkflowId STARTS_WITH '${runIdSchema.parse(options.idPrefix)}'`);
  for await (const info of client.workflow.list({ query: clauses.join(' AND ') })) {
    // A long run continues as new: its earlier executions are not separate runs.
    if (info.status.name === 'CONTINUED_AS_NEW') continue;
    const summary = summarize(info);
    // A paused run is Running for Temporal: the memo tells the two apart.
    if (options.status && summary.status !== options.status) continue;
    if (options.notebook && summary.notebook !== options.notebook) continue;
    // The memo, not TemporalScheduledById: it survives continue-as-new.
    if (options.schedule && summary.schedule !== options.schedule) continue;
    yield summary;
  }
}

/** Runs from Temporal visibility, newest first, at most `limit`. */
export async function listRuns(client: Client, options: RunFilter): Promise<RunSummary[]> {
  const runs: RunSummary[] = [];
  for await (const summary of visibleRuns(client, options)) {
    runs.push(summary);
    if (runs.length >= options.limit) break;
  }
  return runs;
}

/**
 * The run started last (`latest`). Visibility lists running runs first, then ended ones by
 * end time, so an old run still running (or paused) comes before a newer one that ended:
 * read on until a run ended before the best start seen, as every later one did too.
 */
export async function newestRun(client: Client): Promise<RunSummary | undefined> {
  let newest: RunSummary | undefined;
  for await (const summary of visibleRuns(client, {})) {
    if (newest?.started && summary.ended && summary.ended < newest.started) break;
    if (!newest || (summary.started ?? '') > (newest.started ?? '')) newest = summary;
  }
  return newest;
}

/**
 * `millrace runs`' options as a filter, checked: a one-line error naming the option that
 * is wrong. dev checks what a command sends it the same way (cli/dev-server.ts).
 */
export function runFilterOf(raw: unknown): RunFilter {
  const parsed = runFilterSchema.safeParse(raw);
  if (!parsed.success) throw new UserError(`runs: ${parsed.error.issues[0]?.path.join('.')}: ${parsed.error.issues[0]?.message}`);
  const { schedule } = parsed.data;
  if (schedule !== undefined && !SCHEDULE_NAME_PATTERN.test(schedule)) {
    throw new UserError(`runs --schedule ${JSON.stringify(schedule)}: no such schedule name (see \`millrace schedule list\`)`);
  }
  return parsed.data;
}
