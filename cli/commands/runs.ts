/** `millrace runs`: recent runs from Temporal visibility, newest first. */
import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import { z } from 'zod';
import { EXIT, UserError } from '../errors.js';
import { SCHEDULE_NAME_PATTERN } from '../schedule-input.js';
import { READS_HISTORY, withSession } from '../session.js';
import { table } from '../table.js';

const STATUS_QUERY: Record<string, string> = {
  running: "ExecutionStatus = 'Running'",
  completed: "ExecutionStatus = 'Completed'",
  failed: "ExecutionStatus IN ('Failed', 'TimedOut', 'Terminated')",
  cancelled: "ExecutionStatus = 'Canceled'",
  // A paused run is running for Temporal; the memo says it is paused (filtered below).
  paused: "ExecutionStatus = 'Running'",
};

export const runsOptionsSchema = z.object({
  status: z.enum(['running', 'completed', 'failed', 'cancelled', 'paused']).optional(),
  notebook: z.string().optional(),
  schedule: z.string().optional(),
  limit: z.coerce.number().int().positive().default(20),
  json: z.boolean().default(false),
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
}

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
export type RunFilter = Pick<z.infer<typeof runsOptionsSchema>, 'status' | 'notebook' | 'schedule' | 'limit'>;

/** Runs from Temporal visibility, newest first, one entry per run (continue-as-new folded). */
export async function listRuns(client: Client, options: RunFilter): Promise<RunSummary[]> {
  const clauses = ["WorkflowType = 'notebookRun'"];
  if (options.status) clauses.push(STATUS_QUERY[options.status]!);
  const runs: RunSummary[] = [];
  for await (const info of client.workflow.list({ query: clauses.join(' AND ') })) {
    // A long run continues as new: its earlier executions are not separate runs.
    if (info.status.name === 'CONTINUED_AS_NEW') continue;
    const summary = summarize(info);
    // A paused run is Running for Temporal: the memo tells the two apart.
    if (options.status && summary.status !== options.status) continue;
    if (options.notebook && summary.notebook !== options.notebook) continue;
    // The memo, not TemporalScheduledById: it survives continue-as-new.
    if (options.schedule && summary.schedule !== options.schedule) continue;
    runs.push(summary);
    if (runs.length >= options.limit) break;
  }
  return runs;
}

export async function runsCommand(raw: unknown): Promise<number> {
  const parsed = runsOptionsSchema.safeParse(raw);
  if (!parsed.success) throw new UserError(`runs: ${parsed.error.issues[0]?.path.join('.')}: ${parsed.error.issues[0]?.message}`);
  const options = parsed.data;
  if (options.schedule !== undefined && !SCHEDULE_NAME_PATTERN.test(options.schedule)) {
    throw new UserError(`runs --schedule ${JSON.stringify(options.schedule)}: no such schedule name (see \`millrace schedule list\`)`);
  }
  return withSession({ needs: READS_HISTORY, json: options.json }, async (session) => {
    const runs = await listRuns(session.client, options);
    if (options.json) {
      process.stdout.write(`${JSON.stringify(runs)}\n`);
    } else if (runs.length === 0) {
      process.stdout.write('no runs\n');
    } else {
      process.stdout.write(
        table(
          ['RUN', 'STATUS', 'NOTEBOOK', 'STARTED', 'DURATION'],
          runs.map((r) => [r.run_id, r.status, r.notebook ?? '', r.started ?? '', r.duration_s === null ? '' : `${r.duration_s.toFixed(1)}s`]),
        ),
      );
    }
    return EXIT.ok;
  });
}
