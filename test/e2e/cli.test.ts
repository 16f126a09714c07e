/**
 * The `millrace` command as users run it: exit codes, one-line errors, --json shapes,
 * and the embedded stack that a bare `millrace run` starts and stops.
 */
import { execFileSync, spawn } from 'node:child_process';
import { readRecord } from '../../record/run-record.js';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../worker/paths.js';
import { assertValidNotebook, codeCell, notebook, runCli, startHarness, type Harness } from './harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

const example = join(packageRoot(), 'examples', 'report.ipynb');

describe('millrace run (attached to a cluster through TEMPORAL_ADDRESS)', () => {
  it('runs the example with parameters and prints one JSON object', async () => {
    const r = await runCli(['run', example, '-p', 'region', 'eu', '-p', 'limit', '10', '--json'], h.cliEnv);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(Object.keys(out).sort()).toEqual(['duration_s', 'error', 'failed_cell', 'output', 'run_id', 'status', 'warnings']);
    expect(out).toMatchObject({ status: 'completed', failed_cell: null, error: null });
    const nb = JSON.parse(await readFile(out.output, 'utf8'));
    expect(nb.metadata.papermill.parameters).toEqual({ region: 'eu', limit: 10 });
    await assertValidNotebook(out.output);
  });

  it('exits 1 naming the failed cell, the error and the output location', async () => {
    const path = await h.writeNotebook('cli-fail.ipynb', notebook([codeCell('x = 1'), codeCell('raise KeyError("missing")')]));
    const r = await runCli(['run', path, '--id', 'cli-fail-1'], h.cliEnv);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("cell 1 failed: KeyError: 'missing'");
    expect(r.stderr).toMatch(/output: .*cli-fail-1.*cli-fail\.ipynb/);

    const json = await runCli(['run', path, '--json'], h.cliEnv);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({ status: 'failed', failed_cell: 1, error: { ename: 'KeyError', evalue: "'missing'" } });

    const again = await runCli(['run', path, '--id', 'cli-fail-1'], h.cliEnv);
    expect(again.code).toBe(2);
    expect(again.stderr.trim()).toBe('millrace: run id cli-fail-1 is already taken: choose another --id');
  });

  it('lists and shows runs with --json', async () => {
    const r = await runCli(['run', example, '--id', 'shown-run', '--json'], h.cliEnv);
    expect(r.code).toBe(0);
    const runs = await runCli(['runs', '--json', '--limit', '50'], h.cliEnv);
    expect(runs.code).toBe(0);
    const listed = JSON.parse(runs.stdout).find((x: any) => x.run_id === 'shown-run');
    expect(listed).toMatchObject({ status: 'completed', notebook: 'report.ipynb' });
    const show = await runCli(['show', 'shown-run', '--json'], h.cliEnv);
    expect(show.code).toBe(0);
    const view = JSON.parse(show.stdout);
    expect(view.status).toBe('completed');
    expect(view.cells.filter((c: any) => c.cell_type === 'code').every((c: any) => c.status === 'completed')).toBe(true);
    const missing = await runCli(['show', 'no-such-run'], h.cliEnv);
    expect(missing.code).toBe(2);
    expect(missing.stderr.trim()).toBe('millrace: no run no-such-run: see `millrace runs`');
  });
});

describe('bad input gets one line and exit 2, and nothing is submitted', () => {
  it.each([
    [['run', 'does-not-exist.ipynb'], 'millrace: does-not-exist.ipynb: no such file'],
    [['run', 'EXAMPLE', '--id', '../escape'], 'a run id'],
    [['run', 'EXAMPLE', '-p', '1x', '2'], 'not a valid Python identifier'],
    [['run', 'EXAMPLE', '-y', 'a: [unclosed'], '-y'],
    [['run', 'EXAMPLE', '-p', 'only-name'], 'takes two values'],
    [['run', 'EXAMPLE', '--cell-timeout', '-3'], '--cell-timeout'],
    // A run id given as an argument is named by its command, not as `run --id`.
    [['show', 'bad id'], 'millrace: show "bad id": a run id is'],
    [['cancel', 'bad id'], 'millrace: cancel "bad id": a run id is'],
  ])('%j', async (args, message) => {
    const r = await runCli(args.map((a) => (a === 'EXAMPLE' ? example : a)), h.cliEnv);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(message);
    expect(r.stderr.trim().split('\n')[0]).toMatch(/^(millrace: |error: )/);
  });

  it('refuses malformed notebook JSON', async () => {
    const path = join(h.dir, 'broken.ipynb');
    await writeFile(path, '{"cells": [');
    const r = await runCli(['run', path], h.cliEnv);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('broken.ipynb');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });
});

