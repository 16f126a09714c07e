/**
 * `millrace dev --no-worker` in one process, `millrace worker` in another, and commands in
 * the same directory attaching to both: the shape of a local multi-shell setup.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { packageRoot } from '../../worker/paths.js';
import { runCli } from './harness.js';

const children: ChildProcess[] = [];
let dir: string | undefined;

afterAll(async () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  if (dir) await rm(dir, { recursive: true, force: true });
});

function start(args: string[], cwd: string, env: NodeJS.ProcessEnv, ready: string): Promise<{ child: ChildProcess; output: () => string }> {
  const child = spawn(process.execPath, [join(packageRoot(), 'bin', 'millrace.js'), ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let output = '';
  return new Promise((resolve, reject) => {
    const onData = (d: Buffer) => {
      output += d;
      if (output.includes(ready)) resolve({ child, output: () => output });
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.on('exit', (code) => reject(new Error(`${args[0]} exited (${code}) before "${ready}": ${output}`)));
  });
}

function exited(child: ChildProcess): Promise<number | null> {
  return child.exitCode !== null ? Promise.resolve(child.exitCode) : new Promise((r) => child.once('exit', (code) => r(code)));
}

it('serves runs from other shells through a separate worker, and stops cleanly on Ctrl-C', async () => {
  dir = await mkdtemp(join(tmpdir(), 'millrace-dev-'));
  await copyFile(join(packageRoot(), 'examples', 'report.ipynb'), join(dir, 'report.ipynb'));
  const env = { ...process.env };
  for (const key of Object.keys(env)) if (key.startsWith('TEMPORAL_') || key.startsWith('MILLRACE_')) delete env[key];

  const dev = await start(['dev', '--no-worker'], dir, env, 'MILLRACE_JUPYTER_TOKEN_FILE=');
  expect(dev.output()).toContain('without a worker');
  expect(dev.output()).toMatch(/export TEMPORAL_ADDRESS=127\.0\.0\.1:\d+/);
  const worker = await start(['worker'], dir, env, 'worker polling');

  const run = await runCli(['run', 'report.ipynb', '-p', 'region', 'eu', '--json'], env, dir);
  expect(run.code, run.stderr).toBe(0);
  expect(JSON.parse(run.stdout).status).toBe('completed');

  const detached = await runCli(['run', 'report.ipynb', '--detach', '--id', 'detached-1'], env, dir);
  expect(detached.code, detached.stderr).toBe(0);
  expect(detached.stdout.split('\n')[0]).toBe('detached-1');
  let shown: any;
  for (let i = 0; i < 100 && shown?.status !== 'completed'; i++) {
    const show = await runCli(['show', 'detached-1', '--json'], env, dir);
    shown = JSON.parse(show.stdout);
    if (shown.status !== 'completed') await new Promise((r) => setTimeout(r, 200));
  }
  expect(shown.status).toBe('completed');

  worker.child.kill('SIGTERM');
  expect(await exited(worker.child)).toBe(0);
  dev.child.kill('SIGINT');
  expect(await exited(dev.child)).toBe(0);
  const ps = execFileSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' });
  expect(ps.split('\n').filter((l) => l.includes(join(dir!, '.millrace')))).toEqual([]);
});
