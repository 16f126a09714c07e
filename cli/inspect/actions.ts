/**
 * Actions the run view offers on a run, by key: the repairs of a run paused by
 * `millrace run --on-failure pause` (docs/repair.md). The run view lists an action in its
 * footer when `appliesTo` says so, calls `perform` on its key (after `y` when it asks for
 * a `confirm`ation) with the selected cell, shows the line it resolves to (or the error it
 * rejects with), and reloads the run.
 *
 * Keys the run view already uses (arrows, j, k, g, G, f, a, r, q, y, ?, Enter, Esc, Tab,
 * space) are not available. `exec` is left out: it needs a line of code typed in, and the
 * command line (`millrace exec RUN CODE`) does that better.
 */
import type { Client } from '@temporalio/client';
import { repairLine, sendRepair, type RepairName } from '../commands/repair.js';
import type { RunSummary } from '../commands/runs.js';

export interface RunActionContext {
  runId: string;
  /** The cell selected in the run view (its index in the record), if any. */
  cellIndex: number | null;
}

export interface RunAction {
  /** One character, e.g. `R` for retry. */
  key: string;
  label: string;
  appliesTo(run: RunSummary): boolean;
  /** Shown on its key; the action runs only when `y` is pressed right after (any other key cancels). */
  confirm?: string;
  /** Resolves to one line for the status bar. */
  perform(context: RunActionContext): Promise<string>;
}

/** What the view offers without a Temporal client (e.g. rendered from recorded data). */
export const RUN_ACTIONS: readonly RunAction[] = [];

const isPaused = (run: RunSummary) => run.status === 'paused';

/**
 * The repairs of a paused run as keys. They act on the run's failed cell, whichever cell
 * is selected: the Updates take no cell (a run pauses at one cell at a time).
 */
export function repairActions(client: Client): RunAction[] {
  const repair = (name: Exclude<RepairName, 'exec'>) => async ({ runId }: RunActionContext) =>
    repairLine(await sendRepair(client, runId, name, name === 'retry' ? {} : undefined)) ?? `${name}: done`;
  return [
    { key: 'R', label: 'retry', appliesTo: isPaused, confirm: 'retry the failed cell (same source, same kernel)? y retries; any other key cancels', perform: repair('retry') },
    { key: 's', label: 'skip', appliesTo: isPaused, confirm: 'skip the failed cell and go on with the next? y skips; any other key cancels', perform: repair('skip') },
    { key: 'x', label: 'abort', appliesTo: isPaused, confirm: 'abort the run (fails it and shuts its kernel down)? y aborts; any other key keeps it', perform: repair('abort') },
  ];
}
