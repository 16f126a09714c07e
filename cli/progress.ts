/**
 * Live per-cell progress of a foreground run, from the workflow's `progress` query. On a
 * terminal: a line per finished cell and one rewritten status line (cells done / total,
 * elapsed time, the running cell). Elsewhere (CI logs, `| tee`): one plain line per
 * finished cell, `cell 3 completed in 0.4 s: <first line>`.
 */
import type { WorkflowHandle } from '@temporalio/client';
import type { CellProgress, RunProgress } from '../workflows/contracts.js';

const POLL_MS = 200;

export type ProgressStyle = 'terminal' | 'lines';

function finished(cell: CellProgress): boolean {
  return cell.status === 'completed' || cell.status === 'failed';
}

function terminalLine(cell: CellProgress, total: number, position: number): string {
  const mark = cell.status === 'completed' ? 'ok  ' : cell.status === 'failed' ? 'FAIL' : '... ';
  const seconds = cell.durationMs === undefined ? '' : `${(cell.durationMs / 1000).toFixed(2)}s`;
  return `${mark} [${String(position + 1).padStart(String(total).length)}/${total}] cell ${cell.index}  ${seconds.padStart(7)}  ${cell.summary}`;
}

function plainLine(cell: CellProgress): string {
  const took = cell.durationMs === undefined ? '' : ` in ${(cell.durationMs / 1000).toFixed(1)} s`;
  return `cell ${cell.index} ${cell.status}${took}: ${cell.summary}`;
}

/** Prints finished cells as lines and, on a terminal, keeps one rewritten status line. */
export function followProgress(handle: WorkflowHandle, write: (text: string) => void, style: ProgressStyle): () => Promise<void> {
  const printed = new Set<number>();
  const started = Date.now();
  let stopped = false;
  let running: { index: number; since: number } | undefined;
  let statusShown = false;

  const clearStatus = () => {
    if (statusShown) write('\r\x1b[K');
    statusShown = false;
  };

  const render = (progress: RunProgress) => {
    clearStatus();
    const total = progress.cells.length;
    progress.cells.forEach((cell, position) => {
      if (printed.has(cell.index) || !finished(cell)) return;
      printed.add(cell.index);
      write(`${style === 'terminal' ? terminalLine(cell, total, position) : plainLine(cell)}\n`);
    });
    const current = progress.cells.find((cell) => cell.status === 'running');
    if (style !== 'terminal' || !current) return;
    if (running?.index !== current.index) running = { index: current.index, since: Date.now() };
    const done = progress.cells.filter(finished).length;
    const elapsed = ((Date.now() - started) / 1000).toFixed(0);
    const cellSeconds = ((Date.now() - running.since) / 1000).toFixed(0);
    write(`[${done}/${total}] ${elapsed}s  cell ${current.index} running ${cellSeconds}s  ${current.summary}`.slice(0, process.stderr.columns || 100));
    statusShown = true;
  };

  const loop = (async () => {
    while (!stopped) {
      try {
        render(await handle.query<RunProgress>('progress'));
      } catch {
        // Not started yet, or finished: the final state is rendered by stop().
      }
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  })();

  return async () => {
    stopped = true;
    await loop;
    try {
      render(await handle.query<RunProgress>('progress'));
    } catch {
      // A closed workflow may no longer answer queries when its worker is gone.
    }
    clearStatus();
  };
}
