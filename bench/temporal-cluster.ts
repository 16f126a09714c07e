/**
 * A real Temporal cluster, for the deployment tests (test/deploy/) and the load benchmark
 * (bench/deploy-load.ts): a private PostgreSQL cluster (initdb in a temporary folder, on a
 * free port, 127.0.0.1 only) with Temporal's schema applied by its own SQL tool, and the
 * Temporal server (single node, all four services in one process) on free ports, both
 * built or installed by scripts/setup-cluster.sh. Everything it starts it stops; tests can
 * also kill PostgreSQL and restart the server under running work.
 */
import { Connection, type ConnectionOptions } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time.js';
import { execFile } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { cacheDir } from '../worker/paths.js';
import { freePort, freePortBelowEphemeral } from '../worker/ports.js';
import { spawnSupervised, type SupervisedProcess } from '../worker/process.js';
import { DYNAMIC_CONFIG } from '../worker/temporal-server.js';

const exec = promisify(execFile);

export const TEMPORAL_SERVER_VERSION = 'v1.32.1';
const HOST = '127.0.0.1';
/** initdb's superuser, and the user Temporal and its SQL tool connect as (trust auth, loopback only). */
const DB_USER = 'temporal';
const DATABASES = { temporal: 'temporal', visibility: 'temporal_visibility' } as const;

export function serverDir(): string {
  return join(cacheDir(), `temporal-server-${TEMPORAL_SERVER_VERSION}`);
}

function serverBinary(name: 'temporal-server' | 'temporal-sql-tool'): string {
  const path = join(serverDir(), 'bin', name);
  if (!existsSync(join(serverDir(), '.complete')) || !existsSync(path)) {
    throw new Error(`the Temporal server ${TEMPORAL_SERVER_VERSION} is not built (expected ${path}): run scripts/setup-cluster.sh`);
  }
  return path;
}

/** PostgreSQL's server programs: the newest of Debian's /usr/lib/postgresql/N/bin, else initdb on PATH. */
function postgresBinDir(): string {
  const versions = existsSync('/usr/lib/postgresql') ? readdirSync('/usr/lib/postgresql').filter((v) => /^\d+$/.test(v)) : [];
  for (const v of versions.sort((a, b) => Number(b) - Number(a))) {
    const dir = join('/usr/lib/postgresql', v, 'bin');
    if (existsSync(join(dir, 'initdb'))) return dir;
  }
  for (const dir of (process.env['PATH'] ?? '').split(':')) {
    if (dir && existsSync(join(dir, 'initdb'))) return dir;
  }
  throw new Error('PostgreSQL is not installed (no initdb): run scripts/setup-cluster.sh');
}

/**
 * PostgreSQL refuses to run as root: as root, its programs run as the `postgres` user
 * that Debian's package creates (setpriv execs, so the pid is postgres's own).
 */
function asDatabaseUser(command: string, args: string[]): { command: string; args: string[] } {
  if (process.getuid?.() !== 0) return { command, args };
  return { command: 'setpriv', args: ['--reuid=postgres', '--regid=postgres', '--init-groups', '--', command, ...args] };
}

/** The owner to give PostgreSQL's folders when we are root. */
function databaseUserIds(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  // Node has no getpwnam; /etc/passwd is enough for a local system user.
  const entry = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .map((l) => l.split(':'))
    .find((f) => f[0] === 'postgres' && f.length >= 4);
  if (!entry) throw new Error('as root, PostgreSQL runs as the "postgres" user, which is missing: run scripts/setup-cluster.sh');
  return { uid: Number(entry[2]), gid: Number(entry[3]) };
}

export interface Postgres {
  port: number;
  /** Stops it as a crash would: SIGKILL to the postmaster and every backend. */
  kill(): Promise<void>;
  /** Starts it again on the same port and data (after `kill` or `stop`). */
  start(): Promise<void>;
  /** Bytes on disk of a database (pg_database_size). */
  databaseSize(name: string): Promise<number>;
  stop(): Promise<void>;
}

