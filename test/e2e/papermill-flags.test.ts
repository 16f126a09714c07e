/**
 * papermill's run flags that scripts use, against what papermill itself writes for the
 * same notebook: --report-mode, --inject-paths (and -input/-output), --execution-timeout,
 * --language, --prepare-only.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
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

it('--prepare-only writes the notebook papermill prepares, without Temporal or a kernel', async () => {
  const ran = {
    ...codeCell('print(x)'),
    execution_count: 3,
    outputs: [{ output_type: 'stream', name: 'stdout', text: ['1\n'] }],
  };
  const src = await h.writeNotebook('prepare.ipynb', notebook([markdownCell('# prepare'), codeCell('x = 1\ny = 2', ['parameters']), ran]));
  const flags = ['-p', 'x', '5', '-y', 'y: [1, 2]', '--report-mode', '--inject-paths'];
  const pmOut = join(h.dir, 'prepare-pm.ipynb');
  await exec(venvPython(), ['-m', 'papermill', '--prepare-only', ...flags, src, pmOut], { cwd: h.dir });
  const mrOut = join(h.dir, 'prepare-mr.ipynb');
  // No stack to reach, no state to create: papermill starts no engine either.
  const home = join(h.dir, 'no-state');
  const env = { ...h.cliEnv, TEMPORAL_ADDRESS: '127.0.0.1:1', MILLRACE_HOME: home };
  const r = await runCli(['run', src, '--prepare-only', '--output', mrOut, '--json', ...flags, '-p', 'typo', '1'], env, h.dir);
  expect(r.code, r.stderr).toBe(0);
  // papermill warns about the injected paths too: they are parameters the notebook does not declare.
  const unknown = ['PAPERMILL_INPUT_PATH', 'PAPERMILL_OUTPUT_PATH', 'typo'].map((p) => `Passed unknown parameter: ${p}`);
  expect(JSON.parse(r.stdout)).toEqual({ status: 'prepared', output: mrOut, warnings: unknown });
  expect(existsSync(home)).toBe(false);
  const pm = JSON.parse(await readFile(pmOut, 'utf8'));
  const mr = JSON.parse(await readFile(mrOut, 'utf8'));
  // The same notebook, up to the injected cell's id, the output path and the version of the tool.
  const normal = (nb: any, out: string) => {
    const text = JSON.stringify({ ...nb, cells: nb.cells.map((c: any) => ({ ...c, id: c.metadata.tags?.includes('injected-parameters') ? 'injected' : c.id })) });
    return JSON.parse(text.replaceAll(out, 'OUT'));
  };
  const withoutTypo = (nb: any) => {
    delete nb.metadata.papermill.parameters.typo;
    nb.metadata.papermill.version = 'V';
    const cell = injected(nb);
    cell.source = cellText(cell).replace('typo = 1\n', '');
    return nb;
  };
  expect(withoutTypo(normal(mr, mrOut))).toEqual(withoutTypo(normal(pm, pmOut)));
  // Nothing ran: the input's outputs are there as they were.
  expect(mr.cells.at(-1).outputs).toEqual(ran.outputs);
  expect(mr.cells.at(-1).execution_count).toBe(3);
  // Without --output it refuses in one line; it never overwrites a file.
  const noOutput = await runCli(['run', src, '--prepare-only'], env, h.dir);
  expect(noOutput.code).toBe(2);
  expect(noOutput.stderr.trim()).toBe('millrace: --prepare-only needs --output PATH: where to write the prepared notebook');
  const again = await runCli(['run', src, '--prepare-only', '--output', mrOut], env, h.dir);
  expect(again.code).toBe(2);
  expect(again.stderr).toContain('exists: --prepare-only never overwrites a file');
});
