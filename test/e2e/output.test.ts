/**
 * What `run` and `show` print, as a papermill user expects it: unknown-parameter warnings,
 * the failed cell's traceback, live per-cell lines and --log-output, and refusals under --json.
 */
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot, venvPython } from '../../worker/paths.js';
import { writeFile } from 'node:fs/promises';
import { codeCell, notebook, runCli, startHarness, waitFor, type Harness } from './harness.js';

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

  it('are warned when `resume` overrides a name the notebook does not declare', async () => {
    const path = await h.writeNotebook('warn-resume.ipynb', notebook([codeCell('region = "us"', ['parameters']), codeCell('raise ValueError(region)')]));
    expect((await runCli(['run', path, '--id', 'warn-resume-1', '--json'], h.cliEnv)).code).toBe(1);
    const r = await runCli(['resume', 'warn-resume-1', '-p', 'regoin', 'amer', '-p', 'region', 'eu', '--json'], h.cliEnv);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({ error: { ename: 'ValueError', evalue: 'eu' }, warnings: ['Passed unknown parameter: regoin'] });
  });
});

/** The block papermill's PapermillExecutionError prints: the rule, where, and the traceback. */
function executionErrorBlock(text: string): string {
  const start = text.indexOf(`${'-'.repeat(75)}\nException encountered at`);
  return start < 0 ? '' : text.slice(start);
}

describe('a failed run', () => {
  it("prints the failed cell's traceback as papermill does, plain when piped, in `run` and `show`", async () => {
    const path = await h.writeNotebook('tb.ipynb', notebook([codeCell('x = {"a": 1}'), codeCell('def lookup(k):\n    return x[k]\nlookup("cust_id")')]));
    let papermill = '';
    await papermillStderr([path, `${h.dir}/pm-tb.ipynb`]).catch((err: { stderr: string }) => (papermill = err.stderr));
    const expected = executionErrorBlock(papermill);
    expect(expected).toContain('Exception encountered at "In [2]":');
    expect(expected).toContain("KeyError: 'cust_id'");

    const r = await runCli(['run', path, '--id', 'tb-run'], h.cliEnv);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("cell 1 failed: KeyError: 'cust_id'");
    expect(r.stderr).not.toContain('\x1b');
    // The same text as papermill's, from the record (papermill's last line is the exception's own).
    expect(executionErrorBlock(r.stderr).trimEnd()).toBe(expected.trimEnd());

    const show = await runCli(['show', 'tb-run'], h.cliEnv);
    expect(show.code).toBe(0);
    expect(executionErrorBlock(show.stdout).trimEnd()).toBe(expected.trimEnd());
    // --json stays one object with its keys.
    const json = await runCli(['show', 'tb-run', '--json'], h.cliEnv);
    expect(JSON.parse(json.stdout)).toMatchObject({ failed_cell: 1, error: { ename: 'KeyError' } });
  });

  it('keeps the traceback in colour on a terminal', async () => {
    const path = await h.writeNotebook('tb-tty.ipynb', notebook([codeCell('raise ValueError("bad")')]));
    const command = [process.execPath, 'bin/millrace.js', 'run', path].map((a) => `'${a}'`).join(' ');
    // script(1) gives the command a pseudo-terminal.
    const r = await promisify(execFile)('script', ['-qec', command, '/dev/null'], { env: h.cliEnv, cwd: packageRoot() }).catch(
      (err: { stdout: string }) => err,
    );
    const block = executionErrorBlock(r.stdout.replace(/\r\n/g, '\n'));
    expect(block).toContain('Exception encountered at "In [1]":');
    expect(block).toMatch(/\x1b\[[0-9;]*m/);
  });
});

describe('refusing to overwrite another run\'s record', () => {
  it('is bad input under --json: the error named, exit 2', async () => {
    const path = await h.writeNotebook('keep.ipynb', notebook([codeCell('print(1)')]));
    const output = `${h.dir}/kept/keep.ipynb`;
    const first = await runCli(['run', path, '--output', output, '--id', 'keep-1', '--json'], h.cliEnv);
    expect(first.code).toBe(0);
    const r = await runCli(['run', path, '--output', output, '--id', 'keep-2', '--json'], h.cliEnv);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ run_id: 'keep-2', status: 'failed', failed_cell: null, error: { ename: 'RecordExists' } });
    expect(out.error.evalue).toBe(`${output} is the record of run keep-1; a run never overwrites another run's record`);
    const text = await runCli(['run', path, '--output', output, '--id', 'keep-3'], h.cliEnv);
    expect(text.code).toBe(2);
    expect(text.stderr).toContain('is the record of run keep-1');
  });
});

