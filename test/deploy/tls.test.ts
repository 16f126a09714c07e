/**
 * millrace on a Temporal cluster behind mTLS (issue 17; docs/deploy.md, "TLS and API
 * keys"): the Temporal server on PostgreSQL with its frontend requiring client
 * certificates of a CA made here with openssl. A `millrace worker` and `millrace run` get
 * only the standard settings (TEMPORAL_ADDRESS and TEMPORAL_TLS_* variables, or a profile of
 * Temporal's env-config file): the run succeeds. Another CA gives a one-line error, to a
 * command and to a worker.
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startJupyterServer, type JupyterServer } from '../../worker/jupyter-server.js';
import { startTemporalCluster, type TemporalCluster } from '../../bench/temporal-cluster.js';
import { startWorkerProcess } from '../../bench/worker-process.js';
import { codeCell, exited, notebook, runCli } from '../e2e/harness.js';

let dir: string;
let cluster: TemporalCluster;
let jupyter: JupyterServer;
let worker: ChildProcess | undefined;

/** A CA, and a certificate it signs for `name` (server and client use), in `dir`. */
function makeCa(dir: string, ca: string): void {
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=${ca}`, '-keyout', join(dir, `${ca}.key`), '-out', join(dir, `${ca}.pem`)], { stdio: 'ignore' });
}

function makeCert(dir: string, ca: string, name: string): void {
  const ext = join(dir, `${name}.ext`);
  execFileSync('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${name}`, '-keyout', join(dir, `${name}.key`), '-out', join(dir, `${name}.csr`)], { stdio: 'ignore' });
  execFileSync('sh', ['-c', `printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\nextendedKeyUsage=serverAuth,clientAuth\\n' > "${ext}"`]);
  execFileSync('openssl', ['x509', '-req', '-in', join(dir, `${name}.csr`), '-CA', join(dir, `${ca}.pem`), '-CAkey', join(dir, `${ca}.key`), '-CAcreateserial', '-days', '2', '-extfile', ext, '-out', join(dir, `${name}.pem`)], { stdio: 'ignore' });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'millrace-tls-'));
  await mkdir(join(dir, 'state'));
  makeCa(dir, 'ca');
  makeCa(dir, 'other-ca');
  makeCert(dir, 'ca', 'server');
  makeCert(dir, 'ca', 'client');
  const { readFileSync } = await import('node:fs');
  cluster = await startTemporalCluster({
    tls: { certFile: join(dir, 'server.pem'), keyFile: join(dir, 'server.key'), caFile: join(dir, 'ca.pem'), serverName: 'localhost' },
    clientOptions: {
      tls: {
        serverRootCACertificate: readFileSync(join(dir, 'ca.pem')),
        clientCertPair: { crt: readFileSync(join(dir, 'client.pem')), key: readFileSync(join(dir, 'client.key')) },
      },
    },
  });
  jupyter = await startJupyterServer({ stateDir: join(dir, 'jupyter') });
});

afterAll(async () => {
  if (worker) {
    worker.kill('SIGTERM');
    await exited(worker);
  }
  await jupyter?.stop();
  await cluster?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function env(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return {
    ...process.env,
    MILLRACE_TASK_QUEUE: 'tls',
    MILLRACE_STORE: join(dir, 'store'),
    MILLRACE_HOME: join(dir, 'state'),
    MILLRACE_JUPYTER_URL: jupyter.url,
    MILLRACE_JUPYTER_TOKEN: jupyter.token,
    HOME: dir,
    ...extra,
  };
}

it('a worker and a run over mTLS with the TEMPORAL_* variables or a profile; another CA fails in one line', async () => {
  const tlsEnv = {
    TEMPORAL_ADDRESS: cluster.address,
    TEMPORAL_NAMESPACE: cluster.namespace,
    TEMPORAL_TLS_SERVER_CA_CERT_PATH: join(dir, 'ca.pem'),
    TEMPORAL_TLS_CLIENT_CERT_PATH: join(dir, 'client.pem'),
    TEMPORAL_TLS_CLIENT_KEY_PATH: join(dir, 'client.key'),
  };
  worker = await startWorkerProcess(env(tlsEnv));
  const nb = join(dir, 'tls.ipynb');
  await writeFile(nb, JSON.stringify(notebook([codeCell('print(6 * 7)')])));

  const ran = await runCli(['run', nb], env(tlsEnv), dir);
  expect(ran.code, ran.stderr).toBe(0);
  expect(ran.stderr).not.toContain('DEP0123');

  // The same through a profile of Temporal's env-config file.
  const profile = join(dir, 'temporal.toml');
  await writeFile(
    profile,
    [
      '[profile.cluster]',
      `address = "${cluster.address}"`,
      `namespace = "${cluster.namespace}"`,
      '[profile.cluster.tls]',
      `server_ca_cert_path = "${join(dir, 'ca.pem')}"`,
      `client_cert_path = "${join(dir, 'client.pem')}"`,
      `client_key_path = "${join(dir, 'client.key')}"`,
      '',
    ].join('\n'),
  );
  const listed = await runCli(['runs', '--json'], env({ TEMPORAL_CONFIG_FILE: profile, TEMPORAL_PROFILE: 'cluster' }), dir);
  expect(listed.code, listed.stderr).toBe(0);
  expect(listed.stdout).toContain('"completed"');

  // The server's certificate checked against another CA: refused, in one line.
  const wrong = await runCli(['runs'], env({ ...tlsEnv, TEMPORAL_TLS_SERVER_CA_CERT_PATH: join(dir, 'other-ca.pem') }), dir);
  expect(wrong.code).not.toBe(0);
  expect(wrong.stderr.trim().split('\n')).toHaveLength(1);
  expect(wrong.stderr).toBe(
    `millrace: cannot reach Temporal at ${cluster.address}: Failed to connect before the deadline (TLS: check the server's CA certificate, the server name and the client certificate)\n`,
  );
  // A worker too.
  const wrongWorker = await runCli(['worker'], env({ ...tlsEnv, TEMPORAL_TLS_SERVER_CA_CERT_PATH: join(dir, 'other-ca.pem') }), dir);
  expect(wrongWorker.code).toBe(3);
  expect(wrongWorker.stderr.trim().split('\n')).toHaveLength(1);
  expect(wrongWorker.stderr).toMatch(new RegExp(`^millrace: cannot reach Temporal at ${cluster.address}: .*\\(TLS: check the server's CA certificate`));
}, 300_000);
