/**
 * Live per-cell progress of a foreground run on a terminal: polls the workflow's
 * `progress` query, prints one line per cell as it finishes, and shows the running cell
 * with its elapsed time on a status line.
 */
import type { WorkflowHandle } from '@temporalio/client';
import type { CellProgress, RunProgress } from '../workflows/contracts.js';

const POLL_MS = 200;

function line(cell: CellProgress, total: number, position: number): string {
  const mark = cell.status === 'completed' ? 'ok  ' : cell.status === 'failed' ? 'FAIL' : '... ';
  const seconds = cell.durationMs === undefined ? '' : `${(cell.durationMs / 1000).toFixed(2)}s`;
  return `${mark} [${String(position + 1).padStart(String(total).length)}/${total}] cell ${cell.index}  ${seconds.padStart(7)}  ${cell.summary}`;
}

/** Prints finished cells as lines and keeps one rewritten status line for the running cell. */
export function followProgress(handle: WorkflowHandle, write: (text: string) => void): () => Promise<void> {
  const printed = new Set<number>();
  let stopped = false;
  let running: { index: number; since: number } | undefined;
  let statusShown = false;

  const clearStatus = () => {
    if (statusShown) write('\r\x1b[K');
    statusShown = false;
  };

  const render = (progress: RunProgress) => {
    clearStatus();
    progress.cells.forEach((cell, position) => {
      if (printed.has(cell.index)) return;
      if (cell.status === 'completed' || cell.status === 'failed') {
        printed.add(cell.index);
        write(`${line(cell, progress.cells.length, position)}\n`);
      } else if (cell.status === 'running') {
        if (running?.index !== cell.index) running = { index: cell.index, since: Date.now() };
        const seconds = ((Date.now() - running.since) / 1000).toFixed(0);
        write(`...  [${position + 1}/${progress.cells.length}] cell ${cell.index}  running ${seconds}s  ${cell.summary}`.slice(0, process.stderr.columns || 100));
        statusShown = true;
      }
    });
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
