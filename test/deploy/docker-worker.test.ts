/**
 * docker/worker/Dockerfile: the image scripts/setup-docker.sh builds with podman (runc,
 * explicit ulimits, from the Debian base image with this machine's Node copied in) runs a
 * notebook end to end: the container's `millrace worker`, with the Jupyter Server the
 * image starts for local kernels, polls a real Temporal server on PostgreSQL
 * (bench/temporal-cluster.ts) and writes the record to S3 (versitygw). The container gets
 * only what a user gives it: TEMPORAL_*, the task queue, the store and S3 credentials.
 * Host networking: the servers listen on 127.0.0.1, and no CNI bridge works here.
 */
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { Client, Connection } from '@temporalio/client';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTemporalCluster, type TemporalCluster } from '../../bench/temporal-cluster.js';
import { buildRunInput } from '../../cli/submit.js';
import { int } from '../../notebook/param-value.js';
import { readRecord } from '../../record/run-record.js';
import { packageRoot } from '../../worker/paths.js';
import { startJupyterServer } from '../../worker/jupyter-server.js';
import { freePortBelowEphemeral } from '../../worker/ports.js';
import { startS3Server, type S3Server } from '../../worker/s3-server.js';
import { codeCell, notebook, streamText, waitFor, type NotebookJson } from '../e2e/harness.js';
import { dockerSetup, run } from './docker-setup.js';

const BUCKET = 'millrace';
const STORE = `s3://${BUCKET}/store`;
// docker/containers.conf: runc and explicit ulimits, as the container kernels' tests use.
const PODMAN_ENV = { ...process.env, CONTAINERS_CONF: process.env['CONTAINERS_CONF'] ?? join(packageRoot(), 'docker', 'containers.conf') };

let image: string;
let cluster: TemporalCluster;
let s3: S3Server;
let dir: string;
let connection: Connection;
let client: Client;
let savedEnv: NodeJS.ProcessEnv | undefined;
const containers: string[] = [];

function podman(args: string[]): ReturnType<typeof run> {
  return run('podman', args, PODMAN_ENV);
}

beforeAll(async () => {
  const setup = await dockerSetup({ images: true });
  if (!setup.WORKER_IMAGE) throw new Error('scripts/setup-docker.sh built no worker image: podman is needed (apt-get install podman)');
  image = setup.WORKER_IMAGE;
  dir = await mkdtemp(join(tmpdir(), 'millrace-docker-worker-'));
  cluster = await startTemporalCluster();
  s3 = await startS3Server({ stateDir: join(dir, 's3') });
  const s3Client = new S3Client({
    endpoint: s3.endpoint,
    forcePathStyle: true,
    region: 'us-east-1',
    credentials: { accessKeyId: s3.root.accessKey, secretAccessKey: s3.root.secretKey },
  });
  await s3Client.send(new CreateBucketCommand({ Bucket: BUCKET }));
  s3Client.destroy();
  // The client side (submitting, reading the record) reaches S3 as the container does.
  savedEnv = { ...process.env };
  process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] = 'true';
  Object.assign(process.env, s3.clientEnv());
  connection = await Connection.connect({ address: cluster.address });
  client = new Client({ connection, namespace: cluster.namespace });
}, 30 * 60_000);

afterAll(async () => {
  for (const name of containers) await podman(['rm', '--force', '--time', '5', name]);
  await connection?.close();
  await s3?.stop();
  await cluster?.stop();
  if (savedEnv) process.env = savedEnv;
  if (dir) await rm(dir, { recursive: true, force: true });
}, 120_000);

