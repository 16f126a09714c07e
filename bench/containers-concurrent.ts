/**
 * 20 concurrent runs, each kernel in its own podman container with a 512 MiB limit,
 * against the same runs on process kernels (issue 16): makespan (first submit to last
 * result) and the peak of the summed resident memory of what runs the kernels, sampled
 * from /proc every 200 ms:
 *
 * - process backend: the Jupyter Server's tree (the server, the warm process kernels are
 *   forked from, the kernels);
 * - container backend: the same tree, which now holds one podman client per kernel (it
 *   stays the kernel's process for Jupyter), and apart, the containers: each conmon with
 *   its descendants (catatonit, the kernel), found by their `millrace-kernel-` name, and
 *   slirp4netns for each kernel's network.
 *
 * The notebook is the main benchmark's concurrency one (bench/run.ts section 3): 20 cells
 * of 0.2 s. Backends alternate for `rounds` rounds, no kernel pool (every run starts its
 * kernel). Needs the image scripts/setup.sh builds. Take the e2e lock on a shared machine.
 *
 *   npm run build && node dist/bench/containers-concurrent.js [--runs 20] [--cells 20] [--rounds 2] [--out bench/results]
 */
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { homedir, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { placementsDir } from '../activities/kernel-placement.js';
import { buildRunInput } from '../cli/submit.js';
import { startStack } from '../worker/stack.js';
import { createWorker } from '../worker/worker.js';
import type { KernelPlacement, RunResult } from '../workflows/contracts.js';
import { describeMachine } from './machine.js';
import { writeNotebook } from './notebooks.js';
import { MemorySampler, type Group } from './procmem.js';

console.debug = () => undefined;
const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '20' },
    cells: { type: 'string', default: '20' },
    rounds: { type: 'string', default: '2' },
    memory: { type: 'string', default: '512m' },
    out: { type: 'string', default: join('bench', 'results') },
  },
});
const runs = Number(args.runs);
const cells = Number(args.cells);
const rounds = Number(args.rounds);
const image = readFileSync(join(process.env['XDG_CACHE_HOME'] ?? join(homedir(), '.cache'), 'millrace', 'containers', 'kernel-image'), 'utf8').trim();

/** Pids of processes whose command line matches, read from /proc at each sample. */
function pidsMatching(test: (argv: string[]) => boolean): number[] {
  const out: number[] = [];
  for (const entry of readdirProc()) {
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (test(argv)) out.push(Number(entry));
    } catch {
      // gone
    }
  }
  return out;
}

function readdirProc(): string[] {
  return readdirSync('/proc').filter((e) => /^\d+$/.test(e));
}

interface RoundResult {
  backend: 'process' | 'container';
  makespanS: number;
  completed: number;
  /** Peak of each group's summed RSS at one instant, MiB, and the most processes seen in it. */
  memory: Record<string, { peakMiB: number; maxProcesses: number }>;
  totalPeakMiB: number;
  /** The Jupyter Server's tree before the round, with no kernel: part of every peak. */
  idleJupyterMiB: number;
  load1: [number, number];
}

const temp = await mkdtemp(join(tmpdir(), 'millrace-bench-containers-'));
const stateDir = join(temp, 'state');
const stack = await startStack({ stateDir });
const taskQueue = 'bench-containers';
const worker = await createWorker({
  temporalAddress: stack.temporalAddress,
  namespace: stack.namespace,
  taskQueue,
  jupyter: stack.jupyter,
  kernelPool: 0,
  maxConcurrentRuns: runs,
  allow: { images: [image] },
  placementsDir: placementsDir(stateDir),
  warn: (line) => console.error(`warning: ${line}`),
});
const running = worker.run();
const connection = await Connection.connect({ address: stack.temporalAddress });
const client = new Client({ connection, namespace: stack.namespace });
const config = { namespace: stack.namespace, taskQueue, stateDir, storeRoot: join(stateDir, 'store') };
const notebook = await writeNotebook(temp, 'sleep', cells);

async function runOne(placement: KernelPlacement | undefined): Promise<RunResult> {
  const input = await buildRunInput(config, { notebookPath: notebook, params: {}, ...(placement ? { placement } : {}) });
  const handle = await client.workflow.start('notebookRun', { taskQueue, workflowId: input.runId, args: [input] });
  return (await handle.result()) as RunResult;
}

