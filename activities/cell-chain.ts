/**
 * Pipelined local cells (workflows/notebook-run.ts): the workflow starts cell i+1's local
 * activity while cell i's still runs, so the SDK's way from one local activity to the next
 * overlaps a cell instead of sitting between two. The link between the two is this module,
 * in the worker's memory, where both local activities run.
 *
 * Where the kernel has the execution registry's gate (activities/execution-registry.ts),
 * cell i+1 is sent as soon as cell i has been, gated on cell i's request: the kernel runs
 * it only if cell i passed, so it waits in the kernel's queue, not behind the reply's way
 * back to the worker and the next request's way in. Either way cell i+1 joins the record
 * only once cell i has passed in this worker and saved the revision cell i+1 was started
 * at; a cell sent ahead of a cell that did not pass here (it failed, or was handed off
 * still running) is kept for the activity that runs it later (activities/sent-ahead.ts).
 *
 * Both activities are scheduled by the same workflow task, in either order: whichever
 * comes first makes the link. A cell started after one that never comes (a worker that
 * replays a run whose earlier cell's result is already in history) is not sent: the
 * workflow then runs it as it runs any cell.
 */
import { cellPassed, type CellResult, type ExecuteCellInput } from '../workflows/contracts.js';

/** A cell started after one that did not pass (afterPrevious): it joined no record, and ran only if the kernel let it. */
const NOT_SENT: CellResult = { status: 'not-sent', executionCount: null, outputCount: 0, durationMs: 0 };

/** Tells the next cell which request it may be sent behind (undefined: none, it waits for the verdict). */
export type Announce = (msgId: string | undefined) => void;

/** How a cell's activity takes part in the chain (execute-cell.ts). */
export interface ChainSteps<Ahead> {
  /** Sends the cell at once, gated on the request `after` of the cell before; undefined when it cannot be. */
  sendAhead(after: string, announce: Announce): Promise<Ahead | undefined>;
  /** Runs the cell, taking over `ahead` when it was sent ahead; sends announce what the next cell may follow. */
  execute(announce: Announce, ahead: Ahead | undefined): Promise<CellResult>;
  /** Keeps a cell sent ahead of a cell that did not pass here, for the activity that runs it later. */
  park(ahead: Ahead): void;
}

/**
 * One local cell's attempt in the chain: the next cell may be sent behind it and waits for
 * whether it passes, and one started ahead (afterPrevious) joins the record only once the
 * cell before passed. Only a first attempt takes part: a retried one asks the kernel what
 * already ran, as any does.
 */
export async function inCellChain<Ahead>(input: ExecuteCellInput, firstAttempt: boolean, steps: ChainSteps<Ahead>): Promise<CellResult> {
  const link = firstAttempt && input.writeBehind ? cellStarting(input.output, input.revision) : undefined;
  const announce: Announce = (msgId) => link?.sent(msgId);
  let passed = false;
  try {
    let ahead: Ahead | undefined;
    if (input.afterPrevious && firstAttempt) {
      const after = input.kernel.cellGate ? await previousCellSent(input.output, input.revision) : undefined;
      if (after !== undefined) ahead = await steps.sendAhead(after, announce);
      if (!(await previousCellPassed(input.output, input.revision))) {
        if (ahead !== undefined) steps.park(ahead);
        return NOT_SENT;
      }
    }
    const result = await steps.execute(announce, ahead);
    passed = cellPassed(result, input.raisesException);
    return result;
  } finally {
    link?.decide(passed);
  }
}

/** Whether the cell before passed (and saved the revision the link is for). */
type Verdict = boolean;

interface Link {
  verdict: Promise<Verdict>;
  decide(verdict: Verdict): void;
  /** The earlier cell's request, once sent, if the later one may be sent behind it (gated on it). */
  sent: Promise<string | undefined>;
  announce: Announce;
  /** The earlier cell's activity has started and will decide. */
  claimed: boolean;
}

/** By record location and the revision of the later cell: a run has two links at a time (cells i to i+1 and i+1 to i+2). */
const links = new Map<string, Link>();
const keyOf = (location: string, revision: number) => `${revision} ${location}`;

/**
 * How long a later cell waits for the earlier one's activity to start. Both are dispatched
 * by one workflow task within a millisecond; only a worker replaying a run waits it out.
 */
const CLAIM_WAIT_MS = 1_000;

/** How long a decided link waits for its later cell: far longer than a cell is dispatched late. */
const UNCONSUMED_LINK_MS = 60_000;

function newLink(): Link {
  let decide!: (verdict: Verdict) => void;
  let announce!: Announce;
  const verdict = new Promise<Verdict>((resolve) => (decide = resolve));
  const sent = new Promise<string | undefined>((resolve) => (announce = resolve));
  // A verdict ends the wait for a send too: nothing is sent behind a cell that never was.
  return { verdict, decide: (v) => (announce(undefined), decide(v)), sent, announce, claimed: false };
}

/**
 * A cell at `revision` starts: the cell after it, at revision + 1, may be sent behind its
 * request (`sent`) and waits for its verdict (`decide`). Every path must decide (false by
 * default); deciding also ends the wait for a send.
 */
export function cellStarting(location: string, revision: number): { sent: Announce; decide(passed: Verdict): void } {
  const key = keyOf(location, revision + 1);
  const existing = links.get(key);
  const link = existing && !existing.claimed ? existing : newLink();
  link.claimed = true;
  links.set(key, link);
  return { sent: link.announce, decide: (passed) => {
    link.decide(passed);
    // The run's last cell (and one whose next cell never came) leaves a link nobody consumes.
    setTimeout(() => {
      if (links.get(key) === link) links.delete(key);
    }, UNCONSUMED_LINK_MS).unref();
  } };
}

/** The link a cell started ahead at `revision` waits on; the earlier cell's activity must claim it soon. */
function linkTo(location: string, revision: number): Link {
  const key = keyOf(location, revision);
  let link = links.get(key);
  if (!link) {
    link = newLink();
    links.set(key, link);
    const waiting = link;
    const timer = setTimeout(() => {
      if (!waiting.claimed) waiting.decide(false);
    }, CLAIM_WAIT_MS);
    timer.unref();
    void waiting.verdict.finally(() => clearTimeout(timer));
  }
  return link;
}

/**
 * For a cell started ahead at `revision`: the request of the cell before it, once sent, if
 * this one may be sent behind it; undefined when not (no gate, or that cell is not sent here).
 */
export function previousCellSent(location: string, revision: number): Promise<string | undefined> {
  return linkTo(location, revision).sent;
}

/**
 * For a cell started ahead at `revision`: true once the cell before it has passed here and
 * saved `revision`; false when it did not pass, or is not running in this worker.
 */
export async function previousCellPassed(location: string, revision: number): Promise<boolean> {
  const key = keyOf(location, revision);
  const link = linkTo(location, revision);
  const passed = await link.verdict;
  // Consumed: a later attempt or another cell at this revision finds no verdict to reuse.
  if (links.get(key) === link) links.delete(key);
  return passed;
}
