/**
 * One profiling experiment in a process of its own (Core's Runtime is per process and
 * needs its metrics exporter before any worker exists): a fresh embedded stack, the
 * product's worker (worker/worker.ts) with the experiment's one change and the
 * instrumentation, a warm-up run, then `reps` runs of a trivial notebook, each profiled:
 *
 * - Temporal history events (per-cell cycle) joined with the output notebook's times;
 * - Temporal server RPCs and persistence operations per cell (the dev server's /metrics);
 * - the worker's Core metrics (workflow task processing, RPC latency from the worker);
 * - CPU time per process group (/proc) and store writes (store.write wrapped);
 * - executeCell start and end in the worker (bench/instrument.ts; local activities too).
 *
 *   node dist/bench/experiment.js '<ExperimentSpec as JSON>'   (prints one JSON line)
 *
 * Experiments change configuration (dev-server dynamic config, worker options, the kernel
 * pool, the kernel handle's outcome-registry flag that decides local or regular cell
 * activities) to measure what a lever saves or costs; they never change product code.
 */
import type { Client } from '@temporalio/client';
import { DefaultLogger, makeTelemetryFilterString, Runtime, type WorkerOptions } from '@temporalio/worker';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { store } from '../record/store/index.js';
import { freePort } from '../worker/ports.js';
import type { StartedKernel } from '../workflows/contracts.js';
import { profileChain, runHistories, runPhases, summariseCycles, workerBounds, type CycleKind, type RunPhases } from './history.js';
import { instrumentWorkers } from './instrument.js';
import { delta, histogramDelta, scrape, type Samples } from './metrics.js';
import { startWarm } from './millrace.js';
import { kernelTiming, median, overheadPerCell, writeNotebook } from './notebooks.js';
import { CpuSampler, cpuMs, descendants, diffCounters, threadCpuMs } from './procmem.js';

export interface ExperimentSpec {
  name: string;
  cells: number;
  reps: number;
  tempRoot: string;
  dynamicConfig?: Record<string, unknown>;
  /** Heartbeats sent in the first `heartbeatDelayMs` of an activity are dropped. */
  heartbeatDelayMs?: number;
  /** Worker options merged over the product's. */
  workerOptions?: Partial<
    Pick<
      WorkerOptions,
      | 'maxConcurrentActivityTaskPolls'
      | 'maxConcurrentWorkflowTaskPolls'
      | 'nonStickyToStickyPollRatio'
      | 'maxEagerActivityReservationsPerWorkflowTask'
      | 'reuseV8Context'
      | 'debugMode'
      | 'workflowThreadPoolSize'
    >
  >;
  /** Every cell a regular activity, as before local activities (startKernel's handle says the kernel has no outcome registry). */
  regularCells?: boolean;
  /** Idle kernels the worker keeps (default: KERNEL_POOL_DEFAULT). */
  kernelPool?: number;
  /** store.write resolves at once and writes in the background (in order): the record's final write off the cell's critical path. */
  asyncStoreWrites?: boolean;
}

export interface ExperimentRun {
  wallMs: number;
  kernelMs: number;
  loopOverheadMs: number | null;
  /** Medians of each kind of cell-to-cell cycle's steps (bench/history.ts CellCycle). */
  cycles: Partial<Record<CycleKind, { count: number; medianMs: Record<string, number> }>>;
  /** Median of consecutive executeCell starts in the worker (works for local activities too). */
  workerCycleMs: number;
  eagerCycles: number;
  /** Cells per path: local activity, handed off, regular activity. */
  paths: Record<string, number>;
  /** Workflow-task slices (no-op sliceWorkflowTask activities) between local cells. */
  slices: number;
  /** The fixed part of the run, around its cells. */
  phases: RunPhases;
  /** Whole run's CPU (kernel start-up included) / cells. */
  cpuPerCellMs: Record<string, number>;
  /** CPU per cell over the cell loop alone (cells 2 to N), by process group. */
  loopCpuPerCellMs: Record<string, number>;
  workerThreadsCpuMs: Record<string, number>;
  serverRpcsPerCell: Record<string, number>;
  serverRpcMeanMs: Record<string, number>;
  persistencePerCell: Record<string, number>;
  persistenceMeanMs: Record<string, number>;
  eagerActivities: number;
  core: Record<string, { count: number; meanMs: number }>;
  store: { writesPerCell: number; meanWriteMs: number; meanWriteKiB: number };
}

