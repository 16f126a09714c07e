/**
 * papermill as its users run it: `python -m papermill -k python3` from the project's
 * virtualenv (papermill 2.7.0), one process per notebook; and papermill inside one Python
 * process (bench/papermill_inprocess.py), which shows its cost without the imports.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { packageRoot, venvPython } from '../worker/paths.js';
import { descendants } from './procmem.js';

export interface ProcessRun {
  wallMs: number;
  output: string;
}

/** Children started here and not yet reaped, killed (with their descendants) on cleanup. */
const live = new Set<ChildProcess>();

export function killTree(pid: number): void {
  for (const p of descendants([pid]).reverse()) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

export function killLiveChildren(): void {
  for (const child of live) if (child.pid !== undefined) killTree(child.pid);
  live.clear();
}

/** Runs a command to completion; rejects with its stderr's tail on a non-zero exit. */
export function runProcess(
  command: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number; onSpawn?: (pid: number) => void } = {},
): Promise<{ wallMs: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-20_000)));
    const timer = setTimeout(() => {
      if (child.pid !== undefined) killTree(child.pid);
    }, options.timeoutMs ?? 900_000);
    child.once('spawn', () => options.onSpawn?.(child.pid!));
    child.once('error', (err) => {
      clearTimeout(timer);
      live.delete(child);
      reject(err);
    });
    child.once('exit', (code, signal) => {
      const wallMs = performance.now() - started;
      clearTimeout(timer);
      live.delete(child);
      // Kernels are in their own session: make sure none outlives its papermill.
      if (child.pid !== undefined) killTree(child.pid);
      if (code === 0) resolve({ wallMs, stdout, stderr });
      else reject(new Error(`${command} ${args.join(' ')} exited with ${code ?? signal}:\n${stderr.split('\n').slice(-15).join('\n')}`));
    });
  });
}

export function papermillArgs(notebook: string, output: string): string[] {
  return ['-m', 'papermill', '-k', 'python3', '--no-progress-bar', notebook, output];
}

/** One `python -m papermill` process, timed from spawn to exit. */
export async function papermillCli(notebook: string, output: string, onSpawn?: (pid: number) => void): Promise<ProcessRun> {
  const { wallMs } = await runProcess(venvPython(), papermillArgs(notebook, output), { onSpawn });
  return { wallMs, output };
}

/** papermill in one long-lived Python process (bench/papermill_inprocess.py), run by request. */
export interface PapermillInProcess {
  importMs: number;
  run(notebook: string, output: string): Promise<ProcessRun>;
  close(): Promise<void>;
}

export async function startPapermillInProcess(): Promise<PapermillInProcess> {
  const child = spawn(venvPython(), [join(packageRoot(), 'bench', 'papermill_inprocess.py')], { stdio: ['pipe', 'pipe', 'pipe'] });
  live.add(child);
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-20_000)));
  const lines: string[] = [];
  const waiting: Array<(line: string) => void> = [];
  let buffered = '';
  child.stdout.on('data', (d: Buffer) => {
    buffered += d.toString();
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      const waiter = waiting.shift();
      if (waiter) waiter(line);
      else lines.push(line);
    }
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const nextLine = () =>
    new Promise<string>((resolve, reject) => {
      const line = lines.shift();
      if (line !== undefined) return resolve(line);
      waiting.push(resolve);
      void exited.then(() => reject(new Error(`papermill in-process helper exited:\n${stderr.split('\n').slice(-15).join('\n')}`)));
    });
  const ready = JSON.parse(await nextLine()) as { ready: boolean; import_s: number };
  return {
    importMs: ready.import_s * 1000,
    async run(notebook, output) {
      child.stdin.write(`${JSON.stringify({ notebook, output })}\n`);
      const answer = JSON.parse(await nextLine()) as { wall_s?: number; error?: string };
      if (answer.error !== undefined || answer.wall_s === undefined) throw new Error(`papermill in-process: ${answer.error}`);
      return { wallMs: answer.wall_s * 1000, output };
    },
    async close() {
      child.stdin.end();
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
      if (child.pid !== undefined) killTree(child.pid);
      live.delete(child);
    },
  };
}

export async function pythonVersions(): Promise<{ python: string; papermill: string; ipykernel: string; jupyterServer: string }> {
  const { stdout } = await runProcess(venvPython(), [
    '-c',
    'import sys, json, importlib.metadata as m; print(json.dumps({"python": sys.version.split()[0], "papermill": m.version("papermill"), "ipykernel": m.version("ipykernel"), "jupyterServer": m.version("jupyter_server")}))',
  ]);
  return JSON.parse(stdout.trim().split('\n').pop()!) as { python: string; papermill: string; ipykernel: string; jupyterServer: string };
}
