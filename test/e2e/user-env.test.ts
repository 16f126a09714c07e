/**
 * The user's environment on the embedded stack: the kernels their own Jupyter would list
 * are the kernels `run --kernel` offers, and `python3` is their Python. One virtualenv,
 * made with the machine's python3 and the ipykernel of requirements.txt plus a package
 * millrace's private venv lacks (tabulate), serves every test here.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot, venvPython } from '../../worker/paths.js';
import { codeCell, notebook, runCli } from './harness.js';

const exec = promisify(execFile);

/** Not in requirements.txt: importable only from the user's virtualenv. */
const USER_PACKAGE = 'tabulate==0.9.0';

let dir: string;
let venv: string;
let nbPath: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'millrace-user-env-'));
  venv = join(dir, 'venv');
  const requirements = await readFile(join(packageRoot(), 'requirements.txt'), 'utf8');
  const ipykernel = /^ipykernel==\S+$/m.exec(requirements)?.[0];
  if (!ipykernel) throw new Error('requirements.txt pins no ipykernel');
  await exec('python3', ['-m', 'venv', venv]);
  await exec(join(venv, 'bin', 'python'), ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', ipykernel, USER_PACKAGE], {
    maxBuffer: 16 * 1024 * 1024,
  });
  await mkdir(join(dir, 'empty-bin'));
  nbPath = join(dir, 'uses-tabulate.ipynb');
  await writeFile(nbPath, JSON.stringify(notebook([codeCell('import sys, tabulate\nprint(tabulate.__version__, sys.executable)')])));
}, 300_000);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** The CLI on the embedded stack, in a shell where nothing of the test's own environment leaks in. */
function shellEnv(home: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, MILLRACE_HOME: home };
  for (const key of ['TEMPORAL_ADDRESS', 'MILLRACE_STORE', 'MILLRACE_TASK_QUEUE', 'VIRTUAL_ENV', 'CONDA_PREFIX', 'JUPYTER_PATH', 'JUPYTER_DATA_DIR']) {
    delete env[key];
  }
  // A Jupyter data dir of the test's own, so the machine's ~/.local/share/jupyter does not count,
  // and a PATH without the machine's Pythons (node runs by its absolute path).
  env['JUPYTER_DATA_DIR'] = join(dir, 'jupyter-data');
  env['PATH'] = join(dir, 'empty-bin');
  return { ...env, ...extra };
}

/** `source venv/bin/activate`. */
function activated(home: string): NodeJS.ProcessEnv {
  return shellEnv(home, { VIRTUAL_ENV: venv, PATH: join(venv, 'bin') });
}

async function stdoutOf(output: string): Promise<string> {
  const nb = JSON.parse(await readFile(output, 'utf8'));
  return nb.cells[0].outputs.map((o: any) => (Array.isArray(o.text) ? o.text.join('') : o.text)).join('');
}

