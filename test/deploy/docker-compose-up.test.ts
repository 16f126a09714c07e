/**
 * docker/compose.yaml brought up with podman-compose, as a user would, with no registry:
 * every image is built here from the debootstrap base image (the Go programs come from the
 * host's builds in images scripts/setup-docker.sh makes FROM scratch; the millrace image is
 * the one it built), `up -d`, every service healthy by its own healthcheck, a notebook run
 * submitted by `millrace run` on this host to the compose Temporal server, run by a compose
 * worker with its kernel on the compose gateway, its record in the compose S3 server, read
 * back through the compose `serve`; then `down -v` leaves no container, pod, network or
 * volume behind. Host ports are free ones, the project name and secrets the test's own.
 *
 * podman 4.3 runs no healthcheck timers without systemd, and podman-compose skips
 * `service_healthy` conditions before podman 4.6 (it warns): the test runs each check
 * itself, and the images' entry points wait for what they need.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readRecord } from '../../record/run-record.js';
import { packageRoot } from '../../worker/paths.js';
import { freePortBelowEphemeral } from '../../worker/ports.js';
import { codeCell, notebook, runCli, streamText, waitFor, type NotebookJson } from '../e2e/harness.js';
import { dockerSetup, run } from './docker-setup.js';

const COMPOSE = join(packageRoot(), 'docker', 'compose.yaml');
const SERVICES = ['postgres', 'temporal', 'temporal-ui', 's3', 'gateway', 'worker-1', 'worker-2', 'serve'];
/** The images podman-compose builds (the millrace image is scripts/setup-docker.sh's). */
const BUILT = ['postgres', 'temporal', 'temporal-ui', 's3', 'gateway'];

const project = `millrace-t${randomBytes(3).toString('hex')}`;
const serveToken = randomBytes(16).toString('hex');
const s3Secret = randomBytes(16).toString('hex');
let dir: string;
let composeEnv: NodeJS.ProcessEnv;
let compose: (args: string[]) => ReturnType<typeof run>;
const ports = { temporal: 0, ui: 0, s3: 0, serve: 0 };
let savedEnv: NodeJS.ProcessEnv | undefined;

function podman(args: string[]): ReturnType<typeof run> {
  return run('podman', args, composeEnv);
}

/** What is left of the project: the names of one kind (container, pod, network, volume) that carry its name. */
async function leftovers(kind: 'container' | 'pod' | 'network' | 'volume'): Promise<string[]> {
  const list = kind === 'container' ? ['ps', '--all'] : [kind, kind === 'pod' ? 'ps' : 'ls'];
  const result = await podman([...list, '--format', kind === 'container' ? '{{.Names}}' : '{{.Name}}']);
  expect(result.code, result.stderr).toBe(0);
  return result.stdout.split('\n').filter((name) => name.includes(project));
}

beforeAll(async () => {
  const setup = await dockerSetup({ images: true });
  if (!setup.WORKER_IMAGE || !setup.TEMPORAL_BINARIES_IMAGE) throw new Error('scripts/setup-docker.sh built no images: podman is needed (apt-get install podman)');
  dir = await mkdtemp(join(tmpdir(), 'millrace-compose-up-'));
  const secrets = join(dir, 'secrets');
  await mkdir(secrets);
  await writeFile(join(secrets, 'postgres-password'), randomBytes(12).toString('hex'));
  await writeFile(join(secrets, 'jupyter-token'), randomBytes(12).toString('hex'));
  await writeFile(join(secrets, 'serve-token'), serveToken);
  await writeFile(join(secrets, 'aws-credentials'), `[default]\naws_access_key_id = millrace\naws_secret_access_key = ${s3Secret}\n`);
  // Below the ephemeral range: they are bound by `up`, minutes after they are chosen (the build comes first).
  const taken = new Set<number>();
  for (const key of Object.keys(ports) as Array<keyof typeof ports>) ports[key] = await freePortBelowEphemeral(taken);
  composeEnv = {
    ...process.env,
    CONTAINERS_CONF: process.env['CONTAINERS_CONF'] ?? join(packageRoot(), 'docker', 'containers.conf'),
    BASE_IMAGE: setup.BASE_IMAGE,
    TEMPORAL_BINARIES_IMAGE: setup.TEMPORAL_BINARIES_IMAGE,
    TEMPORAL_UI_BINARIES_IMAGE: setup.TEMPORAL_UI_BINARIES_IMAGE,
    S3_BINARIES_IMAGE: setup.S3_BINARIES_IMAGE,
    MILLRACE_WORKER_IMAGE: setup.WORKER_IMAGE,
    MILLRACE_SECRETS: secrets,
    TEMPORAL_PORT: String(ports.temporal),
    TEMPORAL_UI_PORT: String(ports.ui),
    S3_PORT: String(ports.s3),
    SERVE_PORT: String(ports.serve),
  };
  compose = (args) => run(setup.PODMAN_COMPOSE, ['-p', project, '-f', COMPOSE, ...args], composeEnv);
  // Built here (podman's layer cache makes an unchanged one cheap); `up` then builds
  // nothing: the millrace image exists.
  const built = await compose(['build', ...BUILT]);
  expect(built.code, built.stderr.slice(-3000)).toBe(0);
}, 30 * 60_000);

