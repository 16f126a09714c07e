/**
 * The benchmark's notebooks (nbformat 4.5, kernel python3), written to a temp directory,
 * and what their output notebooks say about kernel execution time.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pythonNotebook } from '../notebook/nbformat.js';

export type NotebookKind = 'trivial' | 'sleep' | 'tiny-output' | 'mb-output';

/** The source of code cell `i` of each kind. */
function cellSource(kind: NotebookKind, i: number): string {
  switch (kind) {
    case 'trivial':
      return `x = ${i}`;
    case 'sleep':
      return i === 0 ? 'import time\ntime.sleep(0.2)' : 'time.sleep(0.2)';
    case 'tiny-output':
      return `print(${i})`;
    case 'mb-output':
      return 'print("x" * 1_000_000)';
  }
}

export function makeNotebook(kind: NotebookKind, cells: number): object {
  return pythonNotebook(
    Array.from({ length: cells }, (_, i) => ({ id: `c${i}`, cell_type: 'code', metadata: {}, execution_count: null, outputs: [], source: cellSource(kind, i) })),
  );
}

export async function writeNotebook(dir: string, kind: NotebookKind, cells: number): Promise<string> {
  const path = join(dir, `${kind}-${cells}.ipynb`);
  await writeFile(path, `${JSON.stringify(makeNotebook(kind, cells), null, 1)}\n`);
  return path;
}

/** What an executed notebook's per-cell `metadata.execution` timestamps (kernel clock) say. */
export interface KernelTiming {
  cells: number;
  /** Σ over code cells of shell.execute_reply − iopub.execute_input, ms. */
  kernelMs: number;
  /** First cell's iopub.execute_input to the last cell's shell.execute_reply, ms. */
  spanMs: number;
  /**
   * Per code cell, ms (for profiles): its index in the notebook, the kernel's
   * iopub.execute_input and shell.execute_reply, and the worker's papermill start_time
   * (cell marked running) and end_time (reply and idle status back).
   */
  perCell: Array<{ index: number; input: number; reply: number; start?: number; end?: number }>;
}

/** ISO timestamps with microseconds ("…:11.242788Z"): milliseconds since the epoch, fractional. */
export function isoMs(text: string): number {
  const match = /^(.*T\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$/.exec(text);
  if (!match) return Date.parse(text);
  const whole = Date.parse(`${match[1]}${match[3]}`);
  return whole + (match[2] ? Number(match[2]) * 1000 : 0);
}

interface CellJson {
  cell_type: string;
  metadata?: {
    execution?: Record<string, string>;
    papermill?: { start_time?: string | null; end_time?: string | null };
  };
}

export async function kernelTiming(outputPath: string): Promise<KernelTiming> {
  const nb = JSON.parse(await readFile(outputPath, 'utf8')) as { cells: CellJson[] };
  const perCell: KernelTiming['perCell'] = [];
  for (const [index, cell] of nb.cells.entries()) {
    if (cell.cell_type !== 'code') continue;
    const execution = cell.metadata?.execution;
    const input = execution?.['iopub.execute_input'];
    const reply = execution?.['shell.execute_reply'];
    if (!input || !reply) throw new Error(`${outputPath}: a code cell has no execution timestamps`);
    const pm = cell.metadata?.papermill;
    // millrace writes papermill's times from Date (whole milliseconds, truncated): the
    // middle of that millisecond is the unbiased estimate against sub-ms times (profiles).
    perCell.push({
      index,
      input: isoMs(input),
      reply: isoMs(reply),
      ...(pm?.start_time ? { start: isoMs(pm.start_time) + 0.5 } : {}),
      ...(pm?.end_time ? { end: isoMs(pm.end_time) + 0.5 } : {}),
    });
  }
  const kernelMs = perCell.reduce((sum, c) => sum + (c.reply - c.input), 0);
  const spanMs = perCell.length > 0 ? perCell[perCell.length - 1]!.reply - perCell[0]!.input : 0;
  return { cells: perCell.length, kernelMs, spanMs, perCell };
}

/**
 * Orchestration overhead per cell, two ways:
 * - total: (wall time − Σ kernel execution) / cells — includes start-up, kernel start, shutdown;
 * - loop: (span from first cell's input to last cell's reply − Σ kernel) / (cells − 1) — the
 *   cost of going from one cell to the next, which is what grows with the notebook.
 */
export function overheadPerCell(wallMs: number, timing: KernelTiming): { totalMs: number; loopMs: number | null } {
  return {
    totalMs: (wallMs - timing.kernelMs) / timing.cells,
    loopMs: timing.cells > 1 ? (timing.spanMs - timing.kernelMs) / (timing.cells - 1) : null,
  };
}

export function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function quantile(values: number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.round(q * (sorted.length - 1))))]!;
}
