/** `millrace show RUN`: what Temporal knows of a run, plus its record cell by cell. */
import type { Notebook } from '../../notebook/nbformat.js';
import { store } from '../../record/store/index.js';
import { recordedCells } from '../../record/cells.js';
import { notebookMillrace } from '../../record/metadata.js';
import { readRecord } from '../../record/run-record.js';
import { removeErrorMarkers } from '../../notebook/record.js';
import { EXIT } from '../errors.js';
import { checkRunArgument, withRunSession } from '../run-ids.js';
import { READS_HISTORY } from '../session.js';
import { table } from '../table.js';
import { executionErrorText } from '../traceback.js';
import { parametersText, summarize, type RunSummary } from './runs.js';
import { runFacts } from '../../notebook/scrapbook.js';
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
  /** Where the kernel ran: a container's image, cpus, memory, env_names, mounts (null: a process kernel). */
  kernel: Record<string, unknown> | null;
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

export async function showCommand(run: string, options: { json: boolean }): Promise<number> {
  checkRunArgument(run, 'show');
  const description = await withRunSession({ needs: READS_HISTORY, json: options.json, run }, (session, runId) =>
    session.client.workflow.getHandle(runId).describe(),
  );
  const summary: RunSummary = summarize(description);
  const paused = summary.status === 'paused' ? ((description.memo?.['paused'] as PauseInfo | undefined) ?? null) : null;
  const memoLink: unknown = description.memo?.['resumed_from'];
  // papermill's PapermillExecutionError text of the failed cell, printed after the table.
  let traceback: string | undefined;
  const view: RunView = { ...summary, failed_cell: null, error: null, cells: [], resumed_from: null, resumed_as: [], paused, cwd: null, kernel: null };
  if (summary.output) {
    try {
      // Cell numbers as the run reported them: without papermill's banner and anchor.
      const nb = removeErrorMarkers((await readRecord(summary.output)).notebook);
      view.cells = cellViews(nb);
      // The record's parameters are the ones the kernel got (a scheduled run's time too).
      view.parameters = runFacts(nb).parameters;
      const { resumed_from: from, cwd, kernel } = notebookMillrace(nb);
      view.cwd = cwd ?? null;
      view.kernel = kernel ?? null;
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
  // The memo holds the link even where the record cannot be read.
  if (!view.resumed_from && typeof memoLink === 'string') {
    view.resumed_from = { run_id: memoLink, from_cell: null, restore: null, checkpoint_after_cell: null };
  }
  if (options.json) {
    process.stdout.write(`${JSON.stringify(view)}\n`);
    return EXIT.ok;
  }
  const lines = [
    `run:      ${view.run_id}`,
    `status:   ${view.status}`,
    `notebook: ${view.notebook ?? ''}`,
    `output:   ${view.output ?? ''}`,
    ...(view.cwd ? [`cwd:      ${view.cwd}`] : []),
    ...(view.kernel ? [`kernel:   ${describePlacement(view.kernel)}`] : []),
    ...(view.parameters && Object.keys(view.parameters).length ? [`params:   ${parametersText(view.parameters)}`] : []),
    `started:  ${view.started ?? ''}`,
    `ended:    ${view.ended ?? ''}${view.duration_s === null ? '' : ` (${view.duration_s.toFixed(1)} s)`}`,
  ];
  if (view.resumed_from) lines.push(`resumed:  ${describeResume(view.resumed_from)}`);
  for (const later of view.resumed_as) lines.push(`resumed as: ${later.run_id}`);
  if (view.failed_cell !== null && view.error) {
    lines.push(`failed:   cell ${view.failed_cell}: ${view.error.ename}: ${view.error.evalue}`);
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

/** `IMAGE, 0.5 CPUs, 256m, env A B, mount SRC:DST:ro`: a container kernel's placement as recorded. */
function describePlacement(kernel: Record<string, unknown>): string {
  const parts = [String(kernel['image'] ?? '')];
  if (typeof kernel['cpus'] === 'number') parts.push(`${kernel['cpus']} CPUs`);
  if (typeof kernel['memory'] === 'string') parts.push(kernel['memory']);
  const names = Array.isArray(kernel['env_names']) ? kernel['env_names'] : [];
  if (names.length) parts.push(`env ${names.join(' ')}`);
  for (const mount of Array.isArray(kernel['mounts']) ? kernel['mounts'] : []) parts.push(`mount ${String(mount)}`);
  return parts.join(', ');
}
