/**
 * What `millrace show RUN` shows, built where the run can be read: by `millrace dev` for the
 * commands of its directory (cli/dev-server.ts), so `show` then loads none of this, or by
 * `show` itself without one (shownRun): Temporal's facts about the run and its record, cell
 * by cell.
 */
import type { Client } from '@temporalio/client';
import { store } from '../record/store/index.js';
import { recordedCells } from '../record/cells.js';
import { notebookMillrace, type NotebookMillrace } from '../record/metadata.js';
import { readRecord } from '../record/run-record.js';
import { removeErrorMarkers } from '../notebook/record.js';
import type { Notebook } from '../notebook/nbformat.js';
import { inRun } from './run-ids.js';
import { executionErrorText } from './traceback.js';
import { summarize, type RunSummary } from './run-summaries.js';
import { runFacts } from '../notebook/scrapbook.js';
import { savedFilesOf } from '../notebook/saved-files.js';
import type { SavedFile } from '../notebook/saved-file-facts.js';
import type { PauseInfo } from '../workflows/contracts.js';

export interface CellView {
  index: number;
  cell_type: string;
  status: string;
  duration_s: number | null;
  summary: string;
  error: { ename: string; evalue: string } | null;
}

export interface ResumedFrom {
  run_id: string;
  from_cell: number | null;
  restore: 'replay' | 'checkpoint' | null;
  /** --restore checkpoint: the earlier run's cell after which the restored namespace was saved. */
  checkpoint_after_cell: number | null;
}

export interface RunView extends RunSummary {
  failed_cell: number | null;
  error: { ename: string; evalue: string } | null;
  cells: CellView[];
  /**
   * The run this one resumed (`millrace resume`): from its record, else from the memo; how
   * the kernel got the earlier cells' state back; and the runs that resumed this one.
   */
  resumed_from: ResumedFrom | null;
  resumed_as: Array<{ run_id: string; output: string }>;
  /** --on-failure pause: the failed cell the run waits on, until when (null unless paused). */
  paused: PauseInfo | null;
  /** The kernel's working directory, from the record (null in runs recorded without one). */
  cwd: string | null;
  /**
   * The record's metadata.millrace.kernel: which interpreter and kernelspec the kernel was,
   * and for a container, where it ran (image, cpus, memory, env_names, mounts); else null.
   */
  kernel: NotebookMillrace['kernel'] | null;
  /** Why the run failed when an error ended it (the record's metadata.millrace.reason), else null. */
  reason: string | null;
  /** Files cells saved to the run's folder (a SQL job's `-- @output`), where they went. */
  saved_files: Array<SavedFile & { cell: number }>;
  record_note?: string;
}

export function cellViews(nb: Notebook): CellView[] {
  return recordedCells(nb).map((c) => ({
    index: c.index,
    cell_type: c.cellType,
    status: c.skipped ? 'skipped' : (c.status ?? 'unknown'),
    duration_s: c.durationS,
    summary: c.summary,
    error: c.error,
  }));
}

/** What Temporal knows of one run. */
interface RunDescription {
  summary: RunSummary;
  paused: PauseInfo | null;
  /** The run this one resumed, from the memo (it holds the link even where the record cannot be read). */
  memoResumedFrom: string | null;
  /** Why Temporal says the run failed: shown when no cell of the record does (a full disk). */
  failure: { ename: string; evalue: string } | null;
}

/** The run RUN names (checked by the caller: checkRunArgument), as `show` prints it; `colour`: the traceback for a terminal. */
export async function shownRun(client: Client, run: string, colour: boolean): Promise<ShownRun> {
  return runView(await describeRun(client, run), colour);
}

async function describeRun(client: Client, run: string): Promise<RunDescription> {
  return inRun(client, run, async (runId) => {
    const handle = client.workflow.getHandle(runId);
    const description = await handle.describe();
    const summary = summarize(description);
    const memoLink: unknown = description.memo?.['resumed_from'];
    return {
      summary,
      paused: summary.status === 'paused' ? ((description.memo?.['paused'] as PauseInfo | undefined) ?? null) : null,
      memoResumedFrom: typeof memoLink === 'string' ? memoLink : null,
      failure: description.status.name === 'FAILED' ? await failureOf(handle, runId) : null,
    };
  });
}

async function failureOf(handle: { result(): Promise<unknown> }, runId: string): Promise<RunDescription['failure']> {
  // Loaded here, not at the top: `show` through `millrace dev` must not load the client.
  const [{ WorkflowFailedError }, { reportFromFailure }] = await Promise.all([import('@temporalio/client'), import('./run-report.js')]);
  return handle.result().then(
    () => null,
    (err: unknown) => (err instanceof WorkflowFailedError ? reportFromFailure(err, runId, '', 0).error : null),
  );
}

/** A run as `show` prints it: the view (`--json` prints it as it is) and the failed cell's traceback. */
export interface ShownRun {
  view: RunView;
  /** papermill's PapermillExecutionError text of the failed cell, printed after the table. */
  traceback?: string;
}

/** The run's view from Temporal's description and its record. */
async function runView(described: RunDescription, colour: boolean): Promise<ShownRun> {
  const { summary, paused, memoResumedFrom: memoLink, failure } = described;
  let traceback: string | undefined;
  const view: RunView = { ...summary, failed_cell: null, error: null, cells: [], resumed_from: null, resumed_as: [], paused, cwd: null, reason: null, kernel: null, saved_files: [] };
  if (summary.output) {
    try {
      // Cell numbers as the run reported them: without papermill's banner and anchor.
      const nb = removeErrorMarkers((await readRecord(summary.output)).notebook);
      view.cells = cellViews(nb);
      view.saved_files = nb.cells.flatMap((cell, index) => savedFilesOf(cell).map((f) => ({ cell: index, ...f })));
      // The record's parameters are the ones the kernel got (a scheduled run's time too).
      view.parameters = runFacts(nb).parameters;
      const { resumed_from: from, cwd, reason, kernel } = notebookMillrace(nb);
      view.cwd = cwd ?? null;
      view.kernel = kernel ?? null;
      view.reason = reason ?? null;
      if (from) {
        view.resumed_from = {
          run_id: from.run_id,
          from_cell: from.from_cell,
          restore: from.restore ?? 'replay',
          checkpoint_after_cell: from.checkpoint?.after_cell ?? null,
        };
      }
      view.resumed_as = await store
        .read(summary.output.replace(/[^/]*$/, 'resumed-as.json'))
        .then((b) => JSON.parse(b.toString('utf8')) as RunView['resumed_as'])
        .catch(() => []);
      const failed = view.cells.find((c) => c.status === 'failed' && c.error && c.error.ename !== 'SystemExit');
      if (failed && summary.status !== 'completed') {
        view.failed_cell = failed.index;
        view.error = failed.error;
        traceback = executionErrorText(nb, failed.index, { colour });
      }
    } catch (err) {
      view.record_note = `output notebook not readable here: ${(err as Error).message}`;
    }
  }
  if (!view.error && failure) view.error = failure;
  // The memo holds the link even where the record cannot be read.
  if (!view.resumed_from && memoLink !== null) {
    view.resumed_from = { run_id: memoLink, from_cell: null, restore: null, checkpoint_after_cell: null };
  }
  return traceback === undefined ? { view } : { view, traceback };
}
