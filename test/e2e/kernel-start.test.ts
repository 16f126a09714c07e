/**
 * `run --start-timeout` (papermill's flag): a kernel that does not answer in time fails the
 * run at once, in jupyter_client's words, instead of being started again and again. The
 * slow kernels are kernelspecs whose argv sleeps before exec'ing ipykernel, offered by a
 * Jupyter Server of this file's own (JUPYTER_PATH). And what the record keeps of the
 * kernel a run used: its Python and version, its kernelspec's directory.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startJupyterServer, type JupyterServer } from '../../worker/jupyter-server.js';
import { venvPython } from '../../worker/paths.js';
import { activityAttempts, codeCell, notebook, runCli, startHarness, type Harness } from './harness.js';

let dir: string;
let jupyterPath: string;
let server: JupyterServer | undefined;
let h: Harness | undefined;

/** A Python kernel that sleeps `delayS` seconds before it starts. */
async function sleepyKernelspec(jupyterPath: string, name: string, delayS: number): Promise<void> {
  const specDir = join(jupyterPath, 'kernels', name);
  await mkdir(specDir, { recursive: true });
  const spec = {
    argv: ['sh', '-c', `sleep ${delayS}; exec "$1" -m ipykernel_launcher -f "$0"`, '{connection_file}', venvPython()],
    display_name: `Python, ${delayS} s late`,
    language: 'python',
  };
  await writeFile(join(specDir, 'kernel.json'), JSON.stringify(spec));
}

/** A kernel whose process says why on stderr and exits at once: a broken environment. */
async function brokenKernelspec(jupyterPath: string, name: string): Promise<void> {
  const specDir = join(jupyterPath, 'kernels', name);
  await mkdir(specDir, { recursive: true });
  const spec = {
    argv: ['sh', '-c', 'echo "starting $0" >&2; echo "ModuleNotFoundError: No module named ipykernel_launcher" >&2; exit 3', '{connection_file}'],
    display_name: 'Python, broken',
    language: 'python',
  };
  await writeFile(join(specDir, 'kernel.json'), JSON.stringify(spec));
}

/** A Python kernel whose first launch exits at once (code 1, nothing on stderr), as one did under load; later launches start. */
async function diesOnceKernelspec(jupyterPath: string, name: string, marker: string): Promise<void> {
  const specDir = join(jupyterPath, 'kernels', name);
  await mkdir(specDir, { recursive: true });
  const spec = {
    argv: ['sh', '-c', `[ -e "$2" ] || { touch "$2"; exit 1; }; exec "$1" -m ipykernel_launcher -f "$0"`, '{connection_file}', venvPython(), marker],
    display_name: 'Python, dies on its first launch',
    language: 'python',
  };
  await writeFile(join(specDir, 'kernel.json'), JSON.stringify(spec));
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'millrace-kernel-start-'));
  jupyterPath = join(dir, 'jupyter');
  await sleepyKernelspec(jupyterPath, 'never', 3600);
  await brokenKernelspec(jupyterPath, 'broken');
  await sleepyKernelspec(jupyterPath, 'late', 4);
  await diesOnceKernelspec(jupyterPath, 'flaky', join(dir, 'flaky-launched'));
  const saved = process.env['JUPYTER_PATH'];
  process.env['JUPYTER_PATH'] = jupyterPath;
  server = await startJupyterServer({ stateDir: join(dir, 'state') }).finally(() => {
    if (saved === undefined) delete process.env['JUPYTER_PATH'];
    else process.env['JUPYTER_PATH'] = saved;
  });
  h = await startHarness({ jupyter: { url: server.url, token: server.token } });
}, 120_000);

