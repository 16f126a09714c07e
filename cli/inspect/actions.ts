/**
 * Actions the run view offers on a run, by key: resume a failed run, cancel a running one,
 * the repairs of a run paused by `millrace run --on-failure pause` (docs/repair.md), and
 * reading the output notebook in $PAGER. The run view lists an action in its footer when
 * `appliesTo` says so, calls `perform` on its key (after `y` when it asks for a
 * `confirm`ation) with the selected cell, shows the line it resolves to (or the error it
 * rejects with), and reloads the run. Each does what its command does, through the
 * command's own function.
 *
 * Keys the run view already uses (arrows, j, k, g, G, f, a, h, r, q, y, ?, :, Enter, Esc,
 * Tab, space) are not available. `exec` is left out: it needs a line of code typed in,
 * and the command line (`millrace exec RUN CODE`) does that better.
 */
import type { Client } from '@temporalio/client';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sourceText } from '../../notebook/nbformat.js';
import { MAX_RETRY_SOURCE_CHARS } from '../../workflows/contracts.js';
import { requestCancel } from '../commands/cancel.js';
import { repairLine, sendRepair, type RepairName } from '../commands/repair.js';
import { resumeInput } from '../commands/resume.js';
import type { RunSummary } from '../commands/runs.js';
import { backfillSchedule, setSchedulePaused, triggerSchedule } from '../commands/schedule.js';
import { outlives, type Session } from '../session.js';
import { startRun } from '../start-run.js';
import type { ScheduleActions } from './schedules-view.js';
import { cellDetailLines, type RunDetail } from './view-model.js';

export interface RunActionContext {
  runId: string;
  /** The cell selected in the run view (its index in the record), if any. */
  cellIndex: number | null;
  /** The run as the view shows it. */
  detail?: RunDetail;
  /**
   * Runs `program` on the terminal in place of the inspector (the screen is given back when
   * it exits) with `file` as its argument: $EDITOR, $PAGER. Resolves to its exit status.
   */
  runOnTerminal?(program: string, file: string): number | null;
}

/** What an action resolves to: a line for the status bar, and maybe a run to open. */
export type ActionOutcome = string | { line: string; open?: string };

export interface RunAction {
  /** One character, e.g. `R` for retry. */
  key: string;
  label: string;
  appliesTo(run: RunSummary): boolean;
  /** Shown on its key; the action runs only when `y` is pressed right after (any other key cancels). */
  confirm?: string | ((context: RunActionContext) => string);
  perform(context: RunActionContext): Promise<ActionOutcome>;
}

/** What the view offers without a Temporal client (e.g. rendered from recorded data). */
export const RUN_ACTIONS: readonly RunAction[] = [];

const isPaused = (run: RunSummary) => run.status === 'paused';
const isLive = (run: RunSummary) => run.status === 'running' || run.status === 'paused';
const isResumable = (run: RunSummary) => run.status === 'failed' || run.status === 'cancelled';

/** The cell a paused run waits on (the Updates act on it, whichever cell is selected). */
const pausedCell = (context: RunActionContext) => context.detail?.progress?.paused?.cell ?? null;

/**
 * The repairs of a paused run as keys. They act on the run's failed cell, whichever cell
 * is selected: the Updates take no cell (a run pauses at one cell at a time).
 */
export function repairActions(client: Client): RunAction[] {
  const repair = (name: Exclude<RepairName, 'exec'>) => async ({ runId }: RunActionContext) =>
    repairLine(await sendRepair(client, runId, name, name === 'retry' ? {} : undefined)) ?? `${name}: done`;
  return [
    { key: 'R', label: 'retry', appliesTo: isPaused, confirm: 'retry the failed cell (same source, same kernel)? y retries; any other key cancels', perform: repair('retry') },
    {
      key: 'e',
      label: 'edit & retry',
      appliesTo: isPaused,
      confirm: (c) => `edit cell ${pausedCell(c) ?? '?'} in ${editorName()}, then retry it with what you save? y edits; any other key cancels`,
      perform: (context) => editAndRetry(client, context),
    },
    { key: 's', label: 'skip', appliesTo: isPaused, confirm: 'skip the failed cell and go on with the next? y skips; any other key cancels', perform: repair('skip') },
    { key: 'x', label: 'abort', appliesTo: isPaused, confirm: 'abort the run (fails it and shuts its kernel down)? y aborts; any other key keeps it', perform: repair('abort') },
  ];
}

/** The editor people set for programs that open one: $VISUAL, else $EDITOR, else vi. */
function editorName(): string {
  return process.env['VISUAL'] || process.env['EDITOR'] || 'vi';
}

/**
 * `e` on a paused run: its failed cell's source in $EDITOR (a temporary file, removed
 * after), then `retry` with what was saved, as `millrace retry RUN --source FILE` does.
 */
