/**
 * Keeps a long-lived stack's servers up (`millrace dev`): a server that exits when nobody
 * stopped it is started again on the same address, after a delay that doubles with each
 * recent restart, and each event is one line for stderr. A server that keeps exiting
 * (more than `maxRestarts` restarts within `windowMs`) is given up on: `gaveUp` resolves
 * with a one-line message and the caller stops.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describeExit } from './process.js';
import type { Stack } from './stack.js';

export interface SupervisionOptions {
  log: (line: string) => void;
  /** After a server was restarted: its pid changed. */
  onRestart?: () => void;
  /** Default 5 restarts of one server within `windowMs` (default 60 s). */
  maxRestarts?: number;
  windowMs?: number;
  /** The first delay, doubled for each restart within the window (default 1 s, at most 16 s). */
  firstDelayMs?: number;
}

export interface Supervision {
  /** Resolves with the reason when a server is given up on. */
  gaveUp: Promise<string>;
  /** Before stopping the stack: its servers' exits are no longer unexpected. */
  stop(): void;
}

const LABEL = { temporal: 'the Temporal server', jupyter: 'Jupyter Server' } as const;
const MAX_DELAY_MS = 16_000;

export function superviseStack(stack: Stack, options: SupervisionOptions): Supervision {
  const maxRestarts = options.maxRestarts ?? 5;
  const windowMs = options.windowMs ?? 60_000;
  const firstDelayMs = options.firstDelayMs ?? 1_000;
  const stopped = new AbortController();
  const whenStopped = new Promise<'stopped'>((resolve) => stopped.signal.addEventListener('abort', () => resolve('stopped')));
  let giveUp!: (reason: string) => void;
  const gaveUp = new Promise<string>((resolve) => (giveUp = resolve));

  async function watch(which: 'temporal' | 'jupyter'): Promise<void> {
    const restarts: number[] = [];
    for (;;) {
      const server = which === 'temporal' ? stack.temporal : stack.jupyterServer;
      const status = await Promise.race([server.exited, whenStopped]);
      if (status === 'stopped' || stopped.signal.aborted) return;
      let what = `(pid ${server.pid}) exited (${describeExit(status)})`;
      for (;;) {
        const now = Date.now();
        const recent = restarts.filter((t) => now - t < windowMs).length;
        if (recent >= maxRestarts) {
          giveUp(`${LABEL[which]} ${what} after ${recent} restarts within ${windowMs / 1000} s; giving up (its log: ${server.logPath})`);
          return;
        }
        const delayMs = Math.min(firstDelayMs * 2 ** recent, MAX_DELAY_MS);
        options.log(`${LABEL[which]} ${what}; restarting it in ${delayMs / 1000} s`);
        const waited = await sleep(delayMs, 'slept', { signal: stopped.signal }).catch(() => 'stopped');
        if (waited === 'stopped') return;
        restarts.push(Date.now());
        try {
          await stack.restart(which);
        } catch (err) {
          what = `did not restart (${(err as Error).message.split('\n')[0]})`;
          continue;
        }
        if (stopped.signal.aborted) return;
        const next = which === 'temporal' ? stack.temporal : stack.jupyterServer;
        options.log(`${LABEL[which]} is back (pid ${next.pid})`);
        options.onRestart?.();
        break;
      }
    }
  }

  void watch('temporal');
  void watch('jupyter');
  return { gaveUp, stop: () => stopped.abort() };
}