afterAll(async () => {
  if (compose) await compose(['down', '--volumes', '--timeout', '10']);
  if (savedEnv) process.env = savedEnv;
  if (dir) await rm(dir, { recursive: true, force: true });
}, 120_000);

describe('docker/compose.yaml, up with podman-compose', () => {
  it('comes up healthy, runs a notebook on a compose worker with its record in the compose S3, serves it, and `down -v` leaves nothing', async () => {
    const up = await compose(['up', '-d']);
    expect(up.code, up.stderr.slice(-3000)).toBe(0);
    const names = await leftovers('container');
    // podman-compose names containers <project>_<service>_1.
    expect(names.map((n) => n.slice(project.length + 1).replace(/_1$/, '')).sort()).toEqual([...SERVICES].sort());
    for (const name of names) {
      await waitFor(`${name} to be healthy`, async () => ((await podman(['healthcheck', 'run', name])).code === 0 ? true : undefined), 240_000).catch(async (err: Error) => {
        const logs = await podman(['logs', '--tail', '30', name]);
        throw new Error(`${err.message}\n${logs.stdout}${logs.stderr}`);
      });
    }

    // The host's millrace reaches the compose Temporal server and S3 on their published ports.
    const client = {
      TEMPORAL_ADDRESS: `127.0.0.1:${ports.temporal}`,
      TEMPORAL_NAMESPACE: 'default',
      MILLRACE_TASK_QUEUE: 'millrace',
      MILLRACE_STORE: 's3://millrace/store',
      AWS_ENDPOINT_URL: `http://127.0.0.1:${ports.s3}`,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'millrace',
      AWS_SECRET_ACCESS_KEY: s3Secret,
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    };
    const env: NodeJS.ProcessEnv = { ...process.env, ...client, MILLRACE_HOME: join(dir, 'home'), CI: 'true' };
    delete env['AWS_SHARED_CREDENTIALS_FILE'];
    delete env['AWS_PROFILE'];
    const nbPath = join(dir, 'compose.ipynb');
    const nb: NotebookJson = notebook([
      codeCell('n = 1', ['parameters']),
      // The kernel is the gateway's, in its container: Enterprise Gateway's venv.
      codeCell('import sys\nprint(sys.prefix)'),
      codeCell('print(n * 21)'),
    ]);
    await writeFile(nbPath, JSON.stringify(nb));
    // The working directory is the workers' (the default, this test's folder, is not there).
    const result = await runCli(['run', nbPath, '-p', 'n', '2', '--cwd', '/tmp', '--json'], env, dir);
    expect(result.code, result.stdout + result.stderr).toBe(0);
    const outcome = JSON.parse(result.stdout) as { run_id: string; status: string; output: string };
    expect(outcome.status).toBe('completed');
    expect(outcome.output).toMatch(/^s3:\/\/millrace\/store\//);

    // The record, in the compose S3 server.
    savedEnv = { ...process.env };
    Object.assign(process.env, client);
    const record = (await readRecord(outcome.output)).notebook as unknown as NotebookJson;
    const texts = record.cells.map((c) => streamText(c));
    expect(texts).toContain('/opt/gateway\n');
    expect(texts.at(-1)).toBe('42\n');
    // One of the two compose workers ran it.
    const polled = await Promise.all(['worker-1', 'worker-2'].map(async (s) => await podman(['logs', `${project}_${s}_1`])));
    for (const log of polled) expect(log.stdout + log.stderr).toContain('worker polling task queue millrace on temporal:7233');

    // Through the compose `serve`: the run's page, behind the token.
    const page = `http://127.0.0.1:${ports.serve}/runs/${encodeURIComponent(outcome.run_id)}`;
    const unauthorized = await fetch(page);
    expect(unauthorized.status).toBe(401);
    const served = await fetch(page, { headers: { Authorization: `token ${serveToken}` } });
    expect(served.status).toBe(200);
    expect(await served.text()).toContain('42');

    // The Temporal UI answers, and lists the run through the compose Temporal.
    const ui = await fetch(`http://127.0.0.1:${ports.ui}/api/v1/namespaces/default/workflows/${encodeURIComponent(outcome.run_id)}`);
    expect(ui.status).toBe(200);

    const down = await compose(['down', '--volumes', '--timeout', '10']);
    expect(down.code, down.stderr.slice(-3000)).toBe(0);
    expect(await leftovers('container')).toEqual([]);
    expect(await leftovers('pod')).toEqual([]);
    expect(await leftovers('network')).toEqual([]);
    expect(await leftovers('volume')).toEqual([]);
  }, 900_000);
});
