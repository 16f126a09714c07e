/**
 * The inspector's speed (issue 19), not a test: `npm run build && node dist/bench/inspect.js
 * [--runs 1000] [--real 50] [--out bench/results]`.
 *
 * A warm stack, a `millrace dev` started here as its own process, with `--runs` runs in its
 * visibility: `--real` real runs of a small notebook (one in five failing in a cell), the
 * newest, on top of the rest started on a queue no worker polls and terminated (shown as
 * failed, so the list asks each for its failure as for a real failed run).
 *
 * 1. First frame: `bin/millrace.js inspect` on a pseudo-terminal (script(1), 120x30), as a
 *    person starts it, from spawn to the first frame with the run list's rows; five times
 *    asking dev (the state directory's dev, cli/inspect/dev-source.ts), five times through
 *    the Temporal client (TEMPORAL_ADDRESS set to dev's server). Beside it, its first frame
 *    of any kind and `millrace --version` (node and the CLI's imports alone), to tell
 *    process start from reading Temporal.
 * 2. The list's first read in-process (temporalSource.listRuns, 50 runs), first and again.
 * 3. Cursor movement: `j` pressed 20 times in that process, each timed from the key to the
 *    redrawn frame, while the list refreshes every 2 s: a move never waits on Temporal.
 */
import { Client, Connection } from '@temporalio/client';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { loadConfig } from '../cli/config.js';
import { temporalSource } from '../cli/inspect/data.js';
import { buildRunInput } from '../cli/submit.js';
import { packageRoot } from '../worker/paths.js';
import { describeMachine } from './machine.js';
import { killTree } from './papermill.js';

const arg = (name: string, fallback: string) => {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? process.argv[at + 1]! : fallback;
};
const RUNS = Number(arg('runs', '1000'));
const REAL = Number(arg('real', '50'));
const OUT = arg('out', join(packageRoot(), 'bench', 'results'));

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
// eslint-disable-next-line no-control-regex
const plain = (s: string) => s.replace(/\u001b\[[0-9;?]*[A-Za-z]/g, '');

function notebook(fail: boolean): string {
  const cell = (source: string) => ({ cell_type: 'code', id: `c${Math.random().toString(36).slice(2, 10)}`, metadata: {}, outputs: [], execution_count: null, source });
  return JSON.stringify({
    nbformat: 4,
    nbformat_minor: 5,
    metadata: { kernelspec: { name: 'python3', display_name: 'Python 3', language: 'python' }, language_info: { name: 'python' } },
    cells: [cell('x = 1'), cell(fail ? 'raise ValueError("bench")' : 'print(x)')],
  });
}

/** `millrace inspect` on a pseudo-terminal: resolves when `ready` holds for the output so far. */
function startInspect(env: NodeJS.ProcessEnv) {
  const command = `stty cols 120 rows 30; exec '${process.execPath}' bin/millrace.js inspect`;
  const started = performance.now();
  const child = spawn('script', ['-qec', command, '/dev/null'], { env, cwd: packageRoot(), stdio: ['pipe', 'pipe', 'pipe'] });
  let seen = '';
  const waiters: Array<{ ok: (s: string) => boolean; resolve: () => void }> = [];
  child.stdout.on('data', (d: Buffer) => {
    seen += d.toString('utf8');
    for (const w of [...waiters]) if (w.ok(seen)) waiters.splice(waiters.indexOf(w), 1) && w.resolve();
  });
  const until = (ok: (s: string) => boolean, ms = 60_000) =>
    new Promise<void>((resolve, reject) => {
      if (ok(seen)) return resolve();
      const timer = setTimeout(() => reject(new Error(`inspect: nothing like that within ${ms} ms; output:\n${plain(seen).slice(-2000)}`)), ms);
      waiters.push({ ok, resolve: () => (clearTimeout(timer), resolve()) });
    });
  return {
    started,
    child,
    output: () => seen,
    until,
    stop: async () => {
      child.stdin.write('q');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => (child.kill('SIGKILL'), resolve()), 10_000);
        child.on('exit', () => (clearTimeout(timer), resolve()));
      });
    },
  };
}

