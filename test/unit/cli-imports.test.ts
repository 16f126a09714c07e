// What each command loads, in a real `bin/millrace.js` process (issue 18): a command pays
// only for what it uses. Start-up time itself is measured by bench/cli.ts, not here; this
// guards the import graph that the time depends on. Runs the build in dist/.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { DEV_API_HEADER, DEV_API_VERSION } from '../../cli/dev-api.js';
import { helpOutput } from '../../cli/bundle-help.js';
import { MILLRACE_VERSION } from '../../notebook/version.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = join(ROOT, 'bin', 'millrace.js');
const RECORDER = join(ROOT, 'test', 'unit', 'helpers', 'record-loads.mjs');
const work = mkdtempSync(join(tmpdir(), 'millrace-imports-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const NOTEBOOK = join(work, 'nb.ipynb');
writeFileSync(
  NOTEBOOK,
  JSON.stringify({
    nbformat: 4,
    nbformat_minor: 5,
    metadata: { kernelspec: { name: 'python3', display_name: 'Python 3', language: 'python' } },
    cells: [{ id: 'p', cell_type: 'code', metadata: { tags: ['parameters'] }, execution_count: null, outputs: [], source: 'x = 1' }],
  }),
);

let count = 0;
/** The npm packages (scope/name) a `millrace ARGS` process loaded, and its exit code. */
function packagesLoadedBy(args: string[]): { packages: Set<string>; status: number | null; stdout: string; stderr: string } {
  const file = join(work, `loads-${count++}.txt`);
  // A state directory that does not exist (`run` creates it: one per process), so no
  // `millrace dev` to attach to, and nothing started.
  const env: NodeJS.ProcessEnv = { PATH: process.env['PATH'], HOME: work, MILLRACE_HOME: join(work, `no-state-${count}`), MILLRACE_RECORD_LOADS: file };
  const result = spawnSync(process.execPath, ['--import', RECORDER, BIN, ...args], { cwd: work, env, encoding: 'utf8', timeout: 60_000 });
  return { packages: packagesIn(file), status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** A module's npm package: from node_modules/, or bundled into dist/vendor/ (cli/bundle-vendored.ts). */
const PACKAGE_OF = /node_modules\/((?:@[^/]+\/)?[^/]+)|dist\/vendor\/([^/]+)\.js$/;

/** The npm packages loaded by the lines of a record-loads file. */
function packagesIn(file: string): Set<string> {
  const loaded = existsSync(file) ? readFileSync(file, 'utf8').split('\n') : [];
  return new Set(loaded.flatMap((line) => {
    const m = PACKAGE_OF.exec(line);
    return m ? [m[1] ?? m[2]!] : [];
  }));
}

/**
 * What a `run` handed to dev must not load (cli/commands/run.ts): zod, yaml, anything of
 * Temporal, the AWS SDK, and none of the modules that build the run's input (the notebook
 * modules, the store, the configuration): dev builds it (cli/run-input.ts).
 */
function notThin(file: string): string[] {
  const loaded = existsSync(file) ? readFileSync(file, 'utf8').split('\n') : [];
  return loaded.filter(
    (line) =>
      /node_modules\/(zod|yaml|@temporalio|@grpc|@aws-sdk|@smithy)\/|dist\/vendor\/zod\.js$/.test(line) ||
      /dist\/(record\/|notebook\/(?!version\.js$|placement-syntax\.js$|saved-file-facts\.js$|bytes\.js$)|cli\/(config|submit|run-input|run-here|session|notebook-source|run-summaries)\.js$)/.test(line),
  );
}

const matching = (packages: Set<string>, pattern: RegExp) => [...packages].filter((p) => pattern.test(p)).sort();

const TEMPORAL = /^@temporalio\//;
const HEAVY = /^(@temporalio\/|@aws-sdk\/|@smithy\/|ink$|react$|zod$)/;

describe('what a command loads', () => {
  it('finds the build and records what a process loads', () => {
    expect(existsSync(join(ROOT, 'dist', 'cli', 'main.js')), 'run `npm run build` first').toBe(true);
    const { packages, status } = packagesLoadedBy(['runs', '--help', '--limit', '1']);
    expect(status).toBe(0);
    expect(packages.has('commander')).toBe(true);
  });

  it('`millrace --version` loads no package and not the command line', () => {
    const file = join(work, `loads-${count}.txt`);
    const { packages, status, stdout } = packagesLoadedBy(['--version']);
    expect({ status, stdout }).toEqual({ status: 0, stdout: `${MILLRACE_VERSION}\n` });
    expect([...packages]).toEqual([]);
    // The CommonJS launcher and the one bundled module it requires, nothing else: no ES
    // module of dist/ (bin/millrace.js as an ES module cost node's ES module loader first).
    const loaded = new Set(readFileSync(file, 'utf8').split('\n').filter((line) => line !== '').map((line) => line.replace(/^file:\/\//, '')));
    expect([...loaded].sort()).toEqual([BIN, join(ROOT, 'dist', 'cli', 'quick-answers.cjs')].sort());
  });

  // cli/quick-answers.ts: help into a pipe is the text the build had commander print (cli/bundle-help.ts).
  it.each(['--help', '-h', 'run --help', 'schedule create --help', 'inspect --help', 'worker -h'])(
    '`millrace %s` into a pipe prints what commander prints, without loading it',
    async (line) => {
      const args = line.split(' ');
      const { packages, status, stdout } = packagesLoadedBy(args);
      expect(status).toBe(0);
      expect([...packages]).toEqual([]);
      expect(stdout).toBe(await helpOutput(args));
      expect(stdout).toMatch(/^Usage: millrace /);
    },
  );

  it('help of a command with its arguments given still goes through commander', () => {
    const { packages, status, stdout } = packagesLoadedBy(['run', NOTEBOOK, '--help']);
    expect(status).toBe(0);
    expect(packages.has('commander')).toBe(true);
    expect(stdout).toMatch(/^Usage: millrace run \[options\] <notebook>/);
  });

  it.each([['--version'], ['--help'], ['run', '--help'], ['runs', '--help'], ['schedule', 'create', '--help'], ['retry', '--help'], ['inspect', '--help']])(
    '`millrace %s` loads no Temporal, AWS SDK, Ink, React or zod',
    (...args: string[]) => {
      const { packages, status } = packagesLoadedBy(args);
      expect(status).toBe(0);
      expect(matching(packages, HEAVY)).toEqual([]);
    },
  );

  it('`millrace params` loads nothing of Temporal, and zod as one bundled module', () => {
    const file = join(work, `loads-${count}.txt`);
    const { packages, status, stderr } = packagesLoadedBy(['params', NOTEBOOK, '--json']);
    expect(stderr).toBe('');
    expect(status).toBe(0);
    expect(matching(packages, TEMPORAL)).toEqual([]);
    // cli/bundle-vendored.ts: zod's 95 modules as one, which every module of dist/ imports.
    const loaded = readFileSync(file, 'utf8').split('\n');
    expect(loaded.filter((line) => line.endsWith('/dist/vendor/zod.js'))).toHaveLength(1);
    expect(loaded.filter((line) => line.includes('node_modules/zod/'))).toEqual([]);
  });

  // No stack here: each is refused before anything starts, after its modules are loaded.
  it.each([
    [['runs'], 'no millrace state'],
    [['show', 'some-run'], 'no millrace state'],
    [['run', '--detach', NOTEBOOK], '--detach needs a stack'],
  ])('`millrace %s` loads no worker, no AWS SDK, no Ink', (args, refusal) => {
    const { packages, status, stderr } = packagesLoadedBy(args);
    expect(status).not.toBe(0);
    expect(stderr).toContain(refusal);
    expect(matching(packages, /^(@temporalio\/(worker|core-bridge|workflow)|@aws-sdk\/|@smithy\/|ink$|react$)/)).toEqual([]);
  });

  it('`millrace runs`, `show` and `run` load the Temporal client only to reach Temporal themselves', () => {
    // Refused for want of state before any stack is looked for: nothing of the client loaded.
    expect(matching(packagesLoadedBy(['runs']).packages, /^@temporalio\/client$/)).toEqual([]);
    // `run --detach` looks for a stack and refuses when none outlives it, before connecting:
    // the client loads only to connect (cli/environment.ts), after an embedded stack's
    // servers were spawned, so they start while it loads.
    expect(matching(packagesLoadedBy(['run', '--detach', NOTEBOOK]).packages, /^@temporalio\/(client|proto)$|^@grpc\//)).toEqual([]);
  });

  /**
   * `millrace COMMAND ARGS` (`run` unless said) against a socket where dev's would be, answering as dev does
   * (test/e2e/dev-api.test.ts runs it against a real dev): what the command asked and
   * printed, and what it loaded on the way.
   */
  async function runAgainstDev(name: string, args: string[], lines: (body: { detach?: boolean }) => unknown[], command = 'run') {
    const state = join(work, `${name}-state`);
    mkdirSync(state, { mode: 0o700 });
    const asked: { path?: string; body?: Record<string, unknown> } = {};
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d));
      req.on('end', () => {
        Object.assign(asked, { path: req.url, body: JSON.parse(body) });
        res.writeHead(200, { 'content-type': 'application/x-ndjson', [DEV_API_HEADER]: DEV_API_VERSION }).end(lines(asked.body!).map((l) => `${JSON.stringify(l)}\n`).join(''));
      });
    });
    await new Promise<void>((resolve) => server.listen(join(state, 'dev.sock'), resolve));
    try {
      const file = join(work, `loads-${name}.txt`);
      const env: NodeJS.ProcessEnv = { PATH: process.env['PATH'], HOME: work, MILLRACE_HOME: state, MILLRACE_RECORD_LOADS: file, MILLRACE_JUPYTER_TOKEN: 'secret-token' };
      const child = spawn(process.execPath, ['--import', RECORDER, BIN, command, ...args], { cwd: work, env });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d));
      child.stderr.on('data', (d: Buffer) => (stderr += d));
      const status = await new Promise<number | null>((resolve) => child.on('exit', resolve));
      return { status, stdout, stderr, asked, state, loads: file };
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  }

  it('`millrace run --detach` with a `millrace dev` here hands dev how it was called, and loads no zod, yaml, Temporal or notebook modules', async () => {
    const output = join(work, 'd', 'nb.ipynb');
    const { status, stdout, stderr, asked, state, loads } = await runAgainstDev('detach', ['--detach', 'nb.ipynb', '--id', 'detached-1', '-p', 'x', '2', '-f', 'params.yaml', '-y', 'y: 3'], () => [
      { event: { warning: 'Passed unknown parameter: y' } },
      { event: { started: 'detached-1', output } },
      { answer: { run_id: 'detached-1', output } },
    ]);
    expect({ status, stdout, stderr }).toEqual({ status: 0, stdout: `detached-1\noutput: ${output}\n`, stderr: 'Passed unknown parameter: y\n' });
    // As typed, with where it was called: dev takes relative paths from there. The Jupyter token is no business of the run's input.
    expect(asked).toMatchObject({
      path: '/run',
      body: {
        detach: true,
        call: { notebook: 'nb.ipynb', calledFrom: work, env: { MILLRACE_HOME: state }, options: { id: 'detached-1', parameters: [['x', '2']], files: ['params.yaml'], yaml: ['y: 3'] } },
      },
    });
    expect(JSON.stringify(asked.body)).not.toContain('secret-token');
    expect(notThin(loads)).toEqual([]);
  });

  it('a foreground `millrace run` with a `millrace dev` here is followed by dev and loads no zod, yaml, Temporal or notebook modules', async () => {
    const output = join(work, 'f', 'nb.ipynb');
    const report = { run_id: 'followed-1', status: 'completed', output, failed_cell: null, error: null, duration_s: 0.5 };
    const { status, stdout, stderr, asked, loads } = await runAgainstDev('follow', [NOTEBOOK, '--id', 'followed-1'], () => [
      { event: { started: 'followed-1', output } },
      { event: { stderr: 'cell 0 completed in 0.0 s: x = 1\n' } },
      { answer: report },
    ]);
    expect({ status, stdout, stderr }).toEqual({
      status: 0,
      stdout: `completed in 0.5 s\noutput: ${output}\n`,
      stderr: 'run followed-1\ncell 0 completed in 0.0 s: x = 1\n',
    });
    expect(asked).toMatchObject({ path: '/run', body: { detach: false, call: { notebook: NOTEBOOK, options: { id: 'followed-1' } }, progress: 'lines', pauses: false } });
    expect(notThin(loads)).toEqual([]);
  });

  it('`millrace runs` with a `millrace dev` here hands dev its options, and loads no zod, yaml, Temporal, notebook modules or configuration', async () => {
    const listed = { run_id: 'listed-1', status: 'completed', notebook: 'nb.ipynb', output: null, schedule: null, started: '2026-12-06T10:00:00.000Z', ended: '2026-12-06T10:00:02.000Z', duration_s: 2, parameters: { x: 2 } };
    // dev's answer to `runs` is one JSON value (cli/dev-server.ts OPERATIONS).
    const { status, stdout, stderr, asked, state, loads } = await runAgainstDev('runs', ['--status', 'completed', '--limit', '5'], () => [[listed]], 'runs');
    expect({ status, stderr }).toEqual({ status: 0, stderr: `state: ${state} (millrace dev)\n` });
    expect(stdout).toMatch(/^listed-1 +completed +nb\.ipynb +2026-12-06T10:00:00\.000Z +2\.0s +x=2$/m);
    // Checked by dev (runFilterOf, cli/run-summaries.ts), as the command checks them without one.
    expect(asked).toEqual({ path: '/runs', body: { status: 'completed', limit: 5 } });
    expect(notThin(loads)).toEqual([]);
  });

  it('`millrace show` with a `millrace dev` here prints the view dev built, and loads no zod, yaml, Temporal, record or notebook modules', async () => {
    const view = {
      run_id: 'shown-1', status: 'failed', notebook: 'nb.ipynb', output: '/s/runs/shown-1/nb.ipynb', schedule: null, started: '2026-12-06T10:00:00.000Z', ended: '2026-12-06T10:00:02.000Z', duration_s: 2, parameters: { x: 2 },
      failed_cell: 1, error: { ename: 'ValueError', evalue: 'bad' }, resumed_from: null, resumed_as: [], paused: null, cwd: '/w', reason: null, kernel: null,
      saved_files: [{ cell: 1, path: 'out.csv', location: '/s/runs/shown-1/out.csv', bytes: 2048, rows: 3, sha256: 'a'.repeat(64) }],
      cells: [{ index: 1, cell_type: 'code', status: 'failed', duration_s: 0.25, summary: 'raise ValueError("bad")', error: { ename: 'ValueError', evalue: 'bad' } }],
    };
    const { status, stdout, stderr, asked, loads } = await runAgainstDev('show', ['shown-1'], () => [{ view, traceback: 'ValueError: bad\n' }], 'show');
    expect({ status, stderr }).toEqual({ status: 0, stderr: '' });
    expect(stdout).toContain('failed:   cell 1: ValueError: bad');
    expect(stdout).toContain('saved:    cell 1: /s/runs/shown-1/out.csv (3 rows, 2 kB)');
    expect(stdout).toMatch(/^1 +code +failed +0\.25s +raise ValueError\("bad"\)$/m);
    expect(stdout.endsWith('\nValueError: bad\n')).toBe(true);
    // Checked by dev (checkRunArgument), as the command checks it without one; no colour into a pipe.
    expect(asked).toEqual({ path: '/show', body: { run: 'shown-1', colour: false } });
    expect(notThin(loads)).toEqual([]);
  });

  it('`millrace inspect` with a `millrace dev` here draws its run list from dev, loading nothing of the Temporal client, Ink as one module, no yaml, no Jupyter client', async () => {
    // This socket answers as dev's `inspect-runs` does (test/e2e/inspect.test.ts runs the
    // inspector against a real dev). The process draws the list, then `q` ends it: what it
    // loaded is what its first frame needed.
    const state = join(work, 'dev-inspect-state');
    mkdirSync(state, { mode: 0o700 });
    const asked: { path?: string; body?: unknown } = {};
    const run = { run_id: 'listed-by-dev-1', status: 'completed', notebook: 'nb.ipynb', output: null, schedule: null, started: '2026-12-06T10:00:00.000Z', ended: '2026-12-06T10:00:02.000Z', duration_s: 2, parameters: null, failed_cell: null, error: null };
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d));
      req.on('end', () => {
        Object.assign(asked, { path: req.url, body: JSON.parse(body) });
        res.writeHead(200, { 'content-type': 'application/json', [DEV_API_HEADER]: DEV_API_VERSION }).end(JSON.stringify([run]));
      });
    });
    await new Promise<void>((resolve) => server.listen(join(state, 'dev.sock'), resolve));
    try {
      const file = join(work, 'loads-inspect.txt');
      // CI=true as CI sets it: the inspector draws all the same (cli/main.ts importForTerminal).
      const env: NodeJS.ProcessEnv = { PATH: process.env['PATH'], HOME: work, MILLRACE_HOME: state, MILLRACE_RECORD_LOADS: file, TERM: 'xterm-256color', CI: 'true' };
      const command = `stty cols 120 rows 30; exec '${process.execPath}' --import '${RECORDER}' '${BIN}' inspect`;
      // script(1): the inspector needs a terminal.
      const child = spawn('script', ['-qec', command, '/dev/null'], { cwd: work, env, stdio: ['pipe', 'pipe', 'pipe'] });
      // A key pressed while the modules load is not lost: `?` opens the help when the screen is up.
      child.stdin.write('?');
      let screen = '';
      const waiters: Array<() => void> = [];
      child.stdout.on('data', (d: Buffer) => {
        screen += d.toString('utf8');
        waiters.splice(0).forEach((w) => w());
      });
      const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
      const until = async (text: string, from = 0) => {
        const deadline = Date.now() + 20_000;
        while (!screen.slice(from).includes(text) && child.exitCode === null && Date.now() < deadline) {
          await new Promise<void>((resolve) => {
            waiters.push(resolve);
            setTimeout(resolve, 500);
          });
        }
        return screen.slice(from).includes(text);
      };
      try {
        expect(await until('this help (? or esc closes it)'), screen).toBe(true);
        const helpShown = screen.length;
        child.stdin.write('?');
        expect(await until('listed-by-dev-1', helpShown), screen).toBe(true);
        child.stdin.write('q');
        expect(await exited, screen).toBe(0);
      } finally {
        // Failing before `q`: SIGTERM ends the inspector (and any stack it started).
        if (child.exitCode === null) child.kill('SIGTERM');
      }
      expect(asked).toEqual({ path: '/inspect-runs', body: { words: [], limit: 50 } });
      const loaded = readFileSync(file, 'utf8').split('\n');
      expect(matching(packagesIn(file), /^@temporalio\/(client|proto)$|^@grpc\/|^yaml$|^@jupyterlab\//)).toEqual([]);
      // Ink, React and their packages are in dist/cli/commands/inspect.js (cli/bundle-inspect.ts).
      expect(loaded.filter((line) => /node_modules\/(ink|react|react-reconciler|es-toolkit|yoga-layout)\//.test(line))).toEqual([]);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
