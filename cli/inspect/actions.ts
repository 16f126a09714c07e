/**
 * Actions the run view offers on a run, by key: resume a failed run, cancel a running one,
 * the repairs of a run paused by `millrace run --on-failure pause` (docs/repair.md), and
 * reading the output notebook in $PAGER. The run view lists an action in its footer when
 * `appliesTo` says so, calls `perform` on its key (after `y` when it asks for a
 * `confirm`ation) with the selected cell, shows the line it resolves to (or the error it
 * rejects with), and reloads the run. Each does what its command does, through the
 * command's own function.
 *
 * An action may ask for more than a yes first: resume shows its form (resume-form.ts) and
 * gets the choices; exec reads a line of code and gets it.
 *
 * Keys the run view already uses (arrows, j, k, g, G, f, a, h, r, q, y, ?, :, Enter, Esc,
 * Tab, space) are not available.
 */
import type { Client } from '@temporalio/client';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Params } from '../../notebook/params.js';
import type { RepairName } from '../commands/repair.js';
import type { RunSummary } from '../run-summaries.js';
import type { Session } from '../session.js';
import { editorName } from './hooks.js';
import type { ScheduleActions } from './schedules-view.js';
import { cellDetailLines, type RunDetail } from './view-model.js';

// What an action does is loaded when it is first performed, not before the inspector's
// first frame: the commands behind them load zod, yaml, the Jupyter client
// (docs/architecture.md, "Start-up"; test/unit/cli-imports.test.ts).
const commands = {
  cancel: () => import('../commands/cancel.js'),
  repair: () => import('../commands/repair.js'),
  resume: () => import('../commands/resume.js'),
  schedule: () => import('../commands/schedule.js'),
  startRun: () => import('../start-run.js'),
  session: () => import('../session.js'),
  limits: () => import('../../workflows/contracts.js'),
  nbformat: () => import('../../notebook/nbformat.js'),
  viewer: () => import('./viewer-link.js'),
};

/** What the resume form starts from (cli/commands/resume.ts resumeOffer). */
export type ResumeOffer = { parameters: Params; checkpoints: boolean };

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
  /** The choices made in the resume form (actions with `form`). */
  resume?: { restore: 'replay' | 'checkpoint'; overrides: Params };
  /** The line typed (actions with `line`). */
  text?: string;
}

/**
 * What an action resolves to: a line for the status bar, maybe a run to open, maybe text
 * to show in the detail pane (what scratch code printed).
 */
export type ActionOutcome = string | { line: string; open?: string; output?: { title: string; text: string } };

export interface RunAction {
  /** One character, e.g. `R` for retry. */
  key: string;
  label: string;
  appliesTo(run: RunSummary): boolean;
  /** Shown on its key; the action runs only when `y` is pressed right after (any other key cancels). */
  confirm?: string | ((context: RunActionContext) => string);
  /** Asks for the resume form's choices first, from what this reads (the run's parameters, checkpoints). */
  form?(context: RunActionContext): Promise<ResumeOffer>;
  /** Asks for a line first: the prompt. Enter performs it, Esc (or an empty line) does nothing. */
  line?: string | ((context: RunActionContext) => string);
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
  const repair = (name: Exclude<RepairName, 'exec'>) => async ({ runId }: RunActionContext) => {
    const { repairLine, sendRepair } = await commands.repair();
    return repairLine(await sendRepair(client, runId, name, name === 'retry' ? {} : undefined)) ?? `${name}: done`;
  };
  return [
    { key: 'R', label: 'retry', appliesTo: isPaused, confirm: 'retry the failed cell (same source, same kernel)? y retries; any other key cancels', perform: repair('retry') },
    {
      key: 'e',
      label: 'edit & retry',
      appliesTo: isPaused,
      confirm: (c) => `edit cell ${pausedCell(c) ?? '?'} in ${editorName()}, then retry it with what you save? y edits; any other key cancels`,
      perform: (context) => editAndRetry(client, context),
    },
    {
      key: '!',
      label: 'exec',
      appliesTo: isPaused,
      line: (c) => `exec in the paused kernel of cell ${pausedCell(c) ?? '?'} (enter runs · esc cancels): `,
      perform: (context) => scratch(client, context),
    },
    { key: 's', label: 'skip', appliesTo: isPaused, confirm: 'skip the failed cell and go on with the next? y skips; any other key cancels', perform: repair('skip') },
    { key: 'x', label: 'abort', appliesTo: isPaused, confirm: 'abort the run (fails it and shuts its kernel down)? y aborts; any other key keeps it', perform: repair('abort') },
  ];
}

/**
 * `!` on a paused run: one line of scratch code in its kernel, as `millrace exec RUN CODE`
 * does; what it printed goes to the detail pane.
 */
