/**
 * `millrace schedule ...`: notebooks on Temporal Schedules. Each schedule is the Temporal
 * Schedule `millrace-schedule-NAME`, whose action starts `notebookRun` on the notebook
 * snapshot taken when the schedule was created or last given a notebook. Runs are named
 * `NAME-<nominal time>` by Temporal and write `<output dir>/<run id>/<notebook>`.
 */
// Only light modules are loaded statically, so bad input is refused before the Temporal
// client loads; the session, the views and the sealing are imported when needed.
import type { Client, ScheduleDescription, ScheduleHandle, ScheduleOptionsAction, ScheduleSpec } from '@temporalio/client';
import { basename, resolve } from 'node:path';
import { backendFor, isWritableLocation, joinLocation, store } from '../../record/store/index.js';
import { parseNotebook } from '../../notebook/nbformat.js';
import { inferParameters } from '../../notebook/parameterize.js';
import type { Params } from '../../notebook/params.js';
import type { KernelPlacement, NotifyConfig, RunInput } from '../../workflows/contracts.js';
import type { WrapOptions } from '../../jobs/wrap.js';
import { loadConfig, type Config } from '../config.js';
import type { Session } from '../session.js';
import { EXIT, UserError } from '../errors.js';
import { progressLog } from '../output.js';
import {
  flag,
  notifyOnSchema,
  OVERLAP,
  overlapName,
  overlapSchema,
  paramNameFlagSchema,
  parseBound,
  parseSpec,
  durationSchema,
  scheduleId,
  scheduleNameSchema,
  SCHEDULE_ID_PREFIX,
  timezoneSchema,
  webhookUrlSchema,
  type OverlapName,
  type ParsedSpec,
  type SpecFlags,
} from '../schedule-input.js';
import type { RecentRun, ScheduledInput, ScheduleView } from '../schedule-view.js';
import { buildRunInput, checkParameters, resolveParameters, type ParameterArgs } from '../submit.js';

const DEFAULT_TIME_PARAMETER = 'scheduled_time';
const DEFAULT_DATE_PARAMETER = 'run_date';

interface Common {
  json: boolean;
}

interface RunFlags extends ParameterArgs {
  kernel?: string;
  /** The kernel's working directory of every run (relative to where the command is called). */
  cwd?: string;
  outputDir?: string;
  cellTimeout?: number;
  timeout?: number;
  timezone?: string;
  overlap?: string;
  catchupWindow?: string;
  pauseOnFailure?: boolean;
  note?: string;
  notifyOn?: string;
  notifyWebhook?: string;
  timeParameter?: string;
  dateParameter?: string;
}

export interface CreateOptions extends RunFlags, SpecFlags, Common {
  paused: boolean;
  /** --image/--cpus/--memory/--env/--mount: each run's kernel in a container. */
  placement?: KernelPlacement;
  /** A job file's --engine and --connection (as `millrace wrap`). */
  wrap?: WrapOptions;
}

export interface UpdateOptions extends RunFlags, SpecFlags, Common {
  notebook?: string | true;
  resetParameters: boolean;
  notify?: boolean;
}

function validName(name: string): string {
  return flag('schedule name', scheduleNameSchema, name);
}

/**
 * Runs `fn` with a session (cli/session.ts, loaded only now); `longLived` names what needs
 * a stack that outlives the command: a schedule that starts runs, a trigger, a backfill.
 * `createsState`: only `schedule create` may create the state directory (as `run` does).
 */
async function withSession<T>(
  options: Common & { longLived?: string; createsState?: boolean },
  fn: (session: Session, config: Config) => Promise<T>,
  config: Config = loadConfig(),
): Promise<T> {
  const sessions = await import('../session.js');
  const needs = options.longLived ? sessions.outlives(options.longLived) : sessions.READS_HISTORY;
  return sessions.withSession({ needs, json: options.json, config, createsState: options.createsState }, fn);
}

async function describeSchedule(client: Client, name: string): Promise<{ handle: ScheduleHandle; description: ScheduleDescription }> {
  const handle = client.schedule.getHandle(scheduleId(name));
  const { ScheduleNotFoundError } = await import('@temporalio/client');
  try {
    return { handle, description: await handle.describe() };
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) throw new UserError(`no schedule ${name}: see \`millrace schedule list\``);
    throw err;
  }
}

function toSpec(spec: ParsedSpec, timezone: string): ScheduleSpec {
  return spec.kind === 'cron'
    ? { cronExpressions: [spec.cron], timezone }
    : { intervals: [{ every: spec.everyMs }], timezone };
}

