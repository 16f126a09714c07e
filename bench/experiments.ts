/**
 * The profile's experiments: each measures what one lever would change per cell, on a
 * stack and worker of its own (bench/experiment.ts in a child process), with 100-cell
 * trivial notebooks. `baseline` is the product's configuration with the instrumentation
 * the others carry, so they compare against it rather than against the warm runs;
 * `regular-cells` measures the path the product took before cells became local activities
 * (still the path of kernels without an outcome registry), and the `regular-*` ones
 * levers of that path.
 */
import { join } from 'node:path';
import { packageRoot } from '../worker/paths.js';
import type { ExperimentResult, ExperimentSpec } from './experiment.js';
import { runProcess } from './papermill.js';

type Spec = Omit<ExperimentSpec, 'tempRoot' | 'cells' | 'reps'> & {
  what: string;
  /** Not run by default (--experiments NAME runs it). */
  optional?: boolean;
};

export function experimentSpecs(): Spec[] {
  return [
    {
      name: 'baseline',
      what: 'the product configuration (cells as local activities, kernel pool of 1, eager activities), instrumented',
    },
    {
      name: 'regular-cells',
      what: 'every cell a regular activity, as before local activities (and as in kernels without an outcome registry): a server round trip per cell',
      regularCells: true,
    },
    {
      name: 'no-kernel-pool',
      what: 'kernel pool 0: startKernel starts a kernel for each run instead of taking an idle one',
      kernelPool: 0,
    },
    {
      name: 'async-record-write',
      what: 'the record’s final write per cell in the background (store.write returns at once): the write off the critical path',
      asyncStoreWrites: true,
    },
    {
      name: 'regular-eager-off',
      what: 'regular cell activities with system.enableActivityEagerExecution=false: activity tasks through matching (compare with regular-cells)',
      regularCells: true,
      dynamicConfig: { 'system.enableActivityEagerExecution': false },
      optional: true,
    },
    {
      name: 'regular-no-early-heartbeat',
      what: 'regular cell activities, heartbeats in the first second of a cell dropped (compare with regular-cells; local activities never heartbeat)',
      regularCells: true,
      heartbeatDelayMs: 1000,
      optional: true,
    },
    {
      name: 'debug-mode',
      what: 'worker debugMode: workflows on the main thread, no vm timeout watchdog per activation (not for production: no deadlock detection)',
      workerOptions: { debugMode: true },
      optional: true,
    },
  ];
}

export interface ExperimentSummary {
  name: string;
  what: string;
  cells: number;
  reps: number;
  /** Median over runs. */
  wallMs: number;
  cycleMs: number;
  /** Lowest and highest per-run cycle (the spread between runs and rounds). */
  cycleRangeMs: [number, number];
  loopOverheadMs: number | null;
  result: ExperimentResult;
}

export async function runExperiment(spec: Spec, tempRoot: string, cells = 100, reps = 2): Promise<ExperimentSummary> {
  const { what, optional: _optional, ...rest } = spec;
  const full: ExperimentSpec = { ...rest, cells, reps, tempRoot };
  const { stdout } = await runProcess(process.execPath, [join(packageRoot(), 'dist', 'bench', 'experiment.js'), JSON.stringify(full)], {
    timeoutMs: 300_000,
  });
  const result = JSON.parse(stdout.trim().split('\n').pop()!) as ExperimentResult;
  const m = result.medianRun;
  const cycles = result.runs.map((r) => r.workerCycleMs);
  return {
    name: spec.name,
    what,
    cells,
    reps,
    wallMs: m.wallMs,
    cycleMs: m.workerCycleMs,
    cycleRangeMs: [Math.min(...cycles), Math.max(...cycles)],
    loopOverheadMs: m.loopOverheadMs,
    result,
  };
}

/** One experiment's rounds as one summary: medians over all their runs. */
export function combineRounds(rounds: ExperimentSummary[]): ExperimentSummary {
  const first = rounds[0]!;
  const runs = rounds.flatMap((r) => r.result.runs);
  const byWall = [...runs].sort((a, b) => a.wallMs - b.wallMs);
  const medianRun = byWall[Math.floor((byWall.length - 1) / 2)]!;
  const med = (values: number[]) => {
    const sorted = [...values].sort((a, b) => a - b);
    const mid = Math.floor(sorted.length / 2);
    return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  };
  const loops = runs.map((r) => r.loopOverheadMs).filter((v): v is number => v !== null);
  return {
    ...first,
    reps: runs.length,
    wallMs: med(runs.map((r) => r.wallMs)),
    cycleMs: med(runs.map((r) => r.workerCycleMs)),
    cycleRangeMs: [Math.min(...runs.map((r) => r.workerCycleMs)), Math.max(...runs.map((r) => r.workerCycleMs))],
    loopOverheadMs: loops.length > 0 ? med(loops) : null,
    result: { spec: first.result.spec, runs, medianRun },
  };
}
