/**
 * A one-shot `millrace run --image` (the embedded stack, no `dev`; issue 16): how long after
 * the command is spawned its first cell starts (the cell's iopub.execute_input, kernel
 * clock = host clock), and the whole process, for this build and, alternated with it, for
 * another build's bin/millrace.js (e.g. the base commit's, to see what starting the
 * container while Temporal comes up saves). One untimed run per build first (it creates its
 * state directory's Temporal database). Needs the kernel image scripts/setup.sh builds.
 *
 *   npm run build && node dist/bench/container-one-shot.js [reps=5] [other bin/millrace.js]
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../worker/paths.js';
import { kernelTiming, median, writeNotebook } from './notebooks.js';

const reps = Number(process.argv[2] ?? 5);
const bins: Record<string, string> = { this: join(packageRoot(), 'bin', 'millrace.js') };
if (process.argv[3]) bins['other'] = process.argv[3];
const image = readFileSync(join(process.env['XDG_CACHE_HOME'] ?? join(homedir(), '.cache'), 'millrace', 'containers', 'kernel-image'), 'utf8').trim();

function runOnce(bin: string, env: NodeJS.ProcessEnv, cwd: string, notebook: string): Promise<{ stdout: string; wallMs: number; spawned: number }> {
  const spawned = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, 'run', '--image', image, '--no-progress-bar', '--json', notebook], { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => (code === 0 ? resolve({ stdout, wallMs: Date.now() - spawned, spawned }) : reject(new Error(`exit ${code}: ${stderr}`))));
  });
}

const root = await mkdtemp(join(tmpdir(), 'millrace-bench-oneshot-'));
try {
  const notebook = await writeNotebook(root, 'trivial', 1);
  const results: Record<string, { firstCellMs: number[]; wallMs: number[] }> = {};
  const envs: Record<string, NodeJS.ProcessEnv> = {};
  for (const name of Object.keys(bins)) {
    const home = join(root, name, '.millrace');
    await mkdir(home, { recursive: true });
    envs[name] = { ...process.env, CI: 'true', MILLRACE_HOME: home, MILLRACE_ALLOW_IMAGES: image };
    results[name] = { firstCellMs: [], wallMs: [] };
    await runOnce(bins[name]!, envs[name]!, root, notebook); // creates the Temporal database: untimed
  }
  // Alternated, so the machine's load falls on both alike.
  for (let rep = 0; rep < reps; rep++) {
    for (const [name, bin] of Object.entries(bins)) {
      const m = await runOnce(bin, envs[name]!, root, notebook);
      const timing = await kernelTiming((JSON.parse(m.stdout) as { output: string }).output);
      results[name]!.firstCellMs.push(timing.perCell[0]!.input - m.spawned);
      results[name]!.wallMs.push(m.wallMs);
    }
  }
  for (const [name, r] of Object.entries(results)) {
    const s = (ms: number[]) => ms.map((x) => (x / 1000).toFixed(2)).join(', ');
    console.log(`${name} (${bins[name]}): first cell ${s(r.firstCellMs)} s (median ${(median(r.firstCellMs) / 1000).toFixed(2)}); whole process ${s(r.wallMs)} s (median ${(median(r.wallMs) / 1000).toFixed(2)})`);
  }
} finally {
  await rm(root, { recursive: true, force: true });
}