/**
 * Temporal checks cron values (ranges, names) and time zones when a schedule is saved; the
 * client turns "Invalid schedule spec" answers (and specs it cannot compile) into TypeErrors.
 */
function savingError(err: unknown, spec: ParsedSpec | undefined, timezone: string | undefined): never {
  if (!(err instanceof TypeError)) throw err;
  const message = err.message;
  if (/time ?zone/i.test(message) && timezone) throw new UserError(`--timezone ${JSON.stringify(timezone)}: ${message}`);
  if (spec?.kind === 'cron') throw new UserError(`--cron ${JSON.stringify(spec.cron)}: ${message}`);
  if (spec?.kind === 'every') throw new UserError(`--every: ${message}`);
  throw new UserError(`Temporal refused the schedule spec: ${message}`);
}

function parseRunFlags(options: RunFlags) {
  return {
    timezone: options.timezone === undefined ? undefined : flag('--timezone', timezoneSchema, options.timezone),
    overlap: options.overlap === undefined ? undefined : flag('--overlap', overlapSchema, options.overlap),
    catchupWindowMs: options.catchupWindow === undefined ? undefined : flag('--catchup-window', durationSchema, options.catchupWindow),
    notifyOn: options.notifyOn === undefined ? undefined : flag('--notify-on', notifyOnSchema, options.notifyOn),
    webhook: options.notifyWebhook === undefined ? undefined : flag('--notify-webhook', webhookUrlSchema, options.notifyWebhook),
    timeParameter: options.timeParameter === undefined ? undefined : flag('--time-parameter', paramNameFlagSchema, options.timeParameter),
    dateParameter: options.dateParameter === undefined ? undefined : flag('--date-parameter', paramNameFlagSchema, options.dateParameter),
    outputDir: options.outputDir === undefined ? undefined : outputDirFlag(options.outputDir),
  };
}

function outputDirFlag(dir: string): string {
  const location = /^[a-z][a-z0-9+.-]*:\/\//i.test(dir) ? dir : resolve(dir);
  try {
    backendFor(location);
  } catch (err) {
    throw new UserError(`--output-dir ${JSON.stringify(dir)}: ${(err as Error).message}`);
  }
  if (!isWritableLocation(location)) throw new UserError(`--output-dir ${JSON.stringify(dir)}: an http(s) URL is read-only; use a local directory or s3://bucket/prefix`);
  return location.replace(/\/+$/, '');
}

/** The schedule sets these for each run: a fixed value would be wrong for every run but one. */
function refuseTimeParameters(params: Params, names: string[]): void {
  const clash = Object.keys(params).find((n) => names.includes(n));
  if (clash) {
    throw new UserError(`-p ${clash}: the schedule sets ${clash} from each run's nominal time (choose another name with --time-parameter/--date-parameter)`);
  }
}

/** Seals the webhook URL with the key workers share (see docs/schedules.md); only ciphertext reaches Temporal. */
async function sealWebhook(url: string, config: Config, session: Session, say: (line: string) => void): Promise<NotifyConfig['webhook']> {
  const { keyFilePath, loadSecretKey, seal, SecretKeyError } = await import('../../activities/notify.js');
  let key;
  try {
    key = loadSecretKey({ create: true, dir: config.stateDir });
  } catch (err) {
    if (err instanceof SecretKeyError) throw new UserError(err.message);
    throw err;
  }
  if (!key) throw new UserError('no secret key to seal the webhook URL with');
  if (session.mode === 'cluster' && !process.env['MILLRACE_SECRET_KEY']) {
    say(`note: the webhook URL is sealed with the key in ${keyFilePath(config.stateDir)}; workers on other machines need it as MILLRACE_SECRET_KEY`);
  }
  return seal(url, key);
}

/** Notebook runs need the time parameters declared to receive them: say so when they are not. */
async function timeParameterHint(input: RunInput & { schedule: { timeParameter: string; dateParameter: string } }, say: (l: string) => void) {
  try {
    const nb = parseNotebook((await store.read(input.source.location)).toString('utf8'), input.inputPath);
    const declared = new Set(inferParameters(nb, input.kernelName ? { kernelName: input.kernelName } : {}).map((p) => p.name));
    const { timeParameter, dateParameter } = input.schedule;
    if (!declared.has(timeParameter) && !declared.has(dateParameter)) {
      say(`note: the notebook's parameters cell declares neither ${timeParameter} nor ${dateParameter}; runs will not be told their nominal time`);
    }
  } catch {
    // The snapshot was taken; a hint is not worth failing for.
  }
}

