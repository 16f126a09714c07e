/**
 * What a notebook can reach of the stack's secrets (issue 14, item 3), against a real
 * `millrace dev` started under umask 022 with store and Temporal credentials in its
 * environment: kernels see only the allow-listed variables (and what --kernel-env or
 * MILLRACE_KERNEL_ENV adds), the warm process they fork from holds no secret either, and
 * the state directory's files are private to the worker's user. As root, with
 * --kernel-user, a user this file creates: the kernel reads none of the state directory,
 * the store or the worker's processes, and cannot overwrite another run's record.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot, temporalBinary, venvDir } from '../../worker/paths.js';
import { codeCell, notebook, runCli, streamText, type NotebookJson } from './harness.js';

const children: ChildProcess[] = [];
let dir: string;
let state: string;

function startDev(args: string[], env: NodeJS.ProcessEnv): Promise<{ child: ChildProcess; output: () => string }> {
  return startDevIn(dir, args, env);
}

function startDevIn(cwd: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ child: ChildProcess; output: () => string }> {
  // Files the stack creates must be private whatever the umask: start it under the usual one.
  const command = ['/bin/sh', '-c', 'umask 022 && exec "$@"', 'sh', process.execPath, join(packageRoot(), 'bin', 'millrace.js'), 'dev', ...args];
  const child = spawn(command[0]!, command.slice(1), { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let output = '';
  return new Promise((resolve, reject) => {
    const onData = (d: Buffer) => {
      output += d;
      if (output.includes('MILLRACE_JUPYTER_TOKEN_FILE=')) resolve({ child, output: () => output });
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.on('exit', (code) => reject(new Error(`dev exited (${code}) before it was ready: ${output}`)));
  });
}

async function stopDev(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGINT');
  await exited;
}

function baseEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const key of Object.keys(env)) if (/^(TEMPORAL_|MILLRACE_|AWS_)/.test(key)) delete env[key];
  return env;
}

/**
 * The probe: tries each way a notebook could reach a secret and prints what it got, as
 * JSON. `other` is another run's record, `creds` a store credentials file; `write` says
 * whether to try overwriting the record (only where that must fail).
 */
const PROBE = `
import json, os
def attempt(f):
    try:
        return {"ok": True, "value": f()}
    except Exception as e:
        return {"ok": False, "error": type(e).__name__}
def read(path):
    with open(path, "rb") as fh:
        return fh.read(1 << 20).decode("latin1")
def overwrite(path):
    with open(path, "w") as fh:
        fh.write("{}")
    return "overwritten"
def ancestors():
    pids, pid = [], os.getpid()
    while True:
        stat = read(f"/proc/{pid}/stat")
        pid = int(stat[stat.rindex(")") + 2:].split()[1])
        if pid <= 1:
            return pids
        pids.append(pid)
runtime = os.path.join(state, "jupyter-runtime")
print(json.dumps({
    "environ": dict(os.environ),
    "self_environ": attempt(lambda: read("/proc/self/environ")),
    "ancestors": {str(pid): attempt(lambda: read(f"/proc/{pid}/environ")) for pid in ancestors()},
    "secret_key": attempt(lambda: read(os.path.join(state, "secret.key"))),
    "temporal_db": attempt(lambda: read(os.path.join(state, "temporal.db"))[:16]),
    "token_file": attempt(lambda: read(os.path.join(state, "jupyter-token"))),
    "dev_json": attempt(lambda: read(os.path.join(state, "dev.json"))),
    "runtime": attempt(lambda: [read(os.path.join(runtime, f)) for f in os.listdir(runtime)]),
    "store_listing": attempt(lambda: os.listdir(os.path.join(state, "store", "runs"))),
    "other_record": attempt(lambda: overwrite(other) if write else read(other)[:16]),
    "store_credentials": attempt(lambda: read(creds)),
}))
`;

function probeNotebook(): NotebookJson {
  return notebook([codeCell('state = ""\nother = ""\ncreds = ""\nwrite = False', ['parameters']), codeCell(PROBE)]);
}

interface Attempt {
  ok: boolean;
  value?: unknown;
  error?: string;
}
interface Probe {
  environ: Record<string, string>;
  self_environ: Attempt;
  ancestors: Record<string, Attempt>;
  [file: string]: unknown;
}

