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
 * 5. Profile: where one cell's time goes in warm runs (the worker's bounds of each
 *    executeCell execution, history's local activity markers and events, and the output
 *    notebook's timestamps), the bare kernel round trip over each transport, and
 *    experiments that measure what a configuration lever saves or costs
 *    (bench/experiment.ts), among them the regular-activity path cells took before.
 *
 * Results: bench/results/results.json and results.md (or --out DIR).
 *
 * Options: --quick (small sizes, one repetition, no experiments, ~40 s),
 * --sizes 1,10,100,500, --reps N (warm and papermill repetitions, default 3),
 * --reps-large N (for notebooks of more than 100 cells, default 1), --in-process-large
 * (papermill in-process for those too: minutes), --concurrency N (runs, default 20),
 * --concurrency-rounds N (default 3), --no-cold, --no-experiments, --experiments a,b
 * (names in bench/experiments.ts), --experiment-rounds N (default 2), --experiments-only,
 * --quiet-wait SECONDS (at the start, wait up to this long for other load to settle,
 * default 120), --settle SECONDS (the same before each measurement, default 5),
 * --no-fork-kernels (the warm stack launches each Python kernel as a new process instead
 * of forking it from a warm one, to measure that lever), --out DIR.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { packageRoot } from '../worker/paths.js';
import { combineRounds, experimentSpecs, runExperiment, type ExperimentSummary } from './experiments.js';
import { historySize, medianOf, profileChain, runHistories, runPhases, summariseCycles, type CellCycle, type CycleKind, type CycleSummary, type RunPhases } from './history.js';
import { instrumentWorkers } from './instrument.js';
import { describeMachine, LoadWatch, waitForQuiet, type Machine } from './machine.js';
import { millraceCold, startWarm, type WarmMillrace } from './millrace.js';
import { kernelTiming, median, overheadPerCell, quantile, writeNotebook, type NotebookKind } from './notebooks.js';
import { killLiveChildren, papermillCli, startPapermillInProcess, type PapermillInProcess } from './papermill.js';
import { MemorySampler, rssKiB } from './procmem.js';
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
  /** Makespans of each round (millrace, then papermill). */
  rounds: Array<{ millraceMs: number; papermillMs: number; papermillFailed: number }>;
  millrace?: {
    makespanMs: number;
    workerIdleRssMiB: number;
    workerPeakRssMiB: number;
    jupyterPeakRssMiB: number;
    jupyterMaxProcesses: number;
    temporalPeakRssMiB: number;
    totalPeakRssMiB: number;
  };
  /** failed: papermill processes that exited with an error, over all rounds. */
  papermill?: { makespanMs: number; peakRssMiB: number; maxProcesses: number; failed: number; failures: string[] };
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
  /** Local activity markers; workflow-task slices and their JSON bytes (bench/history.ts HistorySize). */
  markers?: number;
  slices?: number;
  sliceJsonBytes?: number;
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
    /** Cell-to-cell cycles by kind (bench/history.ts CellCycle): medians and p90 of their steps. */
    cycles: Partial<Record<CycleKind, CycleSummary>>;
    /** Whether executions were bounded by the worker's own times (bench/instrument.ts). */
    workerBounds: boolean;
    /** Cells per path: local activity, handed off to a regular activity, regular activity. */
    paths: Record<string, number>;
    /** Workflow-task slices (no-op sliceWorkflowTask activities) between local cells, over the profiled runs. */
    slices: number;
    /** Regular cell activities dispatched eagerly. */
    eagerCells: number;
    cellsProfiled: number;
    /** Medians over the profiled runs: the fixed part of a run, around its cells. */
    phasesMs: RunPhases;
    /** Wall time minus the workflow's own duration: building the input, starting, delivering the result. */
    clientMs: number;
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
  /** papermill in-process also for notebooks over 100 cells (minutes: O(cells²) saves). */
  inProcessLarge: boolean;
  /** Experiment rounds: each round runs every experiment once, in turn. */
  experimentRounds: number;
  /** Only the experiments (for profiling at length). */
  experimentsOnly: boolean;
  concurrencyRounds: number;
  /** Before each measurement, wait up to this long for other load to pass. */
  settleS: number;
  /** Python kernels of the warm stack forked from a warm process (the product's default). */
  forkKernels: boolean;
}