afterAll(async () => {
  await h?.close();
  await server?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

it('fails the run at once when the kernel does not answer within --start-timeout, naming the kernel', async () => {
  const path = await h!.writeNotebook('start.ipynb', notebook([codeCell('print(1)')]));
  const r = await runCli(['run', path, '--kernel', 'never', '--start-timeout', '3', '--json'], h!.cliEnv, h!.dir);
  expect(r.code, r.stderr).toBe(1);
  const report = JSON.parse(r.stdout);
  expect(report).toMatchObject({
    status: 'failed',
    failed_cell: null,
    error: { ename: 'KernelStartTimeout', evalue: `kernel "never" didn't respond in 3 seconds (--start-timeout)` },
  });
  // Not started again: one attempt of the kernel's start.
  const history = await h!.client.workflow.getHandle(report.run_id).fetchHistory();
  expect(activityAttempts(history.events ?? [], 'startKernel')).toEqual([1]);
  const record = JSON.parse(await readFile(report.output, 'utf8'));
  expect(record.metadata.millrace).toMatchObject({ status: 'failed', start_timeout: 3 });
  // Without --json, one line on stderr says it.
  const plain = await runCli(['run', path, '--kernel', 'never', '--start-timeout', '2'], h!.cliEnv, h!.dir);
  expect(plain.code).toBe(1);
  expect(plain.stderr).toContain(`failed: kernel "never" didn't respond in 2 seconds (--start-timeout)`);
  // `show` says why, from the record.
  const show = await runCli(['show', report.run_id], h!.cliEnv, h!.dir);
  expect(show.stdout).toContain(`failed:   kernel "never" didn't respond in 3 seconds (--start-timeout)`);
  const shown = JSON.parse((await runCli(['show', report.run_id, '--json'], h!.cliEnv, h!.dir)).stdout);
  expect(shown).toMatchObject({ status: 'failed', failed_cell: null, reason: `kernel "never" didn't respond in 3 seconds (--start-timeout)` });
});

it('starts another kernel once when one dies while starting, and the run completes in one attempt of the start', async () => {
  const path = await h!.writeNotebook('flaky.ipynb', notebook([codeCell('print(6 * 7)')]));
  const r = await runCli(['run', path, '--kernel', 'flaky', '--json'], h!.cliEnv, h!.dir);
  expect(r.code, r.stderr).toBe(0);
  const report = JSON.parse(r.stdout);
  expect(report).toMatchObject({ status: 'completed' });
  // The first launch did die (its marker), and the start was not retried by Temporal.
  await readFile(join(dir, 'flaky-launched'));
  const history = await h!.client.workflow.getHandle(report.run_id).fetchHistory();
  expect(activityAttempts(history.events ?? [], 'startKernel')).toEqual([1]);
  const record = JSON.parse(await readFile(report.output, 'utf8'));
  expect(JSON.stringify(record.cells[0].outputs)).toContain('42');
});

it("fails the run at once when the kernel's process exits while starting, with its exit code and last error line", async () => {
  const path = await h!.writeNotebook('broken.ipynb', notebook([codeCell('print(1)')]));
  const r = await runCli(['run', path, '--kernel', 'broken', '--json'], h!.cliEnv, h!.dir);
  expect(r.code, r.stderr).toBe(1);
  const report = JSON.parse(r.stdout);
  expect(report).toMatchObject({ status: 'failed', failed_cell: null, error: { ename: 'KernelDiedAtStart' } });
  expect(report.error.evalue).toMatch(/^kernel "broken" died while starting: its process exited with code 3: starting \S+ \| ModuleNotFoundError: No module named ipykernel_launcher$/);
  // Not started again (Jupyter's five restarts, then the activity's retries, took 86 s).
  const history = await h!.client.workflow.getHandle(report.run_id).fetchHistory();
  expect(activityAttempts(history.events ?? [], 'startKernel')).toEqual([1]);
  // The kernel was shut down: Jupyter is not left restarting it.
  const kernels = (await (await fetch(`${server!.url}/api/kernels`, { headers: { Authorization: `token ${server!.token}` } })).json()) as { name: string }[];
  expect(kernels.filter((k) => k.name === 'broken')).toEqual([]);
  const show = await runCli(['show', report.run_id], h!.cliEnv, h!.dir);
  expect(show.stdout).toContain('failed:   kernel "broken" died while starting: its process exited with code 3');
});

it('runs a kernel that answers within --start-timeout; the default is 60 s', async () => {
  const path = await h!.writeNotebook('late.ipynb', notebook([codeCell('print("up")')]));
  const r = await runCli(['run', path, '--kernel', 'late', '--start-timeout', '90', '--json'], h!.cliEnv, h!.dir);
  expect(r.code, r.stderr).toBe(0);
  const record = JSON.parse(await readFile(JSON.parse(r.stdout).output, 'utf8'));
  expect(record.metadata.millrace.start_timeout).toBe(90);
  // The default is papermill's: 60 s, recorded.
  const d = await runCli(['run', path, '--json'], h!.cliEnv, h!.dir);
  expect(d.code, d.stderr).toBe(0);
  expect(JSON.parse(await readFile(JSON.parse(d.stdout).output, 'utf8')).metadata.millrace.start_timeout).toBe(60);
  const refused = await runCli(['run', path, '--start-timeout', '0'], h!.cliEnv, h!.dir);
  expect(refused.code).toBe(2);
  expect(refused.stderr.split('\n')[0]).toContain('--start-timeout takes a positive number of seconds');
});

it('records which Python and which kernelspec the kernel was, and show prints them', async () => {
  const path = await h!.writeNotebook('which.ipynb', notebook([codeCell('import sys, platform\nprint(sys.executable, platform.python_version())')]));
  const r = await runCli(['run', path, '--kernel', 'late', '--json'], h!.cliEnv, h!.dir);
  expect(r.code, r.stderr).toBe(0);
  const { run_id, output } = JSON.parse(r.stdout);
  const record = JSON.parse(await readFile(output, 'utf8'));
  const [python, version] = record.cells[0].outputs[0].text.join('').trim().split(' ');
  expect(python).toBe(venvPython());
  const kernel = { name: 'late', python, python_version: version, spec_dir: join(jupyterPath, 'kernels', 'late') };
  expect(record.metadata.millrace.kernel).toEqual(kernel);
  const shown = JSON.parse((await runCli(['show', run_id, '--json'], h!.cliEnv, h!.dir)).stdout);
  expect(shown.kernel).toEqual(kernel);
  const text = (await runCli(['show', run_id], h!.cliEnv, h!.dir)).stdout;
  expect(text).toContain(`kernel:   late: ${python} ${version}, kernelspec ${kernel.spec_dir}`);
  // A kernel started for its run (no warm pool here) has the execution registry: startKernel
  // says so, and its cells run exactly once as local activities.
  const history = await h!.client.workflow.getHandle(run_id).fetchHistory();
  const scheduled = history.events!.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'startKernel');
  const completed = history.events!.find((e) => e.activityTaskCompletedEventAttributes?.scheduledEventId?.toString() === scheduled!.eventId!.toString());
  const started = JSON.parse(Buffer.from(completed!.activityTaskCompletedEventAttributes!.result!.payloads![0]!.data!).toString('utf8'));
  expect(started.kernel.outcomeRegistry).toBe(true);
  expect(history.events!.some((e) => e.markerRecordedEventAttributes?.markerName === 'core_local_activity')).toBe(true);
  // The default python3, a forked kernel: its generated kernelspec.
  const d = await runCli(['run', path, '--json'], h!.cliEnv, h!.dir);
  expect(d.code, d.stderr).toBe(0);
  const dflt = JSON.parse(await readFile(JSON.parse(d.stdout).output, 'utf8')).metadata.millrace.kernel;
  expect(dflt).toMatchObject({ name: 'python3', python: expect.any(String), python_version: version, spec_dir: join(dir, 'state', 'jupyter-kernels', 'python3') });
});