export interface ExperimentResult {
  spec: Omit<ExperimentSpec, 'tempRoot'>;
  runs: ExperimentRun[];
  /** Run with the median wall time. */
  medianRun: ExperimentRun;
}

/** Called as each executeCell starts (before the cell), for CPU snapshots of the cell loop. */
let cellStarted: (() => void) | undefined;

/**
 * The product's own worker (worker/worker.ts createWorker) with the experiment's one change
 * and the instrumentation (bench/instrument.ts) layered onto the options it passes to
 * Worker.create. Core's Runtime is installed here first (with a metrics exporter);
 * createWorker's install then reuses it.
 */
function instrumentWorkerCreation(spec: ExperimentSpec, corePort: number): void {
  Runtime.install({
    logger: new DefaultLogger('ERROR'),
    shutdownSignals: [],
    telemetryOptions: {
      metrics: { prometheus: { bindAddress: `127.0.0.1:${corePort}`, useSecondsForDurations: false } },
      // BENCH_CORE_TRACE=1: Core's own trace log (JSON lines with µs timestamps) on stdout.
      ...(process.env['BENCH_CORE_TRACE'] ? { logging: { filter: makeTelemetryFilterString({ core: 'TRACE', other: 'WARN' }), console: { format: 'json' as const } } } : {}),
    },
  });
  const runtime = Runtime as unknown as { install: (options: unknown) => Runtime };
  runtime.install = () => Runtime.instance();

  const delayMs = spec.heartbeatDelayMs;
  instrumentWorkers({
    workerOptions: spec.workerOptions,
    onCellStart: () => cellStarted?.(),
    context:
      delayMs === undefined
        ? undefined
        : (ctx) => {
            // Context.heartbeat calls this.heartbeatFn: drop the early ones.
            const target = ctx as unknown as { heartbeatFn: (details?: unknown) => void };
            const original = target.heartbeatFn;
            const started = Date.now();
            target.heartbeatFn = (details?: unknown) => {
              if (Date.now() - started >= delayMs) original(details);
            };
          },
    // The workflow runs cells as local activities only in kernels whose handle says they
    // keep an outcome registry: without it, every cell is a regular activity, as in
    // kernels of other languages.
    activity: spec.regularCells
      ? (_ctx, type, result) => {
          if (type !== 'startKernel') return result;
          const started = result as StartedKernel;
          return { ...started, kernel: { ...started.kernel, outcomeRegistry: false } };
        }
      : undefined,
  });
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2] ?? '{}') as ExperimentSpec;
  const dir = await mkdtemp(join(spec.tempRoot, `exp-${spec.name}-`));
  const corePort = await freePort();
  instrumentWorkerCreation(spec, corePort);
  console.debug = () => undefined;
  const metricsPort = await freePort();
  const warm = await startWarm(join(dir, 'state'), {
    ...(spec.kernelPool !== undefined ? { kernelPool: spec.kernelPool } : {}),
    dynamicConfig: spec.dynamicConfig,
    temporalArgs: ['--metrics-port', String(metricsPort)],
  });
  const serverMetrics = `http://127.0.0.1:${metricsPort}/metrics`;
  const coreMetrics = `http://127.0.0.1:${corePort}/metrics`;
  const writes: Array<{ ms: number; bytes: number }> = [];
  const write = store.write;
  let background: Promise<void> = Promise.resolve();
  let backgroundError: unknown;
  store.write = async (location, data, options) => {
    const timed = async () => {
      const t = performance.now();
      await write(location, data, options);
      writes.push({ ms: performance.now() - t, bytes: Buffer.byteLength(data) });
    };
    // Snapshots (create-if-absent) stay synchronous: their outcome is the caller's answer.
    if (!spec.asyncStoreWrites || options?.ifAbsent) return timed();
    background = background.then(timed).catch((err: unknown) => {
      backgroundError ??= err;
    });
  };
  // With background writes, a read on this worker first waits for them (as a design that
  // takes the write off the critical path would: only another worker can see it late).
  const read = store.read;
  store.read = async (location) => {
    await background;
    if (backgroundError !== undefined) throw backgroundError;
    return read(location);
  };
  const runs: ExperimentRun[] = [];
  try {
    await warm.submit(await writeNotebook(dir, 'trivial', 10));
    const notebook = await writeNotebook(dir, 'trivial', spec.cells);
    for (let rep = 0; rep < spec.reps; rep++) {
      writes.length = 0;
      const [s0, c0] = await Promise.all([scrape(serverMetrics), scrape(coreMetrics)]);
      const cpu = new CpuSampler(
        {
          worker: { roots: () => [process.pid], tree: false },
          jupyterServer: { roots: () => [warm.stack.jupyterServer.pid], tree: false },
          kernel: { roots: () => descendants([warm.stack.jupyterServer.pid]).filter((pid) => pid !== warm.stack.jupyterServer.pid) },
          temporal: { roots: () => [warm.stack.temporal.pid] },
        },
        250,
      ).start();
      const threads0 = threadCpuMs(process.pid);
      // CPU of the cell loop alone (no kernel start-up): snapshots as cells 2 and N start.
      const groups: Record<string, () => number[]> = {
        worker: () => [process.pid],
        jupyterServer: () => [warm.stack.jupyterServer.pid],
        kernel: () => descendants([warm.stack.jupyterServer.pid]).filter((pid) => pid !== warm.stack.jupyterServer.pid),
        temporal: () => descendants([warm.stack.temporal.pid]),
      };
      const snapshot = () => Object.fromEntries(Object.entries(groups).map(([g, pids]) => [g, pids().reduce((sum, pid) => sum + (cpuMs(pid) ?? 0), 0)]));
      let started = 0;
      let loopStart: Record<string, number> | undefined;
      let loopEnd: Record<string, number> | undefined;
      cellStarted = () => {
        started += 1;
        if (started === 2) loopStart = snapshot();
        if (started === spec.cells) loopEnd = snapshot();
      };
      const run = await warm.submit(notebook);
      cellStarted = undefined;
      const loopCpu =
        loopStart && loopEnd && spec.cells > 2
          ? Object.fromEntries(Object.keys(groups).map((g) => [g, (loopEnd![g]! - loopStart![g]!) / (spec.cells - 2)]))
          : {};
      const runCpu = cpu.stop();
      const threads = diffCounters(threadCpuMs(process.pid), threads0);
      const [s1, c1] = await Promise.all([scrape(serverMetrics), scrape(coreMetrics)]);
      if (process.env['BENCH_DUMP_METRICS']) {
        const { writeFile } = await import('node:fs/promises');
        await writeFile(`${process.env['BENCH_DUMP_METRICS']}.core`, [...c1].map(([k, v]) => `${k} ${v}`).join('\n'));
        await writeFile(`${process.env['BENCH_DUMP_METRICS']}.server`, [...s1].map(([k, v]) => `${k} ${v}`).join('\n'));
      }
      runs.push({ ...(await analyse(warm.client, spec.cells, run, { s0, s1, c0, c1 }, runCpu, threads, writes)), loopCpuPerCellMs: loopCpu });
    }
  } finally {
    store.write = write;
    store.read = read;
    await warm.stop();
    await rm(dir, { recursive: true, force: true });
  }
  const byWall = [...runs].sort((a, b) => a.wallMs - b.wallMs);
  const { tempRoot: _tempRoot, ...rest } = spec;
  const result: ExperimentResult = { spec: rest, runs, medianRun: byWall[Math.floor((byWall.length - 1) / 2)]! };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

