/** --notify-on: the finished run's summary, POSTed to the user's webhook. */
import { ActivityFailure, ApplicationFailure, log, upsertMemo } from '@temporalio/workflow';
import { notifyWebhook } from './activity-options.js';
import { NOTIFICATION_FAILED_MEMO, type CellFailureDetails, type ParsedRunInput, type RunNotification, type RunStatus } from './contracts.js';
import { usesPatch } from './patches.js';

/** What a notification says of a failure: the cell, and the error. */
export type FailureSummary = Pick<CellFailureDetails, 'cellIndex' | 'ename' | 'evalue'>;

/** The failure summary of an error that ended the run (`cellIndex` -1: no cell to blame). */
export function errorDetails(err: unknown, cellIndex: number | undefined): FailureSummary {
  const cause = err instanceof ActivityFailure && err.cause ? err.cause : err;
  const ename = cause instanceof ApplicationFailure ? (cause.type ?? 'Error') : cause instanceof Error ? cause.name : 'Error';
  return { cellIndex: cellIndex ?? -1, ename, evalue: cause instanceof Error ? cause.message : String(cause) };
}

/** POSTs the run's summary when --notify-on asks for it. A webhook that stays down never changes the run's outcome. */
export async function notifyRun(input: ParsedRunInput, status: RunStatus, failure?: FailureSummary): Promise<void> {
  const notify = input.notify;
  if (!notify || !{ always: true, success: status === 'completed', failure: status === 'failed' }[notify.on]) return;
  const notification: RunNotification = {
    run_id: input.runId,
    notebook: input.inputPath.split(/[\\/]/).pop() ?? input.inputPath,
    status,
    failed_cell: failure && failure.cellIndex >= 0 ? failure.cellIndex : null,
    error: failure && status !== 'cancelled' ? { ename: failure.ename, evalue: failure.evalue } : null,
    output: input.output,
    schedule: input.schedule?.name ?? null,
    scheduled_time: input.schedule?.nominalTime ?? null,
  };
  try {
    await notifyWebhook({ webhook: notify.webhook, notification });
  } catch (err) {
    log.warn('the run notification could not be delivered', { runId: input.runId, error: (err as Error).message });
    // Said where `show` and `runs` look (the memo); runs that ended before this recorded nothing.
    if (usesPatch(NOTIFY_FAILURE_PATCH)) upsertMemo({ [NOTIFICATION_FAILED_MEMO]: notificationFailure(err) });
  }
}

const NOTIFY_FAILURE_PATCH = 'notify-failure-memo';

/** "webhook answered HTTP 500 (5 attempts)": the last attempt's error, which never holds the URL. */
export function notificationFailure(err: unknown): string {
  const cause = err instanceof ActivityFailure && err.cause ? err.cause : err;
  const message = cause instanceof Error ? cause.message : String(cause);
  const detail: unknown = cause instanceof ApplicationFailure ? cause.details?.[0] : undefined;
  const attempt = detail && typeof detail === 'object' ? (detail as { attempt?: unknown }).attempt : undefined;
  return typeof attempt === 'number' ? `${message} (${attempt} attempt${attempt === 1 ? '' : 's'})` : message;
}