async function scratch(client: Client, { runId, text }: RunActionContext): Promise<ActionOutcome> {
  const code = text ?? '';
  if (!code.trim()) return 'exec: there is no code to run';
  const [{ MAX_SCRATCH_CODE_CHARS }, { repairLine, sendRepair }] = await Promise.all([commands.limits(), commands.repair()]);
  if (code.length > MAX_SCRATCH_CODE_CHARS) return `scratch code is limited to ${MAX_SCRATCH_CODE_CHARS} characters: nothing run`;
  const repaired = await sendRepair(client, runId, 'exec', { code });
  const answer = repaired.kind === 'execution' ? repaired.answer : undefined;
  const line = repairLine(repaired) ?? `scratch code ran: run ${runId} is still paused`;
  return { line, output: { title: `exec: ${code}`, text: answer?.output || '(no output)' } };
}


/**
 * `e` on a paused run: its failed cell's source in $EDITOR (a temporary file, removed
 * after), then `retry` with what was saved, as `millrace retry RUN --source FILE` does.
 */
async function editAndRetry(client: Client, context: RunActionContext): Promise<string> {
  const cell = pausedCell(context);
  const recorded = cell === null ? undefined : context.detail?.notebook?.cells[cell];
  if (cell === null || !recorded || !context.runOnTerminal) throw new Error('the paused cell\'s source is not readable here: use `millrace retry RUN --source FILE`');
  const [{ sourceText }, { MAX_RETRY_SOURCE_CHARS }, { repairLine, sendRepair }] = await Promise.all([commands.nbformat(), commands.limits(), commands.repair()]);
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
 * was chosen; replayed or restored from a checkpoint, with parameters changed in the
 * form) and cancel (a running or paused run), as `millrace resume RUN --from-cell N
 * --detach` and `millrace cancel RUN` do. A resume needs a worker: an inspector that
 * started its own Temporal server has none, and says so.
 */
export function runActions(session: Pick<Session, 'client' | 'taskQueue' | 'mode' | 'eagerStart'>, storeRoot: string): RunAction[] {
  const noWorkerHere = () => {
    if (session.mode === 'embedded') throw new Error('no worker here to run it: start `millrace dev` (or use `millrace resume RUN`)');
  };
  return [
    {
      key: 'u',
      label: 'resume',
      appliesTo: isResumable,
      async form({ runId }) {
        noWorkerHere();
        return (await commands.resume()).resumeOffer(session, runId);
      },
      async perform({ runId, cellIndex, resume = { restore: 'replay', overrides: {} } }) {
        noWorkerHere();
        const [{ resumeInput }, { startRun }] = await Promise.all([commands.resume(), commands.startRun()]);
        const { input, warnings } = await resumeInput(session, runId, storeRoot, { fromCell: cellIndex ?? undefined, ...resume });
        await startRun(session, input);
        const how = input.resume?.checkpoint ? `, restoring its checkpoint after cell ${input.resume.checkpoint.cell}` : '';
        return { line: [`resumed ${runId} from cell ${input.resume!.fromCell} as ${input.runId}${how}`, ...warnings].join('; '), open: input.runId };
      },
    },
    {
      key: 'c',
      label: 'cancel',
      appliesTo: isLive,
      confirm: 'cancel the run (interrupts its kernel and shuts it down)? y cancels; any other key keeps it',
      perform: async ({ runId }) => (await commands.cancel()).requestCancel(session.client, runId),
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

/** `v`: the run's page in the browser viewer, at the selected cell (its images shown there). */
export const VIEWER_ACTION: RunAction = {
  key: 'v',
  label: 'viewer',
  appliesTo: () => true,
  perform: async ({ runId, cellIndex }) => (await commands.viewer()).openRunInViewer(runId, cellIndex),
};

/**
 * The Schedules screen's actions, as `millrace schedule pause | unpause | trigger |
 * backfill` do them. A trigger or a backfill starts runs that must outlive the inspector:
 * refused (in the commands' words) when it started its own Temporal server.
 */
export function scheduleActions(session: Pick<Session, 'client' | 'mode'>): ScheduleActions {
  const mustOutlive = async (what: string) => {
    const need = (await commands.session()).outlives(what);
    if (session.mode === 'embedded' && need.kind === 'long-lived') throw new Error(need.refusal);
  };
  return {
    setPaused: async (name, paused) => (await (await commands.schedule()).setSchedulePaused(session.client, name, paused, `${paused ? 'paused' : 'unpaused'} in \`millrace inspect\``)).line,
    async trigger(name) {
      await mustOutlive('schedule trigger');
      // The screen asked first, and said when the schedule is paused.
      return (await (await commands.schedule()).triggerSchedule(session.client, name, { force: true })).text.replace('\n', ' · ');
    },
    async backfill(name, start, end) {
      await mustOutlive('schedule backfill');
      return (await (await commands.schedule()).backfillSchedule(session.client, name, { start, end })).line;
    },
  };
}
