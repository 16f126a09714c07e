/**
 * What a run's Temporal history says: its size, and where each cell's time went between
 * the server's events (scheduling, dispatch, the activity, the workflow task that decides
 * the next cell), joined with the output notebook's own timestamps (worker and kernel).
 */
import type { Client } from '@temporalio/client';
import type { History } from '@temporalio/common/lib/proto-utils.js';
import type { KernelTiming } from './notebooks.js';

// temporal.api.enums.v1.EventType
const WFT_SCHEDULED = 5;
const WFT_STARTED = 6;
const WFT_COMPLETED = 7;
const ACT_SCHEDULED = 10;
const ACT_STARTED = 11;
const ACT_COMPLETED = 12;

type HistoryEvent = NonNullable<History['events']>[number];

function eventMs(event: Partial<HistoryEvent>): number {
  const ts = event.eventTime;
  if (!ts) return NaN;
  const seconds = typeof ts.seconds === 'number' ? ts.seconds : Number(ts.seconds?.toString() ?? 0);
  return seconds * 1000 + (ts.nanos ?? 0) / 1e6;
}

function eventId(event: HistoryEvent): number {
  return Number(event.eventId?.toString() ?? NaN);
}

const CONTINUED_AS_NEW = 28;

export interface HistorySize {
  /** Workflow runs in the chain (a long notebook continues as new). */
  runs: number;
  events: number;
  /** JSON of the decoded history (protobufjs toJSON: 64-bit ints as strings, bytes as base64). */
  jsonBytes: number;
  /** The protobuf encoding (what the server stores and limits), when it can be computed. */
  protoBytes: number | null;
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
  for (const history of histories) {
    events += history.events?.length ?? 0;
    jsonBytes += Buffer.byteLength(JSON.stringify(history));
    // The decoded message is an instance of the generated class, whose static encode()
    // gives its wire size; no extra dependency needed for that.
    const ctor = (history as { constructor?: { encode?: (m: unknown) => { finish(): Uint8Array } } }).constructor;
    protoBytes = protoBytes !== null && typeof ctor?.encode === 'function' ? protoBytes + ctor.encode(history).finish().length : null;
  }
  return { runs: histories.length, events, jsonBytes, protoBytes };
}

/**
 * One cell's full cycle, from its activity starting to the next cell's activity starting,
 * as consecutive intervals (ms) that add up to `total`. Activity bounds are the worker's
 * own (an activity interceptor) when given, else the server's ActivityTaskStarted and
 * ActivityTaskCompleted events; everything runs on one host, so clocks agree.
 */
export interface CellCycle {
  /** Activity start → papermill.start_time: record lookup, cell marked running. */
  toRecord: number;
  /** start_time → iopub.execute_input: execute_request through Jupyter Server to the kernel. */
  toKernel: number;
  /** iopub.execute_input → shell.execute_reply: the kernel executing the cell. */
  kernel: number;
  /** shell.execute_reply → papermill.end_time: reply and idle status back to the worker. */
  fromKernel: number;
  /** papermill.end_time → activity end (worker) or ActivityTaskCompleted (server): final record write. */
  flush: number;
  /** Activity end (worker) → ActivityTaskCompleted (server): completion through Core to the server (0 without worker times). */
  report: number;
  /** ActivityTaskCompleted → WorkflowTaskStarted: workflow task scheduled on the sticky queue and matched. */
  wftDispatch: number;
  /** WorkflowTaskStarted → WorkflowTaskCompleted: task to the worker, activation, RespondWorkflowTaskCompleted. */
  wftRun: number;
  /** WorkflowTaskCompleted → next activity start: the (eager) activity task back to the worker. */
  deliver: number;
  total: number;
}

export interface CycleProfile {
  cells: number;
  cycles: CellCycle[];
  /** Cells whose ActivityTaskStarted is in the same instant as ActivityTaskScheduled (eager dispatch). */
  eagerCount: number;
}

/** profileCycles over every history of a run chain (cells split across runs in order). */
export function profileChain(histories: History[], timing: KernelTiming, worker?: Array<{ start: number; end: number }>): CycleProfile {
  const out: CycleProfile = { cells: 0, cycles: [], eagerCount: 0 };
  for (const history of histories) {
    const offset = out.cells;
    const slice: KernelTiming = { ...timing, perCell: timing.perCell.slice(offset) };
    const profile = profileCycles(history, slice, worker?.slice(offset));
    out.cells += profile.cells;
    out.cycles.push(...profile.cycles);
    out.eagerCount += profile.eagerCount;
  }
  return out;
}

