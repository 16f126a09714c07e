/**
 * How users launch millrace (issue 18): one `bin/millrace.js` process per command, against
 * a warm `millrace dev` stack started here as its own process, side by side with the
 * papermill CLI in the same run:
 *
 *   node dist/bench/cli.js [--reps N] [--concurrency N] [--rounds N (0: none)] [--load N,N (none: -)] [--quick] [--bin PATH] [--out DIR]
 *   bench/run.sh --cli-only [the same options]
 *
 * 1. Start-up: --version, --help, run --help, params, runs, show, run --detach: wall time,
 *    CPU (user + system) and peak RSS of the process (GNU time), median of --reps; `runs`
 *    and `show` both as they go (asking dev, cli/dev-api.ts) and through the Temporal client.
 * 2. `run` of 100 trivial cells as a whole process, against `python -m papermill` (both
 *    with --no-progress-bar).
 * 3. --concurrency (20) `millrace run` processes at once (20 cells of 0.2 s) against as many
 *    papermill processes: makespan, and the peak RSS of the CLI processes.
 * 4. The same runs submitted with `run --detach` (all at once), then waited for (this
 *    process waits on their results through the Temporal client, so no polling process
 *    loads the cores): submit makespan, and until all are done. Sections 3 and 4 run in
 *    --rounds (5) rounds, their ratios the median over rounds: papermill's own makespan
 *    moves by a fifth from one round to the next, and a round in which a process failed
 *    (a papermill kernel that died at start) is left out.
 * 5. The embedded one-shot stack (no `dev` in that state directory): how long after
 *    `millrace run` is spawned its first cell starts (the cell's iopub.execute_input), and
 *    the whole process, median of --reps, in a state directory of its own.
 * 6. --load (20,200) runs of 10 trivial cells submitted with `run --detach` from one shell
 *    loop (`for i in ...; do millrace run --detach NB & done; wait`): all complete, none
 *    lost, none run twice (one workflow execution per run id; each output's execution
 *    counts are 1..10), the makespan, the peak RSS of every CLI process and of dev's
 *    processes (dev itself, Temporal, Jupyter Server with its kernels), the history per
 *    run, and how each grows from the first size to the last.
 *
 * Results: bench/results/cli.json and cli.md (or --out DIR), each target with its verdict.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { packageRoot, venvPython } from '../worker/paths.js';
import { describeMachine, waitForQuiet, type Machine } from './machine.js';
import type { Client } from '@temporalio/client';
import { historySize, runHistories } from './history.js';
import { kernelTiming, makeNotebook, median, writeNotebook } from './notebooks.js';
import { CpuSampler, MemorySampler } from './procmem.js';
import { killTree, papermillArgs } from './papermill.js';
import { runResult } from '../cli/follow-run.js';

interface Options {
  /** The launcher to measure (default this package's bin/millrace.js; another build's, to compare). */
  bin: string;
  reps: number;
  concurrency: number;
  rounds: number;
  /** Sizes of the shell-loop load (section 6); empty: none. */
  load: number[];
  out: string;
}

function parseOptions(argv: string[]): Options {
  const options: Options = { bin: join(packageRoot(), 'bin', 'millrace.js'), reps: 5, concurrency: 20, rounds: 5, load: [20, 200], out: join(packageRoot(), 'bench', 'results') };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const next = () => argv[++i] ?? '';
    if (arg === '--bin') options.bin = resolve(next());
    else if (arg === '--reps') options.reps = Number(next());
    else if (arg === '--concurrency') options.concurrency = Number(next());
    else if (arg === '--rounds') options.rounds = Number(next());
    else if (arg === '--out') options.out = resolve(next());
    else if (arg === '--load') options.load = next() === '-' ? [] : argv[i]!.split(',').map(Number);
    else if (arg === '--quick') Object.assign(options, { reps: 1, concurrency: 4, rounds: 1, load: [4, 20] });
    else throw new Error(`unknown option ${arg}`);
  }
  return options;
}

