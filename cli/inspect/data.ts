/**
 * Where the inspector's data comes from: Temporal (visibility for the list, describe,
 * the `progress` query of live runs, the failure of failed ones) and the store (the
 * output notebook, `resumed-as.json`). The views only see the `InspectSource` interface.
 */
import type { Client } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/common/lib/errors.js';
import { z } from 'zod';
import { store } from '../../record/store/index.js';
import type { Notebook } from '../../notebook/nbformat.js';
import { removeErrorMarkers } from '../../notebook/record.js';
import { isFinishedRecord } from '../../record/metadata.js';
import { readRecord } from '../../record/run-record.js';
import type { RunProgress } from '../../workflows/contracts.js';
import type { ScheduleRow } from '../commands/schedule.js';
import { runFilterSchema, summarize, visibleRuns, type RunFilter, type RunSummary } from '../run-summaries.js';
import type { TimelineRow } from './history.js';
import { isLive, matchesSearch, type RunDetail, type RunListEntry } from './view-model.js';

/** The list's filter: `millrace runs`' options and the free words of a `/` search (view-model.ts). */
export type ListFilter = RunFilter & { words?: readonly string[] };

/** A list filter as `millrace dev` takes it from the inspector (cli/inspect/dev-source.ts). */
export const listFilterSchema = runFilterSchema.extend({ words: z.array(z.string()).optional() });

export interface InspectSource {
  /** At most `limit` runs, newest first; exactly `limit` means there may be more. */
  listRuns(filter: ListFilter): Promise<RunListEntry[]>;
  /** The list for `filter` if already read (before the screen was up), to draw with the first frame; given once. */
  takeRead?(filter: ListFilter): RunListEntry[] | undefined;
  /** Rejects with RunNotFound when there is no such run. */
  loadRun(runId: string): Promise<RunDetail>;
  /** The run's Temporal history as a timeline (earlier executions first, when it continued as new). */
  loadHistory?(runId: string): Promise<{ rows: TimelineRow[]; live: boolean }>;
  /** Every millrace schedule (`millrace schedule list`). */
  listSchedules?(): Promise<ScheduleRow[]>;
}

export class RunNotFound extends Error {
  constructor(readonly runId: string) {
    super(`no run ${runId}: see \`millrace runs\``);
    this.name = 'RunNotFound';
  }
}

type Failure = NonNullable<RunDetail['failure']>;

/** A query waits for a worker; with none polling, the view goes on with the record alone. */
const QUERY_TIMEOUT_MS = 3000;

function withinMs<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const resumedAsSchema = z.array(z.object({ run_id: z.string(), output: z.string() }));

/**
 * The Temporal-and-store source. A closed run's failure never changes, and a finished
 * record is read again only when its size or time changed: refreshing every second stays
 * cheap. A live record (the notebook plus its journal) is read on every refresh.
 */
export function temporalSource(client: Client): InspectSource {
  const failures = new Map<string, Promise<Failure>>();
  const records = new Map<string, { size: number; modified: number; notebook: Notebook }>();

  /** How a failed run failed: the workflow's failure names the cell (see cli/run-report.ts). */
  const failureOf = (runId: string, output: string | null): Promise<Failure> => {
    let known = failures.get(runId);
    if (!known) {
      known = client.workflow
        .getHandle(runId)
        .result()
        .then(
          (): Failure => ({ failed_cell: null, error: null, reason: null }),
          async (err: unknown): Promise<Failure> => {
            // Loaded when a failure is read, not before the first frame (an inspector that
            // lists through `millrace dev` loads nothing of the client for its list).
            const [{ WorkflowFailedError }, { reportFromFailure }] = await Promise.all([import('@temporalio/client'), import('../run-report.js')]);
            if (!(err instanceof WorkflowFailedError)) return { failed_cell: null, error: null, reason: (err as Error).message };
            const outcome = reportFromFailure(err, runId, output ?? '', 0);
            return { failed_cell: outcome.failed_cell, error: outcome.error, reason: outcome.reason ?? null };
          },
        );
      failures.set(runId, known);
    }
    return known;
  };

  const readCurrentRecord = async (location: string): Promise<Notebook> => {
    const info = await store.stat(location);
    if (!info) throw new Error(`${location} is not written yet`);
    const cached = records.get(location);
    if (cached && cached.size === info.size && cached.modified === info.modified.getTime()) return cached.notebook;
    // Cell numbers as the run reported them: without papermill's banner and anchor.
    const notebook = removeErrorMarkers((await readRecord(location)).notebook);
    if (isFinishedRecord(notebook)) records.set(location, { size: info.size, modified: info.modified.getTime(), notebook });
    return notebook;
  };

  return {
    async listRuns({ words = [], limit, ...filter }) {
      // Visibility pages (nextPageToken) are read as the iteration reaches them, past the
      // first 1,000 runs when the search or a long list asks for that many.
      const runs: RunSummary[] = [];
      for await (const run of visibleRuns(client, filter)) {
        if (!matchesSearch(run, words)) continue;
        runs.push(run);
        if (runs.length >= limit) break;
      }
      return Promise.all(
        runs.map(async (run): Promise<RunListEntry> => {
          if (run.status !== 'failed') return { ...run, failed_cell: null, error: null };
          const failure = await failureOf(run.run_id, run.output);
          return { ...run, failed_cell: failure.failed_cell, error: failure.error };
        }),
      );
    },

    // The Schedules screen's command (and what it loads) only when that screen opens.
    listSchedules: async () => (await import('../commands/schedule.js')).listSchedules(client),

    async loadHistory(runId) {
      const { CLOSING_EVENTS, historyTimeline } = await import('./history.js');
      const handle = client.workflow.getHandle(runId);
      let history;
      try {
        history = await handle.fetchHistory();
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) throw new RunNotFound(runId);
        throw err;
      }
      const rows = historyTimeline(history);
      // A long run continued as new: its earlier executions' events come first.
      let earlier = history.events?.[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId;
      for (let n = 0; earlier && n < 20; n++) {
        const before = await client.workflow.getHandle(runId, earlier).fetchHistory();
        rows.unshift(...historyTimeline(before));
        earlier = before.events?.[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId;
      }
      const live = !CLOSING_EVENTS.has(Number(history.events?.[history.events.length - 1]?.eventType));
      return { rows, live };
    },

    async loadRun(runId) {
      const handle = client.workflow.getHandle(runId);
      let summary;
      try {
        summary = summarize(await handle.describe());
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) throw new RunNotFound(runId);
        throw err;
      }
      const progress = isLive(summary.status) ? await withinMs(handle.query<RunProgress>('progress'), QUERY_TIMEOUT_MS).catch(() => null) : null;
      const failure = summary.status === 'failed' ? await failureOf(runId, summary.output) : null;
      const output = summary.output ?? progress?.output ?? null;
      let notebook: Notebook | null = null;
      let note: string | null = output ? null : 'no output location in this run\'s memo';
      let resumedAs: RunDetail['resumedAs'] = [];
      if (output) {
        try {
          notebook = await readCurrentRecord(output);
        } catch (err) {
          note = `output notebook not readable here: ${(err as Error).message.split('\n')[0]}`;
        }
        resumedAs = await store
          .read(output.replace(/[^/]*$/, 'resumed-as.json'))
          .then((b) => resumedAsSchema.parse(JSON.parse(b.toString('utf8'))))
          .catch(() => []);
      }
      return { summary: { ...summary, output }, notebook, progress, failure, resumedAs, note };
    },
  };
}
