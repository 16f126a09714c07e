/**
 * What scripts/setup-docker.sh made for the tests of docker/ (kubeconform, Kubernetes'
 * schemas, podman-compose, the worker image and what compose's images are built from),
 * read off its KEY=VALUE lines. The script is cached and locked, so each test file calls
 * it: cheap once scripts/test-deploy.sh ran it.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { packageRoot } from '../../worker/paths.js';

const exec = promisify(execFile);

export interface DockerSetup {
  KUBECONFORM: string;
  K8S_SCHEMAS: string;
  PODMAN_COMPOSE: string;
  /** The Compose Specification's JSON schema. */
  COMPOSE_SCHEMA: string;
  /** Missing when podman is not installed, or not asked for. */
  WORKER_IMAGE?: string;
  /** With WORKER_IMAGE, for docker/compose.yaml: the debootstrap base, and images FROM scratch holding the host's Go builds in /out. */
  BASE_IMAGE?: string;
  TEMPORAL_BINARIES_IMAGE?: string;
  TEMPORAL_UI_BINARIES_IMAGE?: string;
  S3_BINARIES_IMAGE?: string;
}

/** `images: false`: the tools only, not the worker image. */
export async function dockerSetup(options: { images: boolean }): Promise<DockerSetup> {
  const { stdout } = await exec(join(packageRoot(), 'scripts', 'setup-docker.sh'), options.images ? [] : ['--no-images'], {
    cwd: packageRoot(),
    maxBuffer: 1 << 20,
    timeout: 30 * 60_000,
  });
  const values = Object.fromEntries(stdout.split('\n').filter((l) => /^[A-Z0-9_]+=/.test(l)).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  for (const key of ['KUBECONFORM', 'K8S_SCHEMAS', 'PODMAN_COMPOSE', 'COMPOSE_SCHEMA']) {
    if (!values[key]) throw new Error(`scripts/setup-docker.sh printed no ${key}`);
  }
  return values as unknown as DockerSetup;
}

/** Runs a command to completion: its exit code and output, whatever the code (tests assert on failures too). */
export async function run(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number; stdout: string; stderr: string }> {
  return exec(command, args, { env, maxBuffer: 16 << 20 }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (err: { code?: number; stdout?: string; stderr?: string }) => ({ code: typeof err.code === 'number' ? err.code : -1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' }),
  );
}
