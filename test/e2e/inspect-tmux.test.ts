/**
 * `millrace inspect` as a person drives it, in a real terminal (tmux: send-keys and
 * capture-pane) against the real stack (issue 19): find a failed run by search, read its
 * traceback, resume it from the failed cell, watch the new run complete, open its History;
 * then fix the failed cell of a paused run in $EDITOR (a script) and see the run complete,
 * Ink giving the terminal to the editor and taking it back. CI=true, as CI sets it.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildRunInput } from '../../cli/submit.js';
import { packageRoot } from '../../worker/paths.js';
import { codeCell, notebook, startHarness, type Harness } from './harness.js';

let h: Harness;
// A tmux server of this test's own: nothing else's sessions are touched, and it is killed at the end.
const socket = `millrace-inspect-${randomBytes(3).toString('hex')}`;
const tmux = (...args: string[]) => execFileSync('tmux', ['-L', socket, ...args], { encoding: 'utf8' });

beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  try {
    tmux('kill-server');
  } catch {
    // Already gone with its last session.
  }
  await h?.close();
});

/** `millrace inspect ARGS` in a 120x30 tmux session, on the harness's Temporal and worker. */
function openInspector(session: string, args: string[], env: Record<string, string> = {}): void {
  const vars = { ...h.cliEnv, CI: 'true', ...env } as Record<string, string>;
  const exports = Object.entries(vars)
    .filter(([k]) => /^(TEMPORAL_|MILLRACE_|CI$|PATH$|HOME$|VISUAL$|TERM$)/.test(k))
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join(' ');
  const command = `env ${exports} '${process.execPath}' '${join(packageRoot(), 'bin/millrace.js')}' inspect ${args.join(' ')}; echo "inspect exited $?"; sleep 600`;
  tmux('new-session', '-d', '-s', session, '-x', '120', '-y', '30', '-c', h.dir, command);
}

const screen = (session: string) => tmux('capture-pane', '-p', '-t', session);

