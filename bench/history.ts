/**
 * What a run's Temporal history says: its size, and where each cell's time went, joining
 * the server's events (local activity markers, activity and workflow task events)
 * with the output notebook's own timestamps (worker and kernel) and, where given, the
 * worker's own bounds of each executeCell execution (bench/instrument.ts).
 */
import type { Client } from '@temporalio/client';
import type { History } from '@temporalio/common/lib/proto-utils.js';
import type { CellExecution } from './instrument.js';
import { median, quantile, type KernelTiming } from './notebooks.js';

// temporal.api.enums.v1.EventType
const WFT_SCHEDULED = 5;
const WFT_STARTED = 6;
const WFT_COMPLETED = 7;
const ACT_SCHEDULED = 10;
const ACT_STARTED = 11;
const ACT_COMPLETED = 12;
const MARKER_RECORDED = 25;

type HistoryEvent = NonNullable<History['events']>[number];

type Timestamp = { seconds?: number | string | { toString(): string } | null; nanos?: number | null } | null | undefined;

function timestampMs(ts: Timestamp): number {
  if (!ts) return NaN;
  const seconds = typeof ts.seconds === 'number' ? ts.seconds : Number(ts.seconds?.toString() ?? 0);
  return seconds * 1000 + (ts.nanos ?? 0) / 1e6;
}

function eventMs(event: Partial<HistoryEvent>): number {
  return timestampMs(event.eventTime);
}

function eventId(event: HistoryEvent): number {
  return Number(event.eventId?.toString() ?? NaN);
}

const CONTINUED_AS_NEW = 28;

/**
 * The no-op activity (activities/index.ts) a workflow of local cells schedules about once
 * a second of cell time to end its workflow task, so that queries and cancels get through.
 */
const SLICE_ACTIVITY = 'sliceWorkflowTask';

function isSliceActivity(event: HistoryEvent): boolean {
  return event.eventType === ACT_SCHEDULED && event.activityTaskScheduledEventAttributes?.activityType?.name === SLICE_ACTIVITY;
}

export interface HistorySize {
  /** Workflow runs in the chain (a long notebook continues as new). */
  runs: number;
  events: number;
  /** JSON of the decoded history (protobufjs toJSON: 64-bit ints as strings, bytes as base64). */
  jsonBytes: number;
  /** The protobuf encoding (what the server stores and limits), when it can be computed. */
  protoBytes: number | null;
  /** Local activity markers (one per local cell). */
  markers: number;
  /**
   * Workflow-task slices: the no-op sliceWorkflowTask activities that end a workflow task
   * of local cells about once a second of cell time, with the workflow task each one's
   * completion starts (6 events: activity scheduled, started, completed; workflow task
   * scheduled, started, completed). They grow with the cells' duration, not their output.
   */
  slices: number;
  sliceJsonBytes: number;
}

/** The histories of a run: its first workflow run and every run it continued as new into. */
export async function runHistories(client: Client, workflowId: string, firstRunId: string): Promise<History[]> {
  const histories: History[] = [];
  let runId: string | undefined = firstRunId;
  for (let guard = 0; runId !== undefined && guard < 1000; guard++) {
    const history: History = await client.workflow.getHandle(workflowId, runId).fetchHistory();
    histories.push(history);
    const last: HistoryEvent | undefined = history.events?.[history.events.length - 1];
    runId =
      last?.eventType === CONTINUED_AS_NEW ? (last.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId ?? undefined) : undefined;
  }
  return histories;
}

