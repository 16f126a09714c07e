/**
 * Splitting a SQL file into statements with sqlparse, in the project's Python environment
 * (jobs/sql_split.py): a maintained SQL lexer that knows strings, quoted identifiers,
 * comments and dollar quoting. No maintained TypeScript parser handles all of those for
 * every dialect the engines speak, and sqlparse is what the Python side of the SQL world uses.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { z } from 'zod';
import { SqlJobError } from '../notebook/sql/header.js';
import type { SplitStatement } from '../notebook/sql/generate.js';
import { packageRoot, venvPython } from '../worker/paths.js';

const splitSchema = z.object({
  statements: z.array(
    z.object({
      text: z.string(),
      type: z.string(),
      start: z.number().int(),
      line: z.number().int(),
      placeholders: z.array(z.object({ offset: z.number().int().nonnegative(), name: z.string() })),
    }),
  ),
  errors: z.array(z.object({ line: z.number().int(), message: z.string() })),
});

export async function splitSql(text: string): Promise<SplitStatement[]> {
  const script = join(packageRoot(), 'jobs', 'sql_split.py');
  const stdout = await new Promise<string>((resolvePromise, reject) => {
    const child = execFile(venvPython(), [script], { maxBuffer: 256 * 1024 * 1024 }, (err, out, stderr) => {
      if (err) reject(new Error(`splitting the SQL failed: ${stderr.trim().split('\n').at(-1) ?? err.message}`));
      else resolvePromise(out);
    });
    child.stdin?.end(text);
  });
  const parsed = splitSchema.parse(JSON.parse(stdout));
  const first = parsed.errors[0];
  if (first) throw new SqlJobError(`line ${first.line}: ${first.message}`);
  return parsed.statements;
}