/** `dir` is created; the folder it is in must let the database user through (mode 711 is enough). */
export async function startPostgres(dir: string): Promise<Postgres> {
  const bin = postgresBinDir();
  const ids = databaseUserIds();
  const dataDir = join(dir, 'data');
  const socketDir = join(dir, 'socket');
  for (const d of [dir, socketDir]) {
    mkdirSync(d, { recursive: true, mode: 0o700 });
    if (ids) chownSync(d, ids.uid, ids.gid);
  }
  const initdb = asDatabaseUser(join(bin, 'initdb'), ['-D', dataDir, '-U', DB_USER, '--auth=trust', '-E', 'UTF8', '--no-instructions']);
  await exec(initdb.command, initdb.args, { cwd: dir });
  let port = 0;
  let child: SupervisedProcess | undefined;
  const isReady = async () => {
    await exec(join(bin, 'pg_isready'), ['-q', '-h', HOST, '-p', String(port), '-U', DB_USER]);
    return true;
  };
  const start = async () => {
    // The default 100 connections are too few for four services' pools in one server.
    const server = asDatabaseUser(join(bin, 'postgres'), ['-D', dataDir, '-p', String(port), '-k', socketDir, '-c', `listen_addresses=${HOST}`, '-c', 'max_connections=300']);
    child = await spawnSupervised({ name: 'postgres', command: server.command, args: server.args, stateDir: dir, cwd: dir, stopGraceMs: 10_000 });
    await child.waitFor(isReady, { timeoutMs: 60_000, what: `PostgreSQL on ${HOST}:${port} to accept connections`, intervalMs: 100 });
  };
  await onFreshPorts(
    async () => {
      port = await freePort(HOST);
      await start();
    },
    () => child,
  );
  const psql = async (sql: string, db: string) =>
    (await exec(join(bin, 'psql'), ['-h', HOST, '-p', String(port), '-U', DB_USER, '-d', db, '-Atc', sql])).stdout.trim();
  return {
    port,
    async kill() {
      if (!child) return;
      process.kill(child.pid, 'SIGKILL');
      // stop() sweeps the backends left behind, as the postmaster's death leaves them.
      await child.stop();
      child = undefined;
    },
    start,
    async databaseSize(name) {
      return Number(await psql(`select pg_database_size('${name}')`, 'postgres'));
    },
    async stop() {
      await child?.stop();
      child = undefined;
    },
  };
}

/** Temporal's SQL tool: creates both databases and applies the module's PostgreSQL v12 schema. */
async function applySchema(port: number): Promise<void> {
  const tool = serverBinary('temporal-sql-tool');
  const schema = join(serverDir(), 'schema');
  const common = ['--ep', HOST, '-p', String(port), '-u', DB_USER, '--pl', 'postgres12'];
  for (const [kind, db] of Object.entries(DATABASES)) {
    for (const step of [['create-database'], ['setup-schema', '-v', '0.0'], ['update-schema', '-d', join(schema, kind, 'versioned')]]) {
      await exec(tool, [...common, '--db', db, ...step]).catch((err: { stderr?: string; message: string }) => {
        throw new Error(`temporal-sql-tool ${step[0]} on ${db} failed: ${err.stderr?.trim() || err.message}`);
      });
    }
  }
}

export interface TemporalCluster {
  /** host:port of the frontend, for TEMPORAL_ADDRESS. */
  address: string;
  namespace: string;
  postgres: Postgres;
  /** How long the start took, schema and namespace included (ms). */
  startMs: number;
  /** Stops the server (SIGTERM) and starts it again on the same ports and database. */
  restartTemporal(): Promise<void>;
  /**
   * Waits until the server serves the namespace. A server that exited meanwhile (as it may
   * in a long database outage) is started again, as a supervisor would: its log's last
   * lines are returned; undefined when it was still running.
   */
  serving(): Promise<string | undefined>;
  /** The Temporal server's log so far. */
  temporalLog(): string;
  stop(): Promise<void>;
}

/**
 * `start` (which picks its ports and starts `child()`), again up to three times when the
 * server lost a port: a port probed free can be taken by any process on the machine before
 * the server binds it, and that start fails at once.
 */
async function onFreshPorts(start: () => Promise<void>, child: () => SupervisedProcess | undefined): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (err) {
      const lostPort = /address already in use/i.test(child()?.logText() ?? '');
      await child()?.stop();
      if (!lostPort || attempt === 3) throw err;
    }
  }
}

/**
 * Free ports (below 32768: Temporal keeps its services' ports in a smallint column,
 * cluster_membership) for every service's gRPC and membership listeners, and the frontend's HTTP API,
 * all different (`taken`, which holds the frontend's gRPC port).
 */
async function serverConfig(dir: string, postgresPort: number, frontendPort: number, taken: Set<number>, tls?: ClusterTls): Promise<string> {
  const datastore = (databaseName: string, maxConns: number) => ({
    sql: {
      pluginName: 'postgres12',
      databaseName,
      connectAddr: `${HOST}:${postgresPort}`,
      connectProtocol: 'tcp',
      user: DB_USER,
      password: '',
      maxConns,
      maxIdleConns: maxConns,
      maxConnLifetime: '1h',
    },
  });
  const service = async (grpcPort: number) => ({
    rpc: { grpcPort, membershipPort: await freePortBelowEphemeral(taken, HOST), bindOnLocalHost: true },
  });
  const dynamicConfigPath = join(dir, 'dynamicconfig.yaml');
  // The dev server's tuning (worker/temporal-server.ts), so runs cost the same on both.
  writeFileSync(dynamicConfigPath, stringify(Object.fromEntries(Object.entries(DYNAMIC_CONFIG).map(([k, v]) => [k, [{ value: v }]]))));
  const config = {
    log: { stdout: true, level: 'warn' },
    persistence: {
      defaultStore: 'postgres-default',
      visibilityStore: 'postgres-visibility',
      numHistoryShards: 4,
      datastores: { 'postgres-default': datastore(DATABASES.temporal, 20), 'postgres-visibility': datastore(DATABASES.visibility, 4) },
    },
    global: { membership: { maxJoinDuration: '30s', broadcastAddress: HOST }, ...(tls ? { tls: tlsConfig(tls) } : {}) },
    services: {
      frontend: { rpc: { ...(await service(frontendPort)).rpc, httpPort: await freePortBelowEphemeral(taken, HOST) } },
      matching: await service(await freePortBelowEphemeral(taken, HOST)),
      history: await service(await freePortBelowEphemeral(taken, HOST)),
      worker: await service(await freePortBelowEphemeral(taken, HOST)),
    },
    clusterMetadata: {
      enableGlobalNamespace: false,
      failoverVersionIncrement: 10,
      masterClusterName: 'active',
      currentClusterName: 'active',
      clusterInformation: { active: { enabled: true, initialFailoverVersion: 1, rpcName: 'frontend', rpcAddress: `${HOST}:${frontendPort}` } },
    },
    dcRedirectionPolicy: { policy: 'noop' },
    dynamicConfigClient: { filepath: dynamicConfigPath, pollInterval: '10s' },
  };
  const path = join(dir, 'temporal.yaml');
  writeFileSync(path, stringify(config));
  return path;
}