export function historySize(histories: History[]): HistorySize {
  let jsonBytes = 0;
  let protoBytes: number | null = 0;
  let events = 0;
  let markers = 0;
  let slices = 0;
  let sliceJsonBytes = 0;
  for (const history of histories) {
    events += history.events?.length ?? 0;
    jsonBytes += Buffer.byteLength(JSON.stringify(history));
    const evs = history.events ?? [];
    const sliceActivities = new Set<number>();
    const bytes = (e: HistoryEvent) => Buffer.byteLength(JSON.stringify(e));
    for (const [i, e] of evs.entries()) {
      if (localActivity(e)) markers += 1;
      if (isSliceActivity(e)) {
        slices += 1;
        sliceActivities.add(eventId(e));
        sliceJsonBytes += bytes(e);
      } else if (e.eventType === ACT_STARTED && sliceActivities.has(Number(e.activityTaskStartedEventAttributes?.scheduledEventId?.toString()))) {
        sliceJsonBytes += bytes(e);
      } else if (e.eventType === ACT_COMPLETED && sliceActivities.has(Number(e.activityTaskCompletedEventAttributes?.scheduledEventId?.toString()))) {
        sliceJsonBytes += bytes(e);
        // The workflow task the completion schedules, starts and completes (right after it).
        for (let j = i + 1, n = 0; j < evs.length && n < 3 && [WFT_SCHEDULED, WFT_STARTED, WFT_COMPLETED].includes(evs[j]!.eventType ?? -1); j++, n++) {
          sliceJsonBytes += bytes(evs[j]!);
        }
      }
    }
    // The decoded message is an instance of the generated class, whose static encode()
    // gives its wire size; no extra dependency needed for that.
    const ctor = (history as { constructor?: { encode?: (m: unknown) => { finish(): Uint8Array } } }).constructor;
    protoBytes = protoBytes !== null && typeof ctor?.encode === 'function' ? protoBytes + ctor.encode(history).finish().length : null;
  }
  return { runs: histories.length, events, jsonBytes, protoBytes, markers, slices, sliceJsonBytes };
}

/**
 * A code cell's execution as history shows it. In kernels with an outcome registry each
 * cell is a local activity: one MarkerRecorded event, written when the workflow task that
 * ran it completes, holding when Core first scheduled it (its complete_time is workflow
 * time, which only advances by the activities' own durations: not a wall-clock bound). A
 * cell still running after the hand-off delay continues as a regular activity. Other
 * kernels run every cell as a regular activity (ActivityTaskScheduled/Started/Completed).
 */
export interface HistoryCell {
  path: 'local' | 'handed-off' | 'activity';
  /** Local (and handed-off): Core scheduling the local activity; regular: ActivityTaskScheduled. */
  scheduled: number;
  /** The regular activity's ActivityTaskStarted and ActivityTaskCompleted (NaN for local cells). */
  started: number;
  completed: number;
  /** Position in the history of what recorded the cell's end: its marker, or ActivityTaskCompleted. */
  endAt: number;
}

const LOCAL_ACTIVITY_MARKER = 'core_local_activity';

type Payloads = { payloads?: Array<{ data?: Uint8Array | null } | null> | null } | null | undefined;

function payloadJson(payloads: Payloads): unknown {
  const data = payloads?.payloads?.[0]?.data;
  if (!data) return undefined;
  try {
    return JSON.parse(Buffer.from(data).toString('utf8'));
  } catch {
    return undefined;
  }
}

/** A local activity's marker: its activity type, when Core first scheduled it, the result's status. */
function localActivity(event: HistoryEvent): { type: string; scheduled: number; status?: string } | undefined {
  const attrs = event.markerRecordedEventAttributes;
  if (event.eventType !== MARKER_RECORDED || attrs?.markerName !== LOCAL_ACTIVITY_MARKER) return undefined;
  const data = payloadJson(attrs.details?.['data']) as
    | { activity_type?: string; original_schedule_time?: Timestamp }
    | undefined;
  if (!data?.activity_type) return undefined;
  const result = payloadJson(attrs.details?.['result']) as { status?: string } | undefined;
  return { type: data.activity_type, scheduled: timestampMs(data.original_schedule_time), status: result?.status };
}

/** The executeCell executions of one history, in order: markers and regular activities. */
export function historyCells(history: History): HistoryCell[] {
  const events = history.events ?? [];
  const cells: HistoryCell[] = [];
  const bySchedule = new Map<number, HistoryCell>();
  let handedOff: HistoryCell | undefined;
  for (const [i, e] of events.entries()) {
    const local = localActivity(e);
    if (local?.type === 'executeCell') {
      const cell: HistoryCell = { path: local.status === 'running' ? 'handed-off' : 'local', scheduled: local.scheduled, started: NaN, completed: NaN, endAt: i };
      cells.push(cell);
      if (cell.path === 'handed-off') handedOff = cell;
    } else if (e.eventType === ACT_SCHEDULED && e.activityTaskScheduledEventAttributes?.activityType?.name === 'executeCell') {
      // A handed-off cell's continuation (`attach`) is the next executeCell activity. Other
      // activities (prepareRun, startKernel, the slices' sliceWorkflowTask) are not cells,
      // and their started and completed events find no cell in bySchedule.
      const cell = handedOff ?? { path: 'activity' as const, scheduled: eventMs(e), started: NaN, completed: NaN, endAt: i };
      if (!handedOff) cells.push(cell);
      handedOff = undefined;
      bySchedule.set(eventId(e), cell);
    } else if (e.eventType === ACT_STARTED) {
      const cell = bySchedule.get(Number(e.activityTaskStartedEventAttributes?.scheduledEventId?.toString()));
      if (cell) cell.started = eventMs(e);
    } else if (e.eventType === ACT_COMPLETED) {
      const cell = bySchedule.get(Number(e.activityTaskCompletedEventAttributes?.scheduledEventId?.toString()));
      if (cell) {
        cell.completed = eventMs(e);
        cell.endAt = i;
      }
    }
  }
  return cells;
}

