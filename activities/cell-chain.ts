/**
 * Pipelined local cells (workflows/notebook-run.ts): the workflow starts cell i+1's local
 * activity while cell i's still runs, so the SDK's way from one local activity to the next
 * overlaps a cell instead of sitting between two. Cell i+1 is sent only once cell i has
 * passed in this worker and saved the revision cell i+1 was started at; the link between
 * the two is this module, in the worker's memory, where both local activities run.
 *
 * Both activities are scheduled by the same workflow task, in either order: whichever
 * comes first makes the link. A cell started after one that never comes (a worker that
 * replays a run whose earlier cell's result is already in history) is not sent: the
 * workflow then runs it as it runs any cell.
 */
import { cellPassed, type CellResult, type ExecuteCellInput } from '../workflows/contracts.js';

/** A cell started after one that did not pass (afterPrevious): nothing was sent or saved. */
const NOT_SENT: CellResult = { status: 'not-sent', executionCount: null, outputCount: 0, durationMs: 0 };

/**
 * One local cell's attempt in the chain: the next cell may wait for whether it passes, and
 * one started ahead (afterPrevious) runs `execute` only once the cell before passed. Only
 * a first attempt takes part: a retried one asks the kernel what already ran, as any does.
 */
export async function inCellChain(input: ExecuteCellInput, firstAttempt: boolean, execute: () => Promise<CellResult>): Promise<CellResult> {
  const decide = firstAttempt && input.writeBehind ? cellStarting(input.output, input.revision) : undefined;
  let passed = false;
  try {
    if (input.afterPrevious && firstAttempt && !(await previousCellPassed(input.output, input.revision))) return NOT_SENT;
    const result = await execute();
    passed = cellPassed(result, input.raisesException);
    return result;
  } finally {
    decide?.(passed);
  }
}

/** Whether the cell before passed (and saved the revision the link is for). */
type Verdict = boolean;

interface Link {
  verdict: Promise<Verdict>;
  decide(verdict: Verdict): void;
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
  const verdict = new Promise<Verdict>((resolve) => (decide = resolve));
  return { verdict, decide, claimed: false };
}

/**
 * A cell at `revision` starts: the cell after it, at revision + 1, may wait for its verdict.
 * Returns how to give it; every path must give one (false by default).
 */
export function cellStarting(location: string, revision: number): (passed: Verdict) => void {
  const key = keyOf(location, revision + 1);
  const existing = links.get(key);
  const link = existing && !existing.claimed ? existing : newLink();
  link.claimed = true;
  links.set(key, link);
  return (passed) => {
    link.decide(passed);
    // The run's last cell (and one whose next cell never came) leaves a link nobody consumes.
    setTimeout(() => {
      if (links.get(key) === link) links.delete(key);
    }, UNCONSUMED_LINK_MS).unref();
  };
}

/**
 * For a cell started ahead at `revision`: true once the cell before it has passed here and
 * saved `revision`; false when it did not pass, or is not running in this worker.
 */
export async function previousCellPassed(location: string, revision: number): Promise<boolean> {
  const key = keyOf(location, revision);
  let link = links.get(key);
  if (!link) {
    link = newLink();
    links.set(key, link);
  }
  if (!link.claimed) {
    const waiting = link;
    const timer = setTimeout(() => {
      if (!waiting.claimed) waiting.decide(false);
    }, CLAIM_WAIT_MS);
    timer.unref();
    void waiting.verdict.finally(() => clearTimeout(timer));
  }
  const passed = await link.verdict;
  // Consumed: a later attempt or another cell at this revision finds no verdict to reuse.
  if (links.get(key) === link) links.delete(key);
  return passed;
}