const hasRows = (s: string) => /\d+\+? shown/.test(plain(s)) && plain(s).includes('›');

async function main(): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'millrace-bench-inspect-'));
  const env: NodeJS.ProcessEnv = { TERM: 'xterm-256color' };
  for (const [key, value] of Object.entries(process.env)) if (!/^(TEMPORAL_|MILLRACE_)|^CI$/.test(key)) env[key] = value;
  env['MILLRACE_HOME'] = join(root, '.millrace');
  await mkdir(env['MILLRACE_HOME'], { recursive: true });
  const dev = spawn(process.execPath, ['bin/millrace.js', 'dev'], { env, cwd: packageRoot(), stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  let devErr = '';
  dev.stderr.on('data', (d: Buffer) => (devErr = (devErr + d.toString()).slice(-4000)));
  let connection: Connection | undefined;
  try {
    const devFile = join(env['MILLRACE_HOME'], 'dev.json');
    for (let waited = 0; !existsSync(devFile); waited += 100) {
      if (dev.exitCode !== null || waited > 120_000) throw new Error(`millrace dev did not start: ${devErr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const devInfo = JSON.parse(readFileSync(devFile, 'utf8')) as { temporalAddress: string; namespace: string };
    connection = await Connection.connect({ address: devInfo.temporalAddress });
    const client = new Client({ connection, namespace: devInfo.namespace });
    const config = loadConfig(env);

    // The older runs: started where no worker polls, then terminated.
    const queue = `bench-inspect-idle-${process.pid}`;
    const synthetic = RUNS - REAL;
    const t0 = performance.now();
    for (let i = 0; i < synthetic; i += 25) {
      await Promise.all(
        Array.from({ length: Math.min(25, synthetic - i) }, async (_, k) => {
          const id = `idle-20261206T0000${String(i + k).padStart(4, '0')}Z-bench`;
          const handle = await client.workflow.start('notebookRun', { taskQueue: queue, workflowId: id, args: [{}], memo: { notebook: 'idle.ipynb', output: join(root, 'none', id) } });
          await handle.terminate('bench: a run in the history only');
        }),
      );
    }
    const notebooks = join(root, 'notebooks');
    await mkdir(notebooks, { recursive: true });
    const ok = join(notebooks, 'ok.ipynb');
    const bad = join(notebooks, 'bad.ipynb');
    await writeFile(ok, notebook(false));
    await writeFile(bad, notebook(true));
    // As `millrace run` submits them: dev's worker runs them.
    for (let i = 0; i < REAL; i++) {
      const input = await buildRunInput(config, { notebookPath: i % 5 === 4 ? bad : ok, params: {} });
      const handle = await client.workflow.start('notebookRun', { taskQueue: config.taskQueue, workflowId: input.runId, args: [input], memo: { notebook: basename(input.inputPath), output: input.output } });
      await handle.result().catch(() => undefined);
    }
    process.stderr.write(`${RUNS} runs in visibility (${REAL} real) in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);

    // Visibility is eventually consistent: wait until it lists them all.
    for (;;) {
      const count = await client.workflowService.countWorkflowExecutions({ namespace: devInfo.namespace, query: '' });
      if (Number(count.count) >= RUNS) break;
      await new Promise((r) => setTimeout(r, 200));
    }

    const source = temporalSource(client);
    const list = async () => {
      const t = performance.now();
      const rows = await source.listRuns({ limit: 50 });
      return { ms: performance.now() - t, rows: rows.length };
    };
    const firstList = await list();
    const againList = await list();

    const clientEnv: NodeJS.ProcessEnv = { ...env, TEMPORAL_ADDRESS: devInfo.temporalAddress, TEMPORAL_NAMESPACE: devInfo.namespace };
    const moves: number[] = [];
    const firstFrames = async (environment: NodeJS.ProcessEnv, withMoves: boolean) => {
      const frames: number[] = [];
      const anyFrames: number[] = [];
      for (let round = 0; round < 5; round++) {
        const inspect = startInspect(environment);
        await inspect.until((s) => plain(s).includes('millrace runs'));
        anyFrames.push(performance.now() - inspect.started);
        await inspect.until(hasRows);
        frames.push(performance.now() - inspect.started);
        if (round === 0 && withMoves) {
          for (let i = 0; i < 20; i++) {
            const before = inspect.output().length;
            const t = performance.now();
            inspect.child.stdin.write('j');
            await inspect.until((s) => s.length > before && s.slice(before).includes('›'), 10_000);
            moves.push(performance.now() - t);
            await new Promise((r) => setTimeout(r, 150 + Math.random() * 250));
          }
        }
        await inspect.stop();
      }
      return { median: median(frames), all: frames.map(Math.round), anyFrame: median(anyFrames) };
    };
    const viaDev = await firstFrames(env, true);
    const viaClient = await firstFrames(clientEnv, false);

    // The floor: a node process of the CLI that connects to nothing.
    const versions: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t = performance.now();
      await new Promise<void>((resolve) => spawn(process.execPath, ['bin/millrace.js', '--version'], { cwd: packageRoot(), stdio: 'ignore' }).on('exit', () => resolve()));
      versions.push(performance.now() - t);
    }

    const result = {
      versionMs: median(versions),
      machine: describeMachine(),
      runs: RUNS,
      real: REAL,
      firstFrameMs: { dev: viaDev, client: viaClient },
      listRunsMs: { first: Math.round(firstList.ms), again: Math.round(againList.ms), rows: firstList.rows },
      cursorMoveMs: { median: median(moves), max: Math.max(...moves), all: moves.map(Math.round) },
    };
    const lines = [
      `# millrace inspect: speed (${RUNS} runs, ${REAL} real; warm \`millrace dev\`)`,
      '',
      '| measure | value | target |',
      '| --- | --- | --- |',
      `| first frame of \`millrace inspect\` (spawn to rows on screen), asking \`millrace dev\`, median of 5 | ${Math.round(viaDev.median)} ms (${viaDev.all.join(', ')}) | ≤ 500 ms |`,
      `| the same through the Temporal client (\`TEMPORAL_ADDRESS\`), median of 5 | ${Math.round(viaClient.median)} ms (${viaClient.all.join(', ')}) | ≤ 500 ms |`,
      `| its first frame of any kind (the list's title), median: asking dev / through the client | ${Math.round(viaDev.anyFrame)} ms / ${Math.round(viaClient.anyFrame)} ms | |`,
      `| \`millrace --version\` (a node process of the CLI, no Temporal), median | ${Math.round(result.versionMs)} ms | |`,
      `| the list's first read in-process (50 runs), first / again | ${result.listRunsMs.first} ms / ${result.listRunsMs.again} ms | |`,
      `| cursor move (j to redrawn frame), median / max of ${moves.length} | ${Math.round(result.cursorMoveMs.median)} ms / ${Math.round(result.cursorMoveMs.max)} ms | never waits on the network |`,
      '',
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
    await mkdir(OUT, { recursive: true });
    await writeFile(join(OUT, 'inspect.md'), `${lines.join('\n')}\n`);
    await writeFile(join(OUT, 'inspect.json'), `${JSON.stringify(result, null, 2)}\n`);
  } finally {
    await connection?.close();
    dev.kill('SIGINT');
    await new Promise((r) => (dev.exitCode !== null ? r(undefined) : dev.once('exit', r)));
    if (dev.pid !== undefined) killTree(dev.pid);
    await rm(root, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? err}\n`);
  process.exitCode = 1;
});
