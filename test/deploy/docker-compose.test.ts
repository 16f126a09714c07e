/**
 * docker/compose.yaml validated (docker-compose-up.test.ts brings it up): by
 * podman-compose's own `config`, by the Compose Specification's JSON schema, and by what
 * the file promises (docs/deploy.md): the services, a healthcheck and a build argument
 * for the base of every image, no dangling reference.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { packageRoot, venvPython } from '../../worker/paths.js';
import { dockerSetup, run, type DockerSetup } from './docker-setup.js';

const COMPOSE = join(packageRoot(), 'docker', 'compose.yaml');
const SERVICES = ['postgres', 'temporal', 'temporal-ui', 's3', 'gateway', 'worker-1', 'worker-2', 'serve'];

let setup: DockerSetup;
let dir: string;

beforeAll(async () => {
  setup = await dockerSetup({ images: false });
  dir = await mkdtemp(join(tmpdir(), 'millrace-compose-'));
}, 30 * 60_000);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** `podman-compose config` of a file in docker/ (relative paths resolve against it). */
async function composeConfig(file: string, env: NodeJS.ProcessEnv = process.env) {
  return run(setup.PODMAN_COMPOSE, ['-f', file, 'config'], env);
}

async function schemaErrors(file: string): Promise<{ code: number; lines: string[] }> {
  const result = await run(venvPython(), [join(packageRoot(), 'test', 'deploy', 'compose_schema.py'), setup.COMPOSE_SCHEMA, file]);
  return { code: result.code, lines: result.stdout.split('\n').filter(Boolean) };
}

interface Service {
  build?: { context: string; dockerfile: string; args?: string[] | Record<string, string> };
  healthcheck?: { test: string[] };
  depends_on?: Record<string, unknown>;
  secrets?: string[];
  volumes?: string[];
}

function buildArgs(service: Service): Record<string, string> {
  const args = service.build?.args ?? {};
  return Array.isArray(args) ? Object.fromEntries(args.map((a) => [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)])) : args;
}

/** A copy of docker/compose.yaml, changed, in the test's folder. */
async function variant(name: string, change: (text: string) => string): Promise<string> {
  const text = await readFile(COMPOSE, 'utf8');
  const changed = change(text);
  expect(changed).not.toBe(text);
  const path = join(dir, `${name}.yaml`);
  await writeFile(path, changed);
  return path;
}

describe('docker/compose.yaml', () => {
  it("passes podman-compose config and the Compose Specification's schema", async () => {
    const config = await composeConfig(COMPOSE);
    expect(config.stderr).toBe('');
    expect(config.code).toBe(0);
    const schema = await schemaErrors(COMPOSE);
    expect(schema.lines).toEqual([]);
    expect(schema.code).toBe(0);
  });

  it('has every service, each with a healthcheck, an image built from a base build argument, no dangling reference', async () => {
    const resolved = parse((await composeConfig(COMPOSE)).stdout) as {
      services: Record<string, Service>;
      secrets: Record<string, unknown>;
      volumes: Record<string, unknown>;
    };
    expect(Object.keys(resolved.services).sort()).toEqual([...SERVICES].sort());
    for (const [name, service] of Object.entries(resolved.services)) {
      expect(service.healthcheck?.test.length, `${name}: healthcheck`).toBeGreaterThan(1);
      expect(buildArgs(service)['BASE'], `${name}: build argument BASE`).toMatch(/\S/);
      await expect(readFile(join(service.build!.context, service.build!.dockerfile), 'utf8'), `${name}: its Dockerfile`).resolves.toMatch(/^ARG BASE\b/m);
      for (const dep of Object.keys(service.depends_on ?? {})) expect(SERVICES, `${name} depends on ${dep}`).toContain(dep);
      for (const secret of service.secrets ?? []) expect(Object.keys(resolved.secrets), `${name}: secret ${secret}`).toContain(secret);
      for (const volume of service.volumes ?? []) expect(Object.keys(resolved.volumes), `${name}: volume ${volume}`).toContain(volume.split(':')[0]);
    }
    // The two workers share one gateway and one task queue (docs/deploy.md).
    for (const worker of ['worker-1', 'worker-2']) {
      const env = (resolved.services[worker] as { environment: Record<string, string> }).environment;
      expect(env).toMatchObject({ MILLRACE_JUPYTER_URL: 'http://gateway:8888', MILLRACE_TASK_QUEUE: 'millrace', TEMPORAL_ADDRESS: 'temporal:7233' });
    }
  });

  it('takes the bases from the environment: the same file builds from locally made images', async () => {
    const env = { ...process.env, BASE_IMAGE: 'localhost/millrace-base:test', GO_BASE_IMAGE: 'localhost/millrace-go:test', NODE_BASE_IMAGE: 'localhost/millrace-node:test' };
    const resolved = parse((await composeConfig(COMPOSE, env)).stdout) as { services: Record<string, Service> };
    expect(buildArgs(resolved.services['postgres']!)).toEqual({ BASE: 'localhost/millrace-base:test' });
    // The Go programs are built in the Go image (the stage "build") unless an image holding them is named.
    expect(buildArgs(resolved.services['temporal']!)).toEqual({ BASE: 'localhost/millrace-base:test', GO_BASE: 'localhost/millrace-go:test', BINARIES: 'build' });
    expect(buildArgs(resolved.services['worker-1']!)).toEqual({ BASE: 'localhost/millrace-node:test' });
    const prebuilt = { ...env, TEMPORAL_BINARIES_IMAGE: 'localhost/t:1', TEMPORAL_UI_BINARIES_IMAGE: 'localhost/u:1', S3_BINARIES_IMAGE: 'localhost/s:1' };
    const binaries = parse((await composeConfig(COMPOSE, prebuilt)).stdout) as { services: Record<string, Service> };
    expect(['temporal', 'temporal-ui', 's3'].map((s) => buildArgs(binaries.services[s]!)['BINARIES'])).toEqual(['localhost/t:1', 'localhost/u:1', 'localhost/s:1']);
  });

  it('a broken file fails: a misspelt key (schema), a build that is not a mapping (podman-compose)', async () => {
    const misspelt = await variant('misspelt', (t) => t.replace('    healthcheck:\n      test: [CMD, /usr/local/lib/postgresql-bin/pg_isready', '    healthchek:\n      test: [CMD, /usr/local/lib/postgresql-bin/pg_isready'));
    const badBuild = await variant('bad-build', (t) => t.replace('  worker-2:\n    <<: *millrace\n', '  worker-2:\n    <<: *millrace\n    build: [docker/worker]\n'));
    try {
      const schema = await schemaErrors(misspelt);
      expect(schema.code).toBe(1);
      expect(schema.lines.join('\n')).toMatch(/^services\/postgres: (Additional|Unevaluated) properties are not allowed \('healthchek' was unexpected\)/m);
      const config = await composeConfig(badBuild);
      expect(config.code).not.toBe(0);
      expect((await schemaErrors(badBuild)).lines.join('\n')).toMatch(/^services\/worker-2\/build: /m);
    } finally {
      await rm(misspelt, { force: true });
      await rm(badBuild, { force: true });
    }
  });
});
