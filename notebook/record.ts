// The run record papermill keeps in the output notebook: metadata.papermill on the
// notebook and on each cell (engines.py NotebookExecutionManager), and the error
// banner/anchor cells (execute.py raise_for_execution_errors). Every function returns
// a new notebook; times are ISO strings from the caller (no clock here) and are
// stored in papermill's spelling.

import { storedMillrace, withDisplayIds } from './millrace-metadata.js';
import { uniqueCellId, type Cell, type CodeCell, type JsonObject, type MarkdownCell, type Notebook } from './nbformat.js';
import { durationSeconds, nbclientTimestamp, papermillTime } from './time.js';

export type CellStatus = 'pending' | 'running' | 'completed' | 'failed';

// execute.py, verbatim.
export const ERROR_MARKER_TAG = 'papermill-error-cell-tag';
export const ERROR_STYLE =
  'style="color:red; font-family:Helvetica Neue, Helvetica, Arial, sans-serif; font-size:2em;"';
export const ERROR_MESSAGE_TEMPLATE = `<span ${ERROR_STYLE}>An Exception was encountered at '<a href="#papermill-error-cell">In [%s]</a>'.</span>`;
export const ERROR_ANCHOR_MSG =
  `<span id="papermill-error-cell" ${ERROR_STYLE}>` +
  'Execution using papermill encountered an exception here and stopped:' +
  '</span>';

/** The per-cell metadata.papermill object. */
export interface CellRecord {
  exception: boolean | null;
  start_time: string | null;
  end_time: string | null;
  duration: number | null;
  status: CellStatus;
}

export interface RecordMeta {
  inputPath: string;
  outputPath: string;
  /** JSON of the parameters (see paramsToJson). */
  parameters: unknown;
  defaultParameters?: unknown;
  environmentVariables?: Record<string, string>;
  /** ISO time the run started. */
  startTime: string;
  /** Written to metadata.papermill.version. */
  version: string;
  /** papermill --report-mode: hide every code cell's source. */
  reportMode?: boolean;
}

const pendingCell = (): CellRecord => ({
  exception: null,
  start_time: null,
  end_time: null,
  duration: null,
  status: 'pending',
});

export function cellRecord(cell: Cell): CellRecord | undefined {
  const r = cell.metadata.papermill;
  return r && typeof r === 'object' ? (r as unknown as CellRecord) : undefined;
}

export function cellStatus(cell: Cell): CellStatus | undefined {
  return cellRecord(cell)?.status;
}

function withCell(nb: Notebook, index: number, f: (cell: Cell) => Cell): Notebook {
  const cell = nb.cells[index];
  if (!cell) throw new RangeError(`cell ${index} does not exist (the notebook has ${nb.cells.length} cells)`);
  const cells = [...nb.cells];
  cells[index] = f(cell);
  return { ...nb, cells };
}

function withCellRecord(cell: Cell, patch: Partial<CellRecord>): Cell {
  const current = cellRecord(cell) ?? pendingCell();
  return { ...cell, metadata: { ...cell.metadata, papermill: { ...current, ...patch } as unknown as JsonObject } };
}

function withNotebookRecord(nb: Notebook, patch: JsonObject): Notebook {
  return { ...nb, metadata: { ...nb.metadata, papermill: { ...(nb.metadata.papermill ?? {}), ...patch } } };
}

function isErrorMarker(cell: Cell): boolean {
  const tags = cell.metadata.tags;
  return Array.isArray(tags) && tags.includes(ERROR_MARKER_TAG);
}

/**
 * Each cell's number as every surface shows it (CLI, --json, `resume --from-cell`, inspector,
 * viewer, --log-output): its index in the record without papermill's banner and anchor,
 * which is the index the run executed it under; null for a marker cell itself.
 */
export function cellNumbers(nb: Notebook): Array<number | null> {
  let next = 0;
  return nb.cells.map((c) => (isErrorMarker(c) ? null : next++));
}

/** execute.py remove_error_markers: drop banner/anchor cells of an earlier papermill run. */
export function removeErrorMarkers(nb: Notebook): Notebook {
  return { ...nb, cells: nb.cells.filter((c) => !isErrorMarker(c)) };
}

/**
 * papermill report mode (prepare_notebook_metadata): code cells' sources hidden.
 * papermill replaces metadata.jupyter with {source_hidden: true} (it reads the old
 * value from the wrong object), dropping e.g. outputs_hidden; so do we.
 */
export function hideCodeSources(nb: Notebook): Notebook {
  return {
    ...nb,
    cells: nb.cells.map((c) => (c.cell_type === 'code' ? { ...c, metadata: { ...c.metadata, jupyter: { source_hidden: true } } } : c)),
  };
}

