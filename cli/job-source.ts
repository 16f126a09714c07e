/**
 * A job file given where a notebook is expected (`run`, `schedule create`, `params`): its
 * generated notebook, as `millrace wrap` writes it. Loaded only when a job file is given.
 */
import { serializeNotebook } from '../notebook/nbformat.js';
import { SqlJobError, wrapSqlJob, wrappedName, type WrapOptions } from '../jobs/wrap.js';
import { ScriptJobError, wrapPySparkJob } from '../jobs/wrap-pyspark.js';
import { UserError } from './errors.js';

/** The generated notebook's bytes and file name; a file that cannot be wrapped is a one-line error. */
export async function wrapJobFile(path: string, bytes: Buffer, shown: string, options: WrapOptions = {}): Promise<{ bytes: Buffer; name: string }> {
  try {
    const nb = /\.py$/i.test(path) ? wrapPySparkJob(path, bytes, options) : await wrapSqlJob(path, bytes, options);
    return { bytes: Buffer.from(serializeNotebook(nb, { trailingNewline: true })), name: wrappedName(path.split('/').at(-1)!) };
  } catch (err) {
    if (err instanceof SqlJobError || err instanceof ScriptJobError) throw new UserError(`${shown}: ${err.message}`);
    throw err;
  }
}
