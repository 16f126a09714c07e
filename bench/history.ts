/**
 * What a run's Temporal history says: its size, and where each cell's time went between
 * the server's events (scheduling, dispatch, the activity, the workflow task that decides
 * the next cell), joined with the output notebook's own timestamps (worker and kernel).
 */
import type { WorkflowHandle } from '@temporalio/client';
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

function eventMs(event: HistoryEvent): number {
  const ts = event.eventTime;
  if (!ts) return NaN;
  const seconds = typeof ts.seconds === 'number' ? ts.seconds : Number(ts.seconds?.toString() ?? 0);
  return seconds * 1000 + (ts.nanos ?? 0) / 1e6;
}

function eventId(event: HistoryEvent): number {
  return Number(event.eventId?.toString() ?? NaN);
}

export interface HistorySize {
  events: number;
  /** JSON of the decoded history (protobufjs toJSON: 64-bit ints as strings, bytes as base64). */
  jsonBytes: number;
  /** The protobuf encoding (what the server stores and limits), when it can be computed. */
  protoBytes: number | null;
}

export async function historySize(handle: WorkflowHandle): Promise<{ size: HistorySize; history: History }> {
  const history = await handle.fetchHistory();
  const jsonBytes = Buffer.byteLength(JSON.stringify(history));
  // The decoded message is an instance of the generated class, whose static encode() gives
  // its wire size; no extra dependency needed for that.
  const ctor = (history as { constructor?: { encode?: (m: unknown) => { finish(): Uint8Array } } }).constructor;
  const protoBytes = typeof ctor?.encode === 'function' ? ctor.encode(history).finish().length : null;
  return { size: { events: history.events?.length ?? 0, jsonBytes, protoBytes }, history };
}

/** One executeCell activity and the workflow task after it, ms (server clock, same host). */
export interface CellCycle {
  /** ActivityTaskScheduled → ActivityTaskStarted: matching hands the task to a poller. */
  dispatch: number;
  /** ActivityTaskStarted → ActivityTaskCompleted: the activity as the server sees it. */
  activity: number;
  /** ActivityTaskCompleted → WorkflowTaskStarted: a workflow task is scheduled and picked up. */
  wftDispatch: number;
  /** WorkflowTaskStarted → WorkflowTaskCompleted: the worker's activation, and its reply. */
  wftRun: number;
  /** WorkflowTaskCompleted → next ActivityTaskScheduled (same transaction: ~0). */
  schedule: number;
  /** ActivityTaskScheduled → next cell's ActivityTaskScheduled. */
  total: number;
  /** Whether the started event shows the task went out with the workflow task reply (eager). */
  eager: boolean;
}

/** Inside the activity, from the output notebook's timestamps (worker ms, kernel µs). */
export interface ActivitySplit {
  /** ActivityTaskStarted → papermill.start_time: delivery to the worker, record lookup. */
  toWorker: number;
  /** start_time → iopub.execute_input: websocket send, kernel picks up the request. */
  toKernel: number;
  /** iopub.execute_input → shell.execute_reply: the kernel executing the cell. */
  kernel: number;
  /** shell.execute_reply → papermill.end_time: reply and idle status back to the worker. */
  fromKernel: number;
  /** papermill.end_time → ActivityTaskCompleted: final record write, completion RPC. */
  complete: number;
}

export interface CycleProfile {
  cells: number;
  cycles: CellCycle[];
  splits: ActivitySplit[];
  eagerCount: number;
}

export function profileCycles(history: History, timing: KernelTiming): CycleProfile {
  const events = history.events ?? [];
  const byId = new Map(events.map((e) => [eventId(e), e]));
  const cells = events.filter(
    (e) => e.eventType === ACT_SCHEDULED && e.activityTaskScheduledEventAttributes?.activityType?.name === 'executeCell',
  );
  const cycles: CellCycle[] = [];
  const splits: ActivitySplit[] = [];
  for (const [n, scheduled] of cells.entries()) {
    const sid = eventId(scheduled);
    const started = events.find((e) => e.eventType === ACT_STARTED && Number(e.activityTaskStartedEventAttributes?.scheduledEventId?.toString()) === sid);
    const completed = events.find(
      (e) => e.eventType === ACT_COMPLETED && Number(e.activityTaskCompletedEventAttributes?.scheduledEventId?.toString()) === sid,
    );
    if (!started || !completed) continue;
    const after = events.filter((e) => eventId(e) > eventId(completed));
    const wftScheduled = after.find((e) => e.eventType === WFT_SCHEDULED);
    const wftStarted = after.find((e) => e.eventType === WFT_STARTED);
    const wftCompleted = after.find((e) => e.eventType === WFT_COMPLETED);
    const next = cells[n + 1];
    // The started event of an eagerly dispatched activity is written in the same
    // transaction as the workflow task completion that scheduled it.
    const wftBefore = byId.get(sid - 1);
    const eager = wftBefore?.eventType === WFT_COMPLETED && Math.abs(eventMs(started) - eventMs(scheduled)) < 0.5;
    if (wftScheduled && wftStarted && wftCompleted && next) {
      cycles.push({
        dispatch: eventMs(started) - eventMs(scheduled),
        activity: eventMs(completed) - eventMs(started),
        wftDispatch: eventMs(wftStarted) - eventMs(completed),
        wftRun: eventMs(wftCompleted) - eventMs(wftStarted),
        schedule: eventMs(next) - eventMs(wftCompleted),
        total: eventMs(next) - eventMs(scheduled),
        eager,
      });
    }
    const cell = timing.perCell[n];
    if (cell?.start !== undefined && cell.end !== undefined) {
      splits.push({
        toWorker: cell.start - eventMs(started),
        toKernel: cell.input - cell.start,
        kernel: cell.reply - cell.input,
        fromKernel: cell.end - cell.reply,
        complete: eventMs(completed) - cell.end,
      });
    }
  }
  return { cells: cells.length, cycles, splits, eagerCount: cycles.filter((c) => c.eager).length };
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
