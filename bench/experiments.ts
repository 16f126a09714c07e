/**
 * The profile's experiments: each measures what one lever would change per cell, on a
 * stack and worker of its own (bench/experiment.ts in a child process), with 100-cell
 * trivial notebooks. `baseline` is the product's configuration with the instrumentation
 * the others carry, so they compare against it rather than against the warm runs.
 */
import { join } from 'node:path';
import { packageRoot } from '../worker/paths.js';
import type { ExperimentResult, ExperimentSpec } from './experiment.js';
import { runProcess } from './papermill.js';

type Spec = Omit<ExperimentSpec, 'tempRoot' | 'cells' | 'reps'> & { what: string };

export function experimentSpecs(): Spec[] {
  return [
    { name: 'baseline', what: 'the product configuration (eager activities, fast transfer queue), instrumented' },
    {
      name: 'eager-off',
      what: 'system.enableActivityEagerExecution=false: activity tasks go through matching',
      dynamicConfig: { 'system.enableActivityEagerExecution': false },
    },
    {
      name: 'no-early-heartbeat',
      what: 'heartbeats in the first second of a cell dropped (no RecordActivityTaskHeartbeat for short cells)',
      heartbeatDelayMs: 1000,
    },
    {
      name: 'local-activities',
      what: 'executeCell as a local activity (bench/variants/local-cells.ts): no server round trip per cell',
      workflow: 'local-cells',
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
  loopOverheadMs: number | null;
  result: ExperimentResult;
}

export async function runExperiment(spec: Spec, tempRoot: string, cells = 100, reps = 2): Promise<ExperimentSummary> {
  const { what, ...rest } = spec;
  const full: ExperimentSpec = { ...rest, cells, reps, tempRoot };
  const { stdout } = await runProcess(process.execPath, [join(packageRoot(), 'dist', 'bench', 'experiment.js'), JSON.stringify(full)], {
    timeoutMs: 300_000,
  });
  const result = JSON.parse(stdout.trim().split('\n').pop()!) as ExperimentResult;
  const m = result.medianRun;
  return { name: spec.name, what, cells, reps, wallMs: m.wallMs, cycleMs: m.workerCycleMs, loopOverheadMs: m.loopOverheadMs, result };
}
