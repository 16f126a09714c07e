/**
 * `millrace dev --no-worker` in one process, `millrace worker` in another, and commands in
 * the same directory attaching to both: the shape of a local multi-shell setup. Then
 * `dev` and its servers under SIGKILL (issue 14 items 5 and 6): its servers die with it,
 * it restarts a server that died, and a foreground `run` that loses Temporal exits 3.
 */
import { KernelAPI } from '@jupyterlab/services';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { serverSettings } from '../../activities/jupyter.js';
import { packageRoot } from '../../worker/paths.js';
import { startTemporalServer, type TemporalServer } from '../../worker/temporal-server.js';
import { codeCell, notebook, runCli, waitFor } from './harness.js';

const children: ChildProcess[] = [];
const dirs: string[] = [];
let dir: string | undefined;
let ownTemporal: TemporalServer | undefined;

afterAll(async () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  await ownTemporal?.stop();
  for (const d of [dir, ...dirs]) if (d) await rm(d, { recursive: true, force: true });
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

// --- dev and its servers under SIGKILL ---------------------------------------------------

/** A fresh project folder with the example notebook, and an environment without a stack. */
async function project(): Promise<{ dir: string; env: NodeJS.ProcessEnv }> {
  const d = await mkdtemp(join(tmpdir(), 'millrace-dev-kill-'));
  dirs.push(d);
  await copyFile(join(packageRoot(), 'examples', 'report.ipynb'), join(d, 'report.ipynb'));
  const env = { ...process.env };
  for (const key of Object.keys(env)) if (key.startsWith('TEMPORAL_') || key.startsWith('MILLRACE_')) delete env[key];
  return { dir: d, env };
}

const READY = 'MILLRACE_JUPYTER_TOKEN_FILE=';

async function devJson(d: string): Promise<{ pid: number; temporalPid: number; jupyterPid: number; jupyterUrl: string; jupyterTokenFile: string }> {
  return JSON.parse(await readFile(join(d, '.millrace', 'dev.json'), 'utf8'));
}

/**
 * Live processes that the `millrace` process `pid` started, and their descendants: the
 * supervisor tags each server with MILLRACE_SUPERVISOR_TAG=<name>-<its pid>-<random>, and
 * kernels inherit it (forked ones show the environment of the warm process they came from).
 */
function startedBy(pid: number): string[] {
  const found: string[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2)[0] === 'Z') continue;
      const environ = readFileSync(`/proc/${name}/environ`, 'latin1').split('\0');
      if (!environ.some((kv) => kv.startsWith('MILLRACE_SUPERVISOR_TAG=') && kv.includes(`-${pid}-`))) continue;
      found.push(`${name}: ${readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').join(' ').slice(0, 120)}`);
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return found;
}

async function detachedRunCompletes(d: string, env: NodeJS.ProcessEnv, id: string): Promise<void> {
  const detached = await runCli(['run', 'report.ipynb', '--detach', '--id', id], env, d);
  expect(detached.code, detached.stderr).toBe(0);
  await waitFor(`run ${id} to complete`, async () => {
    const show = await runCli(['show', id, '--json'], env, d);
    return JSON.parse(show.stdout).status === 'completed' ? true : undefined;
  }, 90_000);
}

it('SIGKILL of dev takes its servers and kernels with it; a second dev, or a second Temporal server on its database, is refused; a stale dev.json is not a running dev', async () => {
  const { dir: d, env } = await project();
  const dev1 = await start(['dev'], d, env, READY);
  const first = await devJson(d);
  // A kernel (forked from the warm process) that nobody shuts down.
  const token = (await readFile(first.jupyterTokenFile, 'utf8')).trim();
  const kernel = await KernelAPI.startNew({ name: 'python3' }, serverSettings({ url: first.jupyterUrl, token }));
  const before = startedBy(first.pid);
  expect(before.some((l) => l.startsWith(`${first.temporalPid}: `)), before.join('\n')).toBe(true);
  expect(before.some((l) => l.startsWith(`${first.jupyterPid}: `)), before.join('\n')).toBe(true);
  expect(before.filter((l) => l.includes('kernel_zygote.py')).length, before.join('\n')).toBeGreaterThanOrEqual(2);
  expect(kernel.id).toBeTruthy();

  // While it runs: a second dev is refused (what dev has always done), and so is a second
  // Temporal server on the same database, naming the holder.
  const second = await runCli(['dev'], env, d);
  expect(second.code).toBe(3);
  expect(second.stderr.trim()).toBe(`millrace: millrace dev is already running here (pid ${first.pid})`);
  await expect(startTemporalServer({ stateDir: join(d, '.millrace') })).rejects.toThrow(
    `${join(d, '.millrace', 'temporal.db')} is in use by another Temporal server (pid ${first.temporalPid}, started by pid ${first.pid}: millrace dev); stop that one first`,
  );

  dev1.child.kill('SIGKILL');
  await waitFor('the servers and kernels of the killed dev to exit', async () => (startedBy(first.pid).length === 0 ? true : undefined), 30_000).catch(() => {
    throw new Error(`still alive after the SIGKILL of dev:\n${startedBy(first.pid).join('\n')}`);
  });

  // dev.json is left behind. Naming a live process (this one) that is not the dev that
  // wrote it (another start time): pid reuse, not a running dev.
  const stale = { ...(await devJson(d)), pid: process.pid, startTime: '1' };
  await writeFile(join(d, '.millrace', 'dev.json'), JSON.stringify(stale));
  const dev2 = await start(['dev'], d, env, READY);
  expect(dev2.output()).not.toContain('already running');
  const run = await runCli(['run', 'report.ipynb', '--json'], env, d);
  expect(run.code, run.stderr).toBe(0);
  expect(JSON.parse(run.stdout).status).toBe('completed');
  const secondPid = (await devJson(d)).pid;
  expect(secondPid).toBe(dev2.child.pid);
  dev2.child.kill('SIGINT');
  expect(await exited(dev2.child)).toBe(0);
  expect(startedBy(secondPid)).toEqual([]);
});

