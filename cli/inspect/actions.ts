/**
 * Actions the run view offers on a run, by key: the repairs of a run paused by
 * `millrace run --on-failure pause` (docs/repair.md). The run view lists an action in its
 * footer when `appliesTo` says so, calls `perform` on its key (on the second press when
 * it asks for a `confirm`ation) with the selected cell, shows the line it resolves to (or
 * the error it rejects with), and reloads the run.
 *
 * Keys the run view already uses (arrows, j, k, g, G, f, a, q, Enter, Esc, Tab, space)
 * are not available. `exec` is left out: it needs a line of code typed in, and the
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
  /** One character, e.g. `r` for retry. */
  key: string;
  label: string;
  appliesTo(run: RunSummary): boolean;
  /** Shown on the first press; the action runs only on a second press of its key right after. */
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
    { key: 'r', label: 'retry', appliesTo: isPaused, perform: repair('retry') },
    { key: 's', label: 'skip', appliesTo: isPaused, perform: repair('skip') },
    { key: 'x', label: 'abort', appliesTo: isPaused, confirm: 'press x again to abort the run (fails it and shuts its kernel down); any other key keeps it', perform: repair('abort') },
  ];
}
