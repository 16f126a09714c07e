/**
 * Configuration from the environment, validated once: Temporal's own variables, and
 * MILLRACE_* for the rest. Secrets (the Jupyter token) are read here and only passed on
 * to the worker, never printed.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { TASK_QUEUE_DEFAULT } from '../workflows/contracts.js';
import { findStateDir, STATE_DIR_NAME } from '../worker/paths.js';
import { parseKernelEnvPatterns } from '../worker/kernel-env.js';
import { temporalProfile, TemporalConfigError, type TemporalConnectionOptions } from '../worker/temporal-connection.js';
import { UserError } from './errors.js';
import { backendFor, isUrlLocation, isWritableLocation } from '../record/store/index.js';

const envSchema = z.object({
  TEMPORAL_ADDRESS: z.string().regex(/^[^\s:]+:\d+$/, 'TEMPORAL_ADDRESS must look like host:port').optional(),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  MILLRACE_TASK_QUEUE: z.string().min(1).default(TASK_QUEUE_DEFAULT),
  MILLRACE_JUPYTER_URL: z.url({ message: 'MILLRACE_JUPYTER_URL must be an http(s) URL' }).optional(),
  MILLRACE_JUPYTER_TOKEN: z.string().optional(),
  MILLRACE_JUPYTER_TOKEN_FILE: z.string().optional(),
  MILLRACE_STORE: z.string().min(1).optional(),
  MILLRACE_KERNEL_ENV: z.string().optional(),
});

export interface Config {
  temporalAddress?: string;
  /** TLS, API key and gRPC metadata for the cluster at temporalAddress (worker/temporal-connection.ts). */
  temporalConnection?: TemporalConnectionOptions;
  namespace: string;
  taskQueue: string;
  /** The state directory found walking up (worker/paths.ts findStateDir), else where `run` creates one. */
  stateDir: string;
  /** Set when no state directory exists: where it was looked for (see requireState). */
  stateNotFound?: string;
  storeRoot: string;
  jupyterUrl?: string;
  jupyterToken?: string;
  /** MILLRACE_KERNEL_ENV: variables (names or globs) kernels of a stack started here get over the defaults. */
  kernelEnv?: string[];
}

/**
 * The cluster to reach: TEMPORAL_ADDRESS, or the address of a profile the user chose
 * (TEMPORAL_PROFILE or TEMPORAL_CONFIG_FILE); a default profile alone, as the `temporal`
 * CLI's users have, does not move `millrace run` off its embedded stack.
 */
function clusterSettings(env: NodeJS.ProcessEnv): { address?: string; namespace?: string; connection: TemporalConnectionOptions } {
  if (!env['TEMPORAL_ADDRESS'] && !env['TEMPORAL_PROFILE'] && !env['TEMPORAL_CONFIG_FILE']) return { connection: {} };
  try {
    const profile = temporalProfile(env);
    const address = env['TEMPORAL_ADDRESS'] || (profile.chosen ? profile.address : undefined);
    if (address !== undefined && !/^[^\s:]+:\d+$/.test(address)) throw new UserError(`TEMPORAL_ADDRESS: must look like host:port`);
    return { ...(address ? { address } : {}), ...(profile.namespace ? { namespace: profile.namespace } : {}), connection: profile.connection };
  } catch (err) {
    if (err instanceof TemporalConfigError) throw new UserError(err.message);
    throw err;
  }
}

/**
 * `cwd` is where the command was called: relative paths in the environment are taken from
 * there (`millrace dev` builds a run's input for a command called elsewhere, cli/run-input.ts).
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): Config {
  const parsed = envSchema.safeParse(Object.fromEntries(Object.entries(env).filter(([, v]) => v !== '')));
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new UserError(`${issue.path.join('.')}: ${issue.message}`);
  }
  const e = parsed.data;
  const cluster = clusterSettings(env);
  const state = findStateDir(env, cwd);
  const home = state.dir;
  let token = e.MILLRACE_JUPYTER_TOKEN;
  if (token === undefined && e.MILLRACE_JUPYTER_TOKEN_FILE) {
    try {
      token = readFileSync(resolve(cwd, e.MILLRACE_JUPYTER_TOKEN_FILE), 'utf8').trim();
    } catch {
      throw new UserError(`MILLRACE_JUPYTER_TOKEN_FILE: cannot read ${e.MILLRACE_JUPYTER_TOKEN_FILE}`);
    }
  }
  return {
    temporalAddress: cluster.address,
    ...(cluster.address ? { temporalConnection: cluster.connection } : {}),
    namespace: (cluster.address && cluster.namespace) || e.TEMPORAL_NAMESPACE,
    taskQueue: e.MILLRACE_TASK_QUEUE,
    stateDir: home,
    ...(state.found ? {} : { stateNotFound: state.searched }),
    storeRoot: storeRoot(e.MILLRACE_STORE ?? `${home}/store`, cwd),
    jupyterUrl: e.MILLRACE_JUPYTER_URL,
    jupyterToken: token,
    kernelEnv: kernelEnvPatterns(e.MILLRACE_KERNEL_ENV ? [e.MILLRACE_KERNEL_ENV] : [], 'MILLRACE_KERNEL_ENV'),
  };
}

/** `--kernel-env` values or MILLRACE_KERNEL_ENV, checked (worker/kernel-env.ts). */
export function kernelEnvPatterns(values: readonly string[], source: '--kernel-env' | 'MILLRACE_KERNEL_ENV'): string[] {
  try {
    return parseKernelEnvPatterns(values, source);
  } catch (err) {
    throw new UserError((err as Error).message);
  }
}

/**
 * For commands that read a project's state and never create it (all but `run`, `dev` and
 * `schedule create`): one line naming where it was looked for and how to point at it.
 */
export function requireState(config: Config): void {
  if (config.stateNotFound === undefined) return;
  throw new UserError(
    `no millrace state (${STATE_DIR_NAME}) in ${config.stateNotFound}: run this from your project's folder (where \`millrace run\` created ${STATE_DIR_NAME}), or set MILLRACE_HOME`,
  );
}

/**
 * The store a read-only command reads (`serve`, `metrics`): --store, else MILLRACE_STORE,
 * else the store of the state found, which must exist.
 */
export function storeToRead(option: string | undefined): string {
  if (option) return /^[a-z][a-z0-9+.-]*:\/\//i.test(option) ? option : resolve(option);
  const config = loadConfig();
  if (!process.env['MILLRACE_STORE']) requireState(config);
  return config.storeRoot;
}

/**
 * MILLRACE_STORE: a local directory (made absolute) or `s3://bucket/prefix`. An http(s)
 * URL is refused: runs write their records there.
 */
export function storeRoot(value: string, cwd: string = process.cwd()): string {
  if (!isUrlLocation(value)) return resolve(cwd, value);
  try {
    backendFor(value);
  } catch (err) {
    throw new UserError(`MILLRACE_STORE: ${(err as Error).message}`);
  }
  if (!isWritableLocation(value)) {
    throw new UserError(`MILLRACE_STORE=${value}: an http(s) URL is read-only; use a local directory or s3://bucket/prefix`);
  }
  return value.replace(/\/+$/, '');
}
