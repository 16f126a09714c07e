/**
 * Kernels as another user (`millrace dev --kernel-user NAME`), for workers whose notebooks
 * are not all trusted: the Jupyter Server runs as root and starts every kernel (and the
 * warm process Python kernels are forked from) as NAME, with its HOME
 * (worker/forking_provisioner.py). The state directory (0700), the store, the token and
 * the worker's processes are then out of the kernels' reach.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface KernelUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

export class KernelUserError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KernelUserError';
  }
}

/** NAME's uid, gid and home, as the system's user database has them; refuses unless this process is root. */
export function resolveKernelUser(name: string): KernelUser {
  const uid = process.getuid?.();
  if (uid !== 0) throw new KernelUserError(`--kernel-user needs root (millrace runs as uid ${uid ?? 'unknown'}): start it as root, or leave the option out`);
  let entry: string;
  try {
    entry = execFileSync('getent', ['passwd', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    throw new KernelUserError(`--kernel-user ${name}: no such user`);
  }
  const [, , uidText, gidText, , home] = entry.split('\n')[0]!.split(':');
  const user = { name, uid: Number(uidText), gid: Number(gidText), home: home ?? '/' };
  if (!Number.isInteger(user.uid) || !Number.isInteger(user.gid)) throw new KernelUserError(`--kernel-user ${name}: no such user`);
  if (user.uid === 0) throw new KernelUserError(`--kernel-user ${name}: kernels must run as another user than root`);
  return user;
}

/** Refuses, in one line, an interpreter the kernel user cannot run (one in root's home, say). */
export function checkKernelUserCanRun(user: KernelUser, python: string): void {
  const r = spawnSync(python, ['-c', 'import ipykernel'], { uid: user.uid, gid: user.gid, cwd: '/', env: { PATH: '/usr/bin:/bin' }, stdio: 'ignore', timeout: 60_000 });
  if (r.status !== 0) {
    throw new KernelUserError(
      `--kernel-user ${user.name}: that user cannot run the kernels' Python ${python}${r.error ? ` (${r.error.message})` : ''}; install millrace's cache where it can read it (XDG_CACHE_HOME) or give it a Python of its own`,
    );
  }
}

/**
 * A folder for kernels' connection files that the kernel user owns (0700): the Jupyter
 * Server's runtime directory holds its token and stays closed. Returns it and how to remove it.
 */
export function kernelConnectionDir(user: KernelUser): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'millrace-kernels-'));
  chownSync(dir, user.uid, user.gid);
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