describe('live output', () => {
  it('prints one line per finished cell when stderr is not a terminal, none with --no-progress-bar', async () => {
    const path = await h.writeNotebook('lines.ipynb', notebook([codeCell('x = 1'), codeCell('y = x + 1\nprint(y)')]));
    const r = await runCli(['run', path], h.cliEnv);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^cell 0 completed in \d+\.\d s: x = 1$/m);
    expect(r.stderr).toMatch(/^cell 1 completed in \d+\.\d s: y = x \+ 1$/m);
    expect(r.stderr).not.toContain('\x1b');
    const quiet = await runCli(['run', path, '--no-progress-bar'], h.cliEnv);
    expect(quiet.code).toBe(0);
    expect(quiet.stderr).not.toMatch(/^cell \d/m);
  });

  it('shows a status line on a terminal: cells done / total, elapsed, the running cell', async () => {
    const flag = `${h.dir}/release-tty-${Date.now()}`;
    const waiting = `import os, time\nwhile not os.path.exists(${JSON.stringify(flag)}):\n    time.sleep(0.1)`;
    const path = await h.writeNotebook('bar.ipynb', notebook([codeCell('x = 1'), codeCell(waiting), codeCell('y = 2')]));
    const command = [process.execPath, 'bin/millrace.js', 'run', path].map((a) => `'${a}'`).join(' ');
    // script(1) gives the command a pseudo-terminal; its output is the terminal's.
    const child = spawn('script', ['-qec', command, '/dev/null'], { env: h.cliEnv, cwd: packageRoot(), stdio: ['ignore', 'pipe', 'pipe'] });
    let seen = '';
    child.stdout.on('data', (d) => (seen += d));
    const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
    try {
      await waitFor('the status line', async () => (/\[1\/3\] \d+s {2}cell 1 running \d+s {2}import os, time/.test(seen) ? true : undefined));
    } finally {
      await writeFile(flag, '');
    }
    expect(await closed).toBe(0);
    expect(seen).toMatch(/ok {3}\[3\/3\] cell 2 +\d+\.\d\ds {2}y = 2/);
  });

  it("--log-output streams a cell's prints while it still runs, as papermill logs them", async () => {
    const flag = `${h.dir}/release-${Date.now()}`;
    const cell = `import os, sys, time\nprint("first print", flush=True)\nwhile not os.path.exists(${JSON.stringify(flag)}):\n    time.sleep(0.1)\nprint("to stderr", file=sys.stderr)\nprint("second print")`;
    const path = await h.writeNotebook('log-output.ipynb', notebook([codeCell('x = 1'), codeCell(cell)]));
    const running = runCli(['run', path, '--log-output'], h.cliEnv);
    let ended = false;
    void running.then(() => (ended = true));
    await waitFor('the first print on stderr', async () => (running.printed().stderr.includes('first print\n') ? true : undefined));
    // The cell cannot end before the flag exists: the print came live.
    expect(ended).toBe(false);
    expect(running.printed().stderr).not.toContain('second print');
    await writeFile(flag, '');
    const r = await running;
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`Executing Cell 1${'-'.repeat(39)}\nfirst print\n`);
    expect(r.stderr).toContain('second print\n');
    expect(r.stderr).toContain('to stderr\n');
    expect(r.stderr).toContain(`Ending Cell 1${'-'.repeat(42)}\n`);
    // papermill: no progress bar with --log-output unless asked for.
    expect(r.stderr).not.toMatch(/^cell 1 completed/m);
    const json = await runCli(['run', path.replace('log-output', 'lines'), '--log-output', '--json'], h.cliEnv);
    expect(json.stderr).toBe('');
  });
});
