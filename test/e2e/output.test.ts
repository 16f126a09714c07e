/**
 * What `run` and `show` print, as a papermill user expects it: unknown-parameter warnings,
 * the failed cell's traceback, live per-cell lines and --log-output, and refusals under --json.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { venvPython } from '../../worker/paths.js';
import { codeCell, notebook, runCli, startHarness, type Harness } from './harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

/** What papermill's own command line prints on stderr (its logger, format "%(message)s"). */
async function papermillStderr(args: string[]): Promise<string> {
  const { stderr } = await promisify(execFile)(venvPython(), ['-m', 'papermill', ...args]);
  return stderr;
}

describe('unknown parameters', () => {
  it('are warned on stderr in papermill words, and listed under warnings in --json', async () => {
    const path = await h.writeNotebook('warn.ipynb', notebook([codeCell('region = "us"', ['parameters']), codeCell('print(region)')]));
    const expected = 'Passed unknown parameter: regoin';
    expect(await papermillStderr([path, `${h.dir}/pm-warn.ipynb`, '-p', 'regoin', 'amer', '--prepare-only'])).toContain(`${expected}\n`);

    const r = await runCli(['run', path, '-p', 'regoin', 'amer'], h.cliEnv);
    expect(r.code).toBe(0);
    expect(r.stderr.split('\n')).toContain(expected);

    const json = await runCli(['run', path, '-p', 'regoin', 'amer', '-p', 'region', 'eu', '--json'], h.cliEnv);
    expect(json.code).toBe(0);
    expect(json.stderr).toBe('');
    expect(JSON.parse(json.stdout)).toMatchObject({ status: 'completed', warnings: [expected] });

    // No parameters cell: papermill's second warning too; and none for declared names.
    const bare = await h.writeNotebook('bare.ipynb', notebook([codeCell('print(1)')]));
    const both = await runCli(['run', bare, '-p', 'x', '1', '--json', '--detach'], h.cliEnv);
    expect(JSON.parse(both.stdout).warnings).toEqual(['Passed unknown parameter: x', "Input notebook does not contain a cell with tag 'parameters'"]);
    const clean = await runCli(['run', path, '-p', 'region', 'eu', '--json'], h.cliEnv);
    expect(JSON.parse(clean.stdout).warnings).toEqual([]);
  });
});