async function round(backend: 'process' | 'container'): Promise<RoundResult> {
  const jupyterPid = stack.jupyterServer.pid;
  const groups: Record<string, Group> =
    backend === 'process'
      ? { jupyter: { roots: () => [jupyterPid] } }
      : {
          'jupyter (with podman clients)': { roots: () => [jupyterPid] },
          containers: { roots: () => pidsMatching((argv) => /conmon$/.test(argv[0] ?? '') && argv.some((a) => a.startsWith('millrace-kernel-'))) },
          slirp4netns: { roots: () => pidsMatching((argv) => /slirp4netns$/.test(argv[0] ?? '')), tree: false },
        };
  const load1Start = loadavg()[0]!;
  // What the Jupyter Server's tree holds with no kernel (the server, the warm process).
  const idle = new MemorySampler({ jupyter: { roots: () => [jupyterPid] } }).stop().groups['jupyter']!.peakMiB;
  const sampler = new MemorySampler(groups, 200).start();
  const t0 = performance.now();
  const placement = backend === 'container' ? { image, memory: args.memory } : undefined;
  const results = await Promise.all(Array.from({ length: runs }, () => runOne(placement).catch((err: Error) => ({ status: `error: ${err.message}` }) as unknown as RunResult)));
  const makespanS = (performance.now() - t0) / 1000;
  const memory = sampler.stop();
  const completed = results.filter((r) => r.status === 'completed').length;
  const round2 = (n: number) => Math.round(n * 10) / 10;
  console.log(`${backend}: ${completed}/${runs} completed in ${makespanS.toFixed(1)} s; peak ${round2(memory.totalPeakMiB)} MiB`);
  return {
    backend,
    makespanS: round2(makespanS),
    completed,
    memory: Object.fromEntries(Object.entries(memory.groups).map(([k, v]) => [k, { peakMiB: round2(v.peakMiB), maxProcesses: v.maxProcesses }])),
    totalPeakMiB: round2(memory.totalPeakMiB),
    idleJupyterMiB: round2(idle),
    load1: [round2(load1Start), round2(loadavg()[0]!)],
  };
}

/** Waits until no kernel container of this stack is left (the previous round's removals). */
async function settle(): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (pidsMatching((argv) => /conmon$/.test(argv[0] ?? '') && argv.some((a) => a.startsWith('millrace-kernel-'))).length === 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  await new Promise((r) => setTimeout(r, 2000));
}

const results: RoundResult[] = [];
try {
  // One run of each first: the image's and the server's caches warm, as on a worker that has run before.
  await runOne(undefined);
  await runOne({ image, memory: args.memory });
  for (let i = 0; i < rounds; i++) {
    for (const backend of ['process', 'container'] as const) {
      await settle();
      results.push(await round(backend));
    }
  }
} finally {
  worker.worker.shutdown();
  await running;
  await connection.close();
  await stack.stop();
  await rm(temp, { recursive: true, force: true });
}

const machine = await describeMachine();
const mean = (xs: number[]) => Math.round((xs.reduce((a, b) => a + b, 0) / xs.length) * 10) / 10;
const of = (backend: string) => results.filter((r) => r.backend === backend);
const summary = {
  processMakespanS: mean(of('process').map((r) => r.makespanS)),
  containerMakespanS: mean(of('container').map((r) => r.makespanS)),
  processPeakMiB: mean(of('process').map((r) => r.totalPeakMiB)),
  containerPeakMiB: mean(of('container').map((r) => r.totalPeakMiB)),
};
const out = args.out;
await mkdir(out, { recursive: true });
await writeFile(join(out, 'containers-concurrent.json'), JSON.stringify({ date: new Date().toISOString(), runs, cells, cellSeconds: 0.2, memoryLimit: args.memory, image, machine, summary, rounds: results }, null, 2) + '\n');
const groupText = (r: RoundResult) => Object.entries(r.memory).map(([k, v]) => `${k} ${v.peakMiB} MiB (${v.maxProcesses} processes)`).join('; ');
const md = `# ${runs} concurrent runs: container kernels (${args.memory} each) against process kernels

${new Date().toISOString().slice(0, 10)}, \`node dist/bench/containers-concurrent.js\` (bench/containers-concurrent.ts): ${runs} runs submitted at once to one worker
(no kernel pool), each a notebook of ${cells} cells of \`time.sleep(0.2)\`; backends alternated, ${rounds} round(s) each. Memory: the peak of the
summed resident memory (RSS, sampled every 200 ms) of what runs the kernels. The machine was shared with other sessions' builds and
tests (load1 in the table): timings are noisy, take the ratios.

Machine: ${machine.cpuModel}, ${machine.cores} cores, ${machine.memoryGiB} GiB; ${machine.os}; image ${image}.

| round | backend | completed | makespan | peak memory | of which idle server | load1 start→end | memory by group |
|---:|---|---:|---:|---:|---:|---|---|
${results.map((r, i) => `| ${Math.floor(i / 2) + 1} | ${r.backend} | ${r.completed}/${runs} | ${r.makespanS} s | ${r.totalPeakMiB} MiB | ${r.idleJupyterMiB} MiB | ${r.load1[0]}→${r.load1[1]} | ${groupText(r)} |`).join('\n')}

Means: makespan ${summary.processMakespanS} s (process) against ${summary.containerMakespanS} s (container), ${(summary.containerMakespanS / summary.processMakespanS).toFixed(2)}×;
peak memory ${summary.processPeakMiB} MiB against ${summary.containerPeakMiB} MiB, ${(summary.containerPeakMiB / summary.processPeakMiB).toFixed(2)}×.
`;
await writeFile(join(out, 'containers-concurrent.md'), md);
console.log(md);
