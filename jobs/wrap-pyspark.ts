/**
 * `millrace wrap job.py`, and `run`/`schedule create` given a PySpark script: the script's
 * notebook, split at `# %%` markers, with the run's SparkSession created after the
 * parameters and stopped at the end (notebook/pyspark/, jobs/runtime/spark_runtime.py).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { Notebook } from '../notebook/nbformat.js';
import { generateScriptNotebook, SPARK_ENGINES } from '../notebook/pyspark/generate.js';
import { parsePercentScript, ScriptJobError } from '../notebook/pyspark/percent.js';
import { packageRoot } from '../worker/paths.js';
import type { WrapOptions } from './wrap.js';

export { ScriptJobError } from '../notebook/pyspark/percent.js';

/** The setup cell's runtime: connections (named as SQL jobs name them), then the session. */
function runtimeSource(): string {
  const dir = join(packageRoot(), 'jobs', 'runtime');
  return ['sql_runtime.py', 'spark_runtime.py'].map((f) => readFileSync(join(dir, f), 'utf8')).join('\n\n');
}

export function wrapPySparkJob(path: string, bytes: Buffer, options: WrapOptions = {}): Notebook {
  const engineName = options.engine ?? 'spark';
  const engine = SPARK_ENGINES[engineName];
  if (!engine) throw new ScriptJobError(`--engine ${engineName}: a PySpark script runs on ${Object.keys(SPARK_ENGINES).join(' or ')}`);
  const text = bytes.toString('utf8');
  return generateScriptNotebook({
    fileName: basename(path),
    path,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    cells: parsePercentScript(text),
    text,
    engine,
    ...(options.connection ? { connection: options.connection } : {}),
    runtime: runtimeSource(),
  });
}