/** Display-id bookkeeping of outputs.ts; stale once outputs are cleared. */
function withoutDisplayIds(metadata: Cell['metadata']): Cell['metadata'] {
  return 'display_ids' in storedMillrace(metadata) ? withDisplayIds(metadata, {}) : metadata;
}

/**
 * Start a run's record from the (parameterized) notebook, as papermill does between
 * loading and executing: code sources hidden in report mode, error markers of an earlier run removed; notebook
 * metadata.papermill with parameters, paths, version and start_time (end_time,
 * duration, exception null); every cell gets `tags` (empty if absent) and a pending
 * metadata.papermill; code cells lose outputs and execution_count.
 * Keys an input notebook already had in metadata.papermill are kept, as papermill
 * keeps them, but ours (including version) are always written.
 */
export function initRecord(nb: Notebook, meta: RecordMeta): Notebook {
  const old = nb.metadata.papermill ?? {};
  const papermill: JsonObject = {
    ...old,
    default_parameters: meta.defaultParameters ?? old.default_parameters ?? {},
    parameters: meta.parameters,
    environment_variables: meta.environmentVariables ?? old.environment_variables ?? {},
    version: meta.version,
    input_path: meta.inputPath,
    output_path: meta.outputPath,
    start_time: papermillTime(meta.startTime),
    end_time: null,
    duration: null,
    exception: null,
  };
  const prepared = meta.reportMode ? hideCodeSources(nb) : nb;
  const cells = removeErrorMarkers(prepared).cells.map((cell): Cell => {
    const metadata = { ...withoutDisplayIds(cell.metadata), papermill: pendingCell() as unknown as JsonObject };
    if (!('tags' in cell.metadata)) metadata.tags = [];
    if (cell.cell_type === 'code') return { ...cell, metadata, outputs: [], execution_count: null };
    return { ...cell, metadata };
  });
  return { ...nb, metadata: { ...nb.metadata, papermill }, cells };
}

/**
 * papermill's load_notebook_node, for --prepare-only (before parameterizing):
 * metadata.papermill gets its empty defaults where the input had none (an earlier run's
 * stays, as in papermill), every cell `tags` and `papermill` where absent.
 */
export function loadedNotebook(nb: Notebook, version: string): Notebook {
  const papermill = nb.metadata.papermill ?? { default_parameters: {}, parameters: {}, environment_variables: {}, version };
  const cells = nb.cells.map((cell): Cell => {
    const metadata = { ...cell.metadata };
    if (!('tags' in metadata)) metadata.tags = [];
    if (!('papermill' in metadata)) metadata.papermill = {};
    return { ...cell, metadata };
  });
  return { ...nb, metadata: { ...nb.metadata, papermill }, cells };
}

/**
 * papermill --prepare-only, after parameterizing (prepare_notebook_metadata and
 * remove_error_markers, no engine): code sources hidden in report mode, the paths
 * recorded; outputs, execution counts and cell ids stay the input's.
 */
export function preparedNotebook(nb: Notebook, meta: Pick<RecordMeta, 'inputPath' | 'outputPath' | 'reportMode'>): Notebook {
  const prepared = meta.reportMode ? hideCodeSources(nb) : nb;
  const papermill: JsonObject = { ...(nb.metadata.papermill ?? {}), input_path: meta.inputPath, output_path: meta.outputPath };
  return removeErrorMarkers({ ...prepared, metadata: { ...prepared.metadata, papermill } });
}

/**
 * papermill cell_start. Also clears end_time/duration, which only matters when a
 * cell runs again (millrace retries; papermill runs a cell once).
 */
export function markCellRunning(nb: Notebook, index: number, isoTime: string): Notebook {
  const t = papermillTime(isoTime);
  return withCell(nb, index, (c) =>
    withCellRecord(c, { start_time: t, status: 'running', exception: false, end_time: null, duration: null }),
  );
}

function complete(cell: Cell, isoTime: string): Cell {
  const r = cellRecord(cell) ?? pendingCell();
  const patch: Partial<CellRecord> = { end_time: papermillTime(isoTime) };
  if (r.start_time) patch.duration = durationSeconds(r.start_time, isoTime);
  if (r.status !== 'failed') patch.status = 'completed';
  return withCellRecord(cell, patch);
}

/** papermill cell_complete: end_time, duration in seconds, status completed. */
export function markCellCompleted(nb: Notebook, index: number, isoTime: string): Notebook {
  return withCell(nb, index, (c) => complete(c, isoTime));
}

/** papermill cell_exception followed by cell_complete, as papermill calls them on a failing cell. */
export function markCellFailed(nb: Notebook, index: number, isoTime: string): Notebook {
  const failed = withCell(nb, index, (c) => complete(withCellRecord(c, { exception: true, status: 'failed' }), isoTime));
  return withNotebookRecord(failed, { exception: true });
}

