/**
 * A run's Temporal history as a timeline people read (the History screen): each step's
 * activity with its attempts (the failure that made Temporal try again), the worker that
 * ran it, hand-offs between workers, kernel starts, restarts and losses, pauses and the
 * repairs sent to them (Updates), signals, cancellation and continue-as-new. Pure: the
 * history in, rows out, so every rule is tested on a recorded history of a real run.
 */
import type { WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';

// The proto types, by way of the client (which declares @temporalio/proto).
export type History = Awaited<ReturnType<WorkflowHandle['fetchHistory']>>;
type Event = NonNullable<History['events']>[number];
type Payloads = NonNullable<Event['activityTaskScheduledEventAttributes']>['input'];
type Failure = NonNullable<Event['activityTaskFailedEventAttributes']>['failure'];

export type TimelineTone = 'ok' | 'error' | 'warn' | 'note' | 'plain';

export interface TimelineRow {
  /** ISO time of the event the row reports. */
  time: string;
  /** What happened, one line. */
  what: string;
  /** The worker (Temporal identity) it happened on, when one did it. */
  worker: string | null;
  tone: TimelineTone;
}

// History event types (temporal.api.enums.v1.EventType), by number: the proto enum is not loaded here.
const E = {
  started: 1, completed: 2, failed: 3, timedOut: 4,
  wtScheduled: 5, wtStarted: 6, wtCompleted: 7, wtTimedOut: 8, wtFailed: 9,
  actScheduled: 10, actStarted: 11, actCompleted: 12, actFailed: 13, actTimedOut: 14, actCancelRequested: 15, actCanceled: 16,
  cancelRequested: 20, canceled: 21, marker: 25, signaled: 26, terminated: 27, continuedAsNew: 28,
  updateAccepted: 41, updateRejected: 42, updateCompleted: 43, propertiesModified: 46,
} as const;

/** The events that close an execution: after one of them, the history does not grow. */
export const CLOSING_EVENTS: ReadonlySet<number> = new Set([E.completed, E.failed, E.timedOut, E.canceled, E.terminated, E.continuedAsNew]);

/** Activities that are plumbing, not steps a person follows (recordSaved: the wait for write-behind record saves). */
const HIDDEN = new Set(['sliceWorkflowTask', 'cellOutputExcerpt', 'recordSaved']);

function decode(payloads: Payloads, index = 0): unknown {
  const payload = payloads?.payloads?.[index];
  if (!payload) return undefined;
  try {
    return defaultPayloadConverter.fromPayload(payload);
  } catch {
    return undefined;
  }
}

function isoTime(event: Event): string {
  const t = event.eventTime;
  if (!t) return '';
  const ms = Number(t.seconds ?? 0) * 1000 + Math.floor((t.nanos ?? 0) / 1e6);
  return new Date(ms).toISOString();
}

function firstLine(text: string | null | undefined): string {
  return (text ?? '').split('\n')[0]!.trim();
}

/** A failure's message, with its cause's when the outer one only says an activity failed. */
function failureText(failure: Failure | null | undefined): string {
  if (!failure) return '';
  const own = firstLine(failure.message);
  const cause = failure.cause ? failureText(failure.cause) : '';
  if (!own) return cause;
  return cause && /^activity (task )?(failed|timed ?out)/i.test(own) ? `${own}: ${cause}` : own;
}

function seconds(from: string, to: string): string {
  const s = (Date.parse(to) - Date.parse(from)) / 1000;
  if (!Number.isFinite(s) || s < 0) return '';
  return s < 60 ? `${s.toFixed(1)}s` : `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
}

/** What an activity did, named for people: `cell 3`, `kernel start`, `record written`... */
function stepName(type: string, input: unknown): string {
  const args = (input ?? {}) as { cellIndex?: number; cells?: number[]; fromCell?: number };
  switch (type) {
    case 'executeCell':
      return args.cellIndex === undefined ? 'cell' : `cell ${args.cellIndex}`;
    case 'startKernel':
      return 'kernel start';
    case 'shutdownKernel':
      return 'kernel shutdown';
    case 'prepareRun':
      return 'record prepared';
    case 'finalizeRun':
      return 'record finalized';
    case 'replayCells':
      return 'earlier cells replayed in a new kernel';
    case 'restoreCheckpoint':
      return 'checkpoint restored';
    case 'prepareRetry':
      return args.cellIndex === undefined ? 'retry prepared' : `retry of cell ${args.cellIndex} prepared`;
    case 'skipCell':
      return args.cellIndex === undefined ? 'cell skipped' : `cell ${args.cellIndex} skipped`;
    case 'execScratch':
      return 'scratch code';
    case 'notifyWebhook':
      return 'webhook notification';
    default:
      return type;
  }
}

interface Scheduled {
  type: string;
  name: string;
  started?: { time: string; identity: string | null; attempt: number; lastFailure: string };
  /** A kernel start after the first is a restart. */
  restart: boolean;
}

/** The rows of a history, oldest first. */
export function historyTimeline(history: History): TimelineRow[] {
  const rows: TimelineRow[] = [];
  const scheduled = new Map<string, Scheduled>();
  const updates = new Map<string, string>();
  let kernelStarts = 0;
  let workflowWorker: string | null = null;
  const add = (event: Event, what: string, worker: string | null, tone: TimelineTone = 'plain') => rows.push({ time: isoTime(event), what, worker, tone });

  for (const event of history.events ?? []) {
    const type = Number(event.eventType);
    const id = String(event.eventId ?? '');
    switch (type) {
      case E.started: {
        const a = event.workflowExecutionStartedEventAttributes;
        const from = a?.continuedExecutionRunId;
        add(event, from ? `continued as new (from execution ${from})` : `run started on task queue ${a?.taskQueue?.name ?? '?'}`, a?.identity || null, 'note');
        break;
      }
      case E.wtStarted: {
        // The workflow's worker changing is a hand-off: the earlier one stopped answering.
        const identity = event.workflowTaskStartedEventAttributes?.identity || null;
        if (identity && workflowWorker && identity !== workflowWorker) add(event, `handed over to another worker (was ${workflowWorker})`, identity, 'warn');
        if (identity) workflowWorker = identity;
        break;
      }
      case E.wtTimedOut:
        add(event, `workflow task timed out on ${workflowWorker ?? 'its worker'} (worker gone?)`, workflowWorker, 'warn');
        break;
      case E.wtFailed: {
        const a = event.workflowTaskFailedEventAttributes;
        add(event, `workflow task failed: ${failureText(a?.failure)}`, a?.identity || null, 'error');
        break;
      }
      case E.actScheduled: {
        const a = event.activityTaskScheduledEventAttributes;
        const activity = a?.activityType?.name ?? '?';
        const restart = activity === 'startKernel' && kernelStarts++ > 0;
        scheduled.set(id, { type: activity, name: stepName(activity, decode(a?.input)), restart });
        break;
      }
      case E.actStarted: {
        const a = event.activityTaskStartedEventAttributes;
        const step = scheduled.get(String(a?.scheduledEventId ?? ''));
        if (step) step.started = { time: isoTime(event), identity: a?.identity || null, attempt: a?.attempt ?? 1, lastFailure: failureText(a?.lastFailure) };
        break;
      }
      case E.actCompleted:
      case E.actFailed:
      case E.actTimedOut:
      case E.actCanceled: {
        const a = event.activityTaskCompletedEventAttributes ?? event.activityTaskFailedEventAttributes ?? event.activityTaskTimedOutEventAttributes ?? event.activityTaskCanceledEventAttributes;
        const step = scheduled.get(String(a?.scheduledEventId ?? ''));
        if (!step || HIDDEN.has(step.type)) break;
        const name = step.restart ? 'kernel restart' : step.name;
        const took = step.started ? seconds(step.started.time, isoTime(event)) : '';
        const attempts = step.started && step.started.attempt > 1 ? `, attempt ${step.started.attempt} (earlier: ${step.started.lastFailure || 'failed'})` : '';
        const worker = step.started?.identity ?? null;
        if (type === E.actCompleted) add(event, `${name}: done${took ? ` in ${took}` : ''}${attempts}`, worker, step.restart || attempts ? 'warn' : 'ok');
        else if (type === E.actCanceled) add(event, `${name}: cancelled${attempts}`, worker, 'warn');
        else {
          const failure = failureText(event.activityTaskFailedEventAttributes?.failure ?? event.activityTaskTimedOutEventAttributes?.failure);
          add(event, `${name}: ${type === E.actTimedOut ? 'timed out' : 'failed'}${failure ? `: ${failure}` : ''}${attempts}`, worker, 'error');
        }
        break;
      }
      case E.marker: {
        // A short cell ran as a local activity: its marker is all the history keeps of it.
        const a = event.markerRecordedEventAttributes;
        if (a?.markerName !== 'core_local_activity') break;
        // Its input is not recorded: a cell is known by its execution count (Jupyter's In [N]).
        const data = decode(a.details?.['data']) as { activity_type?: string; attempt?: number } | undefined;
        const result = decode(a.details?.['result']) as { executionCount?: number | null; durationMs?: number; status?: string } | undefined;
        const activity = data?.activity_type ?? '?';
        if (HIDDEN.has(activity)) break;
        // A cell started ahead of one that did not pass (pipelined cells) was never sent: it ran later, or not at all.
        if (activity === 'executeCell' && result?.status === 'not-sent') break;
        const name = activity === 'executeCell' ? `cell${typeof result?.executionCount === 'number' ? ` In [${result.executionCount}]` : ''}` : stepName(activity, undefined);
        const failure = failureText(a.failure);
        const attempts = (data?.attempt ?? 1) > 1 ? `, attempt ${data?.attempt}` : '';
        const took = typeof result?.durationMs === 'number' ? ` in ${(result.durationMs / 1000).toFixed(1)}s` : '';
        if (failure) add(event, `${name} (local): failed: ${failure}${attempts}`, workflowWorker, 'error');
        else if (result?.status && result.status !== 'ok') add(event, `${name} (local): ${result.status}${took}${attempts}`, workflowWorker, 'error');
        else add(event, `${name} (local): done${took}${attempts}`, workflowWorker, 'ok');
        break;
      }
      case E.propertiesModified: {
        const memo = event.workflowPropertiesModifiedEventAttributes?.upsertedMemo?.fields;
        if (memo && 'paused' in memo) {
          const paused = memo['paused'] ? (defaultPayloadConverter.fromPayload(memo['paused']) as { cell?: number; ename?: string; evalue?: string } | null) : null;
          if (paused) add(event, `paused at cell ${paused.cell ?? '?'}: ${firstLine(`${paused.ename ?? ''}: ${paused.evalue ?? ''}`)}; waiting for a repair`, workflowWorker, 'warn');
          else add(event, 'no longer paused', workflowWorker, 'note');
        }
        break;
      }
      case E.updateAccepted: {
        const a = event.workflowExecutionUpdateAcceptedEventAttributes;
        const request = a?.acceptedRequest;
        const name = request?.input?.name ?? '?';
        updates.set(a?.protocolInstanceId ?? request?.meta?.updateId ?? '', name);
        add(event, `repair asked: ${name}`, request?.meta?.identity || null, 'note');
        break;
      }
      case E.updateRejected: {
        const a = event.workflowExecutionUpdateRejectedEventAttributes;
        add(event, `repair refused: ${a?.rejectedRequest?.input?.name ?? '?'}: ${failureText(a?.failure)}`, null, 'warn');
        break;
      }
      case E.updateCompleted: {
        const a = event.workflowExecutionUpdateCompletedEventAttributes;
        const name = updates.get(a?.meta?.updateId ?? '') ?? 'repair';
        const failure = a?.outcome?.failure;
        if (failure) {
          add(event, `${name}: refused: ${failureText(failure)}`, workflowWorker, 'warn');
          break;
        }
        const answer = decode(a?.outcome?.success) as { cell?: number; status?: string; ename?: string; evalue?: string; action?: string } | undefined;
        if (answer?.action) add(event, `${name}: cell ${answer.cell} ${answer.action}`, workflowWorker, 'ok');
        else if (answer?.status === 'ok') add(event, `${name}: cell ${answer.cell ?? '?'} completed`, workflowWorker, 'ok');
        else if (answer?.status) add(event, `${name}: cell ${answer.cell ?? '?'} failed again: ${firstLine(`${answer.ename ?? answer.status}: ${answer.evalue ?? ''}`)}`, workflowWorker, 'error');
        else add(event, `${name}: answered`, workflowWorker, 'note');
        break;
      }
      case E.signaled: {
        const a = event.workflowExecutionSignaledEventAttributes;
        add(event, `signal ${a?.signalName ?? '?'}`, a?.identity || null, 'note');
        break;
      }
      case E.cancelRequested: {
        const a = event.workflowExecutionCancelRequestedEventAttributes;
        add(event, `cancellation requested${a?.cause ? `: ${a.cause}` : ''}`, a?.identity || null, 'warn');
        break;
      }
      case E.completed:
        add(event, 'run completed', workflowWorker, 'ok');
        break;
      case E.failed:
        add(event, `run failed: ${failureText(event.workflowExecutionFailedEventAttributes?.failure)}`, workflowWorker, 'error');
        break;
      case E.timedOut:
        add(event, 'run timed out', null, 'error');
        break;
      case E.canceled:
        add(event, 'run cancelled', workflowWorker, 'warn');
        break;
      case E.terminated: {
        const a = event.workflowExecutionTerminatedEventAttributes;
        add(event, `run terminated${a?.reason ? `: ${a.reason}` : ''}`, a?.identity || null, 'error');
        break;
      }
      case E.continuedAsNew:
        add(event, `continued as new (execution ${event.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId ?? '?'})`, workflowWorker, 'note');
        break;
      default:
        break;
    }
  }
  return rows;
}
