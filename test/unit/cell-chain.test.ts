import { afterEach, describe, expect, it, vi } from 'vitest';
import { cellStarting, inCellChain, previousCellPassed, previousCellSent, type ChainSteps } from '../../activities/cell-chain.js';
import type { CellResult, ExecuteCellInput } from '../../workflows/contracts.js';

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
    const decide = cellStarting(a, 3).decide;
    const later = previousCellPassed(a, 4);
    decide(true);
    await expect(later).resolves.toBe(true);

    const b = fresh();
    const earlyLater = previousCellPassed(b, 4);
    const decideB = cellStarting(b, 3).decide;
    decideB(true);
    await expect(earlyLater).resolves.toBe(true);
  });

  it('does not send the later cell when the earlier one did not pass', async () => {
    const a = fresh();
    const decide = cellStarting(a, 7).decide;
    const later = previousCellPassed(a, 8);
    decide(false);
    await expect(later).resolves.toBe(false);
  });

  it('keeps one link per revision: the cell after the next one starting does not cut the next one loose', async () => {
    const a = fresh();
    const decide3 = cellStarting(a, 3).decide;
    // The cell at revision 4, started ahead, registers its own link (to 5) before it waits on 4.
    const decide4 = cellStarting(a, 4).decide;
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
    const decide = cellStarting(a, 1).decide;
    decide(true);
    await expect(previousCellPassed(a, 2)).resolves.toBe(true);
  });

  it('gives a verdict once: a second cell at the same revision waits for a new earlier cell', async () => {
    vi.useFakeTimers();
    const a = fresh();
    cellStarting(a, 0).decide(true);
    await expect(previousCellPassed(a, 1)).resolves.toBe(true);
    const again = previousCellPassed(a, 1);
    await vi.advanceTimersByTimeAsync(1_100);
    await expect(again).resolves.toBe(false);
  });

  it('a later attempt of the earlier cell replaces its link; the cell that waited on the first attempt keeps its verdict', async () => {
    const a = fresh();
    const first = cellStarting(a, 5).decide;
    const waitsOnFirst = previousCellPassed(a, 6);
    const second = cellStarting(a, 5).decide;
    first(false);
    await expect(waitsOnFirst).resolves.toBe(false);
    const waitsOnSecond = previousCellPassed(a, 6);
    second(true);
    await expect(waitsOnSecond).resolves.toBe(true);
  });

  it('tells the later cell which request it may be sent behind, once the earlier one is sent', async () => {
    const a = fresh();
    const link = cellStarting(a, 2);
    const sent = previousCellSent(a, 3);
    link.sent('msg-2');
    await expect(sent).resolves.toBe('msg-2');
    link.decide(true);
    await expect(previousCellPassed(a, 3)).resolves.toBe(true);
  });

  it('a verdict without a send (the earlier cell was not sent, or may not lead) sends nothing behind it', async () => {
    const a = fresh();
    const sent = previousCellSent(a, 5);
    cellStarting(a, 4).decide(false);
    await expect(sent).resolves.toBeUndefined();
  });

  it('no earlier cell in this worker: nothing to be sent behind, after waiting for one to start', async () => {
    vi.useFakeTimers();
    const a = fresh();
    let answered: string | undefined | null = null;
    void previousCellSent(a, 9).then((msgId) => (answered = msgId));
    await vi.advanceTimersByTimeAsync(1_100);
    expect(answered).toBeUndefined();
  });
});

describe('a cell in the chain', () => {
  const ok: CellResult = { status: 'ok', executionCount: 1, outputCount: 0, durationMs: 1 };
  const failed: CellResult = { status: 'error', executionCount: 1, outputCount: 0, durationMs: 1, ename: 'E', evalue: '' };
  const input = (output: string, revision: number, extra: Partial<ExecuteCellInput> = {}): ExecuteCellInput => ({
    runId: 'r1',
    output,
    kernel: { kernelId: 'k1', kernelName: 'python3', outcomeRegistry: true, cellGate: true },
    cellIndex: revision,
    revision,
    idempotent: false,
    raisesException: false,
    writeBehind: true,
    ...extra,
  });
  /** Steps that record what the chain asked of them; `execute` sends and announces like the real one. */
  function steps(result: CellResult, events: string[], name: string): ChainSteps<string> & { finish(): void } {
    let finish!: () => void;
    const finished = new Promise<void>((resolve) => (finish = resolve));
    return {
      finish,
      sendAhead: async (after, announce) => {
        events.push(`${name} sent behind ${after}`);
        announce(`${name}-msg`);
        return `${name}-request`;
      },
      execute: async (announce, ahead) => {
        if (ahead === undefined) {
          events.push(`${name} sent`);
          announce(`${name}-msg`);
        } else events.push(`${name} took over ${ahead}`);
        await finished;
        return result;
      },
      park: (ahead) => events.push(`${name} parked ${ahead}`),
    };
  }

  it('sends the later cell behind the running one, and takes it over once that one passed', async () => {
    const a = fresh();
    const events: string[] = [];
    const first = steps(ok, events, 'c1');
    const second = steps(ok, events, 'c2');
    const one = inCellChain(input(a, 1), true, first);
    const two = inCellChain(input(a, 2, { afterPrevious: true }), true, second);
    await vi.waitFor(() => expect(events).toContain('c2 sent behind c1-msg'));
    expect(events).not.toContain('c2 took over c2-request');
    first.finish();
    await one;
    await vi.waitFor(() => expect(events).toContain('c2 took over c2-request'));
    second.finish();
    await expect(two).resolves.toEqual(ok);
    expect(events).toEqual(['c1 sent', 'c2 sent behind c1-msg', 'c2 took over c2-request']);
  });

  it('parks the cell sent behind one that did not pass, and answers not-sent', async () => {
    const a = fresh();
    const events: string[] = [];
    const first = steps(failed, events, 'c1');
    const one = inCellChain(input(a, 1), true, first);
    const two = inCellChain(input(a, 2, { afterPrevious: true }), true, steps(ok, events, 'c2'));
    await vi.waitFor(() => expect(events).toContain('c2 sent behind c1-msg'));
    first.finish();
    await one;
    await expect(two).resolves.toMatchObject({ status: 'not-sent' });
    expect(events).toEqual(['c1 sent', 'c2 sent behind c1-msg', 'c2 parked c2-request']);
  });

  it('without the kernel\'s gate the later cell waits for the verdict, as before', async () => {
    const a = fresh();
    const events: string[] = [];
    const kernel = { kernelId: 'k1', kernelName: 'python3', outcomeRegistry: true };
    const first = steps(ok, events, 'c1');
    const second = steps(ok, events, 'c2');
    const one = inCellChain(input(a, 1, { kernel }), true, first);
    const two = inCellChain(input(a, 2, { kernel, afterPrevious: true }), true, second);
    await vi.waitFor(() => expect(events).toContain('c1 sent'));
    first.finish();
    await one;
    await vi.waitFor(() => expect(events).toContain('c2 sent'));
    second.finish();
    await two;
    expect(events).toEqual(['c1 sent', 'c2 sent']);
  });
});