async function runProbe(env: NodeJS.ProcessEnv, params: Record<string, string>, cwd = dir, from = dir): Promise<Probe> {
  const args = Object.entries(params).flatMap(([k, v]) => ['-p', k, v]);
  const r = await runCli(['run', 'probe.ipynb', '--json', ...args, '--cwd', cwd], env, from);
  expect(r.code, r.stderr).toBe(0);
  const record = JSON.parse(readFileSync(JSON.parse(r.stdout).output, 'utf8')) as NotebookJson;
  return JSON.parse(streamText(record.cells[2]!)) as Probe;
}

function mode(path: string): string {
  return (statSync(path).mode & 0o777).toString(8);
}

/** Every folder and file under `root`, with its mode. */
function modesUnder(root: string): Array<[string, string]> {
  const out: Array<[string, string]> = [[root, mode(root)]];
  for (const entry of readdirSync(root, { withFileTypes: true, recursive: true })) {
    const path = join(entry.parentPath, entry.name);
    out.push([path, mode(path)]);
  }
  return out;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'millrace-secrets-'));
  state = join(dir, '.millrace');
  await writeFile(join(dir, 'probe.ipynb'), JSON.stringify(probeNotebook()));
  await writeFile(join(dir, 'plain.ipynb'), JSON.stringify(notebook([codeCell('print("a record of my own")')])));
});

afterAll(async () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  await rm(dir, { recursive: true, force: true });
});

