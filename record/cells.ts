/**
 * A run record's cells as people read them, for `millrace show` and the inspector (one
 * builder, so the two agree): papermill's status and duration, the first error output, a
 * one-line summary, and what millrace noted on the cell (skipped, carried over). Pure.
 */
import { cellFirstLine, cellSummary, type Notebook } from '../notebook/nbformat.js';
import { cellRecord } from '../notebook/record.js';
import { cellMillrace } from './metadata.js';

export interface RecordedCell {
  index: number;
  cellType: 'code' | 'markdown' | 'raw';
  /** metadata.papermill.status; undefined when the record has none. */
  status: string | undefined;
  durationS: number | null;
  summary: string;
  /** The summary's line uncut, for views that cut it to their width (the inspector). */
  firstLine: string;
  error: { ename: string; evalue: string } | null;
  /** `millrace skip`: the cell stays failed for papermill; millrace says it was skipped. */
  skipped: boolean;
  /** Carried over from the run this one resumed (`millrace resume`), outputs and all. */
  carriedOver: boolean;
}

export function recordedCells(nb: Notebook): RecordedCell[] {
  return nb.cells.map((cell, index) => {
    const pm: { status?: unknown; duration?: unknown } = cellRecord(cell) ?? {};
    const millrace = cellMillrace(cell);
    const error = cell.cell_type === 'code' ? cell.outputs.find((o) => o.output_type === 'error') : undefined;
    return {
      index,
      cellType: cell.cell_type,
      status: typeof pm.status === 'string' ? pm.status : undefined,
      durationS: typeof pm.duration === 'number' ? pm.duration : null,
      summary: cellSummary(cell),
      firstLine: cellFirstLine(cell),
      error: error?.output_type === 'error' ? { ename: error.ename, evalue: error.evalue } : null,
      skipped: millrace.skipped === true,
      carriedOver: millrace.carried_over_from !== undefined,
    };
  });
}
