/** `millrace wrap FILE.sql|FILE.py`: write the notebook `run FILE` would run. */
import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { EXIT, UserError } from '../errors.js';
import type { WrapOptions } from '../../jobs/wrap.js';
import { isJobFile, readNotebookSource } from '../notebook-source.js';

export interface WrapCommandOptions {
  output?: string;
  /** --engine and --connection. */
  wrap: WrapOptions;
}

export async function wrapCommand(file: string, options: WrapCommandOptions): Promise<number> {
  if (!isJobFile(file)) throw new UserError(`${file}: wrap takes a SQL job file (.sql) or a PySpark script (.py)`);
  const output = resolve(options.output ?? file.replace(/\.[^./]*$/, '') + '.ipynb');
  if (output === resolve(file)) throw new UserError(`-o ${options.output}: that is the job file itself`);
  const { bytes } = await readNotebookSource(file, options.wrap);
  await writeFile(output, bytes).catch((err: NodeJS.ErrnoException) => {
    throw new UserError(`-o ${output}: cannot write (${err.code})`);
  });
  process.stdout.write(`${output}\n`);
  return EXIT.ok;
}