/**
 * papermill notebook_complete: end_time and duration, then cells still pending up
 * to the first failed cell become completed. Those are the cells after the last one
 * sent to the kernel (markdown, skip-execution): papermill's loop passes them through
 * cell_start and cell_complete before notebook_complete, so they are timed here, at
 * the run's end, as papermill times them. When the run failed without a failed cell
 * (e.g. cancelled), pending cells stay pending rather than claim completion, and the
 * notebook's exception is set.
 */
export function finishRecord(nb: Notebook, o: { endTime: string; failed: boolean }): Notebook {
  const start = nb.metadata.papermill?.start_time;
  const patch: JsonObject = { end_time: papermillTime(o.endTime) };
  if (typeof start === 'string' && start) patch.duration = durationSeconds(start, o.endTime);
  if (o.failed) patch.exception = true;
  const failedAt = nb.cells.findIndex((c) => cellStatus(c) === 'failed');
  const limit = failedAt >= 0 ? failedAt : o.failed ? 0 : nb.cells.length;
  let out = nb;
  for (let i = 0; i < limit; i++) {
    if (cellStatus(out.cells[i]!) === 'pending') out = markCellCompleted(markCellRunning(out, i, o.endTime), i, o.endTime);
  }
  return withNotebookRecord(out, patch);
}

export interface ExecutionErrorInfo {
  cellIndex: number;
  executionCount: number | null;
  ename: string;
  evalue: string;
  traceback: string[];
}

/**
 * raise_for_execution_errors' search: an error output (sys.exit() / sys.exit(0)
 * excepted), else a cell whose metadata.papermill.exception is true. Like papermill,
 * a later error output overrides an earlier one.
 */
export function findExecutionError(nb: Notebook): ExecutionErrorInfo | null {
  let error: ExecutionErrorInfo | null = null;
  for (const [index, cell] of nb.cells.entries()) {
    let hasSysExit = false;
    const count = cell.cell_type === 'code' ? cell.execution_count : null;
    if (cell.cell_type === 'code') {
      for (const out of cell.outputs) {
        if (out.output_type !== 'error') continue;
        if (out.ename === 'SystemExit' && (out.evalue === '' || out.evalue === '0')) {
          hasSysExit = true;
          continue;
        }
        error = { cellIndex: index, executionCount: count, ename: out.ename, evalue: out.evalue, traceback: out.traceback };
        break;
      }
    }
    if (error === null && !hasSysExit && cellRecord(cell)?.exception === true) {
      error = { cellIndex: index, executionCount: count, ename: 'CellExecutionError', evalue: '', traceback: [] };
      break;
    }
  }
  return error;
}

function markerCell(cells: readonly Cell[], id: string, source: string): MarkdownCell {
  return { id: uniqueCellId(cells, id), cell_type: 'markdown', metadata: { tags: [ERROR_MARKER_TAG] }, source };
}

/**
 * papermill's failure markers: a banner at the top linking to an anchor cell placed
 * right before the failed cell (`failedIndex` indexes `nb` as given). Markers of an
 * earlier call are replaced. Like papermill's, the two cells carry only the marker
 * tag (no metadata.papermill); their ids are deterministic.
 */
export function addErrorBanner(nb: Notebook, failedIndex: number): Notebook {
  const failed = nb.cells[failedIndex];
  if (!failed) throw new RangeError(`cell ${failedIndex} does not exist (the notebook has ${nb.cells.length} cells)`);
  const cells = removeErrorMarkers(nb).cells;
  const at = cells.indexOf(failed);
  const count = failed.cell_type === 'code' ? (failed as CodeCell).execution_count : null;
  const banner = markerCell(cells, 'papermill-error-banner', ERROR_MESSAGE_TEMPLATE.replace('%s', count === null ? 'None' : String(count)));
  const anchor = markerCell(cells, 'papermill-error-anchor', ERROR_ANCHOR_MSG);
  cells.splice(at, 0, anchor);
  cells.unshift(banner);
  return { ...nb, cells };
}

export type ExecutionTimingKey =
  | 'iopub.status.busy'
  | 'iopub.execute_input'
  | 'shell.execute_reply'
  | 'iopub.status.idle';

/**
 * nbclient's metadata.execution timing for one message. `time` is the message's
 * header.date (reformatted as nbclient does) or any ISO time.
 */
export function recordExecutionTiming<C extends Cell>(cell: C, key: ExecutionTimingKey | string, time: string): C {
  const value = nbclientTimestamp(time) ?? time;
  return { ...cell, metadata: { ...cell.metadata, execution: { ...(cell.metadata.execution ?? {}), [key]: value } } };
}

/** nbclient clears metadata.execution right before it sends a cell to the kernel. */
export function resetExecutionTiming<C extends Cell>(cell: C): C {
  return { ...cell, metadata: { ...cell.metadata, execution: {} } };
}