/**
 * How one cell's cycle went, from its execution starting in the worker to the next cell's:
 * - `local`: both cells local activities in one workflow task, all in the worker's process;
 * - `slice`: a workflow task ended between them (the no-op sliceWorkflowTask activity,
 *   about once a second of local cell time): a round trip through the server;
 * - `handed-off`: the cell outlived the hand-off delay and finished as a regular activity;
 * - `activity`: regular activities (kernels without an outcome registry).
 */
export type CycleKind = 'local' | 'slice' | 'handed-off' | 'activity';

/**
 * One cell's cycle as consecutive intervals (ms, in order) that add up to `total`. The
 * cell's own part is the same on every path:
 *   toRecord (execution start → papermill.start_time: record lookup, cell marked running),
 *   toKernel (→ iopub.execute_input), kernel (→ shell.execute_reply),
 *   fromKernel (→ papermill.end_time: reply and idle status back), flush (→ execution end:
 *   final record write);
 * then, by kind:
 *   local: complete (execution end → Core schedules the next local activity: the result
 *     into Core, a workflow activation, the next cell's command), dispatch (→ the next
 *     execution starts);
 *   slice: complete (→ WorkflowTaskCompleted: activation, the slice activity's command,
 *     RespondWorkflowTaskCompleted with the cells' markers), sliceActivity (→ the next
 *     WorkflowTaskScheduled: the server hands the no-op activity back eagerly with the
 *     task's completion, the worker runs it and reports it completed, which schedules the
 *     next task), wftDispatch (→ WorkflowTaskStarted), activation (→ Core schedules the
 *     next local activity), dispatch;
 *   handed-off: report (→ ActivityTaskCompleted), wftDispatch (→ WorkflowTaskStarted), and
 *     when that task ends with the slice activity (a long cell fills the slice at once)
 *     wftRun (→ WorkflowTaskCompleted), sliceActivity, sliceDispatch (→ the next
 *     WorkflowTaskStarted), all 0 otherwise; then activation, dispatch;
 *   activity: report, wftDispatch, wftRun (→ WorkflowTaskCompleted), deliver (→ the next
 *     activity starts; eager dispatch hands it over in the same instant).
 * Execution bounds are the worker's own (bench/instrument.ts) when given, else history's
 * (a local cell's start is then Core's scheduling, its end papermill.end_time: flush 0).
 * Everything runs on one host, so clocks agree.
 */
export interface CellCycle {
  kind: CycleKind;
  steps: Record<string, number>;
  total: number;
}

export interface CycleProfile {
  cells: number;
  cycles: CellCycle[];
  /** Cells per path (local, handed-off, activity). */
  paths: Record<HistoryCell['path'], number>;
  /** Regular cell activities started in the same instant they were scheduled (eager dispatch). */
  eagerCount: number;
  /** Workflow-task slices: the no-op sliceWorkflowTask activities that end a workflow task of local cells. */
  slices: number;
}

/** A cell's execution bounds in the worker: a handed-off cell's local and regular executions merged. */
export function workerBounds(executions: CellExecution[]): Map<number, { start: number; end: number }> {
  const out = new Map<number, { start: number; end: number }>();
  for (const e of executions) {
    const had = out.get(e.cellIndex);
    out.set(e.cellIndex, had ? { start: Math.min(had.start, e.start), end: Math.max(had.end, e.end) } : { start: e.start, end: e.end });
  }
  return out;
}

