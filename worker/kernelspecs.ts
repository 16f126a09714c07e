/**
 * The kernels of the user's environment, as the embedded Jupyter Server offers them and
 * `millrace kernels` lists them: one function builds the search path from the environment
 * of the user's shell, the same for both.
 *
 * jupyter_client's KernelSpecManager looks in `jupyter_path('kernels')` (jupyter_core):
 * `JUPYTER_PATH` first, then the user's data dir and the environment's `share/jupyter`
 * (the environment first when JUPYTER_PREFER_ENV_PATH says so, or by default inside a
 * virtualenv or a non-base conda env), then /usr/local/share/jupyter and
 * /usr/share/jupyter; the first directory holding a name wins. The user's own `jupyter`
 * runs from their environment, so "the environment" is theirs (VIRTUAL_ENV, CONDA_PREFIX),
 * while the embedded server runs from millrace's private venv: the server gets this list
 * as its `KernelSpecManager.kernel_dirs` instead (worker/jupyter_server_config.py).
 *
 * `python3` stands in for ipykernel's native kernel, which in the user's Jupyter is their
 * own Python: millrace writes a kernelspec for the user's interpreter (the active
 * virtualenv's or conda env's python, else a `python3`/`python` on PATH) that can import
 * ipykernel ≥ 6, else for its private venv's. It sits just before the environment's
 * directories, whose `python3` says plain `python`, which the server would resolve to its
 * own interpreter.
 */