async function screenWhere(session: string, ok: (text: string) => boolean, what: string, timeoutMs = 60_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = screen(session);
    if (ok(text)) return text;
    if (Date.now() > deadline) throw new Error(`no screen with ${what} within ${timeoutMs} ms; the screen:\n${text}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const keys = (session: string, ...k: string[]) => tmux('send-keys', '-t', session, ...k);
const typed = (session: string, text: string) => tmux('send-keys', '-t', session, '-l', text);
const lineWith = (text: string, needle: string) => text.split('\n').find((l) => l.includes(needle)) ?? '';

it('finds a failed run by search, reads its traceback, resumes it from the failed cell, and shows the new run\'s history', async () => {
  const input = join(h.dir, `tmux-resume-${randomBytes(3).toString('hex')}.txt`);
  const path = await h.writeNotebook('tmux-resume.ipynb', notebook([
    codeCell('x = 20'),
    codeCell(`x += int(open(${JSON.stringify(input)}).read())`),
    codeCell('print("total", x)'),
  ]));
  const failed = await h.runNotebook(path);
  expect(failed.error).toBeDefined();
  const runId = failed.input.runId;
  await writeFile(input, '22');
  const s = 'resume';
  openInspector(s, []);
  await screenWhere(s, (t) => t.includes('millrace runs') && t.includes('shown'), 'the run list');

  const tail = runId.slice(-8);
  keys(s, '/');
  typed(s, tail);
  keys(s, 'Enter');
  await screenWhere(s, (t) => t.includes(`search: ${tail} · 1 shown`) && t.split('\n').some((l) => l.startsWith('›') && l.includes(runId)), 'the search');
  keys(s, 'Enter');
  await screenWhere(s, (t) => t.includes('cell 1 · failed') && t.includes('u resume'), 'the failed run');
  keys(s, 'Enter');
  // The cells view shows the failed cell's outputs too: the detail view is the one whose footer goes back to the cells.
  const traceback = await screenWhere(s, (t) => t.includes('── outputs') && t.includes('FileNotFoundError') && t.includes('esc back to cells'), 'the traceback');
  expect(traceback).toMatch(/Traceback \(most recent call last\)/);
  keys(s, 'Escape');
  await screenWhere(s, (t) => t.includes('CELL') && t.includes('u resume') && !t.includes('esc back to cells'), 'the cells again');

  keys(s, 'u');
  await screenWhere(s, (t) => t.includes('resume from cell 1, replaying the cells before it · parameters as before'), 'the resume form');
  keys(s, 'Enter');
  const resumed = await screenWhere(s, (t) => /^resumed from: *\S+ at cell 1/m.test(t) && /\bcompleted\b/.test(lineWith(t, 'status:')), 'the resumed run completed');
  expect(lineWith(resumed, 'resumed from:')).toContain(runId);
  const newRun = /^run: +(\S+)/m.exec(resumed)![1]!;
  expect(newRun).not.toBe(runId);

  keys(s, 'h');
  const history = await screenWhere(s, (t) => t.includes(`history · ${newRun}`) && t.includes('run completed'), 'the new run\'s history');
  expect(history).toMatch(/run started on task queue/);
  expect(history).toMatch(/earlier cells replayed in a new kernel: done|cell In \[\d+\] \(local\): done/);
  keys(s, 'q');
  await screenWhere(s, (t) => t.includes('inspect exited 0'), 'the inspector gone');
  tmux('kill-session', '-t', s);
});

it('fixes the failed cell of a paused run in $EDITOR and retries it: the editor has the terminal, then the run completes', async () => {
  const runId = `tmux-edit-${randomBytes(3).toString('hex')}`;
  const path = await h.writeNotebook(`${runId}.ipynb`, notebook([codeCell('x = 40'), codeCell('x += 1 / 0'), codeCell('print("total", x)')]));
  const input = await buildRunInput(h.config, { notebookPath: path, params: {}, runId, onFailure: 'pause' });
  const handle = await h.client.workflow.start('notebookRun', { taskQueue: h.taskQueue, workflowId: runId, args: [input], memo: { notebook: basename(path), output: input.output } });
  // The editor: it shows what it was given on the terminal, waits for a key, then saves the fix.
  const editor = join(h.dir, 'fix-cell.sh');
  await writeFile(editor, '#!/bin/sh\necho "EDITING $(cat "$1")"\nread answer\nprintf "x += 2\\n" > "$1"\n', { mode: 0o755 });
  const s = 'edit';
  openInspector(s, [runId], { VISUAL: editor });
  await screenWhere(s, (t) => /\bpaused\b/.test(lineWith(t, 'status:')) && t.includes('e edit & retry'), 'the paused run');
  keys(s, 'e');
  await screenWhere(s, (t) => t.includes(`edit cell 1 in ${editor}`), 'the question');
  keys(s, 'y');
  await screenWhere(s, (t) => t.includes('EDITING x += 1 / 0'), 'the editor on the terminal');
  keys(s, 'Enter');
  await screenWhere(s, (t) => t.includes(`cell 1 completed: run ${runId} goes on`), 'the retry\'s answer');
  await screenWhere(s, (t) => /\bcompleted\b/.test(lineWith(t, 'status:')) && !t.includes('EDITING'), 'the run completed, the screen redrawn');
  expect(((await handle.result()) as { status: string }).status).toBe('completed');
  keys(s, 'q');
  await screenWhere(s, (t) => t.includes('inspect exited 0'), 'the inspector gone');
  tmux('kill-session', '-t', s);
});

it('with a `millrace dev` here: lists the runs dev reads (a failed run with its failed cell), then opens one and offers its actions through its own session', async () => {
  // No TEMPORAL_ADDRESS: the state directory's dev is the stack (cli/inspect/dev-source.ts).
  const dir = await mkdtemp(join(tmpdir(), 'millrace-inspect-dev-'));
  const env: NodeJS.ProcessEnv = { ...process.env, CI: 'true' };
  for (const key of Object.keys(env)) if (key.startsWith('TEMPORAL_') || key.startsWith('MILLRACE_')) delete env[key];
  const bin = join(packageRoot(), 'bin', 'millrace.js');
  let dev: ChildProcess | undefined;
  const s = 'through-dev';
  try {
    await writeFile(join(dir, 'breaks.ipynb'), JSON.stringify(notebook([codeCell('x = 1'), codeCell('raise ValueError("through dev")')])));
    dev = spawn(process.execPath, [bin, 'dev'], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let devOutput = '';
    await new Promise<void>((resolve, reject) => {
      const onData = (d: Buffer) => {
        devOutput += d;
        if (devOutput.includes('MILLRACE_JUPYTER_TOKEN_FILE=')) resolve();
      };
      dev!.stdout!.on('data', onData);
      dev!.stderr!.on('data', onData);
      dev!.on('exit', (code) => reject(new Error(`dev exited (${code}): ${devOutput}`)));
    });
    const run = spawnSync(process.execPath, [bin, 'run', 'breaks.ipynb', '--id', 'breaks-through-dev', '--no-progress-bar'], { cwd: dir, env, encoding: 'utf8' });
    expect(run.stderr).toContain('ValueError');

    const exports = Object.entries({ CI: 'true', PATH: env['PATH'] ?? '', HOME: env['HOME'] ?? '', TERM: 'xterm-256color' })
      .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
      .join(' ');
    tmux('new-session', '-d', '-s', s, '-x', '120', '-y', '30', '-c', dir, `env -i ${exports} '${process.execPath}' '${bin}' inspect; echo "inspect exited $?"; sleep 600`);
    await screenWhere(s, (t) => /breaks-through-dev.*cell 1: ValueError/.test(t), 'the failed run listed with its failed cell');
    keys(s, 'Enter');
    await screenWhere(s, (t) => t.includes('cell 1 · failed') && t.includes('u resume'), 'the failed run with its actions');
    keys(s, 'q');
    await screenWhere(s, (t) => t.includes('inspect exited 0'), 'the inspector gone');
  } finally {
    try {
      tmux('kill-session', '-t', s);
    } catch {
      // Not started.
    }
    if (dev && dev.exitCode === null) {
      dev.kill('SIGINT');
      await new Promise((resolve) => (dev!.exitCode !== null ? resolve(undefined) : dev!.once('exit', resolve)));
    }
    await rm(dir, { recursive: true, force: true });
  }
});