/** profileCycles over every history of a run chain (cells split across runs in order). */
export function profileChain(histories: History[], timing: KernelTiming, worker?: CellExecution[]): CycleProfile {
  const out: CycleProfile = { cells: 0, cycles: [], paths: { local: 0, 'handed-off': 0, activity: 0 }, eagerCount: 0, slices: 0 };
  const bounds = worker && worker.length > 0 ? workerBounds(worker) : undefined;
  for (const history of histories) {
    const slice: KernelTiming = { ...timing, perCell: timing.perCell.slice(out.cells) };
    const profile = profileCycles(history, slice, bounds);
    out.cells += profile.cells;
    out.cycles.push(...profile.cycles);
    for (const path of Object.keys(out.paths) as Array<HistoryCell['path']>) out.paths[path] += profile.paths[path];
    out.eagerCount += profile.eagerCount;
    out.slices += profile.slices;
  }
  return out;
}

export function profileCycles(history: History, timing: KernelTiming, worker?: Map<number, { start: number; end: number }>): CycleProfile {
  const events = history.events ?? [];
  const cells = historyCells(history);
  // For each position, the position of the next (or previous) event of a type: one pass each.
  const nextOf = (type: number) => {
    const out = new Array<number>(events.length).fill(-1);
    for (let i = events.length - 1, next = -1; i >= 0; i--) {
      out[i] = next;
      if (events[i]!.eventType === type) next = i;
    }
    return out;
  };
  const prevOf = (type: number) => {
    const out = new Array<number>(events.length).fill(-1);
    for (let i = 0, prev = -1; i < events.length; i++) {
      out[i] = prev;
      if (events[i]!.eventType === type) prev = i;
    }
    return out;
  };
  const nextWftScheduled = nextOf(WFT_SCHEDULED);
  const nextWftStarted = nextOf(WFT_STARTED);
  const nextWftCompleted = nextOf(WFT_COMPLETED);
  const prevWftCompleted = prevOf(WFT_COMPLETED);
  const at = (position: number) => (position >= 0 ? eventMs(events[position]!) : NaN);

  const paths: CycleProfile['paths'] = { local: 0, 'handed-off': 0, activity: 0 };
  let eagerCount = 0;
  let slices = 0;
  const cycles: CellCycle[] = [];
  for (const [n, cell] of cells.entries()) {
    paths[cell.path] += 1;
    if (cell.path === 'activity' && Math.abs(cell.started - cell.scheduled) < 1) eagerCount += 1;
    const next = cells[n + 1];
    // Markers are written at the end of the workflow task that ran the cells: a
    // WorkflowTaskCompleted between two markers is a task boundary between the cells.
    const sliced = cell.path === 'local' && next !== undefined && next.path !== 'activity' && nextWftCompleted[cell.endAt]! < next.endAt;
    const t = timing.perCell[n];
    const tNext = timing.perCell[n + 1];
    if (!next || !t || !tNext || t.start === undefined || t.end === undefined) continue;
    const w = worker?.get(t.index);
    const wNext = worker?.get(tNext.index);
    const regular = cell.path === 'activity';
    const start = w?.start ?? (regular ? cell.started : cell.scheduled);
    const end = w?.end ?? (cell.path === 'local' ? t.end : cell.completed);
    const nextStart = wNext?.start ?? (next.path === 'activity' ? next.started : next.scheduled);
    const steps: Record<string, number> = {
      toRecord: t.start - start,
      toKernel: t.input - t.start,
      kernel: t.reply - t.input,
      fromKernel: t.end - t.reply,
      flush: end - t.end,
    };
    let kind: CycleKind;
    if (cell.path === 'activity' && next.path === 'activity') {
      kind = 'activity';
      const wftStarted = nextWftStarted[cell.endAt]!;
      Object.assign(steps, {
        report: cell.completed - end,
        wftDispatch: at(wftStarted) - cell.completed,
        wftRun: at(nextWftCompleted[cell.endAt]!) - at(wftStarted),
        deliver: nextStart - at(nextWftCompleted[cell.endAt]!),
      });
    } else if (cell.path === 'handed-off' && next.path !== 'activity') {
      kind = 'handed-off';
      const wftStarted = nextWftStarted[cell.endAt]!;
      const wftCompleted = nextWftCompleted[cell.endAt]!;
      // A long cell fills the workflow's slice at once: the task that learns its result may
      // end with the slice activity before the next cell (its marker then lies a task later).
      const slicedAfter = wftCompleted >= 0 && nextWftCompleted[wftCompleted]! >= 0 && nextWftCompleted[wftCompleted]! < next.endAt;
      const resumedAt = slicedAfter ? nextWftStarted[nextWftScheduled[wftCompleted]!]! : wftStarted;
      Object.assign(steps, {
        report: cell.completed - end,
        wftDispatch: at(wftStarted) - cell.completed,
        // Zero without a slice: every handed-off cycle has the same steps, so means add up.
        wftRun: slicedAfter ? at(wftCompleted) - at(wftStarted) : 0,
        sliceActivity: slicedAfter ? at(nextWftScheduled[wftCompleted]!) - at(wftCompleted) : 0,
        sliceDispatch: slicedAfter ? at(resumedAt) - at(nextWftScheduled[wftCompleted]!) : 0,
        activation: next.scheduled - at(resumedAt),
        dispatch: nextStart - next.scheduled,
      });
    } else if (cell.path === 'local' && next.path !== 'activity') {
      const wftCompleted = prevWftCompleted[cell.endAt]!;
      if (sliced) {
        kind = 'slice';
        const wftScheduled = nextWftScheduled[cell.endAt]!;
        Object.assign(steps, {
          complete: at(wftCompleted) - end,
          sliceActivity: at(wftScheduled) - at(wftCompleted),
          wftDispatch: at(nextWftStarted[wftScheduled]!) - at(wftScheduled),
          activation: next.scheduled - at(nextWftStarted[wftScheduled]!),
          dispatch: nextStart - next.scheduled,
        });
      } else {
        kind = 'local';
        Object.assign(steps, { complete: next.scheduled - end, dispatch: nextStart - next.scheduled });
      }
    } else {
      continue; // a kernel replaced between the cells: not a cell-to-cell cycle
    }
    const cycle: CellCycle = { kind, steps, total: nextStart - start };
    if (Number.isFinite(cycle.total) && Object.values(steps).every(Number.isFinite)) cycles.push(cycle);
  }
  for (const e of events) if (isSliceActivity(e)) slices += 1;
  return { cells: cells.length, cycles, paths, eagerCount, slices };
}