/** One process, measured: wall from spawn to exit here, CPU and peak RSS from GNU time. */
interface Measured {
  wallMs: number;
  cpuMs: number;
  rssMiB: number;
  stdout: string;
}

const TIME = '/usr/bin/time';

/**
 * Past this, a process is killed (with what it started) and its measurement fails: a
 * papermill whose kernel died at start (a port taken under twenty at once) waited for it
 * for good and held the whole benchmark.
 */
const PROCESS_TIMEOUT_MS = 120_000;

async function measured(command: string, args: string[], env: NodeJS.ProcessEnv, cwd: string): Promise<Measured> {
  const timeFile = join(cwd, `.time-${process.pid}-${Math.random().toString(36).slice(2)}`);
  const started = performance.now();
  let timedOut = false;
  const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((done, fail) => {
    const child = spawn(TIME, ['-f', '%U %S %M', '-o', timeFile, command, ...args], { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const timer = setTimeout(() => {
      timedOut = true;
      if (child.pid !== undefined) killTree(child.pid);
    }, PROCESS_TIMEOUT_MS);
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
    child.once('error', (e) => {
      clearTimeout(timer);
      fail(e);
    });
    // 'close', not 'exit': a process that exits at once may exit before its stdout is read.
    child.once('close', (c) => {
      clearTimeout(timer);
      done({ code: c, stdout: out, stderr: err });
    });
  });
  const wallMs = performance.now() - started;
  if (timedOut) {
    await rm(timeFile, { force: true });
    throw new Error(`${command} ${args.join(' ')} did not end within ${PROCESS_TIMEOUT_MS / 1000} s: killed; its stderr ended: ${stderr.trim().split('\n').slice(-5).join('\n')}`);
  }
  const [user, system, rssKiB] = (await readFile(timeFile, 'utf8')).trim().split('\n').pop()!.split(' ').map(Number);
  await rm(timeFile, { force: true });
  if (code !== 0) throw new Error(`${command} ${args.join(' ')} exited with ${code}: ${stderr.trim().split('\n').slice(-5).join('\n')}`);
  return { wallMs, cpuMs: (user! + system!) * 1000, rssMiB: rssKiB! / 1024, stdout };
}

interface CommandResult {
  name: string;
  wallMs: number;
  cpuMs: number;
  rssMiB: number;
  samples: number[];
}

function summarize(name: string, runs: Measured[]): CommandResult {
  return {
    name,
    wallMs: median(runs.map((r) => r.wallMs)),
    cpuMs: median(runs.map((r) => r.cpuMs)),
    rssMiB: Math.max(...runs.map((r) => r.rssMiB)),
    samples: runs.map((r) => Math.round(r.wallMs)),
  };
}

interface ConcurrencyRound {
  runMs: number;
  papermillMs: number;
  detachSubmitMs: number;
  detachDoneMs: number;
  runPeakRssMiB: number;
  runCpuMs: number;
  papermillPeakRssMiB: number;
  /** CPU ms of dev's node process, Temporal, Jupyter Server with its kernels: during the `run`s, during the detached runs. */
  devCpuMs?: { run: Record<string, number>; detach: Record<string, number> };
}

interface OneShot {
  /** From spawning `millrace run` to its first cell's execute_input, ms, per repetition. */
  firstCellMs: number[];
  wallMs: number[];
}

interface LoadRound {
  runs: number;
  cells: number;
  /** Until the shell loop's `wait` returned: every `run --detach` process exited. */
  submitMs: number;
  /** Until every run ended. */
  doneMs: number;
  completed: number;
  /** Run ids printed by the loop that no workflow answers to. */
  lost: number;
  /** Run ids with more than one workflow execution, or an output whose cells ran more than once. */
  twice: number;
  cliPeakRssMiB: number;
  cliMedianRssMiB: number;
  cliMedianCpuMs: number;
  /** Peaks of the sums at one instant (bench/procmem.ts): dev's node process, Temporal, Jupyter Server with its kernels. */
  devPeakMiB: Record<string, number>;
  /** Jupyter Server with its kernels, summed PSS: forked kernels' shared pages counted once. */
  jupyterPssPeakMiB?: number;
  /** Most kernel processes alive at once. */
  kernelsAtOnce?: number;
  historyJsonBytes: { median: number; max: number };
  historyProtoBytes: { median: number; max: number } | null;
}

export interface CliResults {
  machine: Machine;
  startedAt: string;
  durationS: number;
  options: Options;
  commands: CommandResult[];
  concurrency: { runs: number; cells: number; cellSeconds: number; rounds: ConcurrencyRound[] };
  oneShot?: OneShot;
  load?: LoadRound[];
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const startedAt = new Date();
  await waitForQuiet(0.3, 60_000, log);
  const root = await mkdtemp(join(tmpdir(), 'millrace-cli-bench-'));
  const bin = options.bin;
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('TEMPORAL_') && !key.startsWith('MILLRACE_')) env[key] = value;
  env['MILLRACE_HOME'] = join(root, '.millrace');
  await mkdir(env['MILLRACE_HOME'], { recursive: true });
  const millrace = (args: string[], environment = env) => measured(process.execPath, [bin, ...args], environment, root);

  const trivial1 = await writeNotebook(root, 'trivial', 1);
  const trivial100 = await writeNotebook(root, 'trivial', 100);
  const sleep20 = await writeNotebook(root, 'sleep', 20);
  const outputs = join(root, 'papermill-out');
  await mkdir(outputs);

  // 5. Before dev starts: a state directory of its own, with no dev, as cron finds it.
  log('the embedded one-shot stack...');
  const oneShotEnv = { ...env, MILLRACE_HOME: join(root, 'one-shot', '.millrace') };
  await mkdir(oneShotEnv['MILLRACE_HOME']!, { recursive: true });
  const oneShot: OneShot = { firstCellMs: [], wallMs: [] };
  for (let rep = 0; rep < options.reps + 1; rep++) {
    const spawned = Date.now();
    const m = await millrace(['run', '--no-progress-bar', '--json', trivial1], oneShotEnv);
    const timing = await kernelTiming((JSON.parse(m.stdout) as { output: string }).output);
    // The first repetition creates the state directory's Temporal database: not what cron sees.
    if (rep === 0) continue;
    oneShot.firstCellMs.push(timing.perCell[0]!.input - spawned);
    oneShot.wallMs.push(m.wallMs);
  }

  log('starting millrace dev...');
  const dev = spawn(process.execPath, [bin, 'dev'], { env, cwd: root, stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  let devErr = '';
  dev.stderr.on('data', (d: Buffer) => (devErr = (devErr + d.toString()).slice(-4000)));
  const devFile = join(env['MILLRACE_HOME'], 'dev.json');
  try {
    for (let waited = 0; !existsSync(devFile); waited += 100) {
      if (dev.exitCode !== null || waited > 120_000) throw new Error(`millrace dev did not start: ${devErr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const devInfo = JSON.parse(readFileSync(devFile, 'utf8')) as { temporalAddress: string; namespace: string };
    // The same commands through the Temporal client, not dev's local API: TEMPORAL_ADDRESS comes first.
    const clientEnv = { ...env, TEMPORAL_ADDRESS: devInfo.temporalAddress, TEMPORAL_NAMESPACE: devInfo.namespace };
    // Warm-up: the worker's first run, the kernel pool, the OS's file cache for both engines.
    await millrace(['run', '--no-progress-bar', trivial1]);
    await measured(venvPython(), papermillArgs(trivial1, join(outputs, 'warm.ipynb')), env, root);

    log('start-up of each command...');
    const byName = new Map<string, Measured[]>();
    const add = (name: string, m: Measured) => byName.set(name, [...(byName.get(name) ?? []), m]);
    for (let rep = 0; rep < options.reps; rep++) {
      add('--version', await millrace(['--version']));
      add('--help', await millrace(['--help']));
      add('run --help', await millrace(['run', '--help']));
      add('params', await millrace(['params', trivial1]));
      const detached = await millrace(['run', '--detach', '--json', trivial1]);
      add('run --detach', detached);
      const runId = (JSON.parse(detached.stdout) as { run_id: string }).run_id;
      add('runs', await millrace(['runs', '--limit', '20']));
      add('show', await millrace(['show', runId]));
      add('runs, through the Temporal client', await millrace(['runs', '--limit', '20'], clientEnv));
      add('show, through the Temporal client', await millrace(['show', runId], clientEnv));
      add('run, 100 trivial cells', await millrace(['run', '--no-progress-bar', trivial100]));
      add('papermill, 100 trivial cells', await measured(venvPython(), papermillArgs(trivial100, join(outputs, `t100-${rep}.ipynb`)), env, root));
    }
    const commands = [...byName].map(([name, runs]) => summarize(name, runs));

    log(`${options.concurrency} concurrent runs of 20 cells of 0.2 s...`);
    const { Client, Connection } = await import('@temporalio/client');
    const connection = await Connection.connect({ address: devInfo.temporalAddress });
    const client = new Client({ connection, namespace: devInfo.namespace });
    const rounds: ConcurrencyRound[] = [];
    // Every process ends before the next measurement starts: one that fails (papermill's kernel
    // losing a port race) must not leave the others running into the next round.
    const many = async <T>(f: (i: number) => Promise<T>): Promise<T[]> => {
      const settled = await Promise.allSettled(Array.from({ length: options.concurrency }, (_, i) => f(i)));
      const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
      if (failed) throw failed.reason;
      return settled.map((s) => (s as PromiseFulfilledResult<T>).value);
    };
    const makespan = async <T>(f: () => Promise<T>): Promise<[number, T]> => {
      const started = performance.now();
      const value = await f();
      return [performance.now() - started, value];
    };
    const pids = JSON.parse(readFileSync(devFile, 'utf8')) as DevPids;
    const devCpu = () =>
      new CpuSampler({
        dev: { roots: () => [pids.pid], tree: false },
        temporal: { roots: () => (pids.temporalPid ? [pids.temporalPid] : []) },
        jupyter: { roots: () => (pids.jupyterPid ? [pids.jupyterPid] : []) },
      }).start();
    for (let round = 0; round < options.rounds; round++) {
      try {
        rounds.push(await concurrencyRound(round));
      } catch (err) {
        // A process of either side that failed (papermill's kernels time out on a loaded
        // machine): that round is left out, and says why, with the process's last lines of
        // stderr (a run's failure is on them, not on the first).
        log(`  round ${round + 1} left out: ${String(err).split('\n').join('\n    ')}`);
      }
    }
    async function concurrencyRound(round: number): Promise<ConcurrencyRound> {
      const runCpu = devCpu();
      const [runMs, runs] = await makespan(() => many(() => millrace(['run', '--no-progress-bar', sleep20])));
      const runDevCpu = runCpu.stop();
      const [papermillMs, papermills] = await makespan(() =>
        many((i) => measured(venvPython(), papermillArgs(sleep20, join(outputs, `c${round}-${i}.ipynb`)), env, root)),
      );
      const started = performance.now();
      const startedAt = Date.now();
      const detachCpu = devCpu();
      const submitted = await many(() => millrace(['run', '--detach', '--json', sleep20]));
      const detachSubmitMs = performance.now() - started;
      const detachDoneMs = (await lastClose(client, submitted.map((s) => (JSON.parse(s.stdout) as { run_id: string }).run_id))) - startedAt;
      const detachDevCpu = detachCpu.stop();
      const done: ConcurrencyRound = {
        runMs,
        papermillMs,
        detachSubmitMs,
        detachDoneMs,
        runPeakRssMiB: Math.max(...runs.map((r) => r.rssMiB)),
        runCpuMs: median(runs.map((r) => r.cpuMs)),
        papermillPeakRssMiB: Math.max(...papermills.map((r) => r.rssMiB)),
        devCpuMs: { run: runDevCpu, detach: detachDevCpu },
      };
      log(`  round ${round + 1}: run ${(runMs / 1000).toFixed(1)} s, papermill ${(papermillMs / 1000).toFixed(1)} s, detach+wait ${(detachDoneMs / 1000).toFixed(1)} s`);
      return done;
    }

    const load: LoadRound[] = [];
    for (const runs of options.load) {
      log(`${runs} runs of 10 trivial cells detached from one shell loop...`);
      load.push(await loadRound(runs, { root, bin, env, client, devInfo: JSON.parse(readFileSync(devFile, 'utf8')) as DevPids }));
      const l = load.at(-1)!;
      log(`  submitted ${(l.submitMs / 1000).toFixed(1)} s, all done ${(l.doneMs / 1000).toFixed(1)} s; completed ${l.completed}, lost ${l.lost}, twice ${l.twice}`);
    }
    await connection.close();

    const results: CliResults = {
      machine: await describeMachine(),
      startedAt: startedAt.toISOString(),
      durationS: (Date.now() - startedAt.getTime()) / 1000,
      options,
      commands,
      concurrency: { runs: options.concurrency, cells: 20, cellSeconds: 0.2, rounds },
      oneShot,
      load,
    };
    await mkdir(options.out, { recursive: true });
    await writeFile(join(options.out, 'cli.json'), `${JSON.stringify(results, null, 2)}\n`);
    const markdown = renderCli(results);
    await writeFile(join(options.out, 'cli.md'), markdown);
    process.stdout.write(markdown);
  } finally {
    dev.kill('SIGINT');
    await new Promise((r) => (dev.exitCode !== null ? r(undefined) : dev.once('exit', r)));
    if (dev.pid !== undefined) killTree(dev.pid);
    // Papermill kernels killed above may still be writing: never let the clean-up hide the error.
    await rm(root, { recursive: true, force: true, maxRetries: 5 }).catch((err: unknown) => log(`could not remove ${root}: ${String(err)}`));
  }
}

/**
 * When the last of these runs ended (ms since the epoch), by the Temporal server's clock
 * (this machine's): their results waited for with runResult, which bounds the dev server's
 * missed long-poll wake-ups (cli/follow-run.ts) that would otherwise add up to 20 s here.
 */
async function lastClose(client: Client, ids: string[]): Promise<number> {
  await Promise.all(ids.map((id) => runResult(client.workflow.getHandle(id)).catch(() => undefined)));
  const closed = await Promise.all(ids.map(async (id) => (await client.workflow.getHandle(id).describe()).closeTime?.getTime() ?? Date.now()));
  return Math.max(...closed);
}

interface DevPids {
  pid: number;
  temporalPid?: number;
  jupyterPid?: number;
}

/**
 * Section 6: `runs` runs submitted with `run --detach` from one shell loop, as a cron line
 * or a script would, then waited for through the Temporal client (no polling process).
 */
async function loadRound(runs: number, ctx: { root: string; bin: string; env: NodeJS.ProcessEnv; client: Client; devInfo: DevPids }): Promise<LoadRound> {
  const dir = join(ctx.root, `load-${runs}`);
  await mkdir(dir);
  const cells = 10;
  // A notebook of its own: this round's runs are the ones named after it.
  const notebook = join(dir, `load${runs}.ipynb`);
  await writeFile(notebook, `${JSON.stringify(makeNotebook('trivial', cells))}\n`);
  const script = [
    `for i in $(seq ${runs}); do`,
    `  ${TIME} -f '%e %U %S %M' -o ${dir}/time.$i ${JSON.stringify(process.execPath)} ${JSON.stringify(ctx.bin)} run --detach --json ${JSON.stringify(notebook)} > ${dir}/out.$i 2> ${dir}/err.$i &`,
    'done',
    'wait',
  ].join('\n');
  const { pid, temporalPid, jupyterPid } = ctx.devInfo;
  const sampler = new MemorySampler({
    dev: { roots: () => [pid], tree: false },
    temporal: { roots: () => (temporalPid ? [temporalPid] : []) },
    jupyter: { roots: () => (jupyterPid ? [jupyterPid] : []), pss: true },
  }).start();
  const started = performance.now();
  const startedAt = Date.now();
  await new Promise<void>((done, fail) => {
    const shell = spawn('bash', ['-c', script], { env: ctx.env, cwd: dir, stdio: 'ignore' });
    shell.once('error', fail);
    shell.once('exit', () => done());
  });
  const submitMs = performance.now() - started;
  const ids: string[] = [];
  const cli: Array<{ cpuMs: number; rssMiB: number }> = [];
  for (let i = 1; i <= runs; i++) {
    const out = await readFile(join(dir, `out.${i}`), 'utf8');
    try {
      ids.push((JSON.parse(out) as { run_id: string }).run_id);
    } catch {
      // A submission that printed no run: counted as lost below.
    }
    const [, user, system, rssKiB] = (await readFile(join(dir, `time.${i}`), 'utf8')).trim().split('\n').pop()!.split(' ').map(Number);
    cli.push({ cpuMs: (user! + system!) * 1000, rssMiB: rssKiB! / 1024 });
  }
  const ended = await Promise.all(ids.map((id) => runResult<{ status?: string; output?: string }>(ctx.client.workflow.getHandle(id)).catch(() => undefined)));
  const doneMs = (await lastClose(ctx.client, ids)) - startedAt;
  const memory = sampler.stop();
  // Every execution of this round's workflows: one per run id, else one ran twice.
  const executions = new Map<string, number>();
  for await (const w of ctx.client.workflow.list({ query: `WorkflowType = 'notebookRun'` })) {
    if (w.workflowId.startsWith(`load${runs}-`)) executions.set(w.workflowId, (executions.get(w.workflowId) ?? 0) + 1);
  }
  let twice = 0;
  const jsonBytes: number[] = [];
  const protoBytes: number[] = [];
  for (const [i, id] of ids.entries()) {
    const result = ended[i];
    let ranTwice = (executions.get(id) ?? 0) > 1;
    if (result?.output) {
      const nb = JSON.parse(await readFile(result.output, 'utf8')) as { cells: Array<{ execution_count: number | null }> };
      ranTwice ||= nb.cells.map((c) => c.execution_count).join() !== Array.from({ length: cells }, (_, k) => k + 1).join();
    }
    if (ranTwice) twice += 1;
    const description = await ctx.client.workflow.getHandle(id).describe();
    const size = historySize(await runHistories(ctx.client, id, description.runId));
    jsonBytes.push(size.jsonBytes);
    if (size.protoBytes !== null) protoBytes.push(size.protoBytes);
  }
  return {
    runs,
    cells,
    submitMs,
    doneMs,
    completed: ended.filter((r) => r?.status === 'completed').length,
    lost: runs - ids.filter((id) => executions.has(id)).length,
    twice,
    cliPeakRssMiB: Math.max(...cli.map((c) => c.rssMiB)),
    cliMedianRssMiB: median(cli.map((c) => c.rssMiB)),
    cliMedianCpuMs: median(cli.map((c) => c.cpuMs)),
    devPeakMiB: Object.fromEntries(Object.entries(memory.groups).map(([name, g]) => [name, g.peakMiB])),
    jupyterPssPeakMiB: memory.groups['jupyter']?.pssPeakMiB ?? 0,
    // The server and the warm process the kernels are forked from; the rest are kernels.
    kernelsAtOnce: Math.max(0, (memory.groups['jupyter']?.maxProcesses ?? 2) - 2),
    historyJsonBytes: { median: median(jsonBytes), max: Math.max(...jsonBytes) },
    historyProtoBytes: protoBytes.length === jsonBytes.length ? { median: median(protoBytes), max: Math.max(...protoBytes) } : null,
  };
}

const s = (ms: number) => `${(ms / 1000).toFixed(3)} s`;

function verdict(value: number, target: number, unit: string, digits = 2): string {
  return `${value.toFixed(digits)}${unit} (target ≤ ${target}${unit}): ${value <= target ? 'met' : `missed by ${(value / target).toFixed(2)}×`}`;
}

export function renderCli(r: CliResults): string {
  const get = (name: string) => r.commands.find((c) => c.name === name)!;
  const lines = [
    '# The CLI as users launch it: whole processes (issue 18)',
    '',
    `${r.startedAt}, ${r.durationS.toFixed(0)} s; ${r.machine.cores} cores (${r.machine.cpuModel}), Node ${r.machine.node}.`,
    `${r.options.bin}, against a warm \`millrace dev\` stack; medians of ${r.options.reps} repetitions; peak RSS is the CLI process's own (GNU time).`,
    '',
    '| command | wall | CPU | peak RSS | samples (ms) |',
    '|---|---|---|---|---|',
    ...r.commands.map((c) => `| \`${c.name}\` | ${s(c.wallMs)} | ${s(c.cpuMs)} | ${c.rssMiB.toFixed(0)} MiB | ${c.samples.join(', ')} |`),
    '',
    `${r.concurrency.runs} concurrent runs of ${r.concurrency.cells} cells of ${r.concurrency.cellSeconds} s:`,
    '',
    '| round | `millrace run` ×N | papermill ×N | `run --detach` ×N: submitted | …all done | peak RSS of one `run` process | its CPU (median) | CPU of dev / Temporal / Jupyter + kernels: `run`s; detached |',
    '|---|---|---|---|---|---|---|---|',
    ...r.concurrency.rounds.map((c, i) => {
      const cpu = (g: Record<string, number>) => ['dev', 'temporal', 'jupyter'].map((k) => ((g[k] ?? 0) / 1000).toFixed(1)).join(' / ');
      const devCpu = c.devCpuMs ? `${cpu(c.devCpuMs.run)} s; ${cpu(c.devCpuMs.detach)} s` : '';
      return `| ${i + 1} | ${(c.runMs / 1000).toFixed(1)} s | ${(c.papermillMs / 1000).toFixed(1)} s | ${(c.detachSubmitMs / 1000).toFixed(1)} s | ${(c.detachDoneMs / 1000).toFixed(1)} s | ${c.runPeakRssMiB.toFixed(0)} MiB | ${s(c.runCpuMs)} | ${devCpu} |`;
    }),
  ];
  const rounds = r.concurrency.rounds;
  const runRatio = median(rounds.map((c) => c.runMs / c.papermillMs));
  const detachRatio = median(rounds.map((c) => c.detachDoneMs / c.papermillMs));
  const targets = [
    ...['--version', '--help', 'run --help'].map((n) => `- \`${n}\`: ${verdict(get(n).wallMs / 1000, 0.1, ' s')}`),
    ...['runs', 'show', 'params', 'run --detach'].map((n) => `- \`${n}\`: ${verdict(get(n).wallMs / 1000, 0.25, ' s')}`),
    `- 100 trivial cells, \`millrace run\` / papermill CLI: ${verdict(get('run, 100 trivial cells').wallMs / get('papermill, 100 trivial cells').wallMs, 0.35, '×')}`,
  ];
  if (rounds.length > 0) {
    targets.push(
      `- ${r.concurrency.runs} concurrent \`millrace run\` / papermill, makespan: ${verdict(runRatio, 0.5, '×')}`,
      `- ${r.concurrency.runs} \`run --detach\` plus waiting / papermill: ${verdict(detachRatio, 0.45, '×')}`,
    );
  }
  const extra: string[] = [];
  if (r.oneShot && r.oneShot.firstCellMs.length > 0) {
    const first = median(r.oneShot.firstCellMs);
    targets.push(`- the embedded one-shot stack, first cell after \`millrace run\` starts: ${verdict(first / 1000, 2.5, ' s')}`);
    extra.push(
      '',
      `The embedded one-shot stack (no \`dev\` in its state directory; 1 trivial cell; after one untimed run created the state directory): first cell after spawning \`millrace run\` ${r.oneShot.firstCellMs.map((ms) => (ms / 1000).toFixed(2)).join(', ')} s (median ${(first / 1000).toFixed(2)} s); whole process ${r.oneShot.wallMs.map((ms) => (ms / 1000).toFixed(2)).join(', ')} s.`,
    );
  }
  if (r.load && r.load.length > 0) {
    const kib = (b: number) => `${(b / 1024).toFixed(1)} KiB`;
    extra.push(
      '',
      `Runs of 10 trivial cells submitted with \`run --detach\` from one shell loop, then waited for (peak RSS: each \`run --detach\` process from GNU time; dev's processes sampled every 100 ms, the sum at one instant; PSS every 500 ms):`,
      '',
      '| runs | submitted | all done | per run | completed / lost / ran twice | `run --detach` peak RSS (median), CPU (median) | dev node / Temporal / Jupyter + kernels, peak RSS | Jupyter + kernels: peak PSS, kernels at once | history per run, JSON (protobuf): median, max |',
      '|---|---|---|---|---|---|---|---|---|',
      ...r.load.map((l) => {
        const proto = l.historyProtoBytes ? ` (${kib(l.historyProtoBytes.median)})` : '';
        const dev = ['dev', 'temporal', 'jupyter'].map((k) => `${(l.devPeakMiB[k] ?? 0).toFixed(0)}`).join(' / ');
        const pss = l.jupyterPssPeakMiB === undefined ? '' : `${l.jupyterPssPeakMiB.toFixed(0)} MiB, ${l.kernelsAtOnce}`;
        return `| ${l.runs} | ${(l.submitMs / 1000).toFixed(1)} s | ${(l.doneMs / 1000).toFixed(1)} s | ${(l.doneMs / l.runs).toFixed(0)} ms | ${l.completed} / ${l.lost} / ${l.twice} | ${l.cliPeakRssMiB.toFixed(0)} MiB (${l.cliMedianRssMiB.toFixed(0)}), ${s(l.cliMedianCpuMs)} | ${dev} MiB | ${pss} | ${kib(l.historyJsonBytes.median)}${proto}, ${kib(l.historyJsonBytes.max)} |`;
      }),
    );
    const [small, large] = [r.load[0]!, r.load.at(-1)!];
    if (large !== small) {
      const grow = (a: number, b: number) => `${(b / a).toFixed(2)}×`;
      extra.push(
        '',
        `From ${small.runs} to ${large.runs} runs (${grow(small.runs, large.runs)} the runs): all done ${grow(small.doneMs, large.doneMs)}, per run ${grow(small.doneMs / small.runs, large.doneMs / large.runs)}; dev's peak ${grow(small.devPeakMiB['dev'] ?? 1, large.devPeakMiB['dev'] ?? 1)}, Temporal's ${grow(small.devPeakMiB['temporal'] ?? 1, large.devPeakMiB['temporal'] ?? 1)}, Jupyter's ${grow(small.devPeakMiB['jupyter'] ?? 1, large.devPeakMiB['jupyter'] ?? 1)}; history per run ${grow(small.historyJsonBytes.median, large.historyJsonBytes.median)}.`,
      );
    }
    for (const l of r.load) {
      const ok = l.completed === l.runs && l.lost === 0 && l.twice === 0;
      targets.push(`- ${l.runs} runs detached from one shell loop: all complete, none lost, none run twice: ${ok ? 'met' : `missed (${l.completed} completed, ${l.lost} lost, ${l.twice} ran twice)`}; makespan ${(l.doneMs / 1000).toFixed(1)} s`);
    }
  }
  return `${[...lines, ...extra, '', '## Targets', '', ...targets].join('\n')}\n`;
}

await main();