describe('python3 is the active virtualenv\'s Python', () => {
  it('runs a notebook importing a package only the virtualenv has, in a kernel of its interpreter (launched, not forked)', async () => {
    const home = join(dir, 'state-venv');
    const r = await runCli(['run', nbPath, '--json'], activated(home), dir);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    // A forked kernel would report the Jupyter Server's interpreter (millrace's venv).
    expect((await stdoutOf(out.output)).trim()).toBe(`0.9.0 ${join(venv, 'bin', 'python')}`);
  });

  it('`millrace kernels` lists python3 and the virtualenv\'s own kernelspecs with where they come from, starting nothing; `run --kernel` takes them', async () => {
    // `python -m ipykernel install --sys-prefix`: into the virtualenv's share/jupyter.
    await exec(join(venv, 'bin', 'python'), ['-m', 'ipykernel', 'install', '--sys-prefix', '--name', 'in-venv', '--display-name', 'In venv']);
    const home = join(dir, 'state-kernels');
    const r = await runCli(['kernels', '--json'], activated(home), dir);
    expect(r.code, r.stderr).toBe(0);
    const venvPythonPath = join(venv, 'bin', 'python');
    const listed = JSON.parse(r.stdout);
    expect(listed).toHaveLength(2);
    expect(listed[0]).toMatchObject({
      name: 'in-venv',
      display_name: 'In venv',
      language: 'python',
      source: `virtualenv ${venv}`,
      dir: join(venv, 'share', 'jupyter', 'kernels', 'in-venv'),
      default: false,
    });
    expect(listed[0].argv[0]).toBe(venvPythonPath); // ipykernel writes its own flags after it
    expect(listed[1]).toEqual({
      name: 'python3',
      display_name: 'Python 3 (ipykernel)',
      language: 'python',
      source: `your Python (virtualenv ${venv})`,
      dir: join(home, 'jupyter-kernels', 'python3'),
      argv: [venvPythonPath, '-m', 'ipykernel_launcher', '-f', '{connection_file}'],
      default: true,
    });
    expect(existsSync(home)).toBe(false);
    const text = await runCli(['kernels'], activated(home), dir);
    expect(text.stdout.split('\n')[0]).toMatch(/^NAME +DISPLAY NAME +LANGUAGE +FROM +WHERE$/);
    expect(text.stdout).toMatch(new RegExp(`^python3 \\(default\\) +Python 3 \\(ipykernel\\) +python +your Python \\(virtualenv ${venv}\\) +${venvPythonPath}$`, 'm'));
    expect(text.stdout).toMatch(new RegExp(`^in-venv +In venv +python +virtualenv ${venv} +${venv}/share/jupyter/kernels/in-venv$`, 'm'));

    const run = await runCli(['run', nbPath, '--kernel', 'in-venv', '--json'], activated(home), dir);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect((await stdoutOf(JSON.parse(run.stdout).output)).trim()).toBe(`0.9.0 ${venvPythonPath}`);
  });

  it('--checkpoint in a virtualenv without dill fails the run with the one-line reason', async () => {
    const home = join(dir, 'state-checkpoint');
    const r = await runCli(['run', nbPath, '--checkpoint'], activated(home), dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      "failed: --checkpoint needs dill in the kernel's Python environment (ModuleNotFoundError: No module named 'dill'): install it there or run without --checkpoint",
    );
  });
});

describe('a python3 on PATH that is slow to answer (a pyenv shim)', () => {
  it('Jupyter Server starts while it is probed, and the run\'s kernel waits for its kernelspec', async () => {
    // Sleeps 2 s before each start, then notes when that start ended.
    const slowBin = join(dir, 'slow-bin');
    const ends = join(dir, 'slow-python3-ends');
    await mkdir(slowBin);
    const slow = join(slowBin, 'python3');
    await writeFile(slow, `#!/bin/sh\n/bin/sleep 2\n${join(venv, 'bin', 'python')} "$@"\nstatus=$?\n/bin/date +%s.%N >> ${ends}\nexit $status\n`, { mode: 0o755 });
    const home = join(dir, 'state-slow-python');
    const r = await runCli(['run', nbPath, '--json'], shellEnv(home, { PATH: slowBin }), dir);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    // The kernel ran the probed interpreter: its kernelspec was written before the kernel started.
    expect((await stdoutOf(JSON.parse(r.stdout).output)).trim()).toBe(`0.9.0 ${join(venv, 'bin', 'python')}`);
    const probeEnded = Number((await readFile(ends, 'utf8')).split('\n')[0]) * 1000;
    const spawnLine = /^--- (\S+) jupyter: /m.exec(await readFile(join(home, 'logs', 'jupyter.log'), 'utf8'));
    expect(spawnLine).not.toBeNull();
    // Spawned at once, not after the probe's 2 s.
    expect(Date.parse(spawnLine![1]!)).toBeLessThan(probeEnded - 1_000);
  });
});