function action(taskQueue: string, name: string, input: RunInput & { schedule: { outputDir: string } }): ScheduleOptionsAction {
  return {
    type: 'startWorkflow',
    workflowType: 'notebookRun',
    // Temporal appends the nominal time: runs are `NAME-2024-01-01T06:00:00Z`.
    workflowId: name,
    taskQueue,
    args: [input],
    // Fixed for all runs: `millrace runs` derives each run's output from outputDir and its id.
    memo: { notebook: basename(input.inputPath), schedule: name, outputDir: input.schedule.outputDir },
  };
}

const views = () => import('../schedule-view.js');

async function view(client: Client, name: string): Promise<ScheduleView> {
  const { recentRuns, scheduleView } = await views();
  const { description } = await describeSchedule(client, name);
  return scheduleView(description, await recentRuns(client, description));
}

async function print(options: Common, v: ScheduleView, headline: string): Promise<void> {
  if (options.json) process.stdout.write(`${JSON.stringify(v)}\n`);
  else process.stdout.write(`${headline}\n${(await views()).formatView(v)}`);
}

export async function scheduleCreate(nameArg: string, notebook: string, options: CreateOptions): Promise<number> {
  const name = validName(nameArg);
  const spec = parseSpec(options, true)!;
  const flags = parseRunFlags(options);
  if (flags.notifyOn && !flags.webhook) throw new UserError('--notify-on needs --notify-webhook URL');
  const timezone = flags.timezone ?? 'UTC';
  const timeParameter = flags.timeParameter ?? DEFAULT_TIME_PARAMETER;
  const dateParameter = flags.dateParameter ?? DEFAULT_DATE_PARAMETER;
  const params = await resolveParameters(options);
  refuseTimeParameters(params, [timeParameter, dateParameter]);
  const say = progressLog(options);
  const config = loadConfig();
  // The snapshot: runs execute these bytes until the schedule is given a notebook again.
  const base = await buildRunInput(config, {
    notebookPath: notebook,
    params,
    injected: [timeParameter, dateParameter],
    kernelName: options.kernel,
    runId: name,
    // As `run`: where the command was called, unless --cwd says otherwise.
    cwd: options.cwd ?? '.',
    cellTimeoutS: options.cellTimeout,
    runTimeoutS: options.timeout,
    placement: options.placement,
    wrap: options.wrap,
    onWarning: say,
  });
  const outputDir = flags.outputDir ?? joinLocation(config.storeRoot, 'runs');
  return withSession({ ...options, longLived: 'a schedule', createsState: true }, async (session) => {
    const input = {
      ...base,
      // Replaced by each run (see docs/schedules.md); kept readable for whoever looks at the schedule.
      output: `${outputDir}/${name}-<nominal time>/${basename(base.inputPath)}`,
      schedule: { name, spec: spec.text, outputDir, timezone, timeParameter, dateParameter },
      ...(flags.webhook ? { notify: { on: flags.notifyOn ?? 'failure', webhook: await sealWebhook(flags.webhook, config, session, say) } } : {}),
    } satisfies RunInput;
    try {
      await session.client.schedule.create({
        scheduleId: scheduleId(name),
        spec: toSpec(spec, timezone),
        action: action(session.taskQueue, name, input),
        policies: {
          overlap: OVERLAP[flags.overlap ?? 'skip'],
          ...(flags.catchupWindowMs !== undefined ? { catchupWindow: flags.catchupWindowMs } : {}),
          pauseOnFailure: options.pauseOnFailure ?? false,
        },
        state: { paused: options.paused, ...(options.note ? { note: options.note } : {}) },
      });
    } catch (err) {
      const { ScheduleAlreadyRunning } = await import('@temporalio/client');
      if (err instanceof ScheduleAlreadyRunning) {
        throw new UserError(`schedule ${name} already exists: change it with \`millrace schedule update ${name}\` or delete it first`);
      }
      savingError(err, spec, flags.timezone);
    }
    await timeParameterHint(input, say);
    await print(options, await view(session.client, name), `created schedule ${name}`);
    return EXIT.ok;
  }, config);
}

