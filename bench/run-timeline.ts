/**
 * What N runs at once wait for: N `millrace run` processes (or `run --detach`) of 20 cells
 * of 0.2 s against a warm `millrace dev`, and for each run, from its command's spawn, when
 * its workflow started, how long its first workflow task waited for a worker and took,
 * its `startKernel`, its first cell's `execute_input`, the gaps between one cell's reply
 * and the next cell's `execute_input`, and its end; with the CPU of each process every
 * 500 ms. A probe for docs/architecture.md ("Twenty runs at once"),
 * not a target: run it under the benchmark lock on a quiet machine.
 *
 *   node dist/bench/run-timeline.js [--runs N] [--cells N] [--detach] [--out FILE]
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../worker/paths.js';
import { runResult } from '../cli/follow-run.js';
import { startTimes } from './history.js';
import { kernelTiming, writeNotebook } from './notebooks.js';
import { killTree } from './papermill.js';
import { machineCpuMs } from './machine.js';
import { descendants, processTable } from './procmem.js';

interface Options {
  runs: number;
  cells: number;
  detach: boolean;
  out?: string;
}

function parseOptions(argv: string[]): Options {
  const options: Options = { runs: 20, cells: 20, detach: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--runs') options.runs = Number(argv[++i]);
    else if (arg === '--cells') options.cells = Number(argv[++i]);
    else if (arg === '--detach') options.detach = true;
    else if (arg === '--out') options.out = argv[++i];
    else throw new Error(`unknown option ${arg}`);
  }
  return options;
}

interface Spawned {
  spawned: number;
  exited: number;
  code: number | null;
  stdout: string;
  stderr: string;
}

function launch(bin: string, args: string[], env: NodeJS.ProcessEnv, cwd: string): Promise<Spawned> {
  const spawned = Date.now();
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [bin, ...args], { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
    child.once('error', fail);
    child.once('close', (code) => done({ spawned, exited: Date.now(), code, stdout, stderr }));
  });
}

interface DevInfo {
  pid: number;
  temporalPid?: number;
  jupyterPid?: number;
  temporalAddress: string;
  namespace: string;
}

/** CPU ms of dev, Temporal, Jupyter Server, its live kernels and the live commands (this process's other children), at one instant. */
function cpuNow(dev: DevInfo): Record<string, number> {
  const table = processTable();
  const parents = new Map([...table].map(([pid, p]) => [pid, p.ppid]));
  const sum = (pids: number[]) => pids.reduce((total, pid) => total + (table.get(pid)?.cpuMs ?? 0), 0);
  const jupyter = dev.jupyterPid ? descendants([dev.jupyterPid], parents) : [];
  return {
    dev: table.get(dev.pid)?.cpuMs ?? 0,
    temporal: dev.temporalPid ? sum(descendants([dev.temporalPid], parents)) : 0,
    jupyter: dev.jupyterPid ? (table.get(dev.jupyterPid)?.cpuMs ?? 0) : 0,
    // Live kernels only: a kernel's CPU is lost from /proc when it exits.
    'live kernels': sum(jupyter.filter((pid) => pid !== dev.jupyterPid)),
    'live commands': sum([...table].filter(([pid, p]) => p.ppid === process.pid && pid !== dev.pid).map(([pid]) => pid)),
    // Every process's, exited ones included: what the burst cost the machine.
    machine: machineCpuMs().busy,
  };
}

