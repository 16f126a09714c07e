/**
 * Where commands find their state, and how they name runs: the nearest `.millrace` walking
 * up from the current directory (as git finds `.git`), created only by `run`; and a RUN
 * argument that is a unique prefix of a run id, or `latest` / `-`.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../worker/paths.js';
import { codeCell, notebook, runCli, startHarness, waitFor, type Harness } from './harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

const example = join(packageRoot(), 'examples', 'report.ipynb');

/**
 * A user's shell with no stack configured. The walk stops below the harness's folder, so a
 * `.millrace` above the temporary directory (someone's /tmp/.millrace) cannot be found.
 */
function localEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, MILLRACE_CEILING_DIRECTORIES: h.dir };
  for (const key of Object.keys(env)) if (key.startsWith('TEMPORAL_') || (key.startsWith('MILLRACE_') && key !== 'MILLRACE_CEILING_DIRECTORIES')) delete env[key];
  return env;
}

describe('state discovery', () => {
  it('finds the project\'s .millrace from a subdirectory, says which it read, and creates nothing there', async () => {
    const project = join(h.dir, 'project');
    const sub = join(project, 'notebooks', 'drafts');
    await mkdir(sub, { recursive: true });
    await copyFile(example, join(project, 'report.ipynb'));
    const env = localEnv();
    const run = await runCli(['run', 'report.ipynb', '--id', 'found-from-below', '--json'], env, project);
    expect(run.code, run.stderr).toBe(0);

    const runs = await runCli(['runs'], env, sub);
    expect(runs.code, runs.stderr).toBe(0);
    expect(runs.stdout).toContain('found-from-below');
    expect(runs.stderr.split('\n')).toContain(`state: ${join(project, '.millrace')}`);
    expect(existsSync(join(sub, '.millrace'))).toBe(false);
    expect(existsSync(join(project, 'notebooks', '.millrace'))).toBe(false);

    // `latest` through the embedded server of the state found above.
    const latest = await runCli(['show', 'latest', '--json'], env, sub);
    expect(latest.code, latest.stderr).toBe(0);
    expect(JSON.parse(latest.stdout)).toMatchObject({ run_id: 'found-from-below', status: 'completed' });
    expect(existsSync(join(sub, '.millrace'))).toBe(false);
  });

  it.each([
    [['runs']],
    [['runs', '--json']],
    [['show', 'latest']],
    [['resume', 'some-run']],
    [['cancel', 'some-run']],
    [['abort', 'some-run']],
    [['metrics']],
    [['serve']],
    [['schedule', 'list']],
  ])('%j with no state here or above fails in one line, exit 2, creating nothing', async (args) => {
    const cwd = join(h.dir, 'elsewhere', 'deeper');
    await mkdir(cwd, { recursive: true });
    const r = await runCli(args, localEnv(), cwd);
    expect(r.stderr).toBe(
      `millrace: no millrace state (.millrace) in ${cwd} or any folder above it below ${h.dir} (MILLRACE_CEILING_DIRECTORIES): ` +
        "run this from your project's folder (where `millrace run` created .millrace), or set MILLRACE_HOME\n",
    );
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(existsSync(join(cwd, '.millrace'))).toBe(false);
    expect(existsSync(join(h.dir, 'elsewhere', '.millrace'))).toBe(false);
  });

  it('a MILLRACE_HOME that does not exist is not created by a command that only reads', async () => {
    const home = join(h.dir, 'no-such-home');
    const r = await runCli(['runs'], { ...localEnv(), MILLRACE_HOME: home });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`millrace: no millrace state (.millrace) in MILLRACE_HOME=${home}: `);
    expect(existsSync(home)).toBe(false);
  });
});

