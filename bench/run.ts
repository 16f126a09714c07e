/**
 * millrace against papermill on this machine, in one run, side by side (SPEC §6):
 *
 *   bench/run.sh [options]          (set-up and build, then this)
 *   node dist/bench/run.js [options]
 *
 * 1. Notebooks of 1, 10, 100, 500 trivial cells (`x = i`): wall time from submit to final
 *    output notebook for papermill (CLI process, and in-process after its imports) and
 *    millrace (warm: stack and worker running in this process; cold: the whole
 *    `bin/millrace.js run` command with a fresh state directory).
 * 2. Orchestration overhead per cell: wall time minus kernel execution time (per-cell
 *    iopub.execute_input → shell.execute_reply in the output notebooks).
 * 3. 20 concurrent runs of a 20-cell notebook of 0.2 s cells: makespan and peak resident
 *    memory, millrace (one worker) against 20 papermill processes.
 * 4. Temporal history bytes per cell, tiny outputs against 1 MB outputs per cell.
 * 5. Profile: where one cell's time goes in warm runs (history events joined with the
 *    output notebook's timestamps), the bare kernel round trip over each transport, and
 *    experiments that measure what a configuration lever would save (bench/experiment.ts).
 *
 * Results: bench/results/results.json and results.md (or --out DIR).
 *
 * Options: --quick (small sizes, one repetition, no experiments), --sizes 1,10,100,500,
 * --reps N (warm and papermill repetitions, default 3), --reps-large N (for notebooks of
 * more than 100 cells, default 1), --concurrency N, --no-cold, --no-experiments,
 * --experiments a,b, --quiet-wait SECONDS (wait for other load to settle, default 120),
 * --out DIR.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { packageRoot } from '../worker/paths.js';
import { experimentSpecs, runExperiment, type ExperimentSummary } from './experiments.js';
import { historySize, medianOf, profileChain, runHistories, type CellCycle } from './history.js';
import { describeMachine, LoadWatch, waitForQuiet, type Machine } from './machine.js';
import { millraceCold, startWarm, type WarmMillrace } from './millrace.js';
import { kernelTiming, median, overheadPerCell, quantile, writeNotebook, type NotebookKind } from './notebooks.js';
import { killLiveChildren, papermillCli, papermillInProcess } from './papermill.js';
import { MemorySampler, rssKiB, treeCpuMs } from './procmem.js';
import { renderMarkdown } from './report.js';
import { websocketRoundTrips, zmqRoundTrips } from './transport.js';

export type Engine = 'papermill-cli' | 'papermill-inprocess' | 'millrace-warm' | 'millrace-cold';

export interface RunSample {
  wallMs: number;
  kernelMs: number;
  overheadTotalMs: number;
  overheadLoopMs: number | null;
}

export interface SizeResult {
  cells: number;
  engines: Partial<Record<Engine, { samples: RunSample[]; medianWallMs: number; medianKernelMs: number; medianOverheadTotalMs: number; medianOverheadLoopMs: number | null }>>;
}

export interface ConcurrencyResult {
  runs: number;
  cellsPerRun: number;
  cellSeconds: number;
  millrace?: {
    makespanMs: number;
    workerIdleRssMiB: number;
    workerPeakRssMiB: number;
    jupyterPeakRssMiB: number;
    jupyterMaxProcesses: number;
    temporalPeakRssMiB: number;
    totalPeakRssMiB: number;
  };
  papermill?: { makespanMs: number; peakRssMiB: number; maxProcesses: number };
}

export interface HistoryResult {
  kind: string;
  cells: number;
  runs: number;
  events: number;
  jsonBytes: number;
  protoBytes: number | null;
  jsonBytesPerCell: number;
  protoBytesPerCell: number | null;
}

export interface Results {
  machine: Machine;
  startedAt: string;
  durationS: number;
  options: Options;
  load: Record<string, ReturnType<LoadWatch['stop']>>;
  sizes: SizeResult[];
  papermillImportMs?: number;
  concurrency?: ConcurrencyResult;
  history: HistoryResult[];
  profile?: {
    cells: number;
    runs: number;
    cycleMedianMs: Record<string, number>;
    cycleP90Ms: Record<string, number>;
    eagerCells: number;
    cellsProfiled: number;
    transport?: { websocketMedianMs: number; websocketP90Ms: number; zmqMedianMs: number; zmqP90Ms: number; cells: number };
  };
  experiments: ExperimentSummary[];
}

export interface Options {
  sizes: number[];
  reps: number;
  repsLarge: number;
  concurrency: number;
  concurrentCells: number;
  cold: boolean;
  experiments: string[];
  quietWaitS: number;
  out: string;
  quick: boolean;
}

function parseArgs(argv: string[]): Options {
  const options: Options = {
    sizes: [1, 10, 100, 500],
    reps: 3,
    repsLarge: 1,
    concurrency: 20,
    concurrentCells: 20,
    cold: true,
    experiments: experimentSpecs().map((e) => e.name),
    quietWaitS: 120,
    out: join(packageRoot(), 'bench', 'results'),
    quick: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${arg} needs a value`);
      return v;
    };
    switch (arg) {
      case '--quick':
        Object.assign(options, { quick: true, sizes: [1, 10], reps: 1, repsLarge: 1, concurrency: 4, concurrentCells: 5, experiments: [], quietWaitS: 0 });
        break;
      case '--sizes':
        options.sizes = value().split(',').map(Number);
        break;
      case '--reps':
        options.reps = Number(value());
        break;
      case '--reps-large':
        options.repsLarge = Number(value());
        break;
      case '--concurrency':
        options.concurrency = Number(value());
        break;
      case '--no-cold':
        options.cold = false;
        break;
      case '--no-experiments':
        options.experiments = [];
        break;
      case '--experiments':
        options.experiments = value().split(',').filter(Boolean);
        break;
      case '--quiet-wait':
        options.quietWaitS = Number(value());
        break;
      case '--out':
        options.out = resolve(value());
        break;
      default:
        throw new Error(`unknown option ${arg} (see the header of bench/run.ts)`);
    }
  }
  if (options.sizes.some((n) => !Number.isInteger(n) || n < 1)) throw new Error('--sizes: positive integers');
  return options;
}

const log = (line: string) => process.stderr.write(`bench: ${line}\n`);

function summarise(samples: RunSample[]): NonNullable<SizeResult['engines'][Engine]> {
  const loops = samples.map((s) => s.overheadLoopMs).filter((v): v is number => v !== null);
  return {
    samples,
    medianWallMs: median(samples.map((s) => s.wallMs)),
    medianKernelMs: median(samples.map((s) => s.kernelMs)),
    medianOverheadTotalMs: median(samples.map((s) => s.overheadTotalMs)),
    medianOverheadLoopMs: loops.length > 0 ? median(loops) : null,
  };
}

async function sample(wallMs: number, output: string): Promise<RunSample> {
  const timing = await kernelTiming(output);
  const overhead = overheadPerCell(wallMs, timing);
  return { wallMs, kernelMs: timing.kernelMs, overheadTotalMs: overhead.totalMs, overheadLoopMs: overhead.loopMs };
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  const started = Date.now();
  const temp = await mkdtemp(join(tmpdir(), 'millrace-bench-'));
  // Kernels of both engines get an IPython directory of their own (history database,
  // profile): other users' kernels on a shared machine then cannot hold its lock.
  process.env['IPYTHONDIR'] = join(temp, 'ipython');
  const ownCpu = () => treeCpuMs(process.pid);
  const results: Results = {
    machine: await describeMachine(),
    startedAt: new Date(started).toISOString(),
    durationS: 0,
    options,
    load: {},
    sizes: options.sizes.map((cells) => ({ cells, engines: {} })),
    history: [],
    experiments: [],
  };
  let warm: WarmMillrace | undefined;
  const cleanup = async () => {
    killLiveChildren();
    await warm?.stop().catch(() => undefined);
    warm = undefined;
  };
  const onSignal = (signal: NodeJS.Signals) => {
    log(`${signal}: cleaning up`);
    void cleanup().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const section = async <T>(name: string, body: () => Promise<T>): Promise<T> => {
    log(`${name}...`);
    const watch = new LoadWatch(ownCpu);
    try {
      return await body();
    } finally {
      results.load[name] = watch.stop();
      const l = results.load[name]!;
      log(`${name}: ${l.wallS} s (other load: ${l.foreignCores} cores)`);
    }
  };
  const repsFor = (cells: number) => (cells > 100 ? options.repsLarge : options.reps);

  try {
    log(`machine: ${results.machine.cpuModel}, ${results.machine.cores} cores; temp ${temp}`);
    if (options.quietWaitS > 0) await waitForQuiet(0.3, options.quietWaitS * 1000, log);
    const nb = async (kind: NotebookKind, cells: number) => writeNotebook(temp, kind, cells);
    const trivial = new Map<number, string>();
    for (const cells of options.sizes) trivial.set(cells, await nb('trivial', cells));
    const outDir = join(temp, 'papermill-out');
    await mkdir(outDir, { recursive: true });

    // 1a. papermill in one Python process (notebooks of at most 100 cells: the larger ones
    // cost minutes and say the same as the CLI minus its imports).
    await section('papermill in-process', async () => {
      const plan = options.sizes.filter((n) => n <= 100).map((n) => ({ notebook: trivial.get(n)!, reps: repsFor(n) }));
      if (plan.length === 0) return;
      const inproc = await papermillInProcess(outDir, plan);
      results.papermillImportMs = inproc.importMs;
      for (const size of results.sizes) {
        const runs = inproc.runs.filter((r) => r.notebook === trivial.get(size.cells));
        if (runs.length > 0) size.engines['papermill-inprocess'] = summarise(await Promise.all(runs.map((r) => sample(r.wallMs, r.output))));
      }
    });

    // 1b. papermill CLI, one process per run (after an untimed one: the page cache then
    // holds papermill's imports, as on any machine that runs it regularly).
    await section('papermill CLI', async () => {
      await papermillCli(trivial.get(Math.min(...options.sizes))!, join(outDir, 'cli-warm-up.ipynb'));
      for (const size of results.sizes) {
        const samples: RunSample[] = [];
        for (let rep = 0; rep < repsFor(size.cells); rep++) {
          const run = await papermillCli(trivial.get(size.cells)!, join(outDir, `cli-${size.cells}-${rep}.ipynb`));
          samples.push(await sample(run.wallMs, run.output));
          log(`  papermill ${size.cells} cells: ${(run.wallMs / 1000).toFixed(2)} s`);
        }
        size.engines['papermill-cli'] = summarise(samples);
      }
    });

    // 1c. millrace warm, then on the same stack: history sizes, the profile, concurrency.
    warm = await section('millrace stack start', () => startWarm(join(temp, 'warm-state')));
    const w = warm;
    await w.submit(await nb('trivial', 10)); // warm-up: first workflow, kernel spec cache, websocket
    const profiledRuns: Array<{ cells: number; run: Awaited<ReturnType<WarmMillrace['submit']>> }> = [];
    await section('millrace warm', async () => {
      for (const size of results.sizes) {
        const samples: RunSample[] = [];
        for (let rep = 0; rep < repsFor(size.cells); rep++) {
          const run = await w.submit(trivial.get(size.cells)!);
          samples.push(await sample(run.wallMs, run.output));
          profiledRuns.push({ cells: size.cells, run });
          log(`  millrace warm ${size.cells} cells: ${(run.wallMs / 1000).toFixed(2)} s`);
        }
        size.engines['millrace-warm'] = summarise(samples);
      }
    });

    await section('history sizes', async () => {
      const record = async (kind: string, cells: number, run: Awaited<ReturnType<WarmMillrace['submit']>>) => {
        const size = historySize(await runHistories(w.client, run.runId, run.firstRunId));
        results.history.push({
          kind,
          cells,
          ...size,
          jsonBytesPerCell: size.jsonBytes / cells,
          protoBytesPerCell: size.protoBytes === null ? null : size.protoBytes / cells,
        });
      };
      for (const size of results.sizes) {
        const run = profiledRuns.find((r) => r.cells === size.cells);
        if (run) await record('trivial (x = i)', size.cells, run.run);
      }
      const cells = options.quick ? 3 : 10;
      await record('tiny output (print(i))', cells, await w.submit(await nb('tiny-output', cells)));
      await record('1 MB output per cell', cells, await w.submit(await nb('mb-output', cells)));
    });

    await section('profile of warm runs', async () => {
      const cells = options.sizes.includes(100) ? 100 : Math.max(...options.sizes);
      const runs = profiledRuns.filter((r) => r.cells === cells);
      const cycles: CellCycle[] = [];
      let eager = 0;
      let profiled = 0;
      for (const { run } of runs) {
        const profile = profileChain(await runHistories(w.client, run.runId, run.firstRunId), await kernelTiming(run.output));
        cycles.push(...profile.cycles);
        eager += profile.eagerCount;
        profiled += profile.cells;
      }
      const p90: Record<string, number> = {};
      for (const key of Object.keys(cycles[0] ?? {})) p90[key] = quantile(cycles.map((c) => c[key as keyof CellCycle]), 0.9);
      const transportCells = options.quick ? 10 : 50;
      const ws = await websocketRoundTrips(w.stack.jupyter, transportCells);
      const zmq = await zmqRoundTrips(transportCells);
      results.profile = {
        cells,
        runs: runs.length,
        cycleMedianMs: medianOf(cycles, median),
        cycleP90Ms: p90,
        eagerCells: eager,
        cellsProfiled: profiled,
        transport: {
          cells: transportCells,
          websocketMedianMs: median(ws),
          websocketP90Ms: quantile(ws, 0.9),
          zmqMedianMs: median(zmq),
          zmqP90Ms: quantile(zmq, 0.9),
        },
      };
    });

    // 3a. Concurrent runs on the one warm worker.
    const concurrency: ConcurrencyResult = { runs: options.concurrency, cellsPerRun: options.concurrentCells, cellSeconds: 0.2 };
    results.concurrency = concurrency;
    const sleepy = await nb('sleep', options.concurrentCells);
    await section('millrace concurrent', async () => {
      const workerIdleRssMiB = rssKiB(process.pid) / 1024;
      const sampler = new MemorySampler(
        {
          worker: { roots: () => [process.pid], tree: false },
          jupyter: { roots: () => [w.stack.jupyterServer.pid] },
          temporal: { roots: () => [w.stack.temporal.pid] },
        },
        200,
      ).start();
      const t0 = performance.now();
      const runs = await Promise.all(Array.from({ length: options.concurrency }, () => w.submit(sleepy)));
      const makespanMs = performance.now() - t0;
      const memory = sampler.stop();
      if (runs.some((r) => r.result.status !== 'completed')) throw new Error('a concurrent millrace run did not complete');
      concurrency.millrace = {
        makespanMs,
        workerIdleRssMiB,
        workerPeakRssMiB: memory.groups['worker']!.peakMiB,
        jupyterPeakRssMiB: memory.groups['jupyter']!.peakMiB,
        jupyterMaxProcesses: memory.groups['jupyter']!.maxProcesses,
        temporalPeakRssMiB: memory.groups['temporal']!.peakMiB,
        totalPeakRssMiB: memory.totalPeakMiB,
      };
      log(`  millrace: ${options.concurrency} runs in ${(makespanMs / 1000).toFixed(1)} s`);
    });

    await section('millrace stack stop', () => w.stop());
    warm = undefined;

    // 3b. The same notebook as concurrent papermill processes.
    await section('papermill concurrent', async () => {
      const pids: number[] = [];
      const sampler = new MemorySampler({ papermill: { roots: () => pids } }, 200).start();
      const t0 = performance.now();
      await Promise.all(
        Array.from({ length: options.concurrency }, (_, i) => papermillCli(sleepy, join(outDir, `concurrent-${i}.ipynb`), (pid) => pids.push(pid))),
      );
      const makespanMs = performance.now() - t0;
      const memory = sampler.stop();
      concurrency.papermill = { makespanMs, peakRssMiB: memory.groups['papermill']!.peakMiB, maxProcesses: memory.groups['papermill']!.maxProcesses };
      log(`  papermill: ${options.concurrency} processes in ${(makespanMs / 1000).toFixed(1)} s`);
    });

    // 1d. millrace cold: the whole command, which starts and stops its own stack.
    if (options.cold) {
      await section('millrace cold', async () => {
        for (const size of results.sizes) {
          const run = await millraceCold(trivial.get(size.cells)!, temp);
          size.engines['millrace-cold'] = summarise([await sample(run.wallMs, run.output)]);
          log(`  millrace cold ${size.cells} cells: ${(run.wallMs / 1000).toFixed(2)} s`);
        }
      });
    }

    // 5. Experiments, each in a process and on a stack of its own.
    for (const spec of experimentSpecs().filter((e) => options.experiments.includes(e.name))) {
      const summary = await section(`experiment ${spec.name}`, () => runExperiment(spec, temp));
      results.experiments.push(summary);
      log(`  ${spec.name}: ${summary.cycleMs.toFixed(1)} ms per cell cycle, 100 cells in ${(summary.wallMs / 1000).toFixed(2)} s`);
    }
  } finally {
    await cleanup();
    results.durationS = Math.round((Date.now() - started) / 1000);
    await mkdir(options.out, { recursive: true });
    await writeFile(join(options.out, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
    await writeFile(join(options.out, 'results.md'), renderMarkdown(results));
    await rm(temp, { recursive: true, force: true });
    log(`results in ${options.out} (${results.durationS} s)`);
  }
}

await main();
process.exit(0);
