/**
 * A Trino server for the tests of SQL jobs on the trino engine: the one scripts/setup-trino.sh
 * installs in the cache, as a single coordinator that also runs the work, with the catalogs
 * tpch and memory, on free loopback ports. Clients reach it over HTTPS (a self-signed
 * certificate made here by keytool) with a password checked by Trino's password file
 * authenticator, so the tests use a real credential. Start it once per test file: it
 * takes seconds and about 1 GB of heap at most.
 */
import { execFile } from 'node:child_process';
import { pbkdf2Sync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { cacheDir } from '../../worker/paths.js';
import { freePort } from '../../worker/ports.js';
import { spawnSupervised } from '../../worker/process.js';

const run = promisify(execFile);
const HOST = '127.0.0.1';
export const TRINO_VERSION = '476';

export interface TrinoServer {
  /** https://127.0.0.1:PORT */
  endpoint: string;
  user: string;
  /** The user's password: a secret that must appear in no record or history. */
  password: string;
  /** The PEM certificate clients verify the server with. */
  caFile: string;
  /** A trino:// URL with the password, for a connection's url_file or environment variable. */
  url(path?: string): string;
  /** Milliseconds from spawn to the first successful query on the memory catalog. */
  startMs: number;
  pid: number;
  logPath: string;
  stop(): Promise<void>;
}

function trinoHome(): { home: string; javaHome: string } {
  const home = join(cacheDir(), `trino-server-${TRINO_VERSION}`);
  if (!existsSync(join(home, '.millrace-complete'))) {
    throw new Error(`Trino ${TRINO_VERSION} is not installed (expected at ${home}): run scripts/setup.sh (it needs Java 22+ and mvn)`);
  }
  return { home, javaHome: readFileSync(join(home, 'java-home'), 'utf8').trim() };
}

function properties(values: Record<string, string | number | boolean>): string {
  return Object.entries(values)
    .map(([k, v]) => `${k}=${v}`)
    .join('\n') + '\n';
}

/** One HTTPS request to the server as `user`, verifying it with its certificate. */
function call(endpoint: string, ca: string, method: string, path: string, auth: string, body?: string): Promise<{ status: number; text: string }> {
  return new Promise((resolvePromise, reject) => {
    const req = request(
      `${endpoint}${path}`,
      { method, ca, timeout: 5_000, headers: { authorization: auth, 'x-trino-user': 'millrace', ...(body ? { 'content-type': 'text/plain' } : {}) } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end(body);
  });
}

/** Runs one statement to its end: undefined when it succeeded, else the error's message. */
async function runStatement(endpoint: string, ca: string, auth: string, sql: string): Promise<string | undefined> {
  let page = JSON.parse((await call(endpoint, ca, 'POST', '/v1/statement', auth, sql)).text);
  while (!page.error && page.nextUri) page = JSON.parse((await call(endpoint, ca, 'GET', new URL(page.nextUri).pathname, auth)).text);
  return page.error ? String(page.error.message) : undefined;
}

/**
 * Whether the server runs the tests' kind of work: read tpch, write memory. /v1/info says
 * `starting: false` a few seconds before a node is active (a query in between fails with
 * "No nodes available"), each catalog learns its nodes on its own ("nodes is empty" from
 * tpch after memory already worked), and the node list can still drop out once right after
 * a first success (seen here). So: that query succeeds on every probe for STABLE_MS.
 */
const STABLE_MS = 3_000;

function readiness(endpoint: string, ca: string, auth: string): () => Promise<boolean> {
  let since: number | undefined;
  let probe = 0;
  return async () => {
    const table = `memory.default.millrace_ready_${probe++}`;
    const failed = await runStatement(endpoint, ca, auth, `CREATE TABLE ${table} AS SELECT count(*) AS n FROM tpch.tiny.orders o JOIN tpch.tiny.customer c ON c.custkey = o.custkey`).catch((err: Error) => err.message);
    if (failed !== undefined) {
      since = undefined;
      return false;
    }
    if ((await runStatement(endpoint, ca, auth, `DROP TABLE ${table}`)) !== undefined) return false;
    since ??= Date.now();
    return Date.now() - since >= STABLE_MS;
  };
}

export async function startTrino(stateDir: string): Promise<TrinoServer> {
  const { home, javaHome } = trinoHome();
  const etc = join(stateDir, 'trino-etc');
  mkdirSync(join(etc, 'catalog'), { recursive: true });
  const user = 'millrace';
  const password = `trino-pw-${randomBytes(9).toString('hex')}`;
  const storePass = randomBytes(12).toString('hex');
  const keystore = join(etc, 'keystore.p12');
  const caFile = join(etc, 'server.pem');
  const keytool = join(javaHome, 'bin', 'keytool');
  await run(keytool, ['-genkeypair', '-alias', 'trino', '-keyalg', 'EC', '-groupname', 'secp256r1', '-validity', '2', '-dname', 'CN=127.0.0.1', '-ext', 'SAN=ip:127.0.0.1,dns:localhost', '-keystore', keystore, '-storetype', 'PKCS12', '-storepass', storePass]);
  await run(keytool, ['-exportcert', '-rfc', '-alias', 'trino', '-keystore', keystore, '-storepass', storePass, '-file', caFile]);
  // Trino's password file takes PBKDF2 (HmacSHA1) as ITERATIONS:SALT:HASH in hex.
  const salt = randomBytes(16);
  const hash = pbkdf2Sync(password, salt, 1000, 32, 'sha1');
  writeFileSync(join(etc, 'password.db'), `${user}:1000:${salt.toString('hex')}:${hash.toString('hex')}\n`, { mode: 0o600 });
  writeFileSync(join(etc, 'node.properties'), properties({ 'node.environment': 'test', 'node.id': 'millrace-test', 'node.data-dir': join(stateDir, 'trino-data') }));
  // A modest heap: the machine has 2 cores and CI runs everything beside this server.
  writeFileSync(
    join(etc, 'jvm.config'),
    ['-server', '-Xmx1G', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', '-XX:+ExitOnOutOfMemoryError', '-Djdk.attach.allowAttachSelf=true'].join('\n') + '\n',
  );
  writeFileSync(join(etc, 'password-authenticator.properties'), properties({ 'password-authenticator.name': 'file', 'file.password-file': join(etc, 'password.db') }));
  writeFileSync(join(etc, 'catalog', 'tpch.properties'), properties({ 'connector.name': 'tpch' }));
  writeFileSync(join(etc, 'catalog', 'memory.properties'), properties({ 'connector.name': 'memory' }));
  const started = Date.now();
  const ca = readFileSync(caFile, 'utf8');
  const auth = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  /** Trino on two ports probed free; undefined when another process took one before Trino bound it. */
  const startOn = async (httpPort: number, httpsPort: number) => {
    writeFileSync(
      join(etc, 'config.properties'),
      properties({
        coordinator: true,
        'node-scheduler.include-coordinator': true,
        'node.bind-ip': HOST,
        'node.internal-address': HOST,
        'http-server.http.port': httpPort,
        'http-server.https.enabled': true,
        'http-server.https.port': httpsPort,
        'http-server.https.keystore.path': keystore,
        'http-server.https.keystore.key': storePass,
        'http-server.authentication.type': 'PASSWORD',
        'internal-communication.shared-secret': randomBytes(24).toString('base64'),
        'discovery.uri': `http://${HOST}:${httpPort}`,
        // One node that is its own worker: under the suite's load its heartbeats to itself come
        // late, the failure detector marks it failed, and queries on the memory catalog fail
        // with "nodes is empty" (seen in CI). A lone node has nobody to fail over to anyway.
        'failure-detector.enabled': false,
        'query.max-memory': '256MB',
        'query.max-memory-per-node': '256MB',
      }),
    );
    const child = await spawnSupervised({
      name: 'trino',
      command: join(home, 'bin', 'launcher'),
      args: ['run', `--etc-dir=${etc}`, `--data-dir=${join(stateDir, 'trino-data')}`],
      stateDir,
      env: { PATH: `${join(javaHome, 'bin')}:${process.env['PATH'] ?? ''}`, JAVA_HOME: javaHome, HOME: process.env['HOME'] ?? stateDir },
      stopGraceMs: 10_000,
    });
    const endpoint = `https://${HOST}:${httpsPort}`;
    try {
      const ready = readiness(endpoint, ca, auth);
      await child.waitFor(() => ready().catch(() => false), { timeoutMs: 120_000, what: 'Trino to read tpch and write memory steadily', intervalMs: 250 });
    } catch (err) {
      await child.stop();
      if (/Address already in use/i.test(child.logText())) return undefined;
      throw err;
    }
    return { child, endpoint, httpsPort };
  };
  // Trino binds its ports seconds after they were probed: another process may take one meanwhile.
  let up: Awaited<ReturnType<typeof startOn>>;
  for (let attempt = 1; !up; attempt++) {
    up = await startOn(await freePort(HOST), await freePort(HOST));
    if (!up && attempt === 3) throw new Error('Trino lost a port to another process three times');
  }
  const { child, endpoint, httpsPort } = up;
  return {
    endpoint,
    user,
    password,
    caFile,
    url: (path = '') => `trino://${user}:${encodeURIComponent(password)}@${HOST}:${httpsPort}${path}?verify=${encodeURIComponent(caFile)}`,
    startMs: Date.now() - started,
    pid: child.pid,
    logPath: child.logPath,
    stop: () => child.stop(),
  };
}