export function profileCycles(
  history: History,
  timing: KernelTiming,
  worker?: Array<{ start: number; end: number }>,
): CycleProfile {
  const events = history.events ?? [];
  const cells = events.filter(
    (e) => e.eventType === ACT_SCHEDULED && e.activityTaskScheduledEventAttributes?.activityType?.name === 'executeCell',
  );
  // Index once: histories of 500 cells have ~3,000 events.
  const startedOf = new Map<number, HistoryEvent>();
  const completedOf = new Map<number, HistoryEvent>();
  const nextOfType = (type: number) => {
    // For each position, the first event of `type` after it.
    const out = new Array<HistoryEvent | undefined>(events.length);
    let next: HistoryEvent | undefined;
    for (let i = events.length - 1; i >= 0; i--) {
      out[i] = next;
      if (events[i]!.eventType === type) next = events[i];
    }
    return out;
  };
  const nextWftStarted = nextOfType(WFT_STARTED);
  const nextWftCompleted = nextOfType(WFT_COMPLETED);
  const position = new Map<HistoryEvent, number>();
  for (const [i, e] of events.entries()) {
    position.set(e, i);
    if (e.eventType === ACT_STARTED) startedOf.set(Number(e.activityTaskStartedEventAttributes?.scheduledEventId?.toString()), e);
    if (e.eventType === ACT_COMPLETED) completedOf.set(Number(e.activityTaskCompletedEventAttributes?.scheduledEventId?.toString()), e);
  }
  const bounds = cells.map((scheduled) => {
    const sid = eventId(scheduled);
    const started = startedOf.get(sid);
    const completed = completedOf.get(sid);
    const at = completed ? position.get(completed)! : -1;
    return {
      scheduled: eventMs(scheduled),
      started: started ? eventMs(started) : NaN,
      completed: completed ? eventMs(completed) : NaN,
      wftStarted: at >= 0 ? eventMs(nextWftStarted[at] ?? {}) : NaN,
      wftCompleted: at >= 0 ? eventMs(nextWftCompleted[at] ?? {}) : NaN,
    };
  });
  const cycles: CellCycle[] = [];
  let eagerCount = 0;
  for (const [n, b] of bounds.entries()) {
    if (Math.abs(b.started - b.scheduled) < 1) eagerCount += 1;
    const next = bounds[n + 1];
    const cell = timing.perCell[n];
    if (!next || !cell || cell.start === undefined || cell.end === undefined) continue;
    const w = worker?.[n];
    const wNext = worker?.[n + 1];
    const actStart = w ? w.start : b.started;
    const actEnd = w ? w.end : b.completed;
    const nextStart = w && wNext ? wNext.start : next.started;
    const cycle: CellCycle = {
      toRecord: cell.start - actStart,
      toKernel: cell.input - cell.start,
      kernel: cell.reply - cell.input,
      fromKernel: cell.end - cell.reply,
      flush: actEnd - cell.end,
      report: b.completed - actEnd,
      wftDispatch: b.wftStarted - b.completed,
      wftRun: b.wftCompleted - b.wftStarted,
      deliver: nextStart - b.wftCompleted,
      total: nextStart - actStart,
    };
    if (Object.values(cycle).every(Number.isFinite)) cycles.push(cycle);
  }
  return { cells: cells.length, cycles, eagerCount };
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

/** The fixed part of a run, around its cells (ms, server clock). */
export interface RunPhases {
  /** WorkflowExecutionStarted → first executeCell scheduled (prepare, kernel start, task round trips). */
  beforeCells: number;
  prepareRun: number;
  startKernel: number;
  /** Last executeCell completed → WorkflowExecutionCompleted (finalize, kernel shutdown, task round trips). */
  afterCells: number;
  finalizeRun: number;
  shutdownKernel: number;
  /** WorkflowExecutionStarted → WorkflowExecutionCompleted over the whole chain. */
  workflow: number;
}

const WF_STARTED = 1;
const WF_COMPLETED = 2;

export function runPhases(histories: History[]): RunPhases {
  const first = histories[0]?.events?.find((e) => e.eventType === WF_STARTED);
  const last = histories[histories.length - 1]?.events?.find((e) => e.eventType === WF_COMPLETED);
  const durations: Record<string, number> = {};
  let firstCell = NaN;
  let lastCellDone = NaN;
  for (const history of histories) {
    const evs = history.events ?? [];
    const scheduled = new Map<number, HistoryEvent>();
    for (const e of evs) {
      if (e.eventType === ACT_SCHEDULED) {
        scheduled.set(eventId(e), e);
        if (e.activityTaskScheduledEventAttributes?.activityType?.name === 'executeCell' && Number.isNaN(firstCell)) firstCell = eventMs(e);
      }
      if (e.eventType === ACT_COMPLETED) {
        const s = scheduled.get(Number(e.activityTaskCompletedEventAttributes?.scheduledEventId?.toString()));
        const name = s?.activityTaskScheduledEventAttributes?.activityType?.name ?? '';
        if (s) durations[name] = (durations[name] ?? 0) + eventMs(e) - eventMs(s);
        if (name === 'executeCell') lastCellDone = eventMs(e);
      }
    }
  }
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