const options = parseOptions(process.argv.slice(2));
const root = await mkdtemp(join(tmpdir(), 'millrace-timeline-'));
const env: NodeJS.ProcessEnv = {};
for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('TEMPORAL_') && !key.startsWith('MILLRACE_')) env[key] = value;
env['MILLRACE_HOME'] = join(root, '.millrace');
await mkdir(env['MILLRACE_HOME'], { recursive: true });
const bin = join(packageRoot(), 'bin', 'millrace.js');
const notebook = await writeNotebook(root, 'sleep', options.cells);
const dev = spawn(process.execPath, [bin, 'dev'], { env, cwd: root, stdio: ['ignore', 'ignore', 'inherit'], detached: true });
const devFile = join(env['MILLRACE_HOME'], 'dev.json');
try {
  for (let waited = 0; !existsSync(devFile); waited += 100) {
    if (dev.exitCode !== null || waited > 120_000) throw new Error('millrace dev did not start');
    await new Promise((r) => setTimeout(r, 100));
  }
  const devInfo = JSON.parse(readFileSync(devFile, 'utf8')) as DevInfo;
  // Warm-up: the worker's first run and the kernel pool.
  for (let i = 0; i < 2; i++) await launch(bin, ['run', '--no-progress-bar', notebook], env, root);

  const samples: Array<{ at: number; cpu: Record<string, number> }> = [];
  const sample = () => samples.push({ at: Date.now(), cpu: cpuNow(devInfo) });
  sample();
  const sampler = setInterval(sample, 500);
  const t0 = Date.now();
  const args = options.detach ? ['run', '--detach', '--json', notebook] : ['run', '--no-progress-bar', '--json', notebook];
  const commands = await Promise.all(Array.from({ length: options.runs }, () => launch(bin, args, env, root)));
  const { Client, Connection } = await import('@temporalio/client');
  const connection = await Connection.connect({ address: devInfo.temporalAddress });
  const client = new Client({ connection, namespace: devInfo.namespace });
  const rows = await Promise.all(
    commands.map(async (command) => {
      if (command.code !== 0) throw new Error(`a run exited with ${command.code}: ${command.stderr}`);
      const { run_id: runId } = JSON.parse(command.stdout) as { run_id: string };
      const result = await runResult<{ output: string }>(client.workflow.getHandle(runId));
      const handle = client.workflow.getHandle(runId);
      const ended = options.detach ? ((await handle.describe()).closeTime?.getTime() ?? NaN) : command.exited;
      const start = startTimes(await handle.fetchHistory());
      const cells = (await kernelTiming(result.output)).perCell;
      const gaps = cells.slice(1).map((cell, i) => cell.input - cells[i]!.reply);
      const from = command.spawned;
      return {
        spawn: from - t0,
        workflow: start.workflowStarted - from,
        taskWait: start.firstTask.started - start.firstTask.scheduled,
        firstTask: start.firstTask.completed - start.firstTask.started,
        startKernel: start.startKernel.completed - start.startKernel.scheduled,
        firstCell: cells[0]!.input - from,
        gaps: gaps.reduce((a, b) => a + b, 0),
        maxGap: Math.max(...gaps),
        end: ended - cells.at(-1)!.reply,
        total: ended - t0,
      };
    }),
  );
  clearInterval(sampler);
  sample();
  await connection.close();

  rows.sort((a, b) => a.total - b.total);
  // The machine's CPU from the first spawn to the sample at or after the last run's end.
  const lastEnd = t0 + rows.at(-1)!.total;
  const endSample = samples.find((s) => s.at >= lastEnd) ?? samples.at(-1)!;
  const burstCpuMs = endSample.cpu['machine']! - samples[0]!.cpu['machine']!;
  const columns = ['spawn', 'workflow', 'taskWait', 'firstTask', 'startKernel', 'firstCell', 'gaps', 'maxGap', 'end', 'total'] as const;
  const lines = [
    `# ${options.runs} runs at once (${options.cells} cells of 0.2 s${options.detach ? ', `run --detach`' : ''}), ${new Date(t0).toISOString()}`,
    '',
    'ms per run, sorted by when it ended: spawn (after the first spawn); from the spawn, the workflow started; its first workflow task waited for a worker, then took; `startKernel` scheduled to completed; from the spawn, the first cell\'s `execute_input`; reply-to-next-input gaps, sum and largest; from the last reply to the end (the command\'s exit; with `--detach`, the workflow\'s close); from the first spawn to the end.',
    '',
    `| ${columns.join(' | ')} |`,
    `|${columns.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${columns.map((c) => Math.round(r[c])).join(' | ')} |`),
    '',
    `The machine's CPU from the first spawn to the last end (every process, /proc/stat, to the next 500 ms sample): ${(burstCpuMs / 1000).toFixed(2)} s, ${(burstCpuMs / (endSample.at - samples[0]!.at)).toFixed(2)} cores on average.`,
    '',
    'CPU ms in each 500 ms from the first spawn (kernels and commands while they live: one that exits takes its CPU with it, hence the negative figures):',
    '',
    `| from | ${Object.keys(samples[0]!.cpu).join(' | ')} |`,
    `|---|${Object.keys(samples[0]!.cpu).map(() => '---').join('|')}|`,
    ...samples.slice(1).map((s, i) => {
      const before = samples[i]!.cpu;
      return `| ${((s.at - t0) / 1000).toFixed(1)} s | ${Object.keys(s.cpu).map((k) => Math.round(s.cpu[k]! - before[k]!)).join(' | ')} |`;
    }),
    '',
  ];
  process.stdout.write(lines.join('\n'));
  if (options.out) await writeFile(options.out, lines.join('\n'));
} finally {
  dev.kill('SIGINT');
  await new Promise((r) => (dev.exitCode !== null ? r(undefined) : dev.once('exit', r)));
  if (dev.pid !== undefined) killTree(dev.pid);
  await rm(root, { recursive: true, force: true });
}
