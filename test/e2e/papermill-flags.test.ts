/**
 * papermill's run flags that scripts use, against what papermill itself writes for the
 * same notebook: --report-mode, --inject-paths (and -input/-output), --execution-timeout,
 * --language.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { venvPython } from '../../worker/paths.js';
import { cellText, codeCell, markdownCell, notebook, runCli, startHarness, type Harness } from './harness.js';

const exec = promisify(execFile);
let h: Harness;
let path: string;
beforeAll(async () => {
  h = await startHarness();
  path = await h.writeNotebook(
    'flags.ipynb',
    notebook([markdownCell('# flags'), codeCell('x = 1', ['parameters']), { ...codeCell('print(x)'), metadata: { jupyter: { outputs_hidden: true } } }]),
  );
});
afterAll(async () => {
  await h?.close();
});

async function papermill(flags: string[], name: string): Promise<any> {
  const out = join(h.dir, name);
  await exec(venvPython(), ['-m', 'papermill', '--no-progress-bar', '-k', 'python3', ...flags, path, out], { cwd: h.dir });
  return JSON.parse(await readFile(out, 'utf8'));
}

async function millrace(flags: string[]): Promise<any> {
  const r = await runCli(['run', path, '--json', ...flags], h.cliEnv, h.dir);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(await readFile(JSON.parse(r.stdout).output, 'utf8'));
}

const injected = (nb: any) => nb.cells.find((c: any) => c.metadata.tags?.includes('injected-parameters'));

it('--report-mode hides code cells as papermill does', async () => {
  const pm = await papermill(['--report-mode'], 'report-pm.ipynb');
  const mr = await millrace(['--report-mode']);
  expect(mr.cells.map((c: any) => c.metadata.jupyter)).toEqual(pm.cells.map((c: any) => c.metadata.jupyter));
  expect(mr.cells.filter((c: any) => c.cell_type === 'code').every((c: any) => c.metadata.jupyter?.source_hidden === true)).toBe(true);
});

it('--inject-paths adds PAPERMILL_INPUT_PATH and PAPERMILL_OUTPUT_PATH, the paths of the record', async () => {
  const pm = await papermill(['--inject-paths', '-p', 'x', '2'], 'paths-pm.ipynb');
  const mr = await millrace(['--inject-paths', '-p', 'x', '2']);
  expect(Object.keys(mr.metadata.papermill.parameters)).toEqual(Object.keys(pm.metadata.papermill.parameters));
  expect(mr.metadata.papermill.parameters).toMatchObject({
    PAPERMILL_INPUT_PATH: mr.metadata.papermill.input_path,
    PAPERMILL_OUTPUT_PATH: mr.metadata.papermill.output_path,
    x: 2,
  });
  // The same injected cell, up to the paths' values.
  const names = (nb: any) => cellText(injected(nb)).replace(/= ".*"/g, '= "…"');
  expect(names(mr)).toBe(names(pm));
  const only = await millrace(['--inject-output-path']);
  expect(Object.keys(only.metadata.papermill.parameters)).toEqual(['PAPERMILL_OUTPUT_PATH']);
  const input = await millrace(['--inject-input-path']);
  expect(Object.keys(input.metadata.papermill.parameters)).toEqual(['PAPERMILL_INPUT_PATH']);
});

it('--execution-timeout is --cell-timeout; --language takes python and refuses others', async () => {
  const slow = await h.writeNotebook('slow.ipynb', notebook([codeCell('import time\ntime.sleep(30)')]));
  const r = await runCli(['run', slow, '--json', '--execution-timeout', '1'], h.cliEnv, h.dir);
  expect(r.code).not.toBe(0);
  const report = JSON.parse(r.stdout);
  expect(report.failed_cell).toBe(0);
  expect(`${report.error.ename}: ${report.error.evalue}`).toMatch(/timeout|timed out/i);
  const ok = await millrace(['--language', 'python']);
  expect(ok.metadata.millrace.status).toBe('completed');
  const refused = await runCli(['run', path, '--language', 'R'], h.cliEnv, h.dir);
  expect(refused.code).not.toBe(0);
  // One line (commander's usage hint follows it, as for every bad option).
  expect(refused.stderr.split('\n')[0]).toBe(
    "error: option '--language <name>' argument 'R' is invalid. only python parameters can be injected (papermill's --language picks the translator; millrace has Python's only)",
  );
});
