/**
 * docker/k8s: no cluster runs here, so the manifests are validated against Kubernetes'
 * JSON schemas (kubeconform, strict: a misspelt field is an error), made offline from the
 * OpenAPI document of the Kubernetes release scripts/setup-docker.sh names.
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { packageRoot } from '../../worker/paths.js';
import { dockerSetup, run, type DockerSetup } from './docker-setup.js';

const K8S = join(packageRoot(), 'docker', 'k8s');

let setup: DockerSetup;
let dir: string;

beforeAll(async () => {
  setup = await dockerSetup({ images: false });
  dir = await mkdtemp(join(tmpdir(), 'millrace-k8s-'));
}, 30 * 60_000);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface Result {
  code: number;
  summary: { valid: number; invalid: number; errors: number; skipped: number };
  messages: string[];
}

/** kubeconform, strict, with the schemas made offline; missing schemas are errors (no -ignore-missing-schemas). */
async function kubeconform(files: string[]): Promise<Result> {
  const args = ['-strict', '-summary', '-output', 'json', '-schema-location', join(setup.K8S_SCHEMAS, '{{ .ResourceKind }}{{ .KindSuffix }}.json'), ...files];
  const { code, stdout } = await run(setup.KUBECONFORM, args);
  const parsed = JSON.parse(stdout) as { resources?: Array<{ msg?: string }>; summary: Result['summary'] };
  return { code, summary: parsed.summary, messages: (parsed.resources ?? []).map((r) => r.msg ?? '') };
}

async function manifests(): Promise<string[]> {
  return (await readdir(K8S)).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml').sort();
}

describe('docker/k8s manifests', () => {
  it("validate against Kubernetes' schemas: every resource valid, none skipped", async () => {
    const files = await manifests();
    const documents = (await Promise.all(files.map(async (f) => (await readFile(join(K8S, f), 'utf8')).split(/^---$/m).filter((d) => parse(d))))).flat();
    const result = await kubeconform(files.map((f) => join(K8S, f)));
    expect(result.messages).toEqual([]);
    expect(result.code).toBe(0);
    expect(result.summary).toEqual({ valid: documents.length, invalid: 0, errors: 0, skipped: 0 });
    const kinds = documents.map((d) => (parse(d) as { kind: string }).kind);
    for (const kind of ['Deployment', 'Service', 'ConfigMap', 'Secret', 'HorizontalPodAutoscaler', 'ServiceAccount', 'ClusterRole', 'ClusterRoleBinding']) {
      expect(kinds).toContain(kind);
    }
  });

  it('kustomization.yaml lists every manifest', async () => {
    const kustomization = parse(await readFile(join(K8S, 'kustomization.yaml'), 'utf8')) as { resources: string[] };
    expect([...kustomization.resources].sort()).toEqual(await manifests());
  });

  it('a broken manifest fails: a wrong type, a misspelt field, an unknown kind', async () => {
    const worker = await readFile(join(K8S, 'worker.yaml'), 'utf8');
    expect(worker).toContain('replicas: 2');
    expect(worker).toContain('image: millrace-worker:latest');
    const wrongType = join(dir, 'wrong-type.yaml');
    await writeFile(wrongType, worker.replace('replicas: 2', 'replicas: two'));
    const misspelt = join(dir, 'misspelt.yaml');
    await writeFile(misspelt, worker.replace('image: millrace-worker:latest', 'imagee: millrace-worker:latest'));
    const unknownKind = join(dir, 'unknown-kind.yaml');
    await writeFile(unknownKind, worker.replace('kind: Deployment', 'kind: Deploymint'));
    for (const [file, message] of [
      [wrongType, /\/spec\/replicas.*got string, want integer/],
      [misspelt, /additional properties 'imagee' not allowed/],
      [unknownKind, /could not find schema for Deploymint/],
    ] as const) {
      const result = await kubeconform([file]);
      expect(result.code, file).toBe(1);
      expect(result.messages.join('\n')).toMatch(message);
    }
  });
});