/** Medians and 90th percentiles of each kind of cycle's steps. */
export interface CycleSummary {
  count: number;
  medianMs: Record<string, number>;
  /** Means add up: Σ of the steps' means is the mean total. */
  meanMs: Record<string, number>;
  p90Ms: Record<string, number>;
}

export function summariseCycles(cycles: CellCycle[]): Partial<Record<CycleKind, CycleSummary>> {
  const out: Partial<Record<CycleKind, CycleSummary>> = {};
  for (const kind of ['local', 'slice', 'handed-off', 'activity'] as CycleKind[]) {
    const rows = cycles.filter((c) => c.kind === kind).map((c) => ({ ...c.steps, total: c.total }));
    if (rows.length === 0) continue;
    const p90: Record<string, number> = {};
    for (const key of Object.keys(rows[0]!)) p90[key] = quantile(rows.map((r) => (r as Record<string, number>)[key]!), 0.9);
    const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
    out[kind] = { count: rows.length, medianMs: medianOf(rows, median), meanMs: medianOf(rows, mean), p90Ms: p90 };
  }
  return out;
}

/** Medians of each field over many records. */
export function medianOf<T extends object>(rows: T[], median: (v: number[]) => number): Record<string, number> {
  const out: Record<string, number> = {};
  if (rows.length === 0) return out;
  for (const key of Object.keys(rows[0]!)) {
    const values = rows.map((r) => (r as Record<string, unknown>)[key]).filter((v): v is number => typeof v === 'number');
    if (values.length > 0) out[key] = median(values);
  }
  return out;
}

/** The fixed part of a run, around its cells (ms; server clock, worker's where given). */
export interface RunPhases {
  /** WorkflowExecutionStarted → first cell scheduled (prepare, kernel start, task round trips). */
  beforeCells: number;
  prepareRun: number;
  startKernel: number;
  /** Last cell's end → WorkflowExecutionCompleted (finalize, kernel shutdown, task round trips). */
  afterCells: number;
  finalizeRun: number;
  shutdownKernel: number;
  /** WorkflowExecutionStarted → WorkflowExecutionCompleted over the whole chain. */
  workflow: number;
}