describe('inputs that are not simply wrong', () => {
  it('refuses an nbformat 3 notebook with the command that upgrades it', async () => {
    const path = join(h.dir, 'v3.ipynb');
    await writeFile(path, JSON.stringify({ nbformat: 3, nbformat_minor: 0, metadata: {}, worksheets: [{ cells: [] }] }));
    const r = await runCli(['run', path], h.cliEnv);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('jupyter nbconvert --to notebook --nbformat 4');
  });

  it('fails a notebook whose metadata.millrace has the wrong type at once, naming the field', async () => {
    const path = join(h.dir, 'bad-meta.ipynb');
    const cell = { ...codeCell('print(1)'), metadata: { millrace: { skipped: 'yes' } } };
    await writeFile(path, JSON.stringify(notebook([cell])));
    const r = await runCli(['run', path, '--id', 'bad-meta', '--json'], h.cliEnv);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({ status: 'failed' });
    const history = await h.client.workflow.getHandle('bad-meta').fetchHistory();
    // prepareRun is a local activity: its marker keeps the failure and the attempt.
    const marker = history.events!.find((e) => e.markerRecordedEventAttributes?.markerName === 'core_local_activity')!.markerRecordedEventAttributes!;
    expect(marker.failure?.message).toContain('metadata.millrace.skipped');
    const data = JSON.parse(Buffer.from(marker.details!['data']!.payloads![0]!.data!).toString('utf8')) as { activity_type: string; attempt: number };
    expect(data.activity_type).toBe('prepareRun');
    // Not retried: no attempt of prepareRun can mend the notebook.
    expect(data.attempt).toBe(1);
  });

  it('fails an unknown kernel name listing the available ones', async () => {
    const r = await runCli(['run', example, '--kernel', 'no-such-kernel', '--json'], h.cliEnv);
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ status: 'failed', failed_cell: null });
    const text = await runCli(['run', example, '--kernel', 'no-such-kernel'], h.cliEnv);
    expect(text.stderr).toMatch(/no kernel named "no-such-kernel"; available: .*python3/);
  });

  it('runs a notebook with no cells, and a cell with a 1 MB line', async () => {
    const empty = await h.writeNotebook('empty.ipynb', notebook([]));
    const r = await runCli(['run', empty, '--json'], h.cliEnv);
    expect(r.code, r.stderr).toBe(0);
    await assertValidNotebook(JSON.parse(r.stdout).output);
    const long = await h.writeNotebook('long-line.ipynb', notebook([codeCell(`s = "${'x'.repeat(1_000_000)}"\nprint(len(s))`)]));
    const l = await runCli(['run', long, '--json'], h.cliEnv);
    expect(l.code, l.stderr).toBe(0);
    const nb = JSON.parse(await readFile(JSON.parse(l.stdout).output, 'utf8'));
    expect(nb.cells[0].outputs[0].text).toEqual(['1000000\n']);
  });
});

describe('millrace params', () => {
  it('lists the inferred parameters like papermill --help-notebook', async () => {
    const r = await runCli(['params', example, '--json'], h.cliEnv);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual([
      { name: 'region', inferred_type_name: 'str', default: '"us"', help: 'sales region code' },
      { name: 'limit', inferred_type_name: 'int', default: '5', help: 'orders per day, in units of 20' },
      {
        name: 'threshold',
        inferred_type_name: 'float',
        default: '0.5',
        help: 'fraction of the maximum amount that counts as a large order',
      },
    ]);
    const text = await runCli(['params', example], h.cliEnv);
    expect(text.stdout).toContain("Parameters inferred for notebook '");
    expect(text.stdout).toContain('threshold: float (default 0.5)');
  });
});

