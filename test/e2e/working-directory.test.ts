/**
 * The kernel's working directory, papermill's rule: the directory `millrace run` was
 * called from, or `--cwd DIR`; recorded in metadata.millrace.cwd and shown by `show`. It
 * holds for a kernel taken from the warm pool and for one that replaced a dead kernel;
 * a directory that does not exist fails the run at start, naming it.
 */
import { SessionAPI } from '@jupyterlab/services';
import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, realpath, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { serverSettings } from '../../activities/jupyter.js';
import { venvPython } from '../../worker/paths.js';
import { codeCell, notebook, python, runCli, startHarness, streamText, waitFor, type Harness } from './harness.js';

const exec = promisify(execFile);

let h: Harness;
let pooled: Harness;
/** A user's folder: a notebook, the data.csv and helper.py beside it, and another pair in OTHER. */
let folder: string;
let nbPath: string;
/** The other directory: quotes, a backslash and a non-ASCII letter, which a naive Python literal would break on. */
const OTHER = `other "dir" 'é' \\n`;

const cells = [
  // The first cell is execution 1, and the kernel's input history holds only it.
  codeCell('import os\nprint(os.getcwd())\nprint(len(In))'),
  codeCell('print(open("data.csv").read().strip())'),
  codeCell('import helper\nprint(helper.VALUE)'),
];

beforeAll(async () => {
  h = await startHarness();
  pooled = await startHarness({ kernelPool: 1 });
  folder = await realpath(await mkdtemp(join(h.dir, 'project-')));
  await mkdir(join(folder, OTHER));
  await writeFile(join(folder, 'data.csv'), 'region,n\nbeside,1\n');
  await writeFile(join(folder, OTHER, 'data.csv'), 'region,n\nother,2\n');
  await writeFile(join(folder, 'helper.py'), 'VALUE = "helper beside the notebook"\n');
  await writeFile(join(folder, OTHER, 'helper.py'), 'VALUE = "helper in other"\n');
  nbPath = await writeInFolder('report.ipynb', cells);
});
afterAll(async () => {
  await pooled?.close();
  await h?.close();
});

/** A notebook of these cells in the user's folder; its path. */
async function writeInFolder(name: string, nbCells: Array<Record<string, unknown>>): Promise<string> {
  const path = join(folder, name);
  await writeFile(path, JSON.stringify(notebook(nbCells)));
  return path;
}

const recordOf = async (output: string) => JSON.parse(await readFile(output, 'utf8'));

