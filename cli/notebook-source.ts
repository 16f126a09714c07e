/**
 * Reading the notebook a command is given. A local file needs node:fs only; the store
 * (and with it the Temporal failure types its errors are) loads for URLs alone, so that
 * `millrace params` of a local notebook loads nothing of Temporal.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { WrapOptions } from '../jobs/wrap.js';
import { isUrlLocation, locationBasename } from '../record/store/locations.js';
import { UserError } from './errors.js';

export interface NotebookSource {
  bytes: Buffer;
  /** Where it came from, for the record: an absolute path, or the URL without credentials. */
  inputPath: string;
  /** Its file name, for the run id and the output notebook. */
  name: string;
}

/**
 * The notebook a command was given: a local file, `s3://bucket/key`, or an http(s) URL
 * (read once here; runs execute the snapshot in the store). A job file (`.sql`, a PySpark `.py`) is wrapped:
 * the generated notebook is the source, named like the job with `.ipynb`.
 */
export async function readNotebookSource(notebookPath: string, wrap: WrapOptions = {}, cwd: string = process.cwd()): Promise<NotebookSource> {
  const source = await readSourceFile(notebookPath, cwd);
  if (!isJobFile(source.name)) return source;
  const { wrapJobFile } = await import('./job-source.js');
  return { ...source, ...(await wrapJobFile(source.inputPath, source.bytes, notebookPath, wrap)) };
}

/** Whether a path names a job file to wrap (cli/job-source.ts) rather than a notebook. */
export function isJobFile(path: string): boolean {
  return /\.(sql|py)$/i.test(path);
}

/** A relative path is taken from `cwd`, where the command was called. */
async function readSourceFile(notebookPath: string, cwd: string): Promise<NotebookSource> {
  if (isUrlLocation(notebookPath)) {
    const { readStoredNotebook } = await import('./submit.js');
    return readStoredNotebook(notebookPath);
  }
  const path = resolve(cwd, notebookPath);
  const bytes = await readFile(path).catch((err: NodeJS.ErrnoException) => {
    throw new UserError(err.code === 'ENOENT' ? `${notebookPath}: no such file` : `${notebookPath}: cannot read (${err.code})`);
  });
  return { bytes, inputPath: path, name: locationBasename(path) };
}
