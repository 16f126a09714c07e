/** `millrace runs`: recent runs from Temporal visibility, newest first. */
import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import { z } from 'zod';
import { NOTIFICATION_FAILED_MEMO, runIdSchema } from '../../workflows/contracts.js';
import { EXIT, UserError } from '../errors.js';
import { SCHEDULE_NAME_PATTERN } from '../schedule-input.js';
import { loadConfig, type Config } from '../config.js';
import { askDev } from '../dev-api.js';
import { READS_HISTORY, withSession, type Session } from '../session.js';
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

/**
 * `k=v, k=v` as people read parameters: strings as they are, other values as JSON; by name,
 * as papermill records them, so `runs` (from the memo) and `show` (the record) agree.
 */
export function parametersText(parameters: Record<string, unknown> | null): string {
  if (!parameters) return '';
  return Object.entries(parameters)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(', ');
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
export type RunFilter = Pick<z.infer<typeof runsOptionsSchema>, 'status' | 'notebook' | 'schedule' | 'limit'> & {
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

export async function runsCommand(raw: unknown): Promise<number> {
  const parsed = runsOptionsSchema.safeParse(raw);
  if (!parsed.success) throw new UserError(`runs: ${parsed.error.issues[0]?.path.join('.')}: ${parsed.error.issues[0]?.message}`);
  const options = parsed.data;
  if (options.schedule !== undefined && !SCHEDULE_NAME_PATTERN.test(options.schedule)) {
    throw new UserError(`runs --schedule ${JSON.stringify(options.schedule)}: no such schedule name (see \`millrace schedule list\`)`);
  }
  const config = loadConfig();
  const filter: RunFilter = { status: options.status, notebook: options.notebook, schedule: options.schedule, limit: options.limit };
  // A running `millrace dev` lists them itself: this process then never loads the Temporal client.
  const listed = await askDev<RunSummary[]>(config, 'runs', filter);
  if (listed) return printRuns(listed, options.json, stateRead('dev', config));
  return withSession({ needs: READS_HISTORY, json: options.json, config }, async (session) =>
    printRuns(await listRuns(session.client, filter), options.json, stateRead(session.mode, config)),
  );
}

function printRuns(runs: RunSummary[], json: boolean, state: string): number {
  // Which project's runs these are: state is found walking up from here (or MILLRACE_HOME).
  if (!json) process.stderr.write(`state: ${state}\n`);
  if (json) {
    process.stdout.write(`${JSON.stringify(runs)}\n`);
  } else if (runs.length === 0) {
    process.stdout.write('no runs\n');
  } else {
    process.stdout.write(
      table(
        ['RUN', 'STATUS', 'NOTEBOOK', 'STARTED', 'DURATION', 'PARAMETERS'],
        runs.map((r) => [r.run_id, r.notification_failed ? `${r.status}, notify failed` : r.status, r.notebook ?? '', r.started ?? '', r.duration_s === null ? '' : `${r.duration_s.toFixed(1)}s`, parametersText(r.parameters)]),
      ),
    );
  }
  return EXIT.ok;
}

/** The state `runs` read: the cluster's Temporal, else the state directory found. */
function stateRead(mode: Session['mode'], config: Config): string {
  if (mode === 'cluster') return `Temporal at ${config.temporalAddress} (namespace ${config.namespace})`;
  return mode === 'dev' ? `${config.stateDir} (millrace dev)` : config.stateDir;
}