async function analyse(
  client: Client,
  cells: number,
  run: Awaited<ReturnType<Awaited<ReturnType<typeof startWarm>>['submit']>>,
  m: { s0: Samples; s1: Samples; c0: Samples; c1: Samples },
  cpuMs: Record<string, number>,
  threads: Record<string, number>,
  writes: Array<{ ms: number; bytes: number }>,
): Promise<Omit<ExperimentRun, 'loopCpuPerCellMs'>> {
  const timing = await kernelTiming(run.output);
  const histories = await runHistories(client, run.runId, run.firstRunId);
  const profile = profileChain(histories, timing, run.cells);
  // Where each cell starts in the worker (a handed-off cell's first, local, execution).
  const starts = [...workerBounds(run.cells).values()].map((b) => b.start).sort((a, b) => a - b);
  const summary = summariseCycles(profile.cycles);
  const perCell = (o: Record<string, number>) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, v / cells]));
  const rpcs = histogramDelta(m.s0, m.s1, 'service_latency', ['service_name', 'operation']);
  const persistence = histogramDelta(m.s0, m.s1, 'persistence_latency', ['operation']);
  const core = histogramDelta(m.c0, m.c1, 'temporal_request_latency', ['operation'], {}, 1);
  for (const metric of [
    'temporal_workflow_task_execution_latency',
    'temporal_workflow_task_schedule_to_start_latency',
    'temporal_workflow_task_replay_latency',
    'temporal_activity_execution_latency',
    'temporal_activity_schedule_to_start_latency',
    'temporal_local_activity_execution_latency',
    'temporal_workflow_activation_execution_latency',
  ]) {
    const h = histogramDelta(m.c0, m.c1, metric, [], {}, 1);
    for (const [, v] of Object.entries(h)) core[metric.replace(/^temporal_/, '')] = v;
  }
  const round = (o: Record<string, { count: number; meanMs: number }>, f: (v: { count: number; meanMs: number }) => number) =>
    Object.fromEntries(Object.entries(o).map(([k, v]) => [k, f(v)]));
  return {
    wallMs: run.wallMs,
    kernelMs: timing.kernelMs,
    loopOverheadMs: overheadPerCell(run.wallMs, timing).loopMs,
    cycles: Object.fromEntries(Object.entries(summary).map(([kind, v]) => [kind, { count: v.count, medianMs: v.medianMs }])),
    workerCycleMs: median(starts.slice(1).map((start, i) => start - starts[i]!)),
    eagerCycles: profile.eagerCount,
    paths: profile.paths,
    slices: profile.slices,
    phases: runPhases(histories, run.cells),
    cpuPerCellMs: perCell(cpuMs),
    workerThreadsCpuMs: perCell(threads),
    serverRpcsPerCell: round(rpcs, (v) => v.count / cells),
    serverRpcMeanMs: round(rpcs, (v) => v.meanMs),
    persistencePerCell: round(persistence, (v) => v.count / cells),
    persistenceMeanMs: round(persistence, (v) => v.meanMs),
    eagerActivities: Object.values(delta(m.s0, m.s1, 'activity_eager_execution', [])).reduce((a, b) => a + b, 0),
    core: Object.fromEntries(Object.entries(core).map(([k, v]) => [k, { count: v.count, meanMs: v.meanMs }])),
    store: {
      writesPerCell: writes.length / cells,
      meanWriteMs: writes.reduce((s, w) => s + w.ms, 0) / Math.max(1, writes.length),
      meanWriteKiB: writes.reduce((s, w) => s + w.bytes, 0) / Math.max(1, writes.length) / 1024,
    },
  };
}

await main();
