/**
 * The local API of `millrace dev` (cli/dev-server.ts): commands of its state directory ask
 * dev instead of loading the Temporal client, and print exactly what they print without it.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { askDev, DEV_API_HEADER, DEV_API_VERSION } from '../../cli/dev-api.js';
import { packageRoot } from '../../worker/paths.js';
import { codeCell, notebook, runCli, waitFor, type CliResult } from './harness.js';

const children: ChildProcess[] = [];
let dir: string | undefined;

afterAll(async () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  if (dir) await rm(dir, { recursive: true, force: true });
});

function startDev(cwd: string, env: NodeJS.ProcessEnv): Promise<ChildProcess> {
  const child = spawn(process.execPath, [join(packageRoot(), 'bin', 'millrace.js'), 'dev'], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let output = '';
  return new Promise((resolve, reject) => {
    const onData = (d: Buffer) => {
      output += d;
      if (output.includes('MILLRACE_JUPYTER_TOKEN_FILE=')) resolve(child);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.on('exit', (code) => reject(new Error(`dev exited (${code}): ${output}`)));
  });
}

it('answers `runs` and `show` for the commands of its directory, as the Temporal client does, from a 0600 socket', async () => {
  dir = await mkdtemp(join(tmpdir(), 'millrace-dev-api-'));
  await copyFile(join(packageRoot(), 'examples', 'report.ipynb'), join(dir, 'report.ipynb'));
  const env = { ...process.env };
  for (const key of Object.keys(env)) if (key.startsWith('TEMPORAL_') || key.startsWith('MILLRACE_')) delete env[key];
  const dev = await startDev(dir, env);
  let devOutput = '';
  for (const stream of [dev.stdout!, dev.stderr!]) stream.on('data', (d: Buffer) => (devOutput += d));

  const socket = join(dir, '.millrace', 'dev.sock');
  expect(statSync(socket).isSocket()).toBe(true);
  expect(statSync(socket).mode & 0o777).toBe(0o600);

  const run = await runCli(['run', 'report.ipynb', '-p', 'region', 'eu', '--json'], env, dir);
  expect(run.code, run.stderr).toBe(0);

  // Through dev, and through the Temporal client (TEMPORAL_ADDRESS comes first): the same JSON.
  const viaDev = await runCli(['runs', '--json'], env, dir);
  expect(viaDev.code, viaDev.stderr).toBe(0);
  const devFile = JSON.parse(readFileSync(join(dir, '.millrace', 'dev.json'), 'utf8'));
  const viaClient = await runCli(['runs', '--json'], { ...env, TEMPORAL_ADDRESS: devFile.temporalAddress, TEMPORAL_NAMESPACE: devFile.namespace }, dir);
  expect(viaClient.code, viaClient.stderr).toBe(0);
  expect(viaDev.stdout).toBe(viaClient.stdout);
  expect(JSON.parse(viaDev.stdout)[0]).toMatchObject({ status: 'completed', notebook: 'report.ipynb', parameters: { region: 'eu' } });

  // `show`: the same JSON, and the same refusal of a run nobody knows.
  const clientEnv = { ...env, TEMPORAL_ADDRESS: devFile.temporalAddress, TEMPORAL_NAMESPACE: devFile.namespace };
  const shown = await runCli(['show', 'latest', '--json'], env, dir);
  expect(shown.code, shown.stderr).toBe(0);
  expect(shown.stdout).toBe((await runCli(['show', 'latest', '--json'], clientEnv, dir)).stdout);
  expect(JSON.parse(shown.stdout)).toMatchObject({ run_id: JSON.parse(viaDev.stdout)[0].run_id, status: 'completed' });
  const unknown = await runCli(['show', 'no-such-run'], env, dir);
  expect(unknown).toEqual(await runCli(['show', 'no-such-run'], clientEnv, dir));
  expect(unknown).toEqual({ code: 2, stdout: '', stderr: 'millrace: no run no-such-run: see `millrace runs`\n' });

  const text = await runCli(['runs', '--status', 'completed', '--limit', '1'], env, dir);
  expect(text.code, text.stderr).toBe(0);
  expect(text.stderr).toBe(`state: ${join(dir, '.millrace')} (millrace dev)\n`);
  expect(text.stdout).toContain(JSON.parse(viaDev.stdout)[0].run_id);

  // The process that asked dev loaded nothing of Temporal's client.
  const loads = join(dir, 'loads.txt');
  const recorded = spawnSync(
    process.execPath,
    ['--import', join(packageRoot(), 'test', 'unit', 'helpers', 'record-loads.mjs'), join(packageRoot(), 'bin', 'millrace.js'), 'runs', '--json'],
    { cwd: dir, env: { ...env, MILLRACE_RECORD_LOADS: loads }, encoding: 'utf8' },
  );
  expect(recorded.status, recorded.stderr).toBe(0);
  expect(recorded.stdout).toBe(viaDev.stdout);
  expect(readFileSync(loads, 'utf8')).not.toMatch(/@temporalio\/(client|proto)|@grpc\//);
  // Nor zod, nor the listing's own modules: dev checks the options (cli/commands/runs.ts).
  expect(readFileSync(loads, 'utf8')).not.toMatch(/vendor\/zod\.js|node_modules\/zod\/|run-summaries\.js|cli\/config\.js/);
  // Options dev refuses, as the command refuses them without dev: one line, exit 2.
  const badSchedule = await runCli(['runs', '--schedule', 'no good'], env, dir);
  expect(badSchedule).toEqual(await runCli(['runs', '--schedule', 'no good'], clientEnv, dir));
  expect(badSchedule).toEqual({ code: 2, stdout: '', stderr: 'millrace: runs --schedule "no good": no such schedule name (see `millrace schedule list`)\n' });
  const showLoads = join(dir, 'show-loads.txt');
  const recordedShow = spawnSync(
    process.execPath,
    ['--import', join(packageRoot(), 'test', 'unit', 'helpers', 'record-loads.mjs'), join(packageRoot(), 'bin', 'millrace.js'), 'show', 'latest', '--json'],
    { cwd: dir, env: { ...env, MILLRACE_RECORD_LOADS: showLoads }, encoding: 'utf8' },
  );
  expect(recordedShow.stdout).toBe(shown.stdout);
  // dev built the view (cli/show-view.ts): the command loads neither the client, zod nor the record.
  expect(readFileSync(showLoads, 'utf8')).not.toMatch(/@temporalio\/(client|proto)|@grpc\/|dist\/vendor\/zod\.js|dist\/record\//);

  // Nothing but its operations: not even what every object inherits.
  const devConfig = { stateDir: join(dir, '.millrace'), namespace: 'default', taskQueue: 'millrace', storeRoot: '' };
  await expect(askDev(devConfig, 'constructor', {})).rejects.toThrow('millrace dev has no operation POST /constructor');
  expect((await runCli(['runs', '--json'], env, dir)).stdout).toBe(viaDev.stdout);

  // A command of another millrace (an earlier one sends no version) is refused with the line
  // that says what to do, before dev reads what it asks; dev's answers say its version.
  const older = await new Promise<{ status?: number; version: unknown; body: string }>((resolve, reject) => {
    const req = request({ socketPath: socket, path: '/runs', method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode, version: res.headers[DEV_API_HEADER], body }));
    });
    req.on('error', reject);
    req.end('{}');
  });
  expect(older).toEqual({
    status: 409,
    version: DEV_API_VERSION,
    body: JSON.stringify({ error: 'this millrace is another version than the `millrace dev` it reached: stop dev (Ctrl-C where it runs) and start it again with this millrace', exitCode: 3 }),
  });

  // `run --detach`: dev starts the run the command built, and the command prints what it
  // prints when it starts the run itself, text, --json and a taken id alike.
  const detach = (id: string, extra: string[], runEnv: NodeJS.ProcessEnv) =>
    runCli(['run', 'report.ipynb', '--detach', '--id', id, '-p', 'region', 'us', ...extra], runEnv, dir);
  const same = (text: string, id: string) => text.replaceAll(id, 'ID');
  const devJson = await detach('via-dev-json', ['--json'], env);
  const clientJson = await detach('via-client-json', ['--json'], clientEnv);
  expect(devJson.code, devJson.stderr).toBe(0);
  expect({ ...devJson, stdout: same(devJson.stdout, 'via-dev-json') }).toEqual({ ...clientJson, stdout: same(clientJson.stdout, 'via-client-json') });
  expect(JSON.parse(devJson.stdout)).toEqual({ run_id: 'via-dev-json', status: 'running', output: join(dir, '.millrace', 'store', 'runs', 'via-dev-json', 'report.ipynb'), warnings: [] });
  const devText = await detach('via-dev', [], env);
  const clientText = await detach('via-client', [], clientEnv);
  expect(devText.code, devText.stderr).toBe(0);
  expect({ ...devText, stdout: same(devText.stdout, 'via-dev') }).toEqual({ ...clientText, stdout: same(clientText.stdout, 'via-client') });
  const taken = await detach('via-dev', [], env);
  expect(taken).toEqual(await detach('via-dev', [], clientEnv));
  expect(taken).toEqual({ code: 2, stdout: '', stderr: 'millrace: run id via-dev is already taken: choose another --id\n' });
  // The runs dev started are the runs the command starts: same memo, same ending.
  const ended = async (id: string) =>
    waitFor(`${id} to end`, async () => {
      const { stdout } = await runCli(['show', id, '--json'], env, dir);
      const view = JSON.parse(stdout);
      return view.status === 'running' ? undefined : view;
    });
  for (const [viaDevId, viaClientId] of [['via-dev-json', 'via-client-json'], ['via-dev', 'via-client']] as const) {
    const [a, b] = [await ended(viaDevId), await ended(viaClientId)];
    expect(a).toMatchObject({ status: 'completed', notebook: 'report.ipynb', parameters: { region: 'us' } });
    expect({ notebook: b.notebook, parameters: b.parameters, status: b.status, cells: b.cells.length }).toEqual({ notebook: a.notebook, parameters: a.parameters, status: a.status, cells: a.cells.length });
  }
  // dev started its runs eagerly: the server handed the first workflow task to dev's worker
  // in its reply to the start, so history records it started by the starter, not by a
  // worker's poll. The command's own client has no worker: its run's task was polled.
  const { Client, Connection } = await import('@temporalio/client');
  const connection = await Connection.connect({ address: devFile.temporalAddress });
  try {
    const firstTask = async (id: string) => {
      const events = (await new Client({ connection, namespace: devFile.namespace }).workflow.getHandle(id).fetchHistory()).events ?? [];
      return {
        starter: events.find((e) => e.workflowExecutionStartedEventAttributes)?.workflowExecutionStartedEventAttributes?.identity,
        takenBy: events.find((e) => e.workflowTaskStartedEventAttributes)?.workflowTaskStartedEventAttributes?.identity,
        worker: events.find((e) => e.workflowTaskCompletedEventAttributes)?.workflowTaskCompletedEventAttributes?.identity,
      };
    };
    const viaDevTask = await firstTask('via-dev-json');
    expect(viaDevTask.takenBy).toBe(viaDevTask.starter);
    expect(viaDevTask.worker).not.toBe(viaDevTask.starter);
    const viaClientTask = await firstTask('via-client-json');
    expect(viaClientTask.takenBy).toBe(viaClientTask.worker);
    expect(viaClientTask.takenBy).not.toBe(viaClientTask.starter);
  } finally {
    await connection.close();
  }

  // The process that asked dev to start it loaded nothing of Temporal's client.
  const detachLoads = join(dir, 'detach-loads.txt');
  const recordedDetach = spawnSync(
    process.execPath,
    ['--import', join(packageRoot(), 'test', 'unit', 'helpers', 'record-loads.mjs'), join(packageRoot(), 'bin', 'millrace.js'), 'run', 'report.ipynb', '--detach', '--id', 'recorded'],
    { cwd: dir, env: { ...env, MILLRACE_RECORD_LOADS: detachLoads }, encoding: 'utf8' },
  );
  expect(recordedDetach.status, recordedDetach.stderr).toBe(0);
  // Nor zod or the notebook modules: dev built the run's input.
  expect(readFileSync(detachLoads, 'utf8')).not.toMatch(/@temporalio\/|@grpc\/|node_modules\/zod\/|dist\/notebook\/nbformat/);
  await ended('recorded');

  // A foreground `run`: dev starts and follows it, and the command prints and exits as it
  // does following the run itself; completed, failed (with papermill's traceback), --json.
  await writeFile(join(dir, 'fails.ipynb'), JSON.stringify(notebook([codeCell('print("before")'), codeCell('1/0')])));
  const foreground = async (id: string, args: string[]) => {
    const [viaDevRun, viaClientRun] = [await runCli([...args, '--id', `${id}-dev`], env, dir), await runCli([...args, '--id', `${id}-client`], clientEnv, dir)];
    const same = (r: CliResult, suffix: string) => ({
      code: r.code,
      stdout: r.stdout.replaceAll(`${id}-${suffix}`, 'ID').replace(/"duration_s":[0-9.]+/, '"duration_s":D').replace(/completed in [0-9.]+ s/, 'completed in D s'),
      stderr: r.stderr.replaceAll(`${id}-${suffix}`, 'ID'),
    });
    expect(same(viaDevRun, 'dev')).toEqual(same(viaClientRun, 'client'));
    return viaDevRun;
  };
  const completed = await foreground('fg', ['run', 'report.ipynb', '--no-progress-bar', '-p', 'region', 'eu']);
  expect(completed).toEqual({ code: 0, stdout: expect.stringMatching(/^completed in [0-9.]+ s\noutput: .*fg-dev/), stderr: 'run fg-dev\n' });
  const failed = await foreground('fgfail', ['run', 'fails.ipynb', '--no-progress-bar']);
  expect(failed.code).toBe(1);
  expect(failed.stderr).toContain('cell 1 failed: ZeroDivisionError: division by zero\n');
  expect(failed.stderr).toContain('Exception encountered at "In [2]":');
  const failedJson = await foreground('fgjson', ['run', 'fails.ipynb', '--json']);
  expect(JSON.parse(failedJson.stdout)).toMatchObject({ run_id: 'fgjson-dev', status: 'failed', failed_cell: 1, error: { ename: 'ZeroDivisionError' }, warnings: [] });
  expect(failedJson.stderr).toBe('');
  // Progress lines come through dev as the command writes them itself.
  const withProgress = await runCli(['run', 'fails.ipynb', '--id', 'fgprogress'], env, dir);
  expect(withProgress.stderr).toMatch(/^run fgprogress\ncell 0 completed in [0-9.]+ s: print\("before"\)\ncell 1 failed in [0-9.]+ s: 1\/0\ncell 1 failed: /);
  const takenFg = await runCli(['run', 'report.ipynb', '--id', 'fg-dev'], env, dir);
  expect(takenFg).toEqual({ code: 2, stdout: '', stderr: 'millrace: run id fg-dev is already taken: choose another --id\n' });
  // The foreground command that dev followed loaded nothing of Temporal's client.
  const fgLoads = join(dir, 'fg-loads.txt');
  const recordedFg = spawnSync(
    process.execPath,
    ['--import', join(packageRoot(), 'test', 'unit', 'helpers', 'record-loads.mjs'), join(packageRoot(), 'bin', 'millrace.js'), 'run', 'report.ipynb', '--id', 'fg-recorded'],
    { cwd: dir, env: { ...env, MILLRACE_RECORD_LOADS: fgLoads }, encoding: 'utf8' },
  );
  expect(recordedFg.status, recordedFg.stderr).toBe(0);
  expect(readFileSync(fgLoads, 'utf8')).not.toMatch(/@temporalio\/|@grpc\/|node_modules\/zod\/|dist\/notebook\/nbformat/);

  // dev builds the run's input from what the command hands it (cli/run-input.ts): called
  // from a folder other than dev's, with relative paths, every refusal, warning and output
  // is the command's own when it builds the input itself (through the client).
  const sub = join(dir, 'sub');
  await mkdir(join(sub, 'work'), { recursive: true });
  await writeFile(join(sub, 'params.yaml'), 'region: apac\nlimit: 2\n');
  await writeFile(join(sub, 'where.ipynb'), JSON.stringify(notebook([codeCell('x = 0', ['parameters']), codeCell('import os; print(os.getcwd(), x, flush=True)')])));
  await writeFile(join(sub, 'q.sql'), '-- @param n: int\nSELECT :n * 2 AS doubled;\n');
  let called = 0;
  const fromSub = async (args: string[], runEnv: NodeJS.ProcessEnv = env) => {
    const id = `sub-${called++}`;
    const [viaDevRun, viaClientRun] = [await runCli([...args, '--id', `${id}-d`], runEnv, sub), await runCli([...args, '--id', `${id}-c`], { ...runEnv, TEMPORAL_ADDRESS: clientEnv.TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE: clientEnv.TEMPORAL_NAMESPACE }, sub)];
    const same = (r: CliResult, suffix: string) => ({
      code: r.code,
      stdout: r.stdout.replaceAll(`${id}-${suffix}`, 'ID').replace(/"duration_s":[0-9.]+/, '"duration_s":D').replace(/completed in [0-9.]+ s/, 'completed in D s'),
      stderr: r.stderr.replaceAll(`${id}-${suffix}`, 'ID'),
    });
    expect(same(viaDevRun, 'd')).toEqual(same(viaClientRun, 'c'));
    return { ...viaDevRun, id: `${id}-d` };
  };
  expect(await fromSub(['run', '../report.ipynb', '-p', '1region', 'eu'])).toMatchObject({ code: 2, stdout: '' });
  expect(await fromSub(['run', 'missing.ipynb', '--detach'])).toMatchObject({ code: 2, stdout: '', stderr: 'millrace: missing.ipynb: no such file\n' });
  expect(await fromSub(['run', '../report.ipynb', '-f', 'missing.yaml'])).toMatchObject({ code: 2, stderr: 'millrace: -f missing.yaml: cannot read the file\n' });
  expect(await fromSub(['run', '../report.ipynb', '--pause-timeout', '1m'])).toMatchObject({ code: 2, stderr: 'millrace: --pause-timeout applies to runs with --on-failure pause\n' });
  expect(await fromSub(['run', '../report.ipynb', '--detach'], { ...env, MILLRACE_JUPYTER_URL: 'not a url' })).toMatchObject({ code: 2, stderr: 'millrace: MILLRACE_JUPYTER_URL: MILLRACE_JUPYTER_URL must be an http(s) URL\n' });
  expect((await runCli(['run', '../report.ipynb', '--id', 'latest'], env, sub)).stderr).toBe((await runCli(['run', '../report.ipynb', '--id', 'latest'], clientEnv, sub)).stderr);
  // -f relative to the command's folder, -y, and papermill's warnings for unknown parameters on stderr.
  const withFiles = await fromSub(['run', '../report.ipynb', '-f', 'params.yaml', '-y', '{nope: 1}', '-p', 'other', '2', '--detach']);
  expect(withFiles).toMatchObject({ code: 0, stderr: expect.stringContaining('Passed unknown parameter: nope') });
  expect(withFiles.stderr).toContain('Passed unknown parameter: other');
  expect(JSON.parse((await runCli(['show', withFiles.id, '--json'], env, dir)).stdout)).toMatchObject({ parameters: { region: 'apac', limit: 2, nope: 1, other: 2 } });
  const withFilesJson = await fromSub(['run', '../report.ipynb', '-f', 'params.yaml', '-y', '{nope: 1}', '--detach', '--json']);
  expect(JSON.parse(withFilesJson.stdout)).toMatchObject({ status: 'running', warnings: [expect.stringContaining('nope')] });
  expect(withFilesJson.stderr).toBe('');
  // --cwd and --output relative to the command's folder, not dev's.
  const where = await fromSub(['run', 'where.ipynb', '--cwd', 'work', '-p', 'x', '5', '--log-output', '--no-progress-bar']);
  expect(where.code, where.stderr).toBe(0);
  expect(where.stderr).toContain(`${join(sub, 'work')} 5`);
  const output = await runCli(['run', 'where.ipynb', '--output', 'out.ipynb', '--detach', '--json'], env, sub);
  expect(JSON.parse(output.stdout)).toMatchObject({ output: join(sub, 'out.ipynb') });
  await ended(JSON.parse(output.stdout).run_id);
  // A .sql job, wrapped by dev: the same output, its parameter required alike.
  expect(await fromSub(['run', 'q.sql', '--detach'])).toMatchObject({ code: 2, stderr: 'millrace: q.sql: parameter n is required: pass -p n VALUE\n' });
  const sqlJob = await fromSub(['run', 'q.sql', '-p', 'n', '21', '--json']);
  expect(JSON.parse(sqlJob.stdout)).toMatchObject({ status: 'completed', output: join(dir, '.millrace', 'store', 'runs', sqlJob.id, 'q.ipynb') });
  // A taken run id, foreground and detached.
  const takenFromSub = await runCli(['run', '../report.ipynb', '--id', 'fg-dev'], env, sub);
  expect(takenFromSub).toEqual(await runCli(['run', '../report.ipynb', '--id', 'fg-dev'], clientEnv, sub));
  expect(takenFromSub).toEqual({ code: 2, stdout: '', stderr: 'millrace: run id fg-dev is already taken: choose another --id\n' });
  for (const id of [withFiles.id, withFilesJson.id]) await ended(id);

  // Ctrl-C on a foreground run dev follows cancels the run, as it does without dev.
  await writeFile(join(dir, 'slow.ipynb'), JSON.stringify(notebook([codeCell('print("started", flush=True)'), codeCell('import time; time.sleep(60)')])));
  const slow = spawn(process.execPath, [join(packageRoot(), 'bin', 'millrace.js'), 'run', 'slow.ipynb', '--id', 'fg-cancel', '--no-progress-bar'], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(slow);
  let slowErr = '';
  slow.stderr.on('data', (d: Buffer) => (slowErr += d));
  await waitFor('the slow cell to run', async () => {
    const { stdout } = await runCli(['show', 'fg-cancel', '--json'], env, dir);
    return stdout && JSON.parse(stdout).cells?.[1]?.status === 'running' ? true : undefined;
  });
  slow.kill('SIGINT');
  const slowCode = await new Promise<number | null>((r) => (slow.exitCode !== null ? r(slow.exitCode) : slow.once('exit', r)));
  expect(slowCode).toBe(1);
  expect(slowErr).toContain('cancelling the run (Ctrl-C again is ignored; the kernel is being shut down)...\ncancelled\n');

  // Stopped while a run goes on: its kernel connection is closed before Jupyter Server
  // stops, so dev does not print @jupyterlab/services' "Connection lost, reconnecting".
  expect((await runCli(['run', 'slow.ipynb', '--detach', '--id', 'left-running'], env, dir)).code).toBe(0);
  await waitFor('the slow cell of the detached run to run', async () => {
    const { stdout } = await runCli(['show', 'left-running', '--json'], env, dir);
    return stdout && JSON.parse(stdout).cells?.[1]?.status === 'running' ? true : undefined;
  });
  dev.kill('SIGINT');
  await new Promise((r) => (dev.exitCode !== null ? r(undefined) : dev.once('exit', r)));
  expect(dev.exitCode).toBe(0);
  expect(existsSync(socket)).toBe(false);
  expect(devOutput).toContain('stopping...\n');
  expect(devOutput).not.toContain('Connection lost');
});