import { execFile } from 'node:child_process';
import { constants, existsSync, realpathSync } from 'node:fs';
import { access, mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { z } from 'zod';
import { venvDir, venvPython } from './paths.js';

/** One directory searched for kernelspecs, and why it is searched. */
export interface KernelDir {
  path: string;
  /** Where it comes from, as `millrace kernels` says it: "JUPYTER_PATH", "virtualenv /x", ... */
  source: string;
}

/** The interpreter of the `python3` kernel. */
export interface DefaultPython {
  python: string;
  ipykernel: string;
  /** "virtualenv /x", "conda env /x", "PATH", or "millrace" (the private venv). */
  source: string;
  /** Interpreters of the user's passed over, and why ("no ipykernel"). */
  passedOver: Array<{ python: string; why: string; activeEnv: boolean }>;
}

export interface KernelSearch {
  dirs: KernelDir[];
  /** The directory of the generated `python3` kernelspec (one of `dirs`). */
  generatedDir: string;
  python3: DefaultPython;
}

export interface KernelspecEntry {
  name: string;
  displayName: string;
  language: string;
  argv: string[];
  /** The kernelspec's directory. */
  dir: string;
  source: string;
  /** The kernel `run` uses when neither --kernel nor the notebook names one. */
  isDefault: boolean;
  /** The interpreter of the generated `python3` kernelspec. */
  python?: string;
}

const MIN_IPYKERNEL_MAJOR = 6;

/** `<state>/jupyter-kernels`: where the generated `python3` kernelspec is written. */
export function generatedKernelsDir(stateDir: string): string {
  return join(stateDir, 'jupyter-kernels');
}

/**
 * Why python3 is millrace's own Python although the user has one, for a note on stderr;
 * undefined when it is theirs or they have none. `run` notes it only when an active virtualenv or
 * conda env was passed over (a system python3 without ipykernel is the common case, not news);
 * `millrace kernels` notes every one.
 */
export function fallbackNote(search: KernelSearch, which: 'active-env' | 'all'): string | undefined {
  const passed = search.python3.passedOver;
  if (search.python3.source !== 'millrace' || passed.length === 0) return undefined;
  if (which === 'active-env' && !passed.some((p) => p.activeEnv)) return undefined;
  const reasons = passed.map((p) => `${p.python}: ${p.why}`).join('; ');
  return `note: python3 is millrace's own Python, without your packages (${reasons}); pip install "ipykernel>=${MIN_IPYKERNEL_MAJOR}" into your environment to run notebooks in it`;
}

/** "/x/bin/python (virtualenv /x)", or "millrace's Python (/cache/venv/bin/python)". */
export function describePython(python: DefaultPython): string {
  return python.source === 'millrace' ? `millrace's Python (${python.python})` : `${python.python} (${python.source})`;
}

/** The search path the embedded server will use, from the environment of the user's shell. */
export async function kernelSearch(env: NodeJS.ProcessEnv, stateDir: string): Promise<KernelSearch> {
  const python3 = await defaultPython(env);
  return { dirs: searchDirs(env, stateDir, python3.source), generatedDir: generatedKernelsDir(stateDir), python3 };
}

/**
 * The directories alone, which follow from the environment without asking any Python
 * (only the generated `python3` kernelspec's content does): the server is spawned with
 * them while the user's interpreters are probed, which takes up to half a second.
 */
export function kernelDirPaths(env: NodeJS.ProcessEnv, stateDir: string): string[] {
  return searchDirs(env, stateDir, 'millrace').map((d) => d.path);
}

function searchDirs(env: NodeJS.ProcessEnv, stateDir: string, python3Source: string): KernelDir[] {
  const fromJupyterPath = (env['JUPYTER_PATH'] ?? '')
    .split(delimiter)
    .filter((p) => p !== '')
    .map((p) => ({ path: join(resolve(p), 'kernels'), source: 'JUPYTER_PATH' }));
  const user = [{ path: join(jupyterDataDir(env), 'kernels'), source: 'Jupyter data dir' }];
  const environment = [
    { path: generatedKernelsDir(stateDir), source: python3Source === 'millrace' ? "millrace's Python" : `your Python (${python3Source})` },
    ...activeEnvironments(env).map((e) => ({ path: join(e.prefix, 'share', 'jupyter', 'kernels'), source: e.source })),
  ];
  const system = ['/usr/local/share/jupyter/kernels', '/usr/share/jupyter/kernels'].map((path) => ({ path, source: 'system' }));
  return dedupe([...fromJupyterPath, ...(preferEnvironment(env) ? [...environment, ...user] : [...user, ...environment]), ...system]);
}

/** The kernelspecs the server will offer, first directory winning (`jupyter kernelspec list`). */
export async function listKernelspecs(search: KernelSearch): Promise<KernelspecEntry[]> {
  const found = new Map<string, KernelspecEntry>();
  for (const dir of search.dirs) {
    const specs =
      dir.path === search.generatedDir ? [{ name: 'python3', dirName: 'python3', spec: generatedSpec(search.python3) }] : await readKernelDir(dir.path);
    for (const { name, dirName, spec } of specs) {
      if (found.has(name)) continue;
      found.set(name, {
        name,
        displayName: spec.display_name,
        language: spec.language,
        argv: spec.argv,
        dir: join(dir.path, dirName),
        source: dir.source,
        isDefault: name === 'python3',
        ...(dir.path === search.generatedDir ? { python: search.python3.python } : {}),
      });
    }
  }
  return [...found.values()].sort((a, b) => a.name.localeCompare(b.name));
}

/** Writes the generated `python3` kernelspec (atomically: a running server may read it). */
export async function writeGeneratedKernelspec(search: KernelSearch): Promise<void> {
  const dir = join(search.generatedDir, 'python3');
  await mkdir(dir, { recursive: true });
  const path = join(dir, 'kernel.json');
  await writeFile(`${path}.tmp`, `${JSON.stringify(generatedSpec(search.python3), null, 1)}\n`);
  await rename(`${path}.tmp`, path);
}

const kernelJson = z
  .object({
    argv: z.array(z.string()).min(1),
    display_name: z.string(),
    language: z.string().default(''),
  })
  .passthrough();
type KernelJson = z.infer<typeof kernelJson>;

function generatedSpec(python: DefaultPython): KernelJson {
  return {
    argv: [python.python, '-m', 'ipykernel_launcher', '-f', '{connection_file}'],
    display_name: 'Python 3 (ipykernel)',
    language: 'python',
    metadata: { debugger: true },
  };
}

/** jupyter_client's `_list_kernels_in`: subdirectories with a valid name and a kernel.json. */
async function readKernelDir(dir: string): Promise<Array<{ name: string; dirName: string; spec: KernelJson }>> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const specs: Array<{ name: string; dirName: string; spec: KernelJson }> = [];
  for (const name of names.sort()) {
    if (!/^[a-z0-9._-]+$/i.test(name)) continue;
    try {
      const parsed = kernelJson.safeParse(JSON.parse(await readFile(join(dir, name, 'kernel.json'), 'utf8')));
      if (parsed.success) specs.push({ name: name.toLowerCase(), dirName: name, spec: parsed.data });
    } catch {
      // Not a kernelspec (no kernel.json, or not JSON): jupyter_client skips it too.
    }
  }
  return specs;
}

/** jupyter_core's `jupyter_data_dir()`. */
function jupyterDataDir(env: NodeJS.ProcessEnv): string {
  if (env['JUPYTER_DATA_DIR']) return resolve(env['JUPYTER_DATA_DIR']);
  const home = env['HOME'] || homedir();
  if (process.platform === 'darwin') return join(home, 'Library', 'Jupyter');
  if (process.platform === 'win32') return join(env['APPDATA'] || home, 'jupyter');
  return join(env['XDG_DATA_HOME'] ? resolve(env['XDG_DATA_HOME']) : join(home, '.local', 'share'), 'jupyter');
}

