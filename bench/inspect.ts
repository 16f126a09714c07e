/**
 * The inspector's speed (issue 19), not a test: `npm run build && node dist/bench/inspect.js
 * [--runs 1000] [--real 50] [--out bench/results]`.
 *
 * A warm stack (Temporal, Jupyter, a worker: bench/millrace.ts) with `--runs` runs in its
 * visibility: `--real` real runs of a small notebook (one in five failing in a cell), the
 * newest, on top of the rest started on a queue no worker polls and terminated (shown as
 * failed, so the list asks each for its failure as for a real failed run).
 *
 * 1. First frame: `bin/millrace.js inspect` on a pseudo-terminal (script(1), 120x30), as a
 *    person starts it, from spawn to the first frame with the run list's rows; five times.
 *    Beside it, its first frame of any kind and `millrace --version` (node and the CLI's
 *    imports alone), to tell process start from reading Temporal.
 * 2. The list's first read in-process (temporalSource.listRuns, 50 runs), first and again.
 * 3. Cursor movement: `j` pressed 20 times in that process, each timed from the key to the
 *    redrawn frame, while the list refreshes every 2 s: a move never waits on Temporal.
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { temporalSource } from '../cli/inspect/data.js';
import { packageRoot } from '../worker/paths.js';
import { describeMachine } from './machine.js';
import { startWarm } from './millrace.js';

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
  const warm = await startWarm(join(root, 'state'));
  try {
    // The older runs: started where no worker polls, then terminated.
    const queue = `bench-inspect-idle-${process.pid}`;
    const synthetic = RUNS - REAL;
    const t0 = performance.now();
    for (let i = 0; i < synthetic; i += 25) {
      await Promise.all(
        Array.from({ length: Math.min(25, synthetic - i) }, async (_, k) => {
          const id = `idle-20261206T0000${String(i + k).padStart(4, '0')}Z-bench`;
          const handle = await warm.client.workflow.start('notebookRun', { taskQueue: queue, workflowId: id, args: [{}], memo: { notebook: 'idle.ipynb', output: join(root, 'none', id) } });
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
    for (let i = 0; i < REAL; i++) await warm.submit(i % 5 === 4 ? bad : ok).catch(() => undefined);
    process.stderr.write(`${RUNS} runs in visibility (${REAL} real) in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);

    // Visibility is eventually consistent: wait until it lists them all.
    for (;;) {
      const count = await warm.client.workflowService.countWorkflowExecutions({ namespace: warm.stack.namespace, query: '' });
      if (Number(count.count) >= RUNS) break;
      await new Promise((r) => setTimeout(r, 200));
    }

    const source = temporalSource(warm.client);
    const list = async () => {
      const t = performance.now();
      const rows = await source.listRuns({ limit: 50 });
      return { ms: performance.now() - t, rows: rows.length };
    };
    const firstList = await list();
    const againList = await list();

    const env: NodeJS.ProcessEnv = {
      ...process.env,
      TEMPORAL_ADDRESS: warm.stack.temporalAddress,
      TEMPORAL_NAMESPACE: warm.stack.namespace,
      MILLRACE_STORE: warm.config.storeRoot,
      MILLRACE_HOME: join(root, 'home'),
      TERM: 'xterm-256color',
    };
    delete env['CI'];
    const frames: number[] = [];
    const anyFrames: number[] = [];
    const moves: number[] = [];
    for (let round = 0; round < 5; round++) {
      const inspect = startInspect(env);
      await inspect.until((s) => plain(s).includes('millrace runs'));
      anyFrames.push(performance.now() - inspect.started);
      await inspect.until(hasRows);
      frames.push(performance.now() - inspect.started);
      if (round === 0) {
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

    // The floor: a node process of the CLI that connects to nothing.
    const versions: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t = performance.now();
      await new Promise<void>((resolve) => spawn(process.execPath, ['bin/millrace.js', '--version'], { cwd: packageRoot(), stdio: 'ignore' }).on('exit', () => resolve()));
      versions.push(performance.now() - t);
    }

    const result = {
      versionMs: median(versions),
      anyFrameMs: median(anyFrames),
      machine: describeMachine(),
      runs: RUNS,
      real: REAL,
      firstFrameMs: { median: median(frames), all: frames.map(Math.round) },
      listRunsMs: { first: Math.round(firstList.ms), again: Math.round(againList.ms), rows: firstList.rows },
      cursorMoveMs: { median: median(moves), max: Math.max(...moves), all: moves.map(Math.round) },
    };
    const lines = [
      `# millrace inspect: speed (${RUNS} runs, ${REAL} real; warm stack)`,
      '',
      '| measure | value | target |',
      '| --- | --- | --- |',
      `| first frame of \`millrace inspect\` (spawn to rows on screen), median of ${frames.length} | ${Math.round(result.firstFrameMs.median)} ms (${result.firstFrameMs.all.join(', ')}) | ≤ 500 ms |`,
      `| its first frame of any kind (the list's title, \`loading…\`), median | ${Math.round(result.anyFrameMs)} ms | |`,
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
    await warm.stop();
    await rm(root, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? err}\n`);
  process.exitCode = 1;
});
