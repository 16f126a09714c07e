// Runs test/unit/helpers/papermill_oracle.py in the papermill venv: one subprocess per
// table, JSON in and out. The interpreter is the project venv that scripts/setup.sh
// builds (MILLRACE_TEST_PYTHON overrides); a missing interpreter fails the tests loudly
// rather than letting conformance checks pass without Python.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { venvPython } from '../../../worker/paths.js';

export const PYTHON = process.env.MILLRACE_TEST_PYTHON ?? venvPython();

const ORACLE = join(dirname(fileURLToPath(import.meta.url)), 'papermill_oracle.py');

export function oracle<T = unknown>(op: string, cases: unknown[]): T[] {
  if (!existsSync(PYTHON)) {
    throw new Error(`papermill oracle: no Python at ${PYTHON}; run scripts/setup.sh`);
  }
  const r = spawnSync(PYTHON, [ORACLE], {
    input: JSON.stringify({ op, cases }),
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
    env: { ...process.env, PYTHONIOENCODING: 'utf-8', PYDEVD_DISABLE_FILE_VALIDATION: '1' },
  });
  if (r.status !== 0) throw new Error(`papermill oracle ${op} failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout) as T[];
}

/** Several oracle tables in one Python process: results keyed like the requests. */
export function oracleBatch<K extends string>(requests: Record<K, { op: string; cases: unknown[] }>): Record<K, unknown[]> {
  const keys = Object.keys(requests) as K[];
  const results = oracle<unknown[]>('batch', keys.map((k) => requests[k]));
  return Object.fromEntries(keys.map((k, i) => [k, results[i]!])) as Record<K, unknown[]>;
}