describe('commands that act on runs a long-lived stack keeps, with no such stack', () => {
  it.each([
    [['cancel', 'some-run'], 'millrace: no running stack here: runs of an embedded `millrace run` end with that command (Ctrl-C cancels it)'],
    [['retry', 'some-run'], 'millrace: no running stack here: paused runs live in `millrace dev` or on TEMPORAL_ADDRESS'],
    [['exec', 'some-run', 'print(1)'], 'millrace: no running stack here: paused runs live in `millrace dev` or on TEMPORAL_ADDRESS'],
    [['skip', 'some-run', '--json'], 'millrace: no running stack here: paused runs live in `millrace dev` or on TEMPORAL_ADDRESS'],
    [['abort', 'some-run'], 'millrace: no running stack here: paused runs live in `millrace dev` or on TEMPORAL_ADDRESS'],
    [['run', 'EXAMPLE', '--detach'], 'millrace: --detach needs a stack that outlives this command: start `millrace dev` or set TEMPORAL_ADDRESS'],
  ])('%j refuses in one line before starting an embedded stack', async (args, line) => {
    const home = join(h.dir, `no-stack-${args[0]}`);
    // A project's state exists (no state at all is refused sooner: test/e2e/state.test.ts).
    await mkdir(home, { recursive: true });
    const env: NodeJS.ProcessEnv = { ...process.env, MILLRACE_HOME: home };
    for (const key of ['TEMPORAL_ADDRESS', 'MILLRACE_STORE', 'MILLRACE_TASK_QUEUE']) delete env[key];
    const started = Date.now();
    const r = await runCli(args.map((a) => (a === 'EXAMPLE' ? example : a)), env);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`${line}\n`);
    // Starting the embedded Temporal server alone takes seconds, and leaves its SQLite file.
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(existsSync(join(home, 'temporal.db'))).toBe(false);
    expect(existsSync(join(home, 'embedded.lock'))).toBe(false);
  });
});

describe('embedded stack (no TEMPORAL_ADDRESS)', () => {
  it('starts Temporal, Jupyter and a worker, runs, stops everything, and keeps history', async () => {
    const cwd = join(h.dir, 'embedded');
    await mkdir(cwd, { recursive: true });
    await copyFile(example, join(cwd, 'report.ipynb'));
    const env = { ...process.env };
    for (const key of ['TEMPORAL_ADDRESS', 'MILLRACE_HOME', 'MILLRACE_STORE', 'MILLRACE_TASK_QUEUE']) delete env[key];
    const r = await runCli(['run', 'report.ipynb', '-p', 'region', 'eu', '--json'], env, cwd);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.output.startsWith(join(cwd, '.millrace', 'store', 'runs'))).toBe(true);
    await assertValidNotebook(out.output);
    // Nothing it started is left running.
    const ps = execFileSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' });
    expect(ps.split('\n').filter((l) => l.includes(join(cwd, '.millrace')))).toEqual([]);
    // History survived: a later command reads it from the SQLite file.
    const runs = await runCli(['runs', '--json'], env, cwd);
    expect(runs.code, runs.stderr).toBe(0);
    expect(JSON.parse(runs.stdout).map((x: any) => x.run_id)).toContain(out.run_id);
  });

  it('cancels on Ctrl-C: the run ends cancelled, the kernel and the stack are stopped', async () => {
    const cwd = join(h.dir, 'ctrl-c');
    await mkdir(cwd, { recursive: true });
    await writeFile(join(cwd, 'slow.ipynb'), JSON.stringify(notebook([codeCell('import time\nprint("sleeping", flush=True)\ntime.sleep(300)')])));
    const env = { ...process.env };
    for (const key of ['TEMPORAL_ADDRESS', 'MILLRACE_HOME', 'MILLRACE_STORE', 'MILLRACE_TASK_QUEUE']) delete env[key];
    const child = spawn(process.execPath, [join(packageRoot(), 'bin', 'millrace.js'), 'run', 'slow.ipynb'], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    let exited: number | null | undefined;
    const exit = new Promise<number | null>((r) => child.once('exit', (code) => r((exited = code))));
    const deadline = Date.now() + 90_000;
    let record: any;
    while (Date.now() < deadline && exited === undefined && record?.cells[0].metadata.papermill.status !== 'running') {
      const id = /^run (\S+)$/m.exec(stderr)?.[1];
      // The live record: the notebook merged with its journal.
      if (id) record = await readRecord(join(cwd, '.millrace', 'store', 'runs', id, 'slow.ipynb')).then((r) => r.notebook, () => null);
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(record?.cells[0].metadata.papermill.status, `exit ${exited}; stderr: ${stderr}`).toBe('running');
    child.kill('SIGINT');
    expect(await exit).toBe(1);
    expect(stderr).toContain('cancelled');
    const ps = execFileSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' });
    expect(ps.split('\n').filter((l) => l.includes(join(cwd, '.millrace')))).toEqual([]);
  });
});