async function editAndRetry(client: Client, context: RunActionContext): Promise<string> {
  const cell = pausedCell(context);
  const recorded = cell === null ? undefined : context.detail?.notebook?.cells[cell];
  if (cell === null || !recorded || !context.runOnTerminal) throw new Error('the paused cell\'s source is not readable here: use `millrace retry RUN --source FILE`');
  const before = sourceText(recorded.source);
  const dir = mkdtempSync(join(tmpdir(), 'millrace-edit-'));
  try {
    const file = join(dir, `cell-${cell}.py`);
    writeFileSync(file, before, { mode: 0o600 });
    const status = context.runOnTerminal(editorName(), file);
    if (status !== 0) return `${editorName()} exited with status ${status ?? 'unknown'}: nothing retried`;
    const after = readFileSync(file, 'utf8');
    if (after === before) return `cell ${cell} unchanged: nothing retried (R retries it as it is)`;
    if (after.length > MAX_RETRY_SOURCE_CHARS) return `the edited cell is over ${MAX_RETRY_SOURCE_CHARS} characters: nothing retried`;
    return repairLine(await sendRepair(client, context.runId, 'retry', { source: after })) ?? 'retry: done';
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Resume (a failed or cancelled run, from the selected cell: the failed one unless another
 * was chosen) and cancel (a running or paused run), as `millrace resume RUN --from-cell N
 * --detach` and `millrace cancel RUN` do. A resume needs a worker: an inspector that
 * started its own Temporal server has none, and says so.
 */
export function runActions(session: Pick<Session, 'client' | 'taskQueue' | 'mode'>, storeRoot: string): RunAction[] {
  return [
    {
      key: 'u',
      label: 'resume',
      appliesTo: isResumable,
      confirm: (c) => `resume from cell ${c.cellIndex ?? '?'} as a new run (cells before it replayed)? y resumes; any other key cancels`,
      async perform({ runId, cellIndex }) {
        if (session.mode === 'embedded') throw new Error('no worker here to run it: start `millrace dev` (or use `millrace resume RUN`)');
        const { input, warnings } = await resumeInput(session, runId, storeRoot, { fromCell: cellIndex ?? undefined, restore: 'replay', overrides: {} });
        await startRun(session.client, session.taskQueue, input);
        return { line: [`resumed ${runId} from cell ${input.resume!.fromCell} as ${input.runId}`, ...warnings].join('; '), open: input.runId };
      },
    },
    {
      key: 'c',
      label: 'cancel',
      appliesTo: isLive,
      confirm: 'cancel the run (interrupts its kernel and shuts it down)? y cancels; any other key keeps it',
      perform: ({ runId }) => requestCancel(session.client, runId),
    },
    ...repairActions(session.client),
  ];
}

/** `o`: the output notebook as the run view shows it (sources and outputs, colours kept) in $PAGER. */
export const PAGER_ACTION: RunAction = {
  key: 'o',
  label: 'page',
  appliesTo: () => true,
  async perform({ detail, runOnTerminal }) {
    const notebook = detail?.notebook;
    if (!notebook || !runOnTerminal) throw new Error('the output notebook is not readable here');
    const text = notebook.cells.flatMap((cell, i) => [`━━ cell ${i} ━━`, ...cellDetailLines(cell).map((l) => l.text), '']).join('\n');
    const dir = mkdtempSync(join(tmpdir(), 'millrace-page-'));
    try {
      const file = join(dir, `${detail.summary.run_id}.txt`);
      writeFileSync(file, text, { mode: 0o600 });
      const pager = process.env['PAGER'] || 'less';
      const status = runOnTerminal(pager, file);
      return status === 0 ? `${detail.summary.output ?? detail.summary.run_id}: read in ${pager}` : `${pager} exited with status ${status ?? 'unknown'}`;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
};

/**
 * The Schedules screen's actions, as `millrace schedule pause | unpause | trigger |
 * backfill` do them. A trigger or a backfill starts runs that must outlive the inspector:
 * refused (in the commands' words) when it started its own Temporal server.
 */
export function scheduleActions(session: Pick<Session, 'client' | 'mode'>): ScheduleActions {
  const mustOutlive = (what: string) => {
    const need = outlives(what);
    if (session.mode === 'embedded' && need.kind === 'long-lived') throw new Error(need.refusal);
  };
  return {
    setPaused: async (name, paused) => (await setSchedulePaused(session.client, name, paused, `${paused ? 'paused' : 'unpaused'} in \`millrace inspect\``)).line,
    async trigger(name) {
      mustOutlive('schedule trigger');
      // The screen asked first, and said when the schedule is paused.
      return (await triggerSchedule(session.client, name, { force: true })).text.replace('\n', ' · ');
    },
    async backfill(name, start, end) {
      mustOutlive('schedule backfill');
      return (await backfillSchedule(session.client, name, { start, end })).line;
    },
  };
}
