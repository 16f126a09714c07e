import { afterEach, describe, expect, it, vi } from 'vitest';
import { cellStarting, previousCellPassed } from '../../activities/cell-chain.js';

const location = 'runs/r1/nb.ipynb';
let run = 0;
/** Each test its own record location: links are the module's memory. */
const fresh = () => `${location}#${++run}`;

afterEach(() => {
  vi.useRealTimers();
});

describe('cell chain', () => {
  it('sends the later cell once the earlier one passed, whichever activity started first', async () => {
    const a = fresh();
    const decide = cellStarting(a, 3);
    const later = previousCellPassed(a, 4);
    decide(true);
    await expect(later).resolves.toBe(true);

    const b = fresh();
    const earlyLater = previousCellPassed(b, 4);
    const decideB = cellStarting(b, 3);
    decideB(true);
    await expect(earlyLater).resolves.toBe(true);
  });

  it('does not send the later cell when the earlier one did not pass', async () => {
    const a = fresh();
    const decide = cellStarting(a, 7);
    const later = previousCellPassed(a, 8);
    decide(false);
    await expect(later).resolves.toBe(false);
  });

  it('keeps one link per revision: the cell after the next one starting does not cut the next one loose', async () => {
    const a = fresh();
    const decide3 = cellStarting(a, 3);
    // The cell at revision 4, started ahead, registers its own link (to 5) before it waits on 4.
    const decide4 = cellStarting(a, 4);
    const waits4 = previousCellPassed(a, 4);
    const waits5 = previousCellPassed(a, 5);
    decide3(true);
    await expect(waits4).resolves.toBe(true);
    decide4(false);
    await expect(waits5).resolves.toBe(false);
  });

  it('answers false when no earlier cell runs in this worker (a replayed run), after waiting for one to start', async () => {
    vi.useFakeTimers();
    const a = fresh();
    const later = previousCellPassed(a, 2);
    let answered: boolean | undefined;
    void later.then((passed) => (answered = passed));
    await vi.advanceTimersByTimeAsync(500);
    expect(answered).toBeUndefined();
    await vi.advanceTimersByTimeAsync(600);
    expect(answered).toBe(false);
    // An earlier cell that starts after that answer does not change it, and a new wait gets its own.
    const decide = cellStarting(a, 1);
    decide(true);
    await expect(previousCellPassed(a, 2)).resolves.toBe(true);
  });

  it('gives a verdict once: a second cell at the same revision waits for a new earlier cell', async () => {
    vi.useFakeTimers();
    const a = fresh();
    cellStarting(a, 0)(true);
    await expect(previousCellPassed(a, 1)).resolves.toBe(true);
    const again = previousCellPassed(a, 1);
    await vi.advanceTimersByTimeAsync(1_100);
    await expect(again).resolves.toBe(false);
  });

  it('a later attempt of the earlier cell replaces its link; the cell that waited on the first attempt keeps its verdict', async () => {
    const a = fresh();
    const first = cellStarting(a, 5);
    const waitsOnFirst = previousCellPassed(a, 6);
    const second = cellStarting(a, 5);
    first(false);
    await expect(waitsOnFirst).resolves.toBe(false);
    const waitsOnSecond = previousCellPassed(a, 6);
    second(true);
    await expect(waitsOnSecond).resolves.toBe(true);
  });
});