describe('the worker image (docker/worker/Dockerfile)', () => {
  it('runs as a non-root user, carries a health check, and says when it is unhealthy', async () => {
    const inspect = JSON.parse((await podman(['image', 'inspect', image])).stdout) as Array<{ Size: number; Config: { User?: string }; Healthcheck?: { Test?: string[] } }>;
    const info = inspect[0]!;
    expect(info.Config.User).toBe('millrace');
    expect(info.Healthcheck?.Test).toEqual(['CMD', 'node', '/opt/millrace/dist/cli/container-entry.js', 'healthcheck']);
    console.log(`worker image ${image}: ${Math.round(info.Size / 1e6)} MB`);
    // Before the worker has a Jupyter Server, the check fails with one line.
    const check = await podman(['run', '--rm', '--network', 'none', '--no-healthcheck', image, 'healthcheck']);
    expect(check.code).toBe(1);
    expect(check.stderr.trim()).toMatch(/^unhealthy: no Jupyter Server yet/);
    const version = await podman(['run', '--rm', '--network', 'none', '--no-healthcheck', image, '--version']);
    expect(version.code).toBe(0);
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  }, 120_000);

  it('runs a notebook end to end against the Temporal server on PostgreSQL, record on S3', async () => {
    const taskQueue = `image-${randomBytes(3).toString('hex')}`;
    const name = `millrace-worker-${taskQueue}`;
    const env = {
      TEMPORAL_ADDRESS: cluster.address,
      TEMPORAL_NAMESPACE: cluster.namespace,
      MILLRACE_TASK_QUEUE: taskQueue,
      MILLRACE_STORE: STORE,
      ...s3.clientEnv(),
    };
    containers.push(name);
    const started = await podman([
      // podman's health timers need systemd (absent here: it says so on stderr); the test
      // runs the check itself.
      'run', '--detach', '--name', name, '--network', 'host', '--init',
      '--ulimit', 'nofile=4096:4096', '--ulimit', 'nproc=4096:4096',
      ...Object.entries(env).flatMap(([k, v]) => ['--env', `${k}=${v}`]),
      image, 'worker', '--kernel-pool', '0',
    ]);
    expect(started.code, started.stderr).toBe(0);
    await waitFor('the container to be healthy', async () => ((await podman(['healthcheck', 'run', name])).code === 0 ? true : undefined), 180_000);

    const nbPath = join(dir, 'in-container.ipynb');
    const nb: NotebookJson = notebook([
      codeCell('n = 1', ['parameters']),
      codeCell('import os, sys\nprint(f"uid={os.getuid()} image={os.path.exists(\'/opt/millrace/package.json\')} python={sys.executable}")'),
      codeCell('print(n * 21)'),
    ]);
    await writeFile(nbPath, JSON.stringify(nb));
    const config = { namespace: cluster.namespace, taskQueue, stateDir: join(dir, 'state'), storeRoot: STORE, temporalAddress: cluster.address };
    const input = await buildRunInput(config, { notebookPath: nbPath, params: { n: int(2) } });
    await client.workflow.start('notebookRun', { taskQueue, workflowId: input.runId, args: [input] });
    const result = await client.workflow.getHandle(input.runId).result();
    expect(result.status).toBe('completed');

    const record = (await readRecord(input.output)).notebook as unknown as NotebookJson;
    const texts = record.cells.map((c) => streamText(c));
    // The kernel ran in the container, as its user, in the image's Python environment.
    expect(texts.join('')).toMatch(/uid=10001 image=True python=\/opt\/cache\/millrace\/venv-[0-9a-f]{12}\/bin\/python/);
    expect(texts.at(-1)).toBe('42\n');

    // SIGTERM drains the worker and stops its Jupyter Server: a clean exit.
    const stop = await podman(['stop', '--time', '60', name]);
    expect(stop.code).toBe(0);
    const state = JSON.parse((await podman(['inspect', name])).stdout) as Array<{ State: { ExitCode: number } }>;
    const logs = await podman(['logs', name]);
    expect(logs.stdout + logs.stderr).toContain(`worker polling task queue ${taskQueue} on ${cluster.address}`);
    expect(state[0]!.State.ExitCode).toBe(0);
  }, 300_000);
  it("checks a gateway's health with the worker's token (compose, Kubernetes), and serves the viewer", async () => {
    // A Jupyter Server on this host stands in for the gateway the workers share.
    const gateway = await startJupyterServer({ stateDir: join(dir, 'gateway') });
    try {
      const check = (token: string) =>
        podman(['run', '--rm', '--network', 'host', '--no-healthcheck', '--env', `MILLRACE_JUPYTER_URL=${gateway.url}`, '--env', `MILLRACE_JUPYTER_TOKEN=${token}`, image, 'healthcheck']);
      expect((await check(gateway.token)).code).toBe(0);
      const wrong = await check('not-the-token');
      expect(wrong.code).toBe(1);
      expect(wrong.stderr.trim()).toBe(`unhealthy: ${gateway.url} answered 403`);
    } finally {
      await gateway.stop();
    }

    // `serve`, as compose and docker/k8s/serve.yaml run it: the store over HTTP, behind the token.
    const name = `millrace-serve-${randomBytes(3).toString('hex')}`;
    // Below the ephemeral range: the container binds it seconds after it is chosen.
    const port = await freePortBelowEphemeral();
    const token = randomBytes(16).toString('hex');
    containers.push(name);
    const started = await podman([
      'run', '--detach', '--name', name, '--network', 'host', '--init', '--no-healthcheck',
      '--ulimit', 'nofile=4096:4096', '--ulimit', 'nproc=4096:4096',
      '--env', `MILLRACE_STORE=${STORE}`, '--env', `MILLRACE_SERVE_TOKEN=${token}`,
      ...Object.entries(s3.clientEnv()).flatMap(([k, v]) => ['--env', `${k}=${v}`]),
      image, 'serve', '--host', '127.0.0.1', '--port', String(port),
    ]);
    expect(started.code, started.stderr).toBe(0);
    const url = `http://127.0.0.1:${port}/`;
    const status = (headers: Record<string, string>) => fetch(url, { headers }).then((r) => r.status);
    await waitFor('serve to answer', async () => ((await status({ Authorization: `token ${token}` })) === 200 ? true : undefined), 60_000);
    expect(await status({})).toBe(401);
    expect((await podman(['stop', '--time', '30', name])).code).toBe(0);
  }, 180_000);
});