export async function scheduleUpdate(nameArg: string, options: UpdateOptions): Promise<number> {
  const name = validName(nameArg);
  const spec = parseSpec(options, false);
  const flags = parseRunFlags(options);
  if (options.notify === false && (flags.notifyOn || flags.webhook)) throw new UserError('--no-notify cannot go with --notify-on or --notify-webhook');
  const newParams = await resolveParameters(options);
  const say = progressLog(options);
  return withSession(options, async (session, config) => {
    const { handle, description } = await describeSchedule(session.client, name);
    const old = (await views()).scheduleInput(description);
    const timezone = flags.timezone ?? old.schedule.timezone;
    const schedule = {
      ...old.schedule,
      timezone,
      ...(spec ? { spec: spec.text } : {}),
      ...(flags.outputDir ? { outputDir: flags.outputDir } : {}),
      ...(flags.timeParameter ? { timeParameter: flags.timeParameter } : {}),
      ...(flags.dateParameter ? { dateParameter: flags.dateParameter } : {}),
    };
    const parameters = checkParameters({ ...(options.resetParameters ? {} : old.parameters), ...newParams });
    refuseTimeParameters(parameters, [schedule.timeParameter, schedule.dateParameter]);
    let input: ScheduledInput = { ...old, schedule, parameters };
    if (options.kernel) input.kernelName = options.kernel;
    if (options.cwd !== undefined) input.cwd = resolve(options.cwd);
    if (options.cellTimeout !== undefined) input.cellTimeoutS = options.cellTimeout;
    if (options.timeout !== undefined) input.runTimeoutS = options.timeout;
    if (options.notebook !== undefined) {
      // A new snapshot: of the file given, or of the schedule's notebook file as it is now.
      const path = options.notebook === true ? old.inputPath : options.notebook;
      const fresh = await buildRunInput(config, { notebookPath: path, params: parameters, runId: name, injected: [schedule.timeParameter, schedule.dateParameter] });
      input = { ...input, source: fresh.source, inputPath: fresh.inputPath };
    }
    input.output = `${schedule.outputDir}/${name}-<nominal time>/${basename(input.inputPath)}`;
    if (options.notify === false) {
      delete input.notify;
    } else if (flags.webhook) {
      input.notify = { on: flags.notifyOn ?? old.notify?.on ?? 'failure', webhook: await sealWebhook(flags.webhook, config, session, say) };
    } else if (flags.notifyOn) {
      if (!old.notify) throw new UserError('--notify-on needs --notify-webhook URL (this schedule has no webhook)');
      input.notify = { ...old.notify, on: flags.notifyOn };
    }
    try {
      await handle.update((previous) => ({
        spec: spec ? toSpec(spec, timezone) : { ...previous.spec, timezone },
        action: action(previous.action.taskQueue, name, input),
        policies: {
          overlap: flags.overlap ? OVERLAP[flags.overlap] : previous.policies.overlap,
          catchupWindow: flags.catchupWindowMs ?? previous.policies.catchupWindow,
          pauseOnFailure: options.pauseOnFailure ?? previous.policies.pauseOnFailure,
        },
        state: {
          paused: previous.state.paused,
          ...(options.note !== undefined ? { note: options.note } : previous.state.note ? { note: previous.state.note } : {}),
          ...(previous.state.remainingActions !== undefined ? { remainingActions: previous.state.remainingActions } : {}),
        },
      }));
    } catch (err) {
      savingError(err, spec, flags.timezone);
    }
    if (options.notebook !== undefined) say(`new snapshot of ${input.inputPath}: ${input.source.location}`);
    await print(options, await view(session.client, name), `updated schedule ${name}`);
    return EXIT.ok;
  });
}

/** A schedule as `schedule list` shows it (and the inspector's Schedules screen). */
export interface ScheduleRow {
  name: string;
  notebook: string;
  spec: string;
  timezone: string;
  paused: boolean;
  next_run: string | null;
  last_run: RecentRun | null;
}

/** Every millrace schedule, by name, with its next run and its last. */
export async function listSchedules(client: Client): Promise<ScheduleRow[]> {
  const { recentRuns, scheduleInput } = await views();
  const names: string[] = [];
  for await (const summary of client.schedule.list()) {
    if (summary.scheduleId.startsWith(SCHEDULE_ID_PREFIX)) names.push(summary.scheduleId.slice(SCHEDULE_ID_PREFIX.length));
  }
  names.sort();
  const rows = await Promise.all(
    names.map(async (name): Promise<ScheduleRow | undefined> => {
      try {
        const { description } = await describeSchedule(client, name);
        const input = scheduleInput(description);
        const [last] = await recentRuns(client, description, 1);
        return {
          name,
          notebook: basename(input.inputPath),
          spec: input.schedule.spec,
          timezone: input.schedule.timezone,
          paused: description.state.paused,
          next_run: description.state.paused ? null : (description.info.nextActionTimes[0]?.toISOString() ?? null),
          last_run: last ?? null,
        };
      } catch (err) {
        // Deleted between listing and describing (listing is eventually consistent), or not ours.
        if (err instanceof UserError) return undefined;
        throw err;
      }
    }),
  );
  return rows.filter((r) => r !== undefined);
}

