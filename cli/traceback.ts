/**
 * A failed cell's traceback as papermill's PapermillExecutionError prints it, taken from
 * the run's record (the cell's error output), for `run` and `show`.
 */
import type { Notebook } from '../notebook/nbformat.js';
import { removeErrorMarkers } from '../notebook/record.js';
import { readRecord } from '../record/run-record.js';
import { stripAnsi } from '../viewer/ansi.js';

/**
 * A rule of 75 dashes, `Exception encountered at "In [N]":` and the traceback, for cell
 * `index` of a record without papermill's error banner; undefined when it has no error
 * output. ANSI colours only for a terminal.
 */
export function executionErrorText(nb: Notebook, index: number, options: { colour: boolean }): string | undefined {
  const cell = nb.cells[index];
  if (cell?.cell_type !== 'code') return undefined;
  const error = cell.outputs.find((o) => o.output_type === 'error');
  if (error?.output_type !== 'error') return undefined;
  const traceback = error.traceback.join('\n');
  return `${'-'.repeat(75)}\nException encountered at "In [${cell.execution_count ?? ' '}]":\n${options.colour ? traceback : stripAnsi(traceback)}\n`;
}

/** The same, read from the record at `output`; undefined when it cannot be read (the one-line summary stands). */
export async function recordedExecutionError(output: string, index: number, options: { colour: boolean }): Promise<string | undefined> {
  try {
    return executionErrorText(removeErrorMarkers((await readRecord(output)).notebook), index, options);
  } catch {
    return undefined;
  }
}