const WF_STARTED = 1;
const WF_COMPLETED = 2;

/**
 * The first cell is scheduled at its marker's schedule time (local) or its
 * ActivityTaskScheduled (regular). The last cell ends at its ActivityTaskCompleted
 * (regular or handed off); a local one's marker has no wall-clock end, so its end is the
 * worker's (`worker`, bench/instrument.ts), else the WorkflowTaskCompleted that recorded
 * its marker (an upper bound).
 */
export function runPhases(histories: History[], worker?: CellExecution[]): RunPhases {
  const first = histories[0]?.events?.find((e) => e.eventType === WF_STARTED);
  const last = histories[histories.length - 1]?.events?.find((e) => e.eventType === WF_COMPLETED);
  const durations: Record<string, number> = {};
  let firstCell = NaN;
  let lastCellDone = NaN;
  let lastPath: HistoryCell['path'] | undefined;
  for (const history of histories) {
    const evs = history.events ?? [];
    const scheduled = new Map<number, HistoryEvent>();
    for (const e of evs) {
      if (e.eventType !== ACT_SCHEDULED) continue;
      scheduled.set(eventId(e), e);
    }
    for (const e of evs) {
      if (e.eventType !== ACT_COMPLETED) continue;
      const s = scheduled.get(Number(e.activityTaskCompletedEventAttributes?.scheduledEventId?.toString()));
      const name = s?.activityTaskScheduledEventAttributes?.activityType?.name ?? '';
      if (s && name !== 'executeCell') durations[name] = (durations[name] ?? 0) + eventMs(e) - eventMs(s);
    }
    const cells = historyCells(history);
    if (Number.isNaN(firstCell) && cells[0]) firstCell = cells[0].scheduled;
    const lastCell = cells[cells.length - 1];
    if (lastCell) {
      let wftCompleted = NaN;
      for (let i = lastCell.endAt; i >= 0; i--) {
        if (evs[i]!.eventType === WFT_COMPLETED) {
          wftCompleted = eventMs(evs[i]!);
          break;
        }
      }
      lastCellDone = lastCell.path === 'local' ? wftCompleted : lastCell.completed;
      lastPath = lastCell.path;
    }
  }
  if (lastPath === 'local' && worker && worker.length > 0) lastCellDone = Math.max(...worker.map((w) => w.end));
  const t0 = first ? eventMs(first) : NaN;
  const t1 = last ? eventMs(last) : NaN;
  return {
    beforeCells: firstCell - t0,
    prepareRun: durations['prepareRun'] ?? NaN,
    startKernel: durations['startKernel'] ?? NaN,
    afterCells: t1 - lastCellDone,
    finalizeRun: durations['finalizeRun'] ?? NaN,
    shutdownKernel: durations['shutdownKernel'] ?? NaN,
    workflow: t1 - t0,
  };
}

/** When a run's start happened (epoch ms, server clock): what 20 runs at once wait for (bench/run-timeline.ts). */
export interface StartTimes {
  workflowStarted: number;
  /** Its first workflow task: scheduled, started (a worker slot and a poll), completed (prepareRun, local). */
  firstTask: { scheduled: number; started: number; completed: number };
  /** The startKernel activity: scheduled, completed. */
  startKernel: { scheduled: number; completed: number };
}

export function startTimes(history: History): StartTimes {
  const evs = history.events ?? [];
  const first = (type: number) => eventMs(evs.find((e) => e.eventType === type) ?? {});
  const kernel = evs.find((e) => e.eventType === ACT_SCHEDULED && e.activityTaskScheduledEventAttributes?.activityType?.name === 'startKernel');
  const kernelDone = kernel
    ? evs.find((e) => e.eventType === ACT_COMPLETED && Number(e.activityTaskCompletedEventAttributes?.scheduledEventId?.toString()) === eventId(kernel))
    : undefined;
  return {
    workflowStarted: first(WF_STARTED),
    firstTask: { scheduled: first(WFT_SCHEDULED), started: first(WFT_STARTED), completed: first(WFT_COMPLETED) },
    startKernel: { scheduled: kernel ? eventMs(kernel) : NaN, completed: kernelDone ? eventMs(kernelDone) : NaN },
  };
}