describe('run ids: a unique prefix, or latest', () => {
  const tag = `pfx${randomBytes(3).toString('hex')}`;
  const listed = (id: string) =>
    waitFor(`${id} in visibility`, async () => {
      const r = await runCli(['runs', '--json', '--limit', '200'], h.cliEnv);
      return (JSON.parse(r.stdout) as Array<{ run_id: string }>).some((x) => x.run_id === id) ? true : undefined;
    });

  it('show takes a unique prefix, `latest` and `-`; an ambiguous prefix lists the candidates', async () => {
    const path = await h.writeNotebook('ids.ipynb', notebook([codeCell('print(1)')]));
    for (const id of [`${tag}-alpha-1`, `${tag}-alpha-2`, `${tag}-beta`]) {
      const r = await runCli(['run', path, '--id', id, '--json'], h.cliEnv);
      expect(r.code, r.stderr).toBe(0);
    }
    await listed(`${tag}-beta`);
    const runs = await runCli(['runs', '--limit', '1'], h.cliEnv);
    expect(runs.stderr).toBe(`state: Temporal at ${h.cliEnv['TEMPORAL_ADDRESS']} (namespace ${h.cliEnv['TEMPORAL_NAMESPACE']})\n`);

    const byPrefix = await runCli(['show', `${tag}-b`, '--json'], h.cliEnv);
    expect(byPrefix.code, byPrefix.stderr).toBe(0);
    expect(JSON.parse(byPrefix.stdout).run_id).toBe(`${tag}-beta`);
    for (const name of ['latest', '-']) {
      const latest = await runCli(['show', name, '--json'], h.cliEnv);
      expect(latest.code, latest.stderr).toBe(0);
      expect(JSON.parse(latest.stdout).run_id).toBe(`${tag}-beta`);
    }

    const ambiguous = await runCli(['show', `${tag}-alpha`], h.cliEnv);
    expect(ambiguous.code).toBe(2);
    expect(ambiguous.stdout).toBe('');
    const lines = ambiguous.stderr.trimEnd().split('\n');
    expect(lines[0]).toBe(`millrace: run id prefix ${tag}-alpha is ambiguous: it matches 2 runs; give more of the id:`);
    expect(lines.slice(1).map((l) => l.trim().split(/\s+/)[0]).sort()).toEqual([`${tag}-alpha-1`, `${tag}-alpha-2`]);
    expect(lines.slice(1).every((l) => l.includes('completed'))).toBe(true);

    // An exact id wins over a prefix of a longer one.
    const exact = await runCli(['run', path, '--id', `${tag}-alpha`, '--json'], h.cliEnv);
    expect(exact.code, exact.stderr).toBe(0);
    const shown = await runCli(['show', `${tag}-alpha`, '--json'], h.cliEnv);
    expect(JSON.parse(shown.stdout).run_id).toBe(`${tag}-alpha`);

    const none = await runCli(['show', `${tag}-zzz`], h.cliEnv);
    expect(none.code).toBe(2);
    expect(none.stderr).toBe(`millrace: no run ${tag}-zzz: see \`millrace runs\`\n`);
  });

  it('`run --id` refuses the names of the newest run', async () => {
    for (const id of ['latest', '-']) {
      const r = await runCli(['run', example, '--id', id], h.cliEnv);
      expect(r.code).toBe(2);
      expect(r.stderr).toBe(`millrace: --id "${id}": "latest" and "-" name the newest run wherever a run is given; choose another id\n`);
    }
  });

  it('cancel and resume take a prefix', async () => {
    const slow = await h.writeNotebook('slow-ids.ipynb', notebook([codeCell('import time\ntime.sleep(300)')]));
    const started = await runCli(['run', slow, '--id', `${tag}-slow-run`, '--detach'], h.cliEnv);
    expect(started.code, started.stderr).toBe(0);
    await listed(`${tag}-slow-run`);
    const cancel = await runCli(['cancel', `${tag}-slow`], h.cliEnv);
    expect(cancel.code, cancel.stderr).toBe(0);
    expect(cancel.stdout).toBe(`cancellation requested for ${tag}-slow-run\n`);
    const handle = h.client.workflow.getHandle(`${tag}-slow-run`);
    await expect(handle.result()).rejects.toThrow();

    const failing = await h.writeNotebook('fails-ids.ipynb', notebook([codeCell('ok = False', ['parameters']), codeCell('assert ok')]));
    const failed = await runCli(['run', failing, '--id', `${tag}-failed-run`, '--json'], h.cliEnv);
    expect(failed.code).toBe(1);
    await listed(`${tag}-failed-run`);
    const resumed = await runCli(['resume', `${tag}-failed`, '-p', 'ok', 'True', '--id', `${tag}-resumed`, '--json'], h.cliEnv);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(JSON.parse(resumed.stdout)).toMatchObject({ run_id: `${tag}-resumed`, status: 'completed' });
  });
});
