/**
 * EXTENSION POINT: actions the run view offers on a run, by key.
 *
 * Meant for runs paused by `millrace run --on-failure pause` (the Temporal Updates
 * `retry`, `skip`, `abort`, `exec`): add a `RunAction` to `RUN_ACTIONS` and the run view
 * lists it in its footer when `appliesTo` says so, calls `perform` on its key with the
 * selected cell, shows the line it resolves to (or the error it rejects with), and
 * reloads the run. None is implemented here; keys the views already use (arrows, j, k,
 * g, G, f, a, q, Enter, Esc, Tab) are not available.
 */
import type { RunSummary } from '../commands/runs.js';

export interface RunActionContext {
  runId: string;
  /** The cell selected in the run view (its index in the record), if any. */
  cellIndex: number | null;
}

export interface RunAction {
  /** One character, e.g. `r` for retry. */
  key: string;
  label: string;
  appliesTo(run: RunSummary): boolean;
  /** Resolves to one line for the status bar. */
  perform(context: RunActionContext): Promise<string>;
}

export const RUN_ACTIONS: readonly RunAction[] = [];
