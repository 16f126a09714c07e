/**
 * versitygw, an S3-compatible server over a local directory, on 127.0.0.1 for tests and
 * local use: `versitygw --port 127.0.0.1:PORT posix DIR`, built by scripts/setup.sh into
 * the per-user cache. Keys travel in its environment, never on its command line (which
 * `ps` and the log show). It can be stopped and started again on the same port and
 * directory, which is how tests make S3 flap under a running notebook.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { cacheDir } from './paths.js';
import { freePort } from './ports.js';
import { spawnSupervised, type SupervisedProcess } from './process.js';

/** An S3 account: keys are secrets, sent by clients and never printed. */
export interface S3Account {
  accessKey: string;
  secretKey: string;
}

export interface S3ServerOptions {
  stateDir: string;
  /** Where buckets live (a bucket is a folder); default `<stateDir>/s3-data`. */
  dataDir?: string;
  /** Default: a free one. Give the port of a stopped server to bring it back. */
  port?: number;
  /** Default: random keys. */
  root?: S3Account;
  /**
   * Extra accounts (role `user`): they see only buckets they own, so a root-owned bucket
   * answers them AccessDenied.
   */
  users?: S3Account[];
  /** Default 30 s. */
  readyTimeoutMs?: number;
  log?: (line: string) => void;
}

export interface S3Server {
  /** http://127.0.0.1:PORT, no credentials in it. */
  endpoint: string;
  port: number;
  dataDir: string;
  root: S3Account;
  users: S3Account[];
  pid: number;
  logPath: string;
  /**
   * The environment an AWS SDK client (millrace, the aws CLI) needs to reach this server
   * as `account` (default root): keys, endpoint, region.
   */
  clientEnv(account?: S3Account): Record<string, string>;
  /** SIGTERM, SIGKILL after 5 s. Idempotent. */
  stop(): Promise<void>;
}

const HOST = '127.0.0.1';
const HEALTH_PATH = '/health';
const START_ATTEMPTS = 3;

/** The versitygw binary (`MILLRACE_VERSITYGW_BIN` overrides); a one-line error when missing. */
export function versitygwBinary(): string {
  const override = process.env['MILLRACE_VERSITYGW_BIN'];
  const binary = override ? resolve(override) : join(cacheDir(), 'bin', process.platform === 'win32' ? 'versitygw.exe' : 'versitygw');
  if (!existsSync(binary)) {
    throw new Error(`versitygw is not installed (expected at ${binary}): run scripts/setup.sh`);
  }
  return binary;
}

function randomAccount(): S3Account {
  return { accessKey: `AK${randomBytes(9).toString('hex').toUpperCase()}`, secretKey: randomBytes(24).toString('base64url') };
}

export async function startS3Server(options: S3ServerOptions): Promise<S3Server> {
  const binary = versitygwBinary();
  const dataDir = resolve(options.dataDir ?? join(options.stateDir, 's3-data'));
  const iamDir = `${dataDir}.iam`;
  mkdirSync(dataDir, { recursive: true });
  mkdirSync(iamDir, { recursive: true, mode: 0o700 });
  const root = options.root ?? randomAccount();
  const users = options.users ?? [];
  // versitygw's internal IAM keeps its accounts in users.json; writing it before the
  // start is the same as `versitygw admin create-user` for each, without an admin port.
  const accounts = Object.fromEntries(
    users.map((u, i) => [u.accessKey, { access: u.accessKey, secret: u.secretKey, role: 'user', userID: 1000 + i, groupID: 1000 + i, projectID: 0 }]),
  );
  writeFileSync(join(iamDir, 'users.json'), JSON.stringify({ accessAccounts: accounts }), { mode: 0o600 });
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(binary, dataDir, iamDir, root, users, options);
    } catch (err) {
      // A port we picked may be taken before we bind it; a port we were given is not retried.
      if (attempt >= START_ATTEMPTS || options.port !== undefined || !(err instanceof PortTakenError)) throw err;
      options.log?.('S3 server: port taken, retrying');
    }
  }
}

class PortTakenError extends Error {}

async function startOnce(
  binary: string,
  dataDir: string,
  iamDir: string,
  root: S3Account,
  users: S3Account[],
  options: S3ServerOptions,
): Promise<S3Server> {
  const port = options.port ?? (await freePort(HOST));
  const endpoint = `http://${HOST}:${port}`;
  options.log?.(`starting versitygw on ${endpoint}...`);
  const child = await spawnSupervised({
    name: 's3',
    command: binary,
    // --quiet: no per-request lines (they would name access keys) in the log.
    args: ['--port', `${HOST}:${port}`, '--quiet', '--health', HEALTH_PATH, '--iam-dir', iamDir, 'posix', dataDir],
    stateDir: options.stateDir,
    env: { ...serverEnvironment(), ROOT_ACCESS_KEY_ID: root.accessKey, ROOT_SECRET_ACCESS_KEY: root.secretKey },
    stopGraceMs: 5_000,
  });
  try {
    await child.waitFor(() => healthAnswers(endpoint), {
      timeoutMs: options.readyTimeoutMs ?? 30_000,
      what: `${endpoint}${HEALTH_PATH} to answer`,
      intervalMs: 100,
    });
  } catch (err) {
    await child.stop();
    if (/address already in use/i.test(child.logTail(50))) throw new PortTakenError((err as Error).message);
    throw err;
  }
  return describe(child, endpoint, port, dataDir, root, users);
}

function describe(child: SupervisedProcess, endpoint: string, port: number, dataDir: string, root: S3Account, users: S3Account[]): S3Server {
  return {
    endpoint,
    port,
    dataDir,
    root,
    users,
    pid: child.pid,
    logPath: child.logPath,
    clientEnv(account = root) {
      return {
        AWS_ACCESS_KEY_ID: account.accessKey,
        AWS_SECRET_ACCESS_KEY: account.secretKey,
        AWS_ENDPOINT_URL_S3: endpoint,
        AWS_REGION: 'us-east-1',
      };
    },
    stop: () => child.stop(),
  };
}

async function healthAnswers(endpoint: string): Promise<boolean> {
  const response = await fetch(`${endpoint}${HEALTH_PATH}`, { signal: AbortSignal.timeout(2_000) });
  await response.body?.cancel();
  return response.status === 200;
}

/** The server needs none of our settings or anyone's AWS keys: only its own. */
function serverEnvironment(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (key.startsWith('MILLRACE_') || key.startsWith('AWS_') || key.startsWith('ROOT_') || key.startsWith('VGW_')) continue;
    env[key] = value;
  }
  return env;
}