export async function scheduleList(options: Common): Promise<number> {
  return withSession(options, async (session) => {
    const rows = await listSchedules(session.client);
    if (options.json) {
      process.stdout.write(`${JSON.stringify(rows)}\n`);
    } else if (rows.length === 0) {
      process.stdout.write('no schedules\n');
    } else {
      const { table } = await import('../table.js');
      process.stdout.write(
        table(
          ['NAME', 'NOTEBOOK', 'SPEC', 'NEXT RUN', 'LAST RUN', 'STATUS'],
          rows.map((r) => [
            r.name,
            r.notebook,
            `${r.spec}${r.timezone === 'UTC' ? '' : ` (${r.timezone})`}`,
            r.paused ? 'paused' : (r.next_run ?? ''),
            r.last_run?.run_id ?? '',
            r.last_run?.status ?? '',
          ]),
        ),
      );
    }
    return EXIT.ok;
  });
}

export async function scheduleDescribe(nameArg: string, options: Common): Promise<number> {
  const name = validName(nameArg);
  return withSession(options, async (session) => {
    const v = await view(session.client, name);
    if (options.json) process.stdout.write(`${JSON.stringify(v)}\n`);
    else process.stdout.write((await views()).formatView(v));
    return EXIT.ok;
  });
}

/** Pauses or unpauses a schedule; the note (Temporal's) says why. Resolves to the line `schedule pause` prints. */
export async function setSchedulePaused(client: Client, name: string, paused: boolean, givenNote?: string): Promise<{ note: string; line: string }> {
  const { handle } = await describeSchedule(client, name);
  const note = givenNote ?? (paused ? 'paused with `millrace schedule pause`' : 'unpaused with `millrace schedule unpause`');
  if (paused) await handle.pause(note);
  else await handle.unpause(note);
  return { note, line: `${paused ? 'paused' : 'unpaused'} schedule ${name}` };
}

export async function schedulePause(nameArg: string, paused: boolean, options: Common & { note?: string }): Promise<number> {
  const name = validName(nameArg);
  return withSession(options, async (session) => {
    const { note, line } = await setSchedulePaused(session.client, name, paused, options.note);
    if (options.json) process.stdout.write(`${JSON.stringify({ name, paused, note })}\n`);
    else process.stdout.write(`${line}\n`);
    return EXIT.ok;
  });
}

export interface TriggerOptions extends Common {
  overlap?: string;
  force: boolean;
}

/** The result of a trigger, read from the schedule's counters: Temporal applies it asynchronously. */
type TriggerOutcome = 'started' | 'skipped' | 'buffered' | 'dropped' | 'pending';

export interface Triggered {
  name: string;
  outcome: TriggerOutcome;
  overlap: OverlapName;
  run_id: string | null;
  output: string | null;
  /** What `schedule trigger` prints: one or two lines. */
  text: string;
}

