/**
 * What the job-file tests (sql-jobs, sql-trino, spark-jobs) share: the CLI and files in the
 * harness's folder, where the kernel works, and the record's statement cells.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCli, type Harness } from './harness.js';

/** `millrace ARGS` and files written in the harness's folder; the harness is read when called (set in beforeAll). */
export function inHarnessDir(harness: () => Harness) {
  return {
    cli: (...args: string[]) => runCli(args, harness().cliEnv, harness().dir),
    write: async (name: string, text: string): Promise<string> => {
      const path = join(harness().dir, name);
      await writeFile(path, text);
      return path;
    },
  };
}

export const record = async (path: string): Promise<any> => JSON.parse(await readFile(path, 'utf8'));
/** The record's cell running the statement at this line of the file. */
export const statementCell = (nb: any, line: number) => nb.cells.find((c: any) => c.metadata.millrace?.sql_line === line);
/** A cell's HTML outputs, joined. */
export const html = (cell: any): string => cell.outputs.filter((o: any) => o.data?.['text/html']).map((o: any) => [o.data['text/html']].flat().join('')).join('');