function parseArgs(argv: string[]): Options {
  const options: Options = {
    sizes: [1, 10, 100, 500],
    reps: 3,
    repsLarge: 1,
    concurrency: 20,
    concurrentCells: 20,
    cold: true,
    experiments: experimentSpecs()
      .filter((e) => !e.optional)
      .map((e) => e.name),
    quietWaitS: 120,
    out: join(packageRoot(), 'bench', 'results'),
    quick: false,
    inProcessLarge: false,
    experimentRounds: 2,
    experimentsOnly: false,
    concurrencyRounds: 3,
    settleS: 5,
    forkKernels: true,
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
        Object.assign(options, { quick: true, sizes: [1, 10], reps: 1, repsLarge: 1, concurrency: 4, concurrentCells: 5, experiments: [], quietWaitS: 0, experimentRounds: 1, concurrencyRounds: 1, settleS: 0 });
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
      case '--in-process-large':
        options.inProcessLarge = true;
        break;
      case '--settle':
        options.settleS = Number(value());
        break;
      case '--concurrency-rounds':
        options.concurrencyRounds = Number(value());
        break;
      case '--experiments-only':
        options.experimentsOnly = true;
        break;
      case '--experiment-rounds':
        options.experimentRounds = Number(value());
        break;
      case '--quiet-wait':
        options.quietWaitS = Number(value());
        break;
      case '--no-fork-kernels':
        options.forkKernels = false;
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
    void cleanup()
      .then(() => rm(temp, { recursive: true, force: true }))
      .finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const section = async <T>(name: string, body: () => Promise<T>): Promise<T> => {
    log(`${name}...`);
    const watch = new LoadWatch();
    try {
      return await body();
    } finally {
      results.load[name] = watch.stop();
      const l = results.load[name]!;
      log(`${name}: ${l.wallS} s (other load: ${l.foreignCores} cores)`);
    }
  };
  const repsFor = (cells: number) => (cells > 100 ? options.repsLarge : options.reps);
  // Before each measurement: a few seconds' grace for load from elsewhere to pass.
  const settle = () => (options.settleS > 0 ? waitForQuiet(0.3, options.settleS * 1000, () => undefined) : Promise.resolve(0));

  try {
    log(`machine: ${results.machine.cpuModel}, ${results.machine.cores} cores; temp ${temp}`);
    if (options.quietWaitS > 0) await waitForQuiet(0.3, options.quietWaitS * 1000, log);
    const nb = async (kind: NotebookKind, cells: number) => writeNotebook(temp, kind, cells);
    const trivial = new Map<number, string>();
    for (const cells of options.sizes) trivial.set(cells, await nb('trivial', cells));
    const outDir = join(temp, 'papermill-out');
    await mkdir(outDir, { recursive: true });

    if (!options.experimentsOnly) {
      // 1. Sequential runs. The three engines take turns within each repetition (in rotating
      // order), so that load from elsewhere on a shared machine falls on all of them alike.
      // The worker's own bounds of each executeCell execution, for the profile: a local
      // activity's marker holds no wall-clock end (two clock reads per cell).
      instrumentWorkers();
      warm = await section('millrace stack start', () => startWarm(join(temp, 'warm-state'), { forkKernels: options.forkKernels }));
      const w = warm;
      let inproc: PapermillInProcess | undefined;
      const profiledRuns: Array<{ cells: number; run: Awaited<ReturnType<WarmMillrace['submit']>> }> = [];
      try {
        await section('warm-ups', async () => {
          // Untimed: the first workflow, kernelspec cache and websocket for millrace; the page
          // cache holding papermill's imports and a first kernel start for papermill.
          inproc = await startPapermillInProcess();
          results.papermillImportMs = inproc.importMs;
          const one = trivial.get(Math.min(...options.sizes))!;
          await w.submit(await nb('trivial', 10));
          await papermillCli(one, join(outDir, 'cli-warm-up.ipynb'));
          await inproc.run(one, join(outDir, 'inproc-warm-up.ipynb'));
        });
        const p = inproc!;
        await section('sequential runs', async () => {
          for (const size of results.sizes) {
            const samples: Record<'papermill-cli' | 'papermill-inprocess' | 'millrace-warm', RunSample[]> = {
              'papermill-cli': [],
              'papermill-inprocess': [],
              'millrace-warm': [],
            };
            const notebook = trivial.get(size.cells)!;
            const inProcessToo = size.cells <= 100 || options.inProcessLarge;
            for (let rep = 0; rep < repsFor(size.cells); rep++) {
              await settle();
              const turns: Array<() => Promise<void>> = [
                async () => {
                  const run = await papermillCli(notebook, join(outDir, `cli-${size.cells}-${rep}.ipynb`));
                  samples['papermill-cli'].push(await sample(run.wallMs, run.output));
                },
                async () => {
                  if (!inProcessToo) return;
                  const run = await p.run(notebook, join(outDir, `inproc-${size.cells}-${rep}.ipynb`));
                  samples['papermill-inprocess'].push(await sample(run.wallMs, run.output));
                },
                async () => {
                  const run = await w.submit(notebook);
                  samples['millrace-warm'].push(await sample(run.wallMs, run.output));
                  profiledRuns.push({ cells: size.cells, run });
                },
              ];
              for (let t = 0; t < turns.length; t++) await turns[(t + rep) % turns.length]!();
              const last = (e: keyof typeof samples) => {
                const v = samples[e][samples[e].length - 1];
                return v ? `${(v.wallMs / 1000).toFixed(2)} s` : '–';
              };
              log(`  ${size.cells} cells, rep ${rep + 1}: papermill CLI ${last('papermill-cli')}, in-process ${last('papermill-inprocess')}, millrace warm ${last('millrace-warm')}`);
            }
            for (const [engineName, list] of Object.entries(samples)) if (list.length > 0) size.engines[engineName as Engine] = summarise(list);
          }
        });
      } finally {
        await inproc?.close();
      }

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
        const phases: RunPhases[] = [];
        const client: number[] = [];
        const paths: Record<string, number> = {};
        let eager = 0;
        let profiled = 0;
        let slices = 0;
        for (const { run } of runs) {
          const histories = await runHistories(w.client, run.runId, run.firstRunId);
          const profile = profileChain(histories, await kernelTiming(run.output), run.cells);
          cycles.push(...profile.cycles);
          eager += profile.eagerCount;
          profiled += profile.cells;
          slices += profile.slices;
          for (const [path, n] of Object.entries(profile.paths)) paths[path] = (paths[path] ?? 0) + n;
          const ph = runPhases(histories, run.cells);
          phases.push(ph);
          client.push(run.wallMs - ph.workflow);
        }
        const transportCells = options.quick ? 10 : 50;
        const ws = await websocketRoundTrips(w.stack.jupyter, transportCells);
        const zmq = await zmqRoundTrips(transportCells);
        results.profile = {
          cells,
          runs: runs.length,
          cycles: summariseCycles(cycles),
          workerBounds: runs.every(({ run }) => run.cells.length > 0),
          paths,
          slices,
          eagerCells: eager,
          cellsProfiled: profiled,
          phasesMs: medianOf(phases, median) as unknown as RunPhases,
          clientMs: median(client),
          transport: {
            cells: transportCells,
            websocketMedianMs: median(ws),
            websocketP90Ms: quantile(ws, 0.9),
            zmqMedianMs: median(zmq),
            zmqP90Ms: quantile(zmq, 0.9),
          },
        };
      });

      // 3. Concurrent runs: millrace on the one warm worker, then the same notebook as
      // concurrent papermill processes, alternating for `concurrencyRounds` rounds.
      const concurrency: ConcurrencyResult = { runs: options.concurrency, cellsPerRun: options.concurrentCells, cellSeconds: 0.2, rounds: [] };
      results.concurrency = concurrency;
      const sleepy = await nb('sleep', options.concurrentCells);
      for (let round = 0; round < options.concurrencyRounds; round++) {
        await settle();
        const millrace = await section(`millrace concurrent (round ${round + 1})`, async () => {
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
          log(`  millrace: ${options.concurrency} runs in ${(makespanMs / 1000).toFixed(1)} s`);
          return {
            makespanMs,
            workerIdleRssMiB,
            workerPeakRssMiB: memory.groups['worker']!.peakMiB,
            jupyterPeakRssMiB: memory.groups['jupyter']!.peakMiB,
            jupyterMaxProcesses: memory.groups['jupyter']!.maxProcesses,
            temporalPeakRssMiB: memory.groups['temporal']!.peakMiB,
            totalPeakRssMiB: memory.totalPeakMiB,
          };
        });
        await settle();
        const papermill = await section(`papermill concurrent (round ${round + 1})`, async () => {
          const pids: number[] = [];
          const sampler = new MemorySampler({ papermill: { roots: () => pids } }, 200).start();
          const t0 = performance.now();
          // papermill itself can fail here (jupyter_client picks kernel ports that another
          // kernel takes first: "Kernel died before replying to kernel_info"): counted.
          const settled = await Promise.allSettled(
            Array.from({ length: options.concurrency }, (_, i) =>
              papermillCli(sleepy, join(outDir, `concurrent-${round}-${i}.ipynb`), (pid) => pids.push(pid)),
            ),
          );
          const makespanMs = performance.now() - t0;
          const memory = sampler.stop();
          const failures = settled.flatMap((r) => (r.status === 'rejected' ? [String((r.reason as Error).message).split('\n').pop() ?? ''] : []));
          log(`  papermill: ${options.concurrency} processes in ${(makespanMs / 1000).toFixed(1)} s${failures.length ? `, ${failures.length} failed` : ''}`);
          return {
            makespanMs,
            peakRssMiB: memory.groups['papermill']!.peakMiB,
            maxProcesses: memory.groups['papermill']!.maxProcesses,
            failed: failures.length,
            failures,
          };
        });
        concurrency.rounds.push({ millraceMs: millrace.makespanMs, papermillMs: papermill.makespanMs, papermillFailed: papermill.failed });
        // Makespans: medians over rounds; memory: the highest peak seen. A papermill round
        // with failed processes is not a makespan of the same work (a process that fails
        // ends early, or waits out its kernel start timeout): papermill's median leaves
        // those rounds out while any clean round exists.
        const clean = concurrency.rounds.filter((r) => r.papermillFailed === 0);
        const med = (f: (r: { millraceMs: number; papermillMs: number }) => number, rounds = concurrency.rounds) => median(rounds.map(f));
        concurrency.millrace = {
          ...millrace,
          makespanMs: med((r) => r.millraceMs),
          workerPeakRssMiB: Math.max(millrace.workerPeakRssMiB, concurrency.millrace?.workerPeakRssMiB ?? 0),
          jupyterPeakRssMiB: Math.max(millrace.jupyterPeakRssMiB, concurrency.millrace?.jupyterPeakRssMiB ?? 0),
          temporalPeakRssMiB: Math.max(millrace.temporalPeakRssMiB, concurrency.millrace?.temporalPeakRssMiB ?? 0),
          totalPeakRssMiB: Math.max(millrace.totalPeakRssMiB, concurrency.millrace?.totalPeakRssMiB ?? 0),
        };
        concurrency.papermill = {
          ...papermill,
          makespanMs: med((r) => r.papermillMs, clean.length > 0 ? clean : concurrency.rounds),
          peakRssMiB: Math.max(papermill.peakRssMiB, concurrency.papermill?.peakRssMiB ?? 0),
          failed: papermill.failed + (concurrency.papermill?.failed ?? 0),
          failures: [...(concurrency.papermill?.failures ?? []), ...papermill.failures],
        };
      }

      await section('millrace stack stop', () => w.stop());
      warm = undefined;

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

    }

    // 5. Experiments, each in a process and on a stack of its own, in rounds: every round
    // runs each experiment once, so drift in the machine's load affects them alike.
    const specs = experimentSpecs().filter((e) => options.experiments.includes(e.name));
    const rounds: Map<string, ExperimentSummary[]> = new Map(specs.map((e) => [e.name, []]));
    for (let round = 0; round < options.experimentRounds && specs.length > 0; round++) {
      for (const spec of specs) {
        try {
          await settle();
          const summary = await section(`experiment ${spec.name} (round ${round + 1})`, () => runExperiment(spec, temp));
          rounds.get(spec.name)!.push(summary);
          log(`  ${spec.name}: ${summary.cycleMs.toFixed(1)} ms per cell cycle, 100 cells in ${(summary.wallMs / 1000).toFixed(2)} s`);
        } catch (err) {
          // One failed experiment leaves the others' results standing.
          log(`  experiment ${spec.name} failed: ${(err as Error).message.split('\n').slice(0, 12).join('\n')}`);
        }
      }
    }
    for (const spec of specs) if (rounds.get(spec.name)!.length > 0) results.experiments.push(combineRounds(rounds.get(spec.name)!));
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
