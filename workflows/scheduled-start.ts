/** The search attribute Temporal sets on a schedule's runs, read in workflow code. */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import type { WorkflowInfo } from '@temporalio/workflow';

const SCHEDULED_START_TIME = defineSearchAttributeKey('TemporalScheduledStartTime', SearchAttributeType.DATETIME);

/** The nominal time of a run started by a schedule (a trigger's is the time it was triggered), ISO 8601. */
export function scheduledStartTime(info: WorkflowInfo): string | undefined {
  // The typed map needs the server's type metadata; the untyped one is the fallback.
  const raw = info.typedSearchAttributes.get(SCHEDULED_START_TIME) ?? info.searchAttributes?.['TemporalScheduledStartTime']?.[0];
  if (raw === undefined || raw === null) return undefined;
  const time = new Date(raw as string | Date);
  return Number.isNaN(time.getTime()) ? undefined : time.toISOString();
}
