/**
 * `run --log-output`: each cell's stdout, stderr and text results as they come, as
 * papermill's --log-output logs them (`Executing Cell N----`, the output text, `Ending
 * Cell N----`, all on stderr). The source is the run's record (the journal and the running
 * cell's live entry, through readRecord), so it works whichever worker runs the cell.
 */
import { sourceText, type Cell } from '../notebook/nbformat.js';
import { removeErrorMarkers } from '../notebook/record.js';
import { recordedCells } from '../record/cells.js';
import { readRecord } from '../record/run-record.js';

/** The record's live output is saved about once a second while a cell prints. */
const POLL_MS = 500;

/** What papermill logs of a cell's outputs (clientwrap.log_output_message): streams and text/plain. */
function loggedText(cell: Cell): string {
  if (cell.cell_type !== 'code') return '';
  return cell.outputs
    .map((o) => {
      if (o.output_type === 'stream') return sourceText(o.text);
      if (o.output_type === 'execute_result' || o.output_type === 'display_data') {
        const plain = o.data['text/plain'];
        return plain === undefined ? '' : `${sourceText(plain as string | string[])}\n`;
      }
      return '';
    })
    .join('');
}

/** papermill's `f'Executing Cell {n:-<40}'`: the number left-aligned in dashes. */
function banner(what: 'Executing' | 'Ending', index: number, width: number): string {
  return `${what} Cell ${String(index).padEnd(width, '-')}\n`;
}

/** Polls the record at `output` and writes what is new of each cell; stop() writes the rest. */
export function followCellOutput(output: string, write: (text: string) => void): () => Promise<void> {
  /** Per cell: the text written so far, and whether it ended. */
  const seen = new Map<number, { text: string; ended: boolean }>();
  let stopped = false;

  const render = async () => {
    // Cell numbers as the run reports them: without papermill's error banner.
    const notebook = removeErrorMarkers((await readRecord(output)).notebook);
    const cells = recordedCells(notebook);
    for (const cell of cells) {
      // Cells carried over from a resumed run did not run now.
      if (cell.cellType !== 'code' || cell.carriedOver) continue;
      const started = cell.status === 'running' || cell.status === 'completed' || cell.status === 'failed';
      let state = seen.get(cell.index);
      if (!started || state?.ended) continue;
      if (!state) {
        state = { text: '', ended: false };
        seen.set(cell.index, state);
        write(banner('Executing', cell.index, 40));
      }
      const text = loggedText(notebook.cells[cell.index]!);
      // Text only grows, unless the cell cleared its output: then what follows the common part is new.
      let common = 0;
      while (common < state.text.length && common < text.length && state.text[common] === text[common]) common++;
      if (text.length > common) write(text.slice(common));
      state.text = text;
      if (cell.status !== 'running') {
        state.ended = true;
        write(banner('Ending', cell.index, 43));
      }
    }
  };

  const loop = (async () => {
    while (!stopped) {
      // Not written yet, or between writes: the next poll reads it.
      await render().catch(() => undefined);
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  })();

  return async () => {
    stopped = true;
    await loop;
    await render().catch(() => undefined);
  };
}
