/**
 * One embedded stack (real Temporal dev server, real Jupyter Server) shared by the
 * end-to-end files, in a temporary state directory removed afterwards. Tests that kill
 * servers start their own.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { startStack } from '../../worker/stack.js';

export interface SharedStack {
  stateDir: string;
  temporalAddress: string;
  namespace: string;
  jupyterUrl: string;
  jupyterToken: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    stack: SharedStack;
  }
}

export default async function setup(project: TestProject) {
  const stateDir = await mkdtemp(join(tmpdir(), 'millrace-e2e-'));
  const stack = await startStack({ stateDir });
  project.provide('stack', {
    stateDir,
    temporalAddress: stack.temporalAddress,
    namespace: stack.namespace,
    jupyterUrl: stack.jupyter.url,
    jupyterToken: stack.jupyter.token,
  });
  return async () => {
    await stack.stop();
    await rm(stateDir, { recursive: true, force: true });
  };
}
