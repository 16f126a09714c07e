/**
 * The Temporal CLI's dev server on 127.0.0.1, persisting to SQLite in the state
 * directory so run history survives restarts and stays inspectable after a command ends.
 */
import { chmodSync } from 'node:fs';
import { join } from 'node:path';
import { makeStateDir, temporalBinary } from './paths.js';
import { freePort } from './ports.js';
import { spawnSupervised, type ExitStatus, type SupervisedProcess } from './process.js';

export interface TemporalServerOptions {
  stateDir: string;
  /** Created at launch if missing ("default" always exists). */
  namespace?: string;
  /** Serve the Web UI on a free port; headless by default. */
  ui?: boolean;
  /** Dynamic config values over DYNAMIC_CONFIG (e.g. a low `limit.historyCount.suggestContinueAsNew` in tests). */
  dynamicConfig?: Record<string, unknown>;
  /** Default 60 s. */
  readyTimeoutMs?: number;
  log?: (line: string) => void;
  /** The frontend's port (a restart keeps its address); default a free one. */
  port?: number;
}

export interface TemporalServer {
  /** host:port of the frontend gRPC service. */
  address: string;
  namespace: string;
  /** Only with `ui: true`. */
  uiPort?: number;
  pid: number;
  logPath: string;
  /** Resolves when the server exits, stopped or not. */
  exited: Promise<ExitStatus>;
  /** Graceful stop (SIGTERM, then SIGKILL after 10 s). Idempotent. */
  stop(): Promise<void>;
}

const HOST = '127.0.0.1';
const START_ATTEMPTS = 3;

/**
 * SQLite pragmas: write-ahead logging lets readers (visibility queries from `millrace
 * runs`) proceed during writes, and `synchronous=NORMAL` skips an fsync per commit; that
 * halved the latency of starting a workflow (27 -> 13-16 ms) and of a signal (12 -> 6 ms)
 * here. The database stays consistent after a crash of the process; after a power loss
 * the last transactions may be lost, acceptable for the embedded dev stack. The server
 * does not checkpoint on exit: the database is temporal.db together with temporal.db-wal.
 */
const SQLITE_PRAGMAS = ['journal_mode=wal', 'synchronous=normal'];

/**
 * Dynamic config for one local worker running many short activities (one per cell),
 * measured with 100 sequential no-op activities on this machine: ~97 ms per activity
 * with the defaults, ~25 with the first value, ~15-25 with both.
 * - The history service moves each new activity or workflow task to matching through its
 *   transfer queue, whose reader polls at most 20 times a second per shard by default
 *   (the dev server has one shard): up to 50 ms per task. Polls are triggered by new
 *   tasks, so a high cap costs nothing when idle.
 * - Eager activity execution hands the next cell's activity to the worker in the reply
 *   to its workflow task completion, skipping the trip through matching.
 */
export const DYNAMIC_CONFIG: Readonly<Record<string, unknown>> = {
  'history.transferProcessorMaxPollRPS': 10_000,
  'system.enableActivityEagerExecution': true,
};

export function temporalDatabasePath(stateDir: string): string {
  return join(stateDir, 'temporal.db');
}

/** Held by the server for its life: two servers on one SQLite file fight over its shards. */
function temporalLockPath(stateDir: string): string {
  return `${temporalDatabasePath(stateDir)}.lock`;
}

export async function startTemporalServer(options: TemporalServerOptions): Promise<TemporalServer> {
  const binary = temporalBinary();
  const namespace = options.namespace ?? 'default';
  makeStateDir(options.stateDir);
  // Free ports are only free until someone takes them: retry a start that lost the race.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(binary, namespace, options);
    } catch (err) {
      if (attempt >= START_ATTEMPTS || !(err instanceof PortTakenError)) throw err;
      options.log?.(`Temporal dev server: port taken, retrying (${err.message.split('\n')[0]})`);
    }
  }
}

class PortTakenError extends Error {}

/**
 * The Temporal CLI creates its SQLite file with the umask's mode (0644 under umask 022),
 * and SQLite gives the -wal and -shm files the database's mode when it creates them. The
 * file cannot be created beforehand (the CLI creates the schema only in a new file), so
 * all three are tightened once the server answers; until then the state directory (0700)
 * keeps others out.
 */
function privateDatabase(path: string): void {
  for (const file of [path, `${path}-wal`, `${path}-shm`]) {
    try {
      chmodSync(file, 0o600);
    } catch {
      // no such file yet
    }
  }
}

async function startOnce(binary: string, namespace: string, options: TemporalServerOptions): Promise<TemporalServer> {
  const port = options.port ?? (await freePort(HOST));
  const uiPort = options.ui ? await freePort(HOST) : undefined;
  const args = [
    'server',
    'start-dev',
    '--ip',
    HOST,
    '--port',
    String(port),
    '--db-filename',
    temporalDatabasePath(options.stateDir),
    '--log-level',
    'warn',
    ...SQLITE_PRAGMAS.flatMap((pragma) => ['--sqlite-pragma', pragma]),
    ...Object.entries({ ...DYNAMIC_CONFIG, ...options.dynamicConfig }).flatMap(([key, value]) => [
      '--dynamic-config-value',
      `${key}=${JSON.stringify(value)}`,
    ]),
    ...(uiPort === undefined ? ['--headless'] : ['--ui-port', String(uiPort)]),
    ...(namespace === 'default' ? [] : ['--namespace', namespace]),
  ];
  options.log?.(`starting the Temporal dev server on ${HOST}:${port}...`);
  const child = await spawnSupervised({
    name: 'temporal',
    command: binary,
    args,
    stateDir: options.stateDir,
    env: withoutTemporalClientSettings(process.env),
    stopGraceMs: 10_000,
    lockFile: temporalLockPath(options.stateDir),
  });
  const address = `${HOST}:${port}`;
  try {
    await child.waitFor(() => namespaceAnswers(address, namespace), {
      timeoutMs: options.readyTimeoutMs ?? 60_000,
      what: `the frontend at ${address} to describe namespace ${namespace}`,
      intervalMs: 100,
    });
  } catch (err) {
    await child.stop();
    if (/address already in use|bind: /i.test(child.logTail(50))) throw new PortTakenError((err as Error).message);
    throw err;
  }
  privateDatabase(temporalDatabasePath(options.stateDir));
  return describe(child, address, namespace, uiPort);
}

function describe(child: SupervisedProcess, address: string, namespace: string, uiPort: number | undefined): TemporalServer {
  return {
    address,
    namespace,
    ...(uiPort === undefined ? {} : { uiPort }),
    pid: child.pid,
    logPath: child.logPath,
    exited: child.exited,
    stop: () => child.stop(),
  };
}

/** Ready means the frontend answers and the namespace is registered and cached. */
async function namespaceAnswers(address: string, namespace: string): Promise<boolean> {
  // Loaded here, after the server was spawned: a one-shot `run` loads it while Temporal starts.
  const { Connection } = await import('@temporalio/client');
  const connection = await Connection.connect({ address, connectTimeout: 2_000 });
  try {
    await connection.workflowService.describeNamespace({ namespace });
    return true;
  } finally {
    await connection.close();
  }
}

/**
 * The CLI reads TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TLS and API-key settings for its
 * client commands; none of a user's cluster settings should reach the dev server.
 */
function withoutTemporalClientSettings(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([key]) => !key.startsWith('TEMPORAL_')));
}