function activeEnvironments(env: NodeJS.ProcessEnv): Array<{ prefix: string; source: string }> {
  const found: Array<{ prefix: string; source: string }> = [];
  if (env['VIRTUAL_ENV']) found.push({ prefix: resolve(env['VIRTUAL_ENV']), source: `virtualenv ${resolve(env['VIRTUAL_ENV'])}` });
  if (env['CONDA_PREFIX']) found.push({ prefix: resolve(env['CONDA_PREFIX']), source: `conda env ${resolve(env['CONDA_PREFIX'])}` });
  return found;
}

/** jupyter_core's `prefer_environment_over_user()`, for the user's environment. */
function preferEnvironment(env: NodeJS.ProcessEnv): boolean {
  const flag = env['JUPYTER_PREFER_ENV_PATH'];
  if (flag !== undefined) return !['', '0', 'false', 'no', 'off', 'n', 'f'].includes(flag.toLowerCase());
  if (env['VIRTUAL_ENV']) return true;
  return Boolean(env['CONDA_PREFIX']) && (env['CONDA_DEFAULT_ENV'] ?? 'base') !== 'base';
}

function dedupe(dirs: KernelDir[]): KernelDir[] {
  const seen = new Set<string>();
  return dirs.filter((d) => (seen.has(d.path) ? false : (seen.add(d.path), true)));
}

/**
 * The user's Python with ipykernel ≥ 6: the active virtualenv's, the active conda env's,
 * then `python3` and `python` on PATH; else millrace's private venv.
 */
async function defaultPython(env: NodeJS.ProcessEnv): Promise<DefaultPython> {
  const bin = process.platform === 'win32' ? 'Scripts' : 'bin';
  const exe = process.platform === 'win32' ? 'python.exe' : 'python';
  const candidates = [
    ...activeEnvironments(env).map((e) => ({ python: join(e.prefix, bin, exe), source: e.source, activeEnv: true })),
    ...(await onPath(env, ['python3', 'python'])).map((python) => ({ python, source: 'PATH', activeEnv: false })),
  ];
  const unique = candidates.filter((c, i) => candidates.findIndex((d) => d.python === c.python) === i);
  // Probed at once (a pyenv shim alone takes ~130 ms), taken in order.
  const probes = await Promise.all(unique.map((c) => probePython(c.python, env)));
  const passedOver: DefaultPython['passedOver'] = [];
  const passOver = (candidate: (typeof candidates)[number], why: string) => passedOver.push({ python: candidate.python, why, activeEnv: candidate.activeEnv });
  for (const [i, candidate] of unique.entries()) {
    const probe = probes[i];
    if (!probe) {
      passOver(candidate, 'does not run');
      continue;
    }
    if (sameDir(probe.prefix, venvDir())) break; // the private venv itself, e.g. on PATH
    if (!probe.ipykernel) {
      passOver(candidate, 'no ipykernel');
      continue;
    }
    if (Number(probe.ipykernel.split('.')[0]) < MIN_IPYKERNEL_MAJOR) {
      passOver(candidate, `ipykernel ${probe.ipykernel}, millrace needs ${MIN_IPYKERNEL_MAJOR} or later`);
      continue;
    }
    return { python: candidate.python, ipykernel: probe.ipykernel, source: candidate.source, passedOver };
  }
  return { python: venvPython(), ipykernel: '', source: 'millrace', passedOver };
}

function sameDir(a: string, b: string): boolean {
  const real = (p: string) => (existsSync(p) ? realpathSync(p) : resolve(p));
  return real(a) === real(b);
}

async function onPath(env: NodeJS.ProcessEnv, names: string[]): Promise<string[]> {
  const found: string[] = [];
  for (const name of names) {
    for (const dir of (env['PATH'] ?? '').split(delimiter).filter((d) => d !== '')) {
      const path = join(resolve(dir), name);
      if (!existsSync(path)) continue;
      try {
        await access(path, constants.X_OK);
        found.push(path);
        break;
      } catch {
        // not executable: look further along PATH, as the shell does
      }
    }
  }
  return found;
}

const PROBE = `
import json, sys
from importlib import metadata
try:
    version = metadata.version('ipykernel')
except Exception:
    version = None
print(json.dumps({'prefix': sys.prefix, 'ipykernel': version}))
`;
const probeResult = z.object({ prefix: z.string(), ipykernel: z.string().nullable() });

/** What a candidate interpreter is: its prefix and ipykernel's version; undefined when it does not run. */
function probePython(python: string, env: NodeJS.ProcessEnv): Promise<z.infer<typeof probeResult> | undefined> {
  return new Promise((done) => {
    execFile(python, ['-c', PROBE], { env, timeout: 20_000 }, (err, stdout) => {
      if (err) return done(undefined);
      try {
        const parsed = probeResult.safeParse(JSON.parse(stdout.trim().split('\n').pop() ?? ''));
        done(parsed.success ? parsed.data : undefined);
      } catch {
        done(undefined);
      }
    });
  });
}
