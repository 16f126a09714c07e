/**
 * What `millrace schedule list` and `describe` show: a Temporal schedule read back as the
 * millrace schedule it holds (notebook snapshot, parameters, spec, policies), its next run
 * times, and its recent runs with their status and output notebooks.
 */
import { WorkflowNotFoundError, type Client, type ScheduleDescription } from '@temporalio/client';
import { basename } from 'node:path';
import { paramsToJson } from '../notebook/params.js';
import { runInputSchema, type RunInput, type ScheduledRun } from '../workflows/contracts.js';
import { summarize } from './run-summaries.js';
import { UserError } from './errors.js';
import { formatDuration, overlapName, SCHEDULE_ID_PREFIX, type OverlapName } from './schedule-input.js';

export type ScheduledInput = RunInput & { schedule: ScheduledRun };

/** The notebookRun input a millrace schedule starts each run with. */
export function scheduleInput(description: ScheduleDescription): ScheduledInput {
  const name = description.scheduleId.slice(SCHEDULE_ID_PREFIX.length);
  const parsed = runInputSchema.safeParse(description.action.args?.[0]);
  if (description.action.workflowType !== 'notebookRun' || !parsed.success || !parsed.data.schedule) {
    throw new UserError(`schedule ${name} (${description.scheduleId}) does not start millrace runs; leave it to the tool that created it`);
  }
  return parsed.data as ScheduledInput;
}

export interface RecentRun {
  run_id: string;
  scheduled_time: string;
  started: string;
  status: string;
  output: string | null;
}

export interface ScheduleView {
  name: string;
  notebook: string;
  source: { location: string; sha256: string };
  parameters: Record<string, unknown>;
  kernel: string | null;
  /** The runs' working directory (null: the Jupyter Server's, schedules created before --cwd). */
  cwd: string | null;
  output_dir: string;
  spec: string;
  timezone: string;
  time_parameter: string;
  date_parameter: string;
  overlap: OverlapName;
  catchup_window: string;
  pause_on_failure: boolean;
  notify: { on: string; webhook: string } | null;
  paused: boolean;
  note: string | null;
  next_runs: string[];
  recent_runs: RecentRun[];
  actions_taken: number;
  skipped_overlap: number;
  missed_catchup_window: number;
  buffered: number;
  created: string;
  updated: string | null;
}

/** Status and output of the runs a schedule started (newest first), from the runs themselves. */
export async function recentRuns(client: Client, description: ScheduleDescription, limit = 10): Promise<RecentRun[]> {
  const actions = [...description.info.recentActions].reverse().slice(0, limit);
  return Promise.all(
    actions.map(async (a): Promise<RecentRun> => {
      const runId = a.action.workflow.workflowId;
      const base = { run_id: runId, scheduled_time: a.scheduledAt.toISOString(), started: a.takenAt.toISOString() };
      try {
        const summary = summarize(await client.workflow.getHandle(runId).describe());
        return { ...base, status: summary.status, output: summary.output };
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) return { ...base, status: 'unknown (history deleted)', output: null };
        throw err;
      }
    }),
  );
}

export function scheduleView(description: ScheduleDescription, runs: RecentRun[]): ScheduleView {
  const input = scheduleInput(description);
  const raw = description.raw.info;
  return {
    name: input.schedule.name,
    notebook: input.inputPath,
    source: input.source,
    parameters: paramsToJson(input.parameters),
    kernel: input.kernelName ?? null,
    cwd: input.cwd ?? null,
    output_dir: input.schedule.outputDir,
    spec: input.schedule.spec,
    timezone: description.spec.timezone || 'UTC',
    time_parameter: input.schedule.timeParameter,
    date_parameter: input.schedule.dateParameter,
    overlap: overlapName(description.policies.overlap),
    catchup_window: formatDuration(description.policies.catchupWindow),
    pause_on_failure: description.policies.pauseOnFailure,
    notify: input.notify ? { on: input.notify.on, webhook: `sealed (key ${input.notify.webhook.keyId})` } : null,
    paused: description.state.paused,
    note: description.state.note || null,
    next_runs: description.info.nextActionTimes.slice(0, 10).map((t) => t.toISOString()),
    recent_runs: runs,
    actions_taken: description.info.numActionsTaken,
    skipped_overlap: description.info.numActionsSkippedOverlap,
    missed_catchup_window: description.info.numActionsMissedCatchupWindow,
    buffered: Number(raw?.bufferSize ?? 0),
    created: description.info.createdAt.toISOString(),
    updated: description.info.lastUpdatedAt?.toISOString() ?? null,
  };
}

export function formatView(v: ScheduleView): string {
  const params = Object.entries(v.parameters).map(([k, value]) => `${k}=${JSON.stringify(value)}`);
  const lines = [
    `schedule:    ${v.name}${v.paused ? '  (paused)' : ''}`,
    `notebook:    ${v.notebook}`,
    `snapshot:    ${v.source.location}`,
    `parameters:  ${params.length ? params.join(' ') : '(none)'}`,
    `kernel:      ${v.kernel ?? "(the notebook's)"}`,
    `cwd:         ${v.cwd ?? "(the Jupyter Server's)"}`,
    `spec:        ${v.spec} (${v.timezone})`,
    `nominal time: ${v.time_parameter} (ISO 8601), ${v.date_parameter} (date), when the notebook declares them`,
    `overlap:     ${v.overlap}`,
    `catch-up:    ${v.catchup_window}`,
    `on failure:  ${v.pause_on_failure ? 'pause the schedule' : 'keep going'}`,
    `notify:      ${v.notify ? `on ${v.notify.on}, webhook ${v.notify.webhook}` : 'no'}`,
    `outputs:     ${v.output_dir}/<run id>/${basename(v.notebook)}`,
    ...(v.note ? [`note:        ${v.note}`] : []),
    `runs taken:  ${v.actions_taken} (skipped for overlap: ${v.skipped_overlap}, missed catch-up: ${v.missed_catchup_window}, waiting: ${v.buffered})`,
    '',
    v.next_runs.length ? 'next runs:' : 'next runs:   none',
    ...v.next_runs.map((t) => `  ${t}`),
    '',
    v.recent_runs.length ? 'recent runs:' : 'recent runs: none',
    ...v.recent_runs.map((r) => `  ${r.run_id}  ${r.status}  ${r.output ?? ''}`),
  ];
  return `${lines.join('\n')}\n`;
}