describe('the kernel working directory', () => {
  it('is the directory millrace run was called from, recorded and shown', async () => {
    const r = await runCli(['run', 'report.ipynb', '--json'], h.cliEnv, folder);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    const nb = await recordOf(out.output);
    expect(streamText(nb.cells[0])).toBe(`${folder}\n2\n`);
    expect(nb.cells[0].execution_count).toBe(1);
    expect(streamText(nb.cells[1])).toBe('region,n\nbeside,1\n');
    // ipykernel puts '' first on sys.path: a module beside the notebook imports, as in papermill.
    expect(streamText(nb.cells[2])).toBe('helper beside the notebook\n');
    expect(nb.metadata.millrace.cwd).toBe(folder);

    const show = await runCli(['show', out.run_id], h.cliEnv);
    expect(show.stdout).toContain(`cwd:      ${folder}\n`);
    const json = await runCli(['show', out.run_id, '--json'], h.cliEnv);
    expect(JSON.parse(json.stdout).cwd).toBe(folder);
  });

  it('is --cwd DIR when given, relative to where millrace run was called', async () => {
    const r = await runCli(['run', 'report.ipynb', '--cwd', OTHER, '--json'], h.cliEnv, folder);
    expect(r.code, r.stderr).toBe(0);
    const nb = await recordOf(JSON.parse(r.stdout).output);
    expect(streamText(nb.cells[0])).toBe(`${join(folder, OTHER)}\n2\n`);
    expect(streamText(nb.cells[1])).toBe('region,n\nother,2\n');
    expect(streamText(nb.cells[2])).toBe('helper in other\n');
    expect(nb.metadata.millrace.cwd).toBe(join(folder, OTHER));
  });

  it('fails the run at start when the directory does not exist, naming it', async () => {
    const missing = join(folder, 'missing');
    const r = await runCli(['run', nbPath, '--cwd', missing, '--id', 'cwd-missing'], h.cliEnv, folder);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`\nfailed: working directory ${missing} does not exist (resolved on the worker; choose another with --cwd)\n`);
    const nb = await recordOf(join(h.config.storeRoot, 'runs', 'cwd-missing', 'report.ipynb'));
    expect(nb.cells.map((c: { execution_count: number | null }) => c.execution_count)).toEqual([null, null, null]);
    // The kernel it had started is gone.
    const stack = inject('stack');
    const sessions = await SessionAPI.listRunning(serverSettings({ url: stack.jupyterUrl, token: stack.jupyterToken }));
    expect(sessions.map((s) => s.path)).not.toContain('millrace/cwd-missing');
  });

  it('holds for a kernel taken from the warm pool', async () => {
    // The pool fills on first demand for a kernel name.
    expect((await pooled.runNotebook(nbPath, {}, { cwd: folder })).error).toBeUndefined();
    const idleId = await waitFor('an idle pooled kernel', async () => pooled.kernelPool!.idleKernelIds('python3')[0]);
    const run = await pooled.runNotebook(nbPath, {}, { cwd: join(folder, OTHER) });
    expect(run.error).toBeUndefined();
    expect(streamText(run.output.cells[0]!)).toBe(`${join(folder, OTHER)}\n2\n`);
    expect(streamText(run.output.cells[1]!)).toBe('region,n\nother,2\n');
    const history = await pooled.client.workflow.getHandle(run.input.runId).fetchHistory();
    const scheduled = history.events!.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'startKernel')!;
    const completed = history.events!.find((e) => e.activityTaskCompletedEventAttributes?.scheduledEventId?.toString() === scheduled.eventId!.toString())!;
    const result = JSON.parse(Buffer.from(completed.activityTaskCompletedEventAttributes!.result!.payloads![0]!.data!).toString('utf8'));
    expect(result.kernel.kernelId).toBe(idleId);
  });

  it('holds for the kernel that replaces a dead one (--on-kernel-loss restart)', async () => {
    const restart = await writeInFolder('restart.ipynb', [
      codeCell('import os\nif not os.path.exists("died"):\n    open("died", "w").close()\n    os._exit(1)'),
      codeCell('print(os.getcwd())\nprint(open("data.csv").read().strip())'),
    ]);
    const run = await h.runNotebook(restart, {}, { onKernelLoss: 'restart', cwd: folder });
    expect(run.error).toBeUndefined();
    expect(run.output.metadata['millrace']['kernel_restarts']).toHaveLength(1);
    expect(streamText(run.output.cells[1]!)).toBe(`${folder}\nregion,n\nbeside,1\n`);
  });

  it('holds for a resumed run, wherever resume is called from', async () => {
    await writeInFolder('flaky.ipynb', [
      codeCell('rows = open("data.csv").read().splitlines()'),
      codeCell('import os\nif not os.path.exists("fixed"):\n    raise RuntimeError("not yet")\nprint(os.getcwd(), len(rows))'),
    ]);
    const first = await runCli(['run', 'flaky.ipynb', '--id', 'cwd-flaky'], h.cliEnv, folder);
    expect(first.code).toBe(1);
    await writeFile(join(folder, 'fixed'), '');
    // Called from elsewhere: the resumed run keeps the earlier run's directory.
    const r = await runCli(['resume', 'cwd-flaky', '--id', 'cwd-flaky-2', '--json'], h.cliEnv, h.dir);
    expect(r.code, r.stderr).toBe(0);
    const nb = await recordOf(JSON.parse(r.stdout).output);
    expect(streamText(nb.cells[1])).toBe(`${folder} 2\n`);
    expect(nb.metadata.millrace.cwd).toBe(folder);
  });

  it("runs papermill's own TestCWD notebook as papermill does, with and without --cwd", async () => {
    // papermill/tests/test_execute.py TestCWD: read_check.ipynb asserts check.txt is in its working directory.
    const readCheck = (await python('import papermill, os; print(os.path.join(os.path.dirname(papermill.__file__), "tests", "notebooks", "read_check.ipynb"))')).trim();
    const base = await realpath(await mkdtemp(join(h.dir, 'pm-base-')));
    const testDir = await realpath(await mkdtemp(join(h.dir, 'pm-cwd-')));
    await copyFile(readCheck, join(base, 'read_check.ipynb'));
    await writeFile(join(testDir, 'check.txt'), 'exists');
    const papermill = (out: string, extra: string[]) =>
      exec(venvPython(), ['-m', 'papermill', '--no-progress-bar', 'read_check.ipynb', out, ...extra], { cwd: base }).then(
        () => 0,
        () => 1,
      );
    const cwdLine = async (out: string) => streamText((await recordOf(out)).cells[1]).trim();

    // --cwd: both run it there, and both write the output where they were called from.
    expect(await papermill('pm-cwd.ipynb', ['--cwd', testDir])).toBe(0);
    const r = await runCli(['run', 'read_check.ipynb', '--cwd', testDir, '--output', 'mr-cwd.ipynb'], h.cliEnv, base);
    expect(r.code, r.stderr).toBe(0);
    expect(await cwdLine(join(base, 'mr-cwd.ipynb'))).toBe(await cwdLine(join(base, 'pm-cwd.ipynb')));
    expect(await cwdLine(join(base, 'mr-cwd.ipynb'))).toBe(`NB_CWD ${testDir}`);

    // Without it: the directory they were called from, where check.txt is not, so both fail there.
    expect(await papermill('pm-here.ipynb', [])).toBe(1);
    const here = await runCli(['run', 'read_check.ipynb', '--output', 'mr-here.ipynb'], h.cliEnv, base);
    expect(here.code).toBe(1);
    expect(here.stderr).toContain('cell 1 failed: AssertionError');
    expect(await cwdLine(join(base, 'mr-here.ipynb'))).toBe(await cwdLine(join(base, 'pm-here.ipynb')));
  });
});
