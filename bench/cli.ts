/**
 * How users launch millrace (issue 18): one `bin/millrace.js` process per command, against
 * a warm `millrace dev` stack started here as its own process, side by side with the
 * papermill CLI in the same run:
 *
 *   node dist/bench/cli.js [--reps N] [--concurrency N] [--rounds N (0: none)] [--quick] [--bin PATH] [--out DIR]
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
 *    loads the cores): submit makespan, and until all are done.
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
import { median, writeNotebook } from './notebooks.js';
import { killTree, papermillArgs } from './papermill.js';

interface Options {
  /** The launcher to measure (default this package's bin/millrace.js; another build's, to compare). */
  bin: string;
  reps: number;
  concurrency: number;
  rounds: number;
  out: string;
}

function parseOptions(argv: string[]): Options {
  const options: Options = { bin: join(packageRoot(), 'bin', 'millrace.js'), reps: 5, concurrency: 20, rounds: 2, out: join(packageRoot(), 'bench', 'results') };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const next = () => argv[++i] ?? '';
    if (arg === '--bin') options.bin = resolve(next());
    else if (arg === '--reps') options.reps = Number(next());
    else if (arg === '--concurrency') options.concurrency = Number(next());
    else if (arg === '--rounds') options.rounds = Number(next());
    else if (arg === '--out') options.out = resolve(next());
    else if (arg === '--quick') Object.assign(options, { reps: 1, concurrency: 4, rounds: 1 });
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

async function measured(command: string, args: string[], env: NodeJS.ProcessEnv, cwd: string): Promise<Measured> {
  const timeFile = join(cwd, `.time-${process.pid}-${Math.random().toString(36).slice(2)}`);
  const started = performance.now();
  const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((done, fail) => {
    const child = spawn(TIME, ['-f', '%U %S %M', '-o', timeFile, command, ...args], { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
    child.once('error', fail);
    child.once('exit', (c) => done({ code: c, stdout: out, stderr: err }));
  });
  const wallMs = performance.now() - started;
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
}

export interface CliResults {
  machine: Machine;
  startedAt: string;
  durationS: number;
  options: Options;
  commands: CommandResult[];
  concurrency: { runs: number; cells: number; cellSeconds: number; rounds: ConcurrencyRound[] };
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
    const many = <T>(f: (i: number) => Promise<T>) => Promise.all(Array.from({ length: options.concurrency }, (_, i) => f(i)));
    const makespan = async <T>(f: () => Promise<T>): Promise<[number, T]> => {
      const started = performance.now();
      const value = await f();
      return [performance.now() - started, value];
    };
    for (let round = 0; round < options.rounds; round++) {
      const [runMs, runs] = await makespan(() => many(() => millrace(['run', '--no-progress-bar', sleep20])));
      const [papermillMs, papermills] = await makespan(() =>
        many((i) => measured(venvPython(), papermillArgs(sleep20, join(outputs, `c${round}-${i}.ipynb`)), env, root)),
      );
      const started = performance.now();
      const submitted = await many(() => millrace(['run', '--detach', '--json', sleep20]));
      const detachSubmitMs = performance.now() - started;
      await Promise.all(submitted.map((s) => client.workflow.getHandle((JSON.parse(s.stdout) as { run_id: string }).run_id).result()));
      const detachDoneMs = performance.now() - started;
      rounds.push({
        runMs,
        papermillMs,
        detachSubmitMs,
        detachDoneMs,
        runPeakRssMiB: Math.max(...runs.map((r) => r.rssMiB)),
        runCpuMs: median(runs.map((r) => r.cpuMs)),
        papermillPeakRssMiB: Math.max(...papermills.map((r) => r.rssMiB)),
      });
      log(`  round ${round + 1}: run ${(runMs / 1000).toFixed(1)} s, papermill ${(papermillMs / 1000).toFixed(1)} s, detach+wait ${(detachDoneMs / 1000).toFixed(1)} s`);
    }
    await connection.close();

    const results: CliResults = {
      machine: await describeMachine(),
      startedAt: startedAt.toISOString(),
      durationS: (Date.now() - startedAt.getTime()) / 1000,
      options,
      commands,
      concurrency: { runs: options.concurrency, cells: 20, cellSeconds: 0.2, rounds },
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
    await rm(root, { recursive: true, force: true });
  }
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
    '| round | `millrace run` ×N | papermill ×N | `run --detach` ×N: submitted | …all done | peak RSS of one `run` process | its CPU (median) |',
    '|---|---|---|---|---|---|---|',
    ...r.concurrency.rounds.map(
      (c, i) =>
        `| ${i + 1} | ${(c.runMs / 1000).toFixed(1)} s | ${(c.papermillMs / 1000).toFixed(1)} s | ${(c.detachSubmitMs / 1000).toFixed(1)} s | ${(c.detachDoneMs / 1000).toFixed(1)} s | ${c.runPeakRssMiB.toFixed(0)} MiB | ${s(c.runCpuMs)} |`,
    ),
    '',
    '## Targets',
    '',
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
  return `${[...lines, ...targets].join('\n')}\n`;
}

await main();
