/**
 * `millrace wrap`, and `run`/`schedule create` given a job file: the job's notebook,
 * generated from the file (header, statements split by sqlparse, the engine's runtime).
 * The notebook is what runs and what the store keeps as the run's snapshot; the file's
 * path and sha256 are in its metadata.millrace.job.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { Notebook } from '../notebook/nbformat.js';
import { DEFAULT_SQL_ENGINE, SQL_ENGINES, type SqlEngine } from '../notebook/sql/engines.js';
import { generateSqlNotebook } from '../notebook/sql/generate.js';
import { parseSqlHeader, SqlJobError } from '../notebook/sql/header.js';
import { packageRoot } from '../worker/paths.js';
import { splitSql } from './split-sql.js';

export { SqlJobError } from '../notebook/sql/header.js';

export interface WrapOptions {
  engine?: string;
  connection?: string;
}

/** The runtime the setup cell holds: what the engine's module needs, the module, then the common part. */
function runtimeSource(engine: SqlEngine): string {
  const dir = join(packageRoot(), 'jobs', 'runtime');
  const files = [...(engine.requires ?? []), join('engines', `${engine.module ?? engine.name}.py`), 'sql_runtime.py'];
  return files.map((f) => readFileSync(join(dir, f), 'utf8')).join('\n\n');
}

/** The notebook of a SQL job; `path` is where its bytes were read from. */
export async function wrapSqlJob(path: string, bytes: Buffer, options: WrapOptions = {}): Promise<Notebook> {
  const header = parseSqlHeader(bytes.toString('utf8'));
  const engineName = options.engine ?? header.engine ?? DEFAULT_SQL_ENGINE;
  const engine = SQL_ENGINES[engineName];
  if (!engine) {
    const given = options.engine ? '--engine' : '@engine';
    throw new SqlJobError(`${given} ${engineName}: this version runs SQL jobs on ${Object.keys(SQL_ENGINES).join(', ')}`);
  }
  return generateSqlNotebook({
    fileName: basename(path),
    path,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    header,
    statements: await splitSql(header.body),
    engine,
    ...(options.connection ? { connection: options.connection } : {}),
    runtime: runtimeSource(engine),
  });
}

/** The generated notebook's file name: the job's, with .ipynb for its extension. */
export function wrappedName(name: string): string {
  return name.replace(/\.[^.]*$/, '') + '.ipynb';
}
