/**
 * Live per-cell progress of a foreground run on a terminal: polls the workflow's
 * `progress` query and prints one line per cell as it finishes.
 */
import type { WorkflowHandle } from '@temporalio/client';
import type { CellProgress, RunProgress } from '../workflows/contracts.js';

const POLL_MS = 200;

function line(cell: CellProgress, total: number, position: number): string {
  const mark = cell.status === 'completed' ? 'ok  ' : cell.status === 'failed' ? 'FAIL' : '... ';
  const seconds = cell.durationMs === undefined ? '' : `${(cell.durationMs / 1000).toFixed(2)}s`;
  return `${mark} [${String(position + 1).padStart(String(total).length)}/${total}] cell ${cell.index}  ${seconds.padStart(7)}  ${cell.summary}`;
}

export function followProgress(handle: WorkflowHandle, write: (text: string) => void): () => Promise<void> {
  const printed = new Set<number>();
  let stopped = false;
  let running: number | undefined;

  const render = (progress: RunProgress) => {
    progress.cells.forEach((cell, position) => {
      if (printed.has(cell.index)) return;
      if (cell.status === 'completed' || cell.status === 'failed') {
        printed.add(cell.index);
        write(`${line(cell, progress.cells.length, position)}\n`);
      } else if (cell.status === 'running' && running !== cell.index) {
        running = cell.index;
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
  };
}
