/** The run state's revision protocol: the revision an activity saved, or, for results recorded before activities reported it, the old count. */
import { describe, expect, it } from 'vitest';
import { runInputSchema, type RunContinuation } from '../../workflows/contracts.js';
import { RunState } from '../../workflows/run-state.js';

const input = runInputSchema.parse({
  runId: 'r1',
  source: { location: 'store/sources/x.ipynb', sha256: '0'.repeat(64) },
  inputPath: 'x.ipynb',
  output: 'out/x.ipynb',
  parameters: {},
});

describe('RunState', () => {
  it('takes the revision an activity reports it saved', () => {
    const state = new RunState(input);
    expect(state.revision).toBe(0);
    state.tookRevision({ revision: 1 }, 1);
    state.tookRevision({ revision: 3 }, 2);
    expect(state.revision).toBe(3);
  });

  it('counts the revisions an activity is known to save when its recorded result has none', () => {
    const state = new RunState(input);
    state.tookRevision({}, 1);
    state.tookRevision(undefined, 2); // replayCells returned nothing before it reported its revision
    expect(state.revision).toBe(3);
  });

  it('carries the revision, kernel, progress and skipped cells over a continue-as-new', () => {
    const plan = {
      kernelName: 'python3',
      startAt: 0,
      totalCells: 3,
      codeCells: [0, 1, 2].map((index) => ({ index, summary: `cell ${index}`, raisesException: false, idempotent: false })),
      warnings: [],
    };
    const first = new RunState(input);
    first.showPlan(plan, 0);
    first.kernel = { kernelId: 'k1', kernelName: 'python3', outcomeRegistry: true };
    first.tookRevision({ revision: 2 }, 1);
    first.executedCells = 2;
    first.skippedCells.push(1);
    first.progress.cells.forEach((c, i) => (c.durationMs = i < 2 ? 10 + i : undefined));
    const carried: RunContinuation = first.continuation(plan, 2, undefined);
    expect(carried).toMatchObject({ position: 2, revision: 2, kernel: { kernelId: 'k1' }, executedCells: 2, durationsMs: [10, 11], skippedCells: [1] });
    const next = new RunState(input, carried);
    next.showPlan(plan, carried.position);
    expect(next.revision).toBe(2);
    expect(next.progress.cells.map((c) => [c.status, c.durationMs])).toEqual([['completed', 10], ['completed', 11], ['pending', undefined]]);
    expect(next.result()).toEqual({ runId: 'r1', status: 'completed', output: 'out/x.ipynb', executedCells: 2, stoppedBySysExit: false, skippedCells: [1] });
  });
});