/** Starts a schedule's run now and waits (10 s at most) to tell what came of it. Refuses a paused schedule unless `force`. */
export async function triggerSchedule(client: Client, name: string, options: { overlap?: OverlapName; force: boolean }): Promise<Triggered> {
  const { handle, description: before } = await describeSchedule(client, name);
  const input = (await views()).scheduleInput(before);
  if (before.state.paused && !options.force) {
    const note = before.state.note ? ` (${before.state.note})` : '';
    throw new UserError(`schedule ${name} is paused${note}: unpause it, or trigger anyway with --force`);
  }
  const overlap: OverlapName = options.overlap ?? overlapName(before.policies.overlap);
  const seen = new Set(before.info.recentActions.map((a) => a.action.workflow.workflowId));
  const counters = (d: ScheduleDescription) => ({
    skipped: d.info.numActionsSkippedOverlap,
    buffered: Number(d.raw.info?.bufferSize ?? 0),
    dropped: Number(d.raw.info?.bufferDropped ?? 0),
  });
  const was = counters(before);
  await handle.trigger(OVERLAP[overlap]);
  let outcome: TriggerOutcome = 'pending';
  let runId: string | null = null;
  for (const deadline = Date.now() + 10_000; Date.now() < deadline && outcome === 'pending'; ) {
    await new Promise((r) => setTimeout(r, 150));
    const now = await handle.describe();
    const started = now.info.recentActions.find((a) => !seen.has(a.action.workflow.workflowId));
    const c = counters(now);
    if (started) {
      outcome = 'started';
      runId = started.action.workflow.workflowId;
    } else if (c.skipped > was.skipped) outcome = 'skipped';
    else if (c.buffered > was.buffered) outcome = 'buffered';
    else if (c.dropped > was.dropped) outcome = 'dropped';
  }
  const output = runId ? `${input.schedule.outputDir}/${runId}/${basename(input.inputPath)}` : null;
  const running = before.info.runningActions.map((a) => a.workflow.workflowId).join(', ') || 'a run';
  const text: Record<TriggerOutcome, string> = {
    started: `started ${runId}\noutput: ${output}`,
    skipped: was.buffered > 0
      ? `skipped: ${running} is running and another run is already waiting (overlap ${overlap})`
      : `skipped: ${running} is still running (overlap ${overlap})`,
    buffered: `waiting: starts when ${running} ends (overlap ${overlap})`,
    dropped: `dropped: a run is already waiting for ${running} to end (overlap ${overlap})`,
    pending: `triggered; the run has not started yet (see \`millrace schedule describe ${name}\`)`,
  };
  return { name, outcome, overlap, run_id: runId, output, text: text[outcome] };
}

export async function scheduleTrigger(nameArg: string, options: TriggerOptions): Promise<number> {
  const name = validName(nameArg);
  const overlapFlag = options.overlap === undefined ? undefined : flag('--overlap', overlapSchema, options.overlap);
  return withSession({ ...options, longLived: 'schedule trigger' }, async (session) => {
    const { text, ...result } = await triggerSchedule(session.client, name, { overlap: overlapFlag, force: options.force });
    if (options.json) process.stdout.write(`${JSON.stringify(result)}\n`);
    else process.stdout.write(`${text}\n`);
    return EXIT.ok;
  });
}

export interface BackfillOptions extends Common {
  start: string;
  end: string;
  overlap?: string;
}

/** Queues a schedule's runs for every time it would have started between `start` and `end` (in its time zone's terms). */
export async function backfillSchedule(
  client: Client,
  name: string,
  options: { start: string; end: string; overlap?: OverlapName },
): Promise<{ name: string; start: string; end: string; overlap: OverlapName; line: string }> {
  const overlap: OverlapName = options.overlap ?? 'buffer-all';
  const { handle, description } = await describeSchedule(client, name);
  (await views()).scheduleInput(description);
  const timezone = description.spec.timezone || 'UTC';
  const start = parseBound('--start', options.start, timezone);
  const end = parseBound('--end', options.end, timezone);
  if (end.getTime() <= start.getTime()) throw new UserError(`--end ${options.end} is not after --start ${options.start}`);
  await handle.backfill({ start, end, overlap: OVERLAP[overlap] });
  const result = { name, start: start.toISOString(), end: end.toISOString(), overlap };
  return { ...result, line: `backfill of ${name} from ${result.start} to ${result.end} queued (overlap ${overlap}); follow it with \`millrace runs --schedule ${name}\`` };
}

export async function scheduleBackfill(nameArg: string, options: BackfillOptions): Promise<number> {
  const name = validName(nameArg);
  const overlap: OverlapName = options.overlap === undefined ? 'buffer-all' : flag('--overlap', overlapSchema, options.overlap);
  return withSession({ ...options, longLived: 'schedule backfill' }, async (session) => {
    const { line, ...result } = await backfillSchedule(session.client, name, { start: options.start, end: options.end, overlap });
    if (options.json) process.stdout.write(`${JSON.stringify(result)}\n`);
    else process.stdout.write(`${line}\n`);
    return EXIT.ok;
  });
}

export async function scheduleDelete(nameArg: string, options: Common): Promise<number> {
  const name = validName(nameArg);
  return withSession(options, async (session) => {
    const { handle } = await describeSchedule(session.client, name);
    await handle.delete();
    if (options.json) process.stdout.write(`${JSON.stringify({ name, deleted: true })}\n`);
    else process.stdout.write(`deleted schedule ${name}; its runs and their output notebooks are kept\n`);
    return EXIT.ok;
  });
}