describe('by default, as the worker user', () => {
  const secrets = {
    AWS_ACCESS_KEY_ID: `AKIA${randomBytes(6).toString('hex').toUpperCase()}`,
    AWS_SECRET_ACCESS_KEY: randomBytes(18).toString('base64url'),
    MILLRACE_STORE_ACCESS_KEY_ID: `STORE${randomBytes(6).toString('hex').toUpperCase()}`,
    MILLRACE_STORE_SECRET_ACCESS_KEY: randomBytes(18).toString('base64url'),
    TEMPORAL_TLS_CLIENT_KEY_DATA: randomBytes(18).toString('base64url'),
  };
  let env: NodeJS.ProcessEnv;
  let dev: { child: ChildProcess; output: () => string };

  beforeAll(async () => {
    // A state directory made by an older version under umask 022: tightened when the stack starts.
    await mkdir(state, { mode: 0o755 });
    env = { ...baseEnv(), ...secrets, MILLRACE_KERNEL_ENV: 'FROM_CONFIG', FROM_CONFIG: 'config-value', DB_HOST: 'db.internal', DB_PASSWORD: 'db-pass', NOT_ALLOWED: 'nope' };
    dev = await startDev(['--kernel-env', 'DB_*'], env);
  });

  afterAll(async () => {
    await stopDev(dev.child);
  });

  it('refuses a --kernel-env that is not a name or a glob of one, in one line (exit 2)', async () => {
    const r = await runCli(['dev', '--kernel-env', 'DB=1'], env, dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('millrace: --kernel-env: "DB=1" is not a variable name or a glob of one (letters, digits, _, * and ?)\n');
  });

  it("kernels see the allow-list and the operator's additions, never the store's, Temporal's or Jupyter's secrets", async () => {
    const created = await runCli(['schedule', 'create', 'hourly', 'plain.ipynb', '--every', '1h', '--paused', '--notify-webhook', 'https://hooks.example/T0/B0/s3cr3t'], env, dir);
    expect(created.code, created.stderr).toBe(0);
    const probe = await runProbe(env, { state });
    const token = readFileSync(join(state, 'jupyter-token'), 'utf8').trim();
    const devPid = String(JSON.parse(readFileSync(join(state, 'dev.json'), 'utf8')).pid);
    const forbidden = [...Object.values(secrets), token];

    expect(Object.keys(probe.environ).filter((k) => /^(AWS_|MILLRACE_|TEMPORAL_|JUPYTER_TOKEN)/.test(k) && !['MILLRACE_SUPERVISOR_TAG', 'MILLRACE_KERNELSPEC_DIR'].includes(k))).toEqual([]);
    expect(probe.environ).toMatchObject({ FROM_CONFIG: 'config-value', DB_HOST: 'db.internal', DB_PASSWORD: 'db-pass' });
    expect(probe.environ['NOT_ALLOWED']).toBeUndefined();
    expect(probe.environ['PATH']).toBe(env['PATH']);
    const environText = JSON.stringify(probe.environ);
    expect(probe.self_environ.ok).toBe(true);
    for (const secret of forbidden) {
      expect(environText.includes(secret), 'a secret in os.environ').toBe(false);
      expect(String(probe.self_environ.value).includes(secret), 'a secret in /proc/self/environ').toBe(false);
    }
    // The processes between the kernel and the worker (the warm process it was forked
    // from, the Jupyter Server) hold no store or Temporal credentials either; the
    // worker's own environment is out of reach only for another user (--kernel-user).
    const between = Object.entries(probe.ancestors).filter(([pid]) => pid !== devPid);
    expect(between.length).toBeGreaterThan(0);
    for (const [pid, seen] of between) {
      for (const secret of Object.values(secrets)) expect(String(seen.value ?? '').includes(secret), `a secret in /proc/${pid}/environ`).toBe(false);
    }
  });

  it('keeps the state directory 0700 and its files 0600 under umask 022, and the local store 0700/0600', async () => {
    const plain = await runCli(['run', 'plain.ipynb', '--json'], env, dir);
    expect(plain.code, plain.stderr).toBe(0);
    expect(mode(state)).toBe('700');
    for (const file of ['temporal.db', 'temporal.db-wal', 'temporal.db-shm', 'secret.key', 'dev.json', 'jupyter-token']) {
      if (file.endsWith('-wal') || file.endsWith('-shm')) {
        if (!existsSync(join(state, file))) continue;
      }
      expect(`${file} ${mode(join(state, file))}`).toBe(`${file} 600`);
    }
    expect(mode(join(state, 'logs'))).toBe('700');
    const store = modesUnder(join(state, 'store'));
    expect(store.filter(([path]) => path.endsWith('.ipynb')).length).toBeGreaterThan(1);
    for (const [path, m] of store) expect(`${path} ${m}`).toBe(`${path} ${statSync(path).isDirectory() ? '700' : '600'}`);
  });
});

const IS_ROOT = process.getuid?.() === 0;

describe(IS_ROOT ? 'as root (this machine): --kernel-user runs kernels as a user of their own' : 'not root: --kernel-user is refused', () => {
  it.runIf(!IS_ROOT)('refuses --kernel-user in one line when not root (exit 2)', async () => {
    const r = await runCli(['dev', '--kernel-user', 'nobody'], baseEnv(), dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^millrace: --kernel-user needs root \(millrace runs as uid \d+\)/);
  });

  const user = `mrk${randomBytes(3).toString('hex')}`;
  const home = join(tmpdir(), `millrace-home-${user}`);
  let kdir: string;
  let kstate: string;
  let env: NodeJS.ProcessEnv;
  let dev: { child: ChildProcess; output: () => string } | undefined;
  const secrets = {
    AWS_ACCESS_KEY_ID: `AKIA${randomBytes(6).toString('hex').toUpperCase()}`,
    AWS_SECRET_ACCESS_KEY: randomBytes(18).toString('base64url'),
    MILLRACE_STORE_SECRET_ACCESS_KEY: randomBytes(18).toString('base64url'),
  };

  beforeAll(async () => {
    if (!IS_ROOT) return;
    kdir = await mkdtemp(join(tmpdir(), 'millrace-kuser-'));
    await chmod(kdir, 0o755);
    kstate = join(kdir, '.millrace');
    execFileSync('useradd', ['--create-home', '--home-dir', home, '--shell', '/usr/sbin/nologin', '--user-group', user]);
    // millrace's venv lives under /root, which no other user can enter: the server runs
    // from a copy (hard links, and a system Python 3.11) that the kernel user can run.
    const cache = join(kdir, 'cache');
    const venv = join(cache, 'millrace', basename(venvDir()));
    await mkdir(join(cache, 'millrace'), { recursive: true });
    execFileSync('/usr/bin/python3.11', ['-m', 'venv', '--without-pip', venv]);
    const sitePackages = join('lib', 'python3.11', 'site-packages');
    await rm(join(venv, sitePackages), { recursive: true });
    execFileSync('cp', ['-al', join(venvDir(), sitePackages), join(venv, sitePackages)]);
    await writeFile(join(venv, '.millrace-complete'), '');
    const credentials = join(kdir, 'store-credentials');
    await writeFile(credentials, `[store]\naws_access_key_id = x\naws_secret_access_key = ${secrets.MILLRACE_STORE_SECRET_ACCESS_KEY}\n`, { mode: 0o600 });
    await writeFile(join(kdir, 'probe.ipynb'), JSON.stringify(probeNotebook()));
    await writeFile(join(kdir, 'plain.ipynb'), JSON.stringify(notebook([codeCell('print("a record of my own")')])));
    env = {
      ...baseEnv(),
      ...secrets,
      PATH: '/usr/bin:/bin',
      XDG_CACHE_HOME: cache,
      MILLRACE_TEMPORAL_BIN: temporalBinary(),
      MILLRACE_STORE_PROFILE: 'store',
      AWS_SHARED_CREDENTIALS_FILE: credentials,
      ALLOWED_VAR: 'allowed-value',
    };
    dev = await startDevIn(kdir, ['--kernel-user', user, '--kernel-env', 'ALLOWED_VAR'], env);
  }, 180_000);

  afterAll(async () => {
    if (!IS_ROOT) return;
    if (dev) await stopDev(dev.child);
    try {
      execFileSync('userdel', ['--remove', user], { stdio: 'ignore' });
    } catch {
      // userdel complains about a mail spool that was never made; the user is gone
    }
    await rm(home, { recursive: true, force: true });
    if (kdir) await rm(kdir, { recursive: true, force: true });
  });

  it.runIf(IS_ROOT)("the kernel reads none of the stack's files or processes, and cannot overwrite another run's record", async () => {
    const plain = await runCli(['run', 'plain.ipynb', '--json', '--cwd', home], env, kdir);
    expect(plain.code, plain.stderr).toBe(0);
    const other = JSON.parse(plain.stdout).output as string;
    const before = readFileSync(other, 'utf8');
    const created = await runCli(['schedule', 'create', 'hourly', 'plain.ipynb', '--every', '1h', '--paused', '--notify-webhook', 'https://hooks.example/T0/B0/s3cr3t'], env, kdir);
    expect(created.code, created.stderr).toBe(0);

    const probe = await runProbe(env, { state: kstate, other, creds: env['AWS_SHARED_CREDENTIALS_FILE']!, write: 'True' }, home, kdir);
    for (const attempt of ['secret_key', 'temporal_db', 'token_file', 'dev_json', 'runtime', 'store_listing', 'other_record', 'store_credentials']) {
      expect(`${attempt}: ${JSON.stringify(probe[attempt])}`).toBe(`${attempt}: {"ok":false,"error":"PermissionError"}`);
    }
    expect(readFileSync(other, 'utf8')).toBe(before);
    // The worker and the Jupyter Server run as root: their environments are closed. What
    // the kernel can read (its own processes, the warm process) holds no secret.
    const devPid = String(JSON.parse(readFileSync(join(kstate, 'dev.json'), 'utf8')).pid);
    expect(probe.ancestors[devPid]).toEqual({ ok: false, error: 'PermissionError' });
    // The kernel was forked from the warm process, which runs as the kernel user too.
    expect(Object.values(probe.ancestors).filter((a) => a.ok).length).toBeGreaterThan(0);
    const token = readFileSync(join(kstate, 'jupyter-token'), 'utf8').trim();
    for (const [pid, seen] of Object.entries(probe.ancestors)) {
      for (const secret of [...Object.values(secrets), token]) expect(String(seen.value ?? '').includes(secret), `a secret in /proc/${pid}/environ`).toBe(false);
    }
    expect(probe.environ).toMatchObject({ ALLOWED_VAR: 'allowed-value', HOME: home, USER: user });
    for (const secret of [...Object.values(secrets), token]) expect(JSON.stringify(probe.environ).includes(secret)).toBe(false);
  });

  it.runIf(IS_ROOT)("fails the run at start, naming the folder, when the kernel user cannot enter the run's working directory", async () => {
    const closed = join(kdir, 'closed');
    await mkdir(closed, { mode: 0o700 });
    const r = await runCli(['run', 'plain.ipynb', '--cwd', closed], env, kdir);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`working directory ${closed} cannot be entered (resolved on the worker): PermissionError`);
  });
});
