/**
 * Where things live: the per-user cache (tools that setup builds or installs once per
 * machine), the state directory (per project: Temporal's database, the store, logs), and
 * the package itself. The rules match scripts/setup.sh, which creates what these name.
 */
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const PACKAGE_NAME = 'millrace';

/** `$XDG_CACHE_HOME/millrace`, else `~/.cache/millrace` (as `${XDG_CACHE_HOME:-$HOME/.cache}`). */
export function cacheDir(): string {
  const xdg = process.env['XDG_CACHE_HOME'];
  return join(xdg ? resolve(xdg) : join(homedir(), '.cache'), PACKAGE_NAME);
}

/** The state directory's name: like `.git`, it marks a project folder. */
export const STATE_DIR_NAME = '.millrace';

export interface StateLocation {
  /** The state directory found, else the one `run` would create: `.millrace` in `cwd`. */
  dir: string;
  /** Whether it exists. Only `run`, `dev` and `schedule create` may create a missing one. */
  found: boolean;
  /** Where it was looked for, for the message of a command that needs it. */
  searched: string;
}

/**
 * Where this project's state lives, found as git finds `.git`: `MILLRACE_HOME` when set;
 * else the nearest `.millrace` directory in `cwd` or a folder above it. The walk stops at
 * the filesystem root, or before entering a folder listed in MILLRACE_CEILING_DIRECTORIES
 * (colon-separated absolute paths, as GIT_CEILING_DIRECTORIES), so a `.millrace` above a
 * ceiling (say a shared /tmp/.millrace) is never picked up by accident.
 */
export function findStateDir(env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): StateLocation {
  const home = env['MILLRACE_HOME'];
  if (home) {
    const dir = resolve(cwd, home);
    return { dir, found: isDirectory(dir), searched: `MILLRACE_HOME=${dir}` };
  }
  const start = resolve(cwd);
  const ceilings = new Set((env['MILLRACE_CEILING_DIRECTORIES'] ?? '').split(':').filter(isAbsolute).map((d) => resolve(d)));
  for (let dir = start; ; ) {
    const candidate = join(dir, STATE_DIR_NAME);
    if (isDirectory(candidate)) return { dir: candidate, found: true, searched: candidate };
    const parent = dirname(dir);
    if (parent === dir) return notFound(start, '');
    if (ceilings.has(parent)) return notFound(start, ` below ${parent} (MILLRACE_CEILING_DIRECTORIES)`);
    dir = parent;
  }
}

function notFound(start: string, limit: string): StateLocation {
  return { dir: join(start, STATE_DIR_NAME), found: false, searched: `${start} or any folder above it${limit}` };
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Creates the state directory (or tightens an existing one) with mode 0700, whatever the
 * umask: it holds the secret key, Temporal's database (sealed webhook URLs, parameters),
 * the Jupyter token and the local store, none of them for other users of the machine.
 */
export function makeStateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
}

/** The state directory: the one found (see findStateDir), else `.millrace` here; always absolute. */
export function stateDir(): string {
  return findStateDir().dir;
}

let root: string | undefined;

/**
 * The repository root: the nearest directory above this module holding the millrace
 * package.json. Walking up (rather than a fixed `../..`) works both for sources run by
 * vitest (`worker/paths.ts`) and for compiled code (`dist/worker/paths.js`).
 */
export function packageRoot(): string {
  if (root) return root;
  const start = dirname(fileURLToPath(import.meta.url));
  for (let dir = start; ; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && readPackageName(manifest) === PACKAGE_NAME) return (root = dir);
    if (dirname(dir) === dir) throw new Error(`cannot find the ${PACKAGE_NAME} package.json above ${start}`);
  }
}

function readPackageName(manifest: string): string | undefined {
  try {
    const parsed: unknown = JSON.parse(readFileSync(manifest, 'utf8'));
    return typeof parsed === 'object' && parsed !== null && 'name' in parsed && typeof parsed.name === 'string'
      ? parsed.name
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The project's virtualenv: `<cache>/venv-<first 12 hex of sha256(requirements.txt)>`;
 * with arguments, another venv the set-up makes the same way from its own pinned file
 * (Kernel Gateway's: scripts/requirements-kernel-gateway.txt, prefix `kernel-gateway`).
 */
export function venvDir(requirementsFile = 'requirements.txt', prefix = 'venv'): string {
  const requirements = readFileSync(join(packageRoot(), requirementsFile));
  const hash = createHash('sha256').update(requirements).digest('hex').slice(0, 12);
  return join(cacheDir(), `${prefix}-${hash}`);
}

/** Written by scripts/setup.sh once `pip install` has completed. */
const VENV_STAMP = '.millrace-complete';

/** The venv's Python; throws a one-line error when setup has not completed. */
export function venvPython(): string {
  const venv = venvDir();
  const python = process.platform === 'win32' ? join(venv, 'Scripts', 'python.exe') : join(venv, 'bin', 'python');
  if (!existsSync(join(venv, VENV_STAMP)) || !existsSync(python)) {
    throw new Error(`the Python environment is not set up (expected at ${venv}): run scripts/setup.sh`);
  }
  return python;
}

/** The Temporal CLI (`MILLRACE_TEMPORAL_BIN` overrides); throws a one-line error when missing. */
export function temporalBinary(): string {
  const override = process.env['MILLRACE_TEMPORAL_BIN'];
  const binary = override ? resolve(override) : join(cacheDir(), 'bin', process.platform === 'win32' ? 'temporal.exe' : 'temporal');
  if (!existsSync(binary)) {
    throw new Error(`the Temporal CLI is not installed (expected at ${binary}): run scripts/setup.sh`);
  }
  return binary;
}