describe('an active virtualenv without ipykernel', () => {
  it('python3 falls back to millrace\'s Python, and `run` and `kernels` say why', async () => {
    const bare = join(dir, 'bare-venv');
    await exec('python3', ['-m', 'venv', '--without-pip', bare]);
    const home = join(dir, 'state-bare');
    const env = shellEnv(home, { VIRTUAL_ENV: bare, PATH: join(bare, 'bin') });
    const note = `note: python3 is millrace's own Python, without your packages (${join(bare, 'bin', 'python')}: no ipykernel; ${join(bare, 'bin', 'python3')}: no ipykernel); pip install "ipykernel>=6" into your environment to run notebooks in it`;
    const listed = await runCli(['kernels'], env, dir);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toMatch(/^python3 \(default\) +Python 3 \(ipykernel\) +python +millrace's Python +/m);
    expect(listed.stderr.trim()).toBe(note);

    const r = await runCli(['run', nbPath], env, dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(note);
    expect(r.stderr).toContain("ModuleNotFoundError: No module named 'tabulate'");
  });
});

describe('`millrace kernels` where runs may not use this shell\'s kernels', () => {
  it('notes TEMPORAL_ADDRESS and a running `millrace dev`, contacting neither', async () => {
    const home = join(dir, 'state-elsewhere');
    const cluster = await runCli(['kernels'], shellEnv(home, { TEMPORAL_ADDRESS: '127.0.0.1:1' }), dir);
    expect(cluster.code, cluster.stderr).toBe(0);
    expect(cluster.stderr.trim()).toBe('note: with TEMPORAL_ADDRESS set, runs go to `millrace worker` processes, whose Jupyter Servers offer their own kernels');
    // A dev.json naming a live process (this one) is a running `millrace dev`.
    await mkdir(home, { recursive: true });
    const devFile = { pid: process.pid, temporalAddress: '127.0.0.1:1', namespace: 'default', taskQueue: 'q', jupyterUrl: 'http://127.0.0.1:1', jupyterTokenFile: 'x', worker: true };
    await writeFile(join(home, 'dev.json'), JSON.stringify(devFile));
    const dev = await runCli(['kernels'], shellEnv(home), dir);
    expect(dev.code, dev.stderr).toBe(0);
    expect(dev.stderr.trim()).toBe(`note: \`millrace dev\` (pid ${process.pid}) runs here and offers the kernels of the shell it started in: restart it after changing them`);
  });
});

describe('kernelspecs the user installed', () => {
  it('`python -m ipykernel install --prefix` on JUPYTER_PATH: listed by `millrace kernels` and run by `run --kernel myenv`', async () => {
    const prefix = join(dir, 'prefix');
    await exec(join(venv, 'bin', 'python'), ['-m', 'ipykernel', 'install', '--prefix', prefix, '--name', 'myenv', '--display-name', 'My env']);
    const home = join(dir, 'state-myenv');
    // No virtualenv active and no Python with ipykernel on PATH: python3 is millrace's own.
    const env = shellEnv(home, { JUPYTER_PATH: join(prefix, 'share', 'jupyter') });
    const listed = await runCli(['kernels', '--json'], env, dir);
    expect(listed.code, listed.stderr).toBe(0);
    const kernels = JSON.parse(listed.stdout);
    expect(kernels.map((k: any) => [k.name, k.display_name, k.source, k.dir, k.default])).toEqual([
      ['myenv', 'My env', 'JUPYTER_PATH', join(prefix, 'share', 'jupyter', 'kernels', 'myenv'), false],
      ['python3', 'Python 3 (ipykernel)', "millrace's Python", join(home, 'jupyter-kernels', 'python3'), true],
    ]);
    expect(kernels[1].argv[0]).toBe(venvPython());

    const r = await runCli(['run', nbPath, '--kernel', 'myenv', '--json'], env, dir);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect((await stdoutOf(out.output)).trim()).toBe(`0.9.0 ${join(venv, 'bin', 'python')}`);

    // The default kernel is millrace's venv, which lacks the package.
    const fallback = await runCli(['run', nbPath, '--json'], env, dir);
    expect(fallback.code).toBe(1);
    expect(JSON.parse(fallback.stdout).error).toMatchObject({ ename: 'ModuleNotFoundError', evalue: "No module named 'tabulate'" });
  });

  it('a kernelspec in the Jupyter data dir is offered; an unknown name lists what is', async () => {
    const dataKernel = join(dir, 'jupyter-data', 'kernels', 'datadir-env');
    await mkdir(dataKernel, { recursive: true });
    await writeFile(
      join(dataKernel, 'kernel.json'),
      JSON.stringify({ argv: [join(venv, 'bin', 'python'), '-m', 'ipykernel_launcher', '-f', '{connection_file}'], display_name: 'Data dir env', language: 'python' }),
    );
    const home = join(dir, 'state-datadir');
    const env = shellEnv(home);
    const r = await runCli(['run', nbPath, '--kernel', 'no-such'], env, dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('no kernel named "no-such"; available: datadir-env, python3 (choose one with --kernel)');
    await rm(dataKernel, { recursive: true, force: true });
  });
});
