/** `millrace show RUN`: what Temporal knows of a run, plus its record cell by cell. */
import type { Client } from '@temporalio/client';
import type { Notebook } from '../../notebook/nbformat.js';
import { store } from '../../record/store/index.js';
import { recordedCells } from '../../record/cells.js';
import { notebookMillrace, type NotebookMillrace } from '../../record/metadata.js';
import { readRecord } from '../../record/run-record.js';
import { removeErrorMarkers } from '../../notebook/record.js';
import { EXIT } from '../errors.js';
import { loadConfig } from '../config.js';
import { askDev } from '../dev-api.js';
import { checkRunArgument, inRun } from '../run-ids.js';
import { READS_HISTORY, withSession } from '../session.js';
import { parametersText, table } from '../table.js';
import { executionErrorText } from '../traceback.js';
import { summarize, type RunSummary } from '../run-summaries.js';
import { runFacts } from '../../notebook/scrapbook.js';
import { describePlacement } from '../../notebook/placement-syntax.js';
import { savedFileFacts, savedFilesOf, type SavedFile } from '../../notebook/saved-files.js';
import type { PauseInfo } from '../../workflows/contracts.js';

interface CellView {
  index: number;
  cell_type: string;
  status: string;
  duration_s: number | null;
  summary: string;
  error: { ename: string; evalue: string } | null;
}

interface ResumedFrom {
  run_id: string;
  from_cell: number | null;
  restore: 'replay' | 'checkpoint' | null;
  /** --restore checkpoint: the earlier run's cell after which the restored namespace was saved. */
  checkpoint_after_cell: number | null;
}

interface RunView extends RunSummary {
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

/** What Temporal knows of one run, in JSON: what `millrace dev` answers, or this command finds itself. */
export interface RunDescription {
  summary: RunSummary;
  paused: PauseInfo | null;
  /** The run this one resumed, from the memo (it holds the link even where the record cannot be read). */
  memoResumedFrom: string | null;
  /** Why Temporal says the run failed: shown when no cell of the record does (a full disk). */
  failure: { ename: string; evalue: string } | null;
}

/** The run RUN names, described; run by `millrace dev` (cli/dev-server.ts), or by `show` without one. */
export async function describeRun(client: Client, run: string): Promise<RunDescription> {
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
  const [{ WorkflowFailedError }, { reportFromFailure }] = await Promise.all([import('@temporalio/client'), import('../run-report.js')]);
  return handle.result().then(
    () => null,
    (err: unknown) => (err instanceof WorkflowFailedError ? reportFromFailure(err, runId, '', 0).error : null),
  );
}

export async function showCommand(run: string, options: { json: boolean }): Promise<number> {
  checkRunArgument(run, 'show');
  const config = loadConfig();
  // A running `millrace dev` describes it itself: this process then never loads the Temporal client.
  const described =
    (await askDev<RunDescription>(config, 'show', { run })) ??
    (await withSession({ needs: READS_HISTORY, json: options.json, config }, (session) => describeRun(session.client, run)));
  const { summary, paused, memoResumedFrom: memoLink, failure } = described;
  // papermill's PapermillExecutionError text of the failed cell, printed after the table.
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
        traceback = executionErrorText(nb, failed.index, { colour: process.stdout.isTTY === true });
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
  if (options.json) {
    process.stdout.write(`${JSON.stringify(view)}\n`);
    return EXIT.ok;
  }
  const placement = describePlacement(view.kernel);
  const lines = [
    `run:      ${view.run_id}`,
    `status:   ${view.status}`,
    `notebook: ${view.notebook ?? ''}`,
    `output:   ${view.output ?? ''}`,
    ...(view.cwd ? [`cwd:      ${view.cwd}`] : []),
    ...(view.kernel?.['name'] !== undefined ? [`kernel:   ${describeKernel(view.kernel)}`] : []),
    ...(placement !== undefined ? [`image:    ${placement}`] : []),
    ...(view.parameters && Object.keys(view.parameters).length ? [`params:   ${parametersText(view.parameters)}`] : []),
    `started:  ${view.started ?? ''}`,
    `ended:    ${view.ended ?? ''}${view.duration_s === null ? '' : ` (${view.duration_s.toFixed(1)} s)`}`,
  ];
  for (const f of view.saved_files) {
    lines.push(`saved:    cell ${f.cell}: ${f.location} ${savedFileFacts(f)}`);
  }
  if (view.notification_failed) lines.push(`notification failed: ${view.notification_failed}`);
  if (view.resumed_from) lines.push(`resumed:  ${describeResume(view.resumed_from)}`);
  for (const later of view.resumed_as) lines.push(`resumed as: ${later.run_id}`);
  if (view.failed_cell !== null && view.error) {
    lines.push(`failed:   cell ${view.failed_cell}: ${view.error.ename}: ${view.error.evalue}`);
  } else if (view.reason) {
    lines.push(`failed:   ${view.reason}`);
  } else if (view.error) {
    lines.push(`failed:   ${view.error.evalue}`);
  }
  if (view.paused) {
    lines.push(`paused:   at cell ${view.paused.cell} since ${view.paused.since}, until ${view.paused.until}`);
    lines.push(`repair:   millrace retry|exec|skip|abort ${view.run_id}`);
  }
  if (view.record_note) lines.push(view.record_note);
  process.stdout.write(`${lines.join('\n')}\n\n`);
  if (view.cells.length > 0) {
    process.stdout.write(
      table(
        ['CELL', 'TYPE', 'STATUS', 'TIME', 'SOURCE'],
        view.cells.map((c) => [
          String(c.index),
          c.cell_type,
          c.status,
          c.duration_s === null ? '' : `${c.duration_s.toFixed(2)}s`,
          c.summary,
        ]),
      ),
    );
  }
  if (traceback) process.stdout.write(`\n${traceback}`);
  return EXIT.ok;
}

/** `python3: /venv/bin/python 3.11.2, kernelspec /dir`, as much as the record knows. */
function describeKernel(kernel: NonNullable<RunView['kernel']>): string {
  const program = kernel.python ? `${kernel.python}${kernel.python_version ? ` ${kernel.python_version}` : ''}` : kernel.argv0;
  const parts = [program, kernel.spec_dir ? `kernelspec ${kernel.spec_dir}` : undefined].filter(Boolean);
  return `${kernel.name ?? '?'}${parts.length ? `: ${parts.join(', ')}` : ''}`;
}

function describeResume(from: ResumedFrom): string {
  const at = from.from_cell === null ? '' : ` at cell ${from.from_cell}`;
  const how =
    from.restore === 'checkpoint'
      ? from.checkpoint_after_cell === null
        ? ' (restore checkpoint: nothing to restore)'
        : ` (restored its checkpoint after cell ${from.checkpoint_after_cell})`
      : from.restore === 'replay'
        ? ' (earlier cells replayed)'
        : '';
  return `from ${from.run_id}${at}${how}`;
}