/** mTLS on the frontend: clients (and the server's own system worker) must show a certificate of `caFile`. */
export interface ClusterTls {
  certFile: string;
  keyFile: string;
  caFile: string;
  /** The name the server's certificate carries, which its own clients check. */
  serverName: string;
}

function tlsConfig(tls: ClusterTls) {
  const client = { serverName: tls.serverName, rootCaFiles: [tls.caFile] };
  return {
    frontend: { server: { certFile: tls.certFile, keyFile: tls.keyFile, requireClientAuth: true, clientCaFiles: [tls.caFile] }, client },
    systemWorker: { certFile: tls.certFile, keyFile: tls.keyFile, client },
  };
}

/** Ready: the frontend answers, and the namespace is registered and in the frontend's cache. */
async function namespaceServes(address: string, namespace: string, options: Partial<ConnectionOptions>): Promise<boolean> {
  const connection = await Connection.connect({ address, connectTimeout: 2_000, ...options });
  try {
    await connection.workflowService.describeNamespace({ namespace }).catch(async (err: { code?: number }) => {
      if (err.code !== 5) throw err; // NOT_FOUND: register it (a real cluster's operator does this once)
      await connection.workflowService.registerNamespace({ namespace, workflowExecutionRetentionPeriod: msToTs('1 day') });
    });
    await connection.workflowService.countWorkflowExecutions({ namespace });
    return true;
  } finally {
    await connection.close();
  }
}

/**
 * `tls`: the frontend on mTLS; `clientOptions` is what this helper's own readiness check
 * connects with (a client certificate of the CA).
 */
export async function startTemporalCluster(
  options: { namespace?: string; tls?: ClusterTls; clientOptions?: Partial<ConnectionOptions> } = {},
): Promise<TemporalCluster> {
  const started = Date.now();
  const namespace = options.namespace ?? 'default';
  const binary = serverBinary('temporal-server');
  const dir = await mkdtemp(join(tmpdir(), 'millrace-cluster-'));
  let postgres: Postgres | undefined;
  let server: SupervisedProcess | undefined;
  const stopAll = async () => {
    await server?.stop();
    await postgres?.stop();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    // mkdtemp's 700 would keep the database user out of its folder inside.
    chmodSync(dir, 0o711);
    postgres = await startPostgres(join(dir, 'postgres'));
    await applySchema(postgres.port);
    let address = '';
    let configPath = '';
    const start = async () => {
      server = await spawnSupervised({
        name: 'temporal-server',
        command: binary,
        args: ['--config-file', configPath, '--allow-no-auth', 'start'],
        stateDir: dir,
        cwd: dir,
        stopGraceMs: 15_000,
      });
      await server.waitFor(() => namespaceServes(address, namespace, options.clientOptions ?? {}), {
        timeoutMs: 120_000,
        what: `the Temporal server at ${address} to serve namespace ${namespace}`,
        intervalMs: 250,
      });
    };
    const pgPort = postgres.port;
    await onFreshPorts(
      async () => {
        const taken = new Set<number>();
        const frontendPort = await freePortBelowEphemeral(taken, HOST);
        address = `${HOST}:${frontendPort}`;
        configPath = await serverConfig(dir, pgPort, frontendPort, taken, options.tls);
        await start();
      },
      () => server,
    );
    const pg = postgres;
    return {
      address,
      namespace,
      postgres: pg,
      startMs: Date.now() - started,
      async restartTemporal() {
        await server?.stop();
        await start();
      },
      async serving() {
        try {
          await server!.waitFor(() => namespaceServes(address, namespace, options.clientOptions ?? {}), {
            timeoutMs: 120_000,
            what: `the Temporal server at ${address} to serve namespace ${namespace}`,
            intervalMs: 250,
          });
          return undefined;
        } catch (err) {
          if (server?.exitStatus() === undefined) throw err;
          // Exited: started again on the same ports and database, as its supervisor would.
          const tail = server.logTail(30);
          await server.stop();
          await start();
          return tail;
        }
      },
      temporalLog: () => server?.logText() ?? '',
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