it('dev restarts a Jupyter Server or Temporal server that died, says so, and runs go on', async () => {
  const { dir: d, env } = await project();
  const dev = await start(['dev'], d, env, READY);
  const first = await devJson(d);

  process.kill(first.jupyterPid, 'SIGKILL');
  const jupyterBack = await waitFor('dev to restart Jupyter Server', async () => {
    const now = await devJson(d);
    return now.jupyterPid !== first.jupyterPid ? now : undefined;
  }, 60_000);
  expect(dev.output()).toContain(`millrace dev: Jupyter Server (pid ${first.jupyterPid}) exited (killed by SIGKILL); restarting it in 1 s\n`);
  expect(dev.output()).toContain(`millrace dev: Jupyter Server is back (pid ${jupyterBack.jupyterPid})\n`);
  // Same address and token: workers elsewhere carry on with the settings dev printed.
  expect(jupyterBack.jupyterUrl).toBe(first.jupyterUrl);
  await detachedRunCompletes(d, env, 'after-jupyter');

  process.kill(first.temporalPid, 'SIGKILL');
  const temporalBack = await waitFor('dev to restart the Temporal server', async () => {
    const now = await devJson(d);
    return now.temporalPid !== first.temporalPid ? now : undefined;
  }, 60_000);
  expect(dev.output()).toContain(`millrace dev: the Temporal server (pid ${first.temporalPid}) exited (killed by SIGKILL); restarting it in 1 s\n`);
  expect(dev.output()).toContain(`millrace dev: the Temporal server is back (pid ${temporalBack.temporalPid})\n`);
  await detachedRunCompletes(d, env, 'after-temporal');
  // The run before the restart is still there: same database.
  const shown = await runCli(['show', 'after-jupyter', '--json'], env, d);
  expect(JSON.parse(shown.stdout).status).toBe('completed');

  dev.child.kill('SIGINT');
  expect(await exited(dev.child)).toBe(0);
  expect(startedBy(first.pid)).toEqual([]);
});

it('a foreground run that loses Temporal exits 3, saying the run may go on and how to follow it', async () => {
  const { dir: d, env } = await project();
  ownTemporal = await startTemporalServer({ stateDir: join(d, 'temporal-state') });
  // No worker polls this queue: the run waits until Temporal goes.
  const cliEnv = { ...env, TEMPORAL_ADDRESS: ownTemporal.address, MILLRACE_TASK_QUEUE: 'nobody-polls', MILLRACE_HOME: join(d, '.millrace') };
  const run = runCli(['run', 'report.ipynb', '--id', 'lost-temporal'], cliEnv, d);
  await waitFor('the run to be followed', async () => (run.printed().stderr.includes('run lost-temporal') ? true : undefined), 60_000);
  process.kill(ownTemporal.pid, 'SIGKILL');
  const result = await run;
  expect(result.code, result.stderr).toBe(3);
  expect(result.stderr.trim().split('\n').at(-1)).toBe(
    'millrace: lost the connection to Temporal while following run lost-temporal; the run may still be going: once the stack is back, `millrace show lost-temporal` says how it stands',
  );
});

it('SIGKILL of a foreground run that started its own stack takes the servers with it; the next command starts one cleanly', async () => {
  const { dir: d, env } = await project();
  await writeFile(join(d, 'slow.ipynb'), JSON.stringify(notebook([codeCell('import time\ntime.sleep(60)')])));
  const child = spawn(process.execPath, [join(packageRoot(), 'bin', 'millrace.js'), 'run', 'slow.ipynb', '--id', 'killed-run'], { cwd: d, env, stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(child);
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk));
  await waitFor('the run to be followed', async () => (stderr.includes('run killed-run') ? true : undefined), 90_000);
  await waitFor('its kernel to be running', async () => (startedBy(child.pid!).some((l) => l.includes('kernel_zygote.py')) ? true : undefined), 60_000);
  child.kill('SIGKILL');
  await waitFor('the servers of the killed run to exit', async () => (startedBy(child.pid!).length === 0 ? true : undefined), 30_000).catch(() => {
    throw new Error(`still alive after the SIGKILL of run:\n${startedBy(child.pid!).join('\n')}`);
  });
  // Its lock file and the database are free: the next command starts its own stack.
  const runs = await runCli(['runs', '--json'], env, d);
  expect(runs.code, runs.stderr).toBe(0);
  expect(JSON.parse(runs.stdout).map((r: { run_id: string }) => r.run_id)).toEqual(['killed-run']);
});
