/**
 * Where a run's kernel runs: a container image with CPU, memory, environment and mounts
 * (`run --image ...`, or the notebook's `metadata.millrace.kernel`; the command line wins),
 * checked against the worker's allow-list (deny by default) before anything starts, and
 * handed to the Jupyter Server's provisioner as a file (worker/container_provisioner.py).
 * The backend seam: a placement with an image is a container kernel; the only backend of
 * this phase is local podman, reached through the embedded Jupyter Server.
 */
import { mkdirSync, realpathSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { isAbsolute, join, relative } from 'node:path';
import { z } from 'zod';
import type { KernelPlacement } from '../workflows/contracts.js';
import { parseMount, type Mount } from '../notebook/placement-syntax.js';


/** What a worker lets runs choose: images by exact name, mount sources under these paths, variable names. */
export interface AllowList {
  images: string[];
  mounts: string[];
  env: string[];
}

export const EMPTY_ALLOW_LIST: AllowList = { images: [], mounts: [], env: [] };

/** MILLRACE_ALLOW_IMAGES / _MOUNTS / _ENV, comma-separated: the worker's configuration. */
export function allowListFromEnv(env: NodeJS.ProcessEnv): AllowList {
  const list = (name: string) => (env[name] ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  return { images: list('MILLRACE_ALLOW_IMAGES'), mounts: list('MILLRACE_ALLOW_MOUNTS'), env: list('MILLRACE_ALLOW_ENV') };
}

export function mergeAllowLists(a: AllowList, b: Partial<AllowList>): AllowList {
  return { images: [...a.images, ...(b.images ?? [])], mounts: [...a.mounts, ...(b.mounts ?? [])], env: [...a.env, ...(b.env ?? [])] };
}

/** `metadata.millrace.kernel` of a notebook: the same fields as the command line's. */
export const notebookPlacementSchema = z.looseObject({
  image: z.string().min(1).optional(),
  cpus: z.number().positive().optional(),
  memory: z.string().min(1).optional(),
  env: z.record(z.string(), z.string()).optional(),
  mounts: z.array(z.string()).optional(),
  /** Variables the kernel gets with the worker's own value (`--env NAME`). */
  worker_env: z.array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected variable names')).optional(),
});

/** The notebook's placement under the command line's: each field the command line sets wins. */
export function mergePlacement(cli: KernelPlacement | undefined, notebook: unknown): KernelPlacement | undefined {
  const parsed = notebookPlacementSchema.safeParse(notebook ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`metadata.millrace.kernel.${issue.path.join('.')}: ${issue.message}`);
  }
  const { image, cpus, memory, env, mounts, worker_env: workerEnv } = parsed.data;
  const merged: KernelPlacement = {
    ...(image !== undefined ? { image } : {}),
    ...(cpus !== undefined ? { cpus } : {}),
    ...(memory !== undefined ? { memory } : {}),
    ...(mounts !== undefined ? { mounts } : {}),
    ...cli,
  };
  // Variables name by name, the command line's winning, a value or the worker's.
  const values = new Map(Object.entries(env ?? {}) as Array<[string, string | undefined]>);
  for (const name of workerEnv ?? []) values.set(name, undefined);
  for (const name of cli?.workerEnv ?? []) values.set(name, undefined);
  for (const [name, value] of Object.entries(cli?.env ?? {})) values.set(name, value);
  delete merged.env;
  delete merged.workerEnv;
  const given = [...values].filter((e): e is [string, string] => e[1] !== undefined);
  const fromWorker = [...values].filter(([, value]) => value === undefined).map(([name]) => name);
  if (given.length) merged.env = Object.fromEntries(given);
  if (fromWorker.length) merged.workerEnv = fromWorker;
  return Object.keys(merged).length ? merged : undefined;
}

function under(path: string, root: string): boolean {
  const rel = relative(root, path);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

/** A mount source's real path (symlinks resolved, so a link cannot lead out of an allowed folder). */
function realPath(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

/**
 * Why this worker refuses the placement (one line), or undefined when it may run. Memory
 * sizes are podman's (`512m`, `2g`); CPUs a positive number.
 */
export function refusal(placement: KernelPlacement | undefined, allow: AllowList, workerEnv: NodeJS.ProcessEnv = {}): string | undefined {
  if (!placement) return undefined;
  if (!placement.image) return '--cpus, --memory, --env and --mount place the kernel in a container: choose its image with --image';
  if (!allow.images.includes(placement.image)) {
    return `image "${placement.image}" is not allowed on this worker (allow it with: millrace worker --allow-image ${placement.image})`;
  }
  if (placement.memory !== undefined && !/^\d+(\.\d+)?[bkmg]?$/i.test(placement.memory)) {
    return `--memory ${placement.memory}: expected a size such as 512m or 2g`;
  }
  for (const name of [...Object.keys(placement.env ?? {}), ...(placement.workerEnv ?? [])]) {
    if (!allow.env.includes(name)) return `environment variable "${name}" is not allowed on this worker (allow it with: millrace worker --allow-env ${name})`;
  }
  for (const name of placement.workerEnv ?? []) {
    if (workerEnv[name] === undefined) return `environment variable "${name}" is not set on this worker (--env ${name} gives the kernel the worker's own value)`;
  }
  const roots = allow.mounts.map(realPath);
  for (const spec of placement.mounts ?? []) {
    let mount: Mount;
    try {
      mount = parseMount(spec);
    } catch (err) {
      return (err as Error).message;
    }
    const source = realPath(mount.source);
    if (!roots.some((root) => under(source, root))) {
      return `mount source "${mount.source}" is not allowed on this worker (allow it with: millrace worker --allow-mount ${mount.source})`;
    }
  }
  return undefined;
}

/**
 * The placement a run's kernel will start with on this worker, for starting it ahead of
 * the run (a one-shot `millrace run`: its worker is the command itself, with its allow-list
 * and environment): what prepareRun merges and checks, with the worker's own values of
 * `--env NAME`. 'refused' when prepareRun will refuse the run: nothing starts before that.
 */
export function placementAhead(cli: KernelPlacement | undefined, notebook: unknown, allow: AllowList, workerEnv: NodeJS.ProcessEnv): { placement?: KernelPlacement } | 'refused' {
  let placement: KernelPlacement | undefined;
  try {
    placement = mergePlacement(cli, notebook);
  } catch {
    return 'refused';
  }
  if (refusal(placement, allow, workerEnv)) return 'refused';
  if (!placement) return {};
  const applied = withWorkerEnv(placement, workerEnv);
  return applied.missing ? 'refused' : { placement: applied.placement };
}

/** The folder where the worker leaves placements for the embedded Jupyter Server's provisioner. */
export function placementsDir(stateDir: string): string {
  return join(stateDir, 'jupyter-runtime', 'placements');
}

/** Written (atomically) before the run's kernel is asked for; removed when the run no longer needs it. */
export function writePlacement(dir: string, runId: string, placement: KernelPlacement): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, `${runId}.json`);
  const body = { ...placement, mounts: (placement.mounts ?? []).map(parseMount) };
  const temp = `${file}.${process.pid}.tmp`;
  writeFileSync(temp, JSON.stringify(body), { mode: 0o600 });
  renameSync(temp, file);
}

export function removePlacement(dir: string, runId: string): void {
  rmSync(join(dir, `${runId}.json`), { force: true });
}

/** What the record keeps: variable names, never their values (nor where they came from). */
export function recordedPlacement(placement: KernelPlacement): Record<string, unknown> {
  const { env, workerEnv, ...rest } = placement;
  const names = [...Object.keys(env ?? {}), ...(workerEnv ?? [])].sort();
  return { ...rest, ...(names.length ? { env_names: names } : {}) };
}

/**
 * The placement the kernel starts with: `--env NAME` given the worker's own value. Only in
 * the worker's memory and, while the kernel starts, its placement file: never returned to
 * the workflow. Undefined values (unset since prepareRun checked) are the caller's error.
 */
export function withWorkerEnv(placement: KernelPlacement, workerEnv: NodeJS.ProcessEnv): { placement: KernelPlacement; missing?: string } {
  const { workerEnv: names, ...rest } = placement;
  if (!names?.length) return { placement: rest };
  const env = { ...rest.env };
  for (const name of names) {
    const value = workerEnv[name];
    if (value === undefined) return { placement: rest, missing: name };
    env[name] = value;
  }
  return { placement: { ...rest, env } };
}

