/**
 * `millrace inspect`: the Ink inspector rendered against real run history (a completed
 * and a failed run on the real Temporal dev server and Jupyter kernel), driven by keys,
 * asserted on its frames; runs paused by `--on-failure pause` repaired with its keys;
 * and the command refusing to start without a terminal.
 */
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { render } from 'ink-testing-library';
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { createElement } from 'react';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repairActions, runActions, scheduleActions, VIEWER_ACTION, type RunAction } from '../../cli/inspect/actions.js';
import { startViewer } from '../../viewer/server.js';
import { InspectApp } from '../../cli/inspect/app.js';
import { temporalSource } from '../../cli/inspect/data.js';
import { buildRunInput } from '../../cli/submit.js';
import { packageRoot } from '../../worker/paths.js';
import type { RunResult } from '../../workflows/contracts.js';
import { codeCell, notebook, runCli, startHarness, waitFor, type Harness } from './harness.js';

// eslint-disable-next-line no-control-regex
const SGR = /\u001b\[[0-9;]*m/g;
const plain = (frame: string | undefined) => (frame ?? '').replace(SGR, '');

type Rendered = ReturnType<typeof render>;

/** Waits until the latest frame satisfies `ok`: frames come as data arrives, not on a clock. */
async function frameWhere(app: Rendered, ok: (text: string) => boolean, what: string, timeoutMs = 30_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = plain(app.lastFrame());
    if (ok(text)) return text;
    if (Date.now() > deadline) throw new Error(`no frame with ${what} within ${timeoutMs} ms; last frame:\n${text}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The line of a frame that mentions `needle`. */
const lineWith = (text: string, needle: string) => text.split('\n').find((l) => l.includes(needle)) ?? '';
const selectedLine = (text: string) => text.split('\n').findIndex((l) => l.startsWith('›'));

/** Moves the list's selection with j/k onto the row of `runId`, one key and one frame at a time. */
async function selectRun(app: Rendered, runId: string): Promise<void> {
  let text = plain(app.lastFrame());
  for (let moves = 0; !lineWith(text, runId).startsWith('›'); moves++) {
    if (moves > 60) throw new Error(`cannot select ${runId}:\n${text}`);
    const target = text.split('\n').findIndex((l) => l.includes(runId));
    const at = selectedLine(text);
    app.stdin.write(target > at ? 'j' : 'k');
    text = await frameWhere(app, (t) => selectedLine(t) !== at, 'the selection moving');
  }
}

/** Starts a run with `--on-failure pause` on the harness's worker (as `millrace run` would). */
async function startPaused(name: string, cells: Array<Record<string, unknown>>): Promise<{ runId: string; handle: WorkflowHandle }> {
  const runId = `${name}-${randomBytes(3).toString('hex')}`;
  const path = await h.writeNotebook(`${runId}.ipynb`, notebook(cells));
  const input = await buildRunInput(h.config, { notebookPath: path, params: {}, runId, onFailure: 'pause' });
  const handle = await h.client.workflow.start('notebookRun', {
    taskQueue: h.taskQueue,
    workflowId: runId,
    args: [input],
    memo: { notebook: basename(path), output: input.output },
  });
  return { runId, handle };
}

/** The run view of one run, with the repair keys (or others) `millrace inspect` gives it. */
function openRun(runId: string, actions: RunAction[] = repairActions(h.client)): Rendered {
  const app = render(createElement(InspectApp, { source: temporalSource(h.client), initialRun: runId, actions }));
  Object.defineProperty(app.stdout, 'columns', { get: () => 160 });
  app.stdout.emit('resize');
  return app;
}

/** Every action `millrace inspect` offers, on the harness's worker (as with `millrace dev`). */
const fullActions = () => runActions({ client: h.client, taskQueue: h.taskQueue, mode: 'cluster' }, h.config.storeRoot);

const isPausedView = (text: string) => /\bpaused\b/.test(lineWith(text, 'status:')) && text.includes('paused:');

const ENTER = '\r';
const ESC = '\u001b';

let h: Harness;
let okRun: string;
let badRun: string;
beforeAll(async () => {
  h = await startHarness();
  const ok = await h.writeNotebook('ok.ipynb', notebook([codeCell('x = 21'), codeCell('print("answer", x * 2)')]));
  const bad = await h.writeNotebook(
    'bad.ipynb',
    notebook([codeCell('x = 1'), codeCell('print("before the failure")'), codeCell('def load():\n    raise RuntimeError("inspect-boom")\nload()'), codeCell('print("never")')]),
  );
  const done = await h.runNotebook(ok);
  expect(done.result?.status).toBe('completed');
  const failed = await h.runNotebook(bad);
  expect(failed.error).toBeDefined();
  okRun = done.input.runId;
  badRun = failed.input.runId;
});
afterAll(async () => {
  await h?.close();
});

describe('millrace inspect', () => {
  it('lists runs with their status, opens the failed run at its failed cell with the traceback, and goes back', async () => {
    const app = render(createElement(InspectApp, { source: temporalSource(h.client) }));
    // A wide terminal (the library's is 100 columns): run ids of other test files' runs
    // in the shared namespace may be long, and would narrow the RUN column.
    Object.defineProperty(app.stdout, 'columns', { get: () => 160 });
    app.stdout.emit('resize');
    try {
      // The list: both runs, their statuses, and the failed run's cell.
      const list = await frameWhere(app, (t) => t.includes(okRun) && t.includes(badRun), 'both runs');
      expect(lineWith(list, okRun)).toMatch(/\bcompleted\b/);
      expect(lineWith(list, badRun)).toMatch(/\bfailed\b.*cell 2: RuntimeError/);
      expect(list).toMatch(/RUN\s+NOTEBOOK\s+STATUS\s+STARTED\s+DURATION\s+FAILED/);

      // `/` searches Temporal visibility: the failed run by the tail of its id.
      const tail = badRun.slice(-8);
      app.stdin.write(`/${tail}\r`);
      const found = await frameWhere(app, (t) => t.includes(`search: ${tail} · 1 shown`) && t.includes(badRun), 'the search');
      expect(found).not.toContain(okRun);
      app.stdin.write(ESC);
      await frameWhere(app, (t) => !t.includes('search:') && t.includes(okRun), 'the search cleared');

      // `s` cycles the filter: all -> running -> paused -> completed -> failed.
      app.stdin.write('ssss');
      const failedOnly = await frameWhere(app, (t) => t.includes('status: failed') && t.includes(badRun), 'the failed filter');
      expect(failedOnly).not.toContain(okRun);

      // Open the failed run (the newest failed one: selected as the filter changed).
      await selectRun(app, badRun);
      app.stdin.write(ENTER);
      const run = await frameWhere(app, (t) => t.includes(`run:`) && t.includes('cell 2 · failed'), 'the run view');
      expect(lineWith(run, 'status:')).toContain('failed');
      expect(lineWith(run, 'failed:')).toContain('cell 2: RuntimeError: inspect-boom');
      expect(lineWith(run, 'output:')).toContain(`/runs/${badRun}/bad.ipynb`);
      // The failed cell is preselected in the table.
      expect(run.split('\n').find((l) => l.startsWith('›'))).toMatch(/^› 2\s+code\s+failed/);
      expect(run).toMatch(/ 0\s+code\s+completed/);
      expect(run).toMatch(/ 3\s+code\s+pending/);

      // Enter shows the cell: its source, then its outputs, the traceback's colours kept.
      app.stdin.write(ENTER);
      const cell = await frameWhere(app, (t) => t.includes('── outputs') && !t.includes('CELL '), 'the cell detail');
      const outputs = cell.slice(cell.indexOf('── outputs'));
      expect(cell.slice(0, cell.indexOf('── outputs'))).toContain('def load():');
      expect(outputs).toMatch(/Traceback \(most recent call last\)/);
      expect(outputs).toMatch(/----> 3 load\(\)/);
      const raw = app.lastFrame() ?? '';
      expect(lineWith(raw, 'Traceback (most recent')).toMatch(SGR);
      // The end of the traceback, scrolled to with G.
      app.stdin.write('G');
      const end = await frameWhere(app, (t) => /^RuntimeError: inspect-boom$/m.test(t), 'the end of the traceback');
      expect(end).toMatch(/----> 2 +raise RuntimeError\("inspect-boom"\)/);

      // Back to the cells, then back to the list, which keeps the run selected.
      app.stdin.write(ESC);
      await frameWhere(app, (t) => t.includes('CELL') && t.includes('cell 2 · failed'), 'the cell table again');
      app.stdin.write(ESC);
      const back = await frameWhere(app, (t) => t.includes('millrace runs') && t.includes(badRun), 'the list again');
      expect(lineWith(back, badRun).startsWith('›')).toBe(true);

      // Back to all runs; in the completed run, moving down the cells shows a cell's stream output.
      app.stdin.write('s');
      await frameWhere(app, (t) => t.includes('status: cancelled'), 'the cancelled filter');
      app.stdin.write('s');
      const all = await frameWhere(app, (t) => t.includes('status: all') && t.includes(okRun), 'all runs');
      expect(lineWith(all, okRun)).toMatch(/\bcompleted\b/);
      await selectRun(app, okRun);
      app.stdin.write(ENTER);
      await frameWhere(app, (t) => t.includes('cell 0 · completed'), 'the completed run');
      app.stdin.write('j');
      const second = await frameWhere(app, (t) => t.includes('cell 1 · completed'), 'the second cell');
      expect(second).toContain('print("answer", x * 2)');
      expect(second).toMatch(/^answer 42$/m);
    } finally {
      app.unmount();
    }
  });

  it('retries the failed cell of a paused run with R, y once its cause is fixed; the run completes', async () => {
    const input = join(h.dir, `inspect-retry-${randomBytes(3).toString('hex')}.txt`);
    const { runId, handle } = await startPaused('inspect-retry', [
      codeCell('x = 20'),
      codeCell(`x += int(open(${JSON.stringify(input)}).read())`),
      codeCell('print("total", x)'),
    ]);
    const app = openRun(runId);
    try {
      const paused = await frameWhere(app, (t) => isPausedView(t) && t.includes('cell 1 · failed'), 'the paused run');
      expect(lineWith(paused, 'paused:')).toContain('cell 1: FileNotFoundError');
      expect(lineWith(paused, 'esc back')).toMatch(/R retry · e edit & retry · ! exec · s skip · x abort/);

      // The cause fixed outside the run; the same source, run again in the same kernel.
      await writeFile(input, '22');
      app.stdin.write('R');
      await frameWhere(app, (t) => t.includes('y retries'), 'the question');
      app.stdin.write('y');
      await frameWhere(app, (t) => t.includes(`cell 1 completed: run ${runId} goes on`), 'the retry answer');
      const done = await frameWhere(app, (t) => /\bcompleted\b/.test(lineWith(t, 'status:')), 'the run completed');
      expect(done).not.toContain('R retry');
      expect(((await handle.result()) as RunResult).status).toBe('completed');
      // The kernel kept x from cell 0: the last cell saw both parts.
      app.stdin.write('G');
      await frameWhere(app, (t) => t.includes('cell 2 · completed') && /^total 42$/m.test(t), 'the last cell\'s output');
    } finally {
      app.unmount();
    }
  });

  it('skips the failed cell of a paused run with s, y; the run goes on and completes', async () => {
    const { runId, handle } = await startPaused('inspect-skip', [codeCell('x = 1'), codeCell('raise ValueError("skip me")'), codeCell('print("after", x)')]);
    const app = openRun(runId);
    try {
      await frameWhere(app, (t) => isPausedView(t) && t.includes('s skip'), 'the paused run');
      app.stdin.write('s');
      await frameWhere(app, (t) => t.includes('y skips'), 'the question');
      app.stdin.write('y');
      await frameWhere(app, (t) => t.includes(`cell 1 skipped: run ${runId} goes on with the next cell`), 'the skip answer');
      await frameWhere(app, (t) => /\bcompleted\b/.test(lineWith(t, 'status:')), 'the run completed');
      const result = (await handle.result()) as RunResult;
      expect(result.status).toBe('completed');
      expect(result.skippedCells).toEqual([1]);
    } finally {
      app.unmount();
    }
  });

  it('says when a retried cell fails again, and aborts a paused run only after y', async () => {
    const { runId, handle } = await startPaused('inspect-abort', [codeCell('x = 1'), codeCell('1 / 0'), codeCell('print("never")')]);
    const app = openRun(runId);
    try {
      await frameWhere(app, (t) => isPausedView(t) && t.includes('x abort'), 'the paused run');
      app.stdin.write('Ry');
      await frameWhere(app, (t) => t.includes(`cell 1 failed again: ZeroDivisionError: division by zero; run ${runId} is still paused`), 'the failed retry');

      app.stdin.write('x');
      await frameWhere(app, (t) => t.includes('abort the run (fails it and shuts its kernel down)? y aborts'), 'the confirmation');
      app.stdin.write('y');
      await frameWhere(app, (t) => t.includes(`run ${runId} aborted; its kernel is shut down`), 'the abort answer');
      const ended = await frameWhere(app, (t) => /\bfailed\b/.test(lineWith(t, 'status:')), 'the run failed');
      expect(lineWith(ended, 'failed:')).toContain('cell 1: ZeroDivisionError: division by zero');
      const err = await handle.result().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(WorkflowFailedError);
      expect((err as WorkflowFailedError).cause?.message).toContain('aborted while paused');
    } finally {
      app.unmount();
    }
  });

  it('resumes a failed run from its failed cell with u, y: the new run opens and completes', async () => {
    const input = join(h.dir, `inspect-resume-${randomBytes(3).toString('hex')}.txt`);
    const path = await h.writeNotebook(`inspect-resume-${randomBytes(3).toString('hex')}.ipynb`, notebook([
      codeCell('x = 20'),
      codeCell(`x += int(open(${JSON.stringify(input)}).read())`),
      codeCell('print("total", x)'),
    ]));
    const failed = await h.runNotebook(path);
    expect(failed.error).toBeDefined();
    await writeFile(input, '22');
    const app = openRun(failed.input.runId, fullActions());
    try {
      await frameWhere(app, (t) => t.includes('cell 1 · failed') && t.includes('u resume'), 'the failed run');
      app.stdin.write('u');
      const form = await frameWhere(app, (t) => t.includes('resume from cell 1, replaying the cells before it · parameters as before'), 'the resume form');
      // The run took no checkpoints: replaying is the only way, and the form does not offer one.
      expect(form).not.toContain('t checkpoint');
      app.stdin.write('y');
      // The new run opens in place of the failed one, and is followed to its end.
      const resumed = await frameWhere(app, (t) => /^resumed from: *\S+ at cell 1/m.test(t) && /\bcompleted\b/.test(lineWith(t, 'status:')), 'the resumed run completed');
      expect(lineWith(resumed, 'resumed from:')).toContain(failed.input.runId);
      app.stdin.write('G');
      await frameWhere(app, (t) => t.includes('cell 2 · completed') && /^total 42$/m.test(t), 'the last cell\'s output');
    } finally {
      app.unmount();
    }
  });

  it('resumes a run started with --checkpoint from its checkpoint, with a parameter changed in the form (u, t, p add=2, enter)', async () => {
    const tag = randomBytes(3).toString('hex');
    const log = join(h.dir, `inspect-checkpointed-${tag}.log`);
    const path = await h.writeNotebook(`inspect-checkpointed-${tag}.ipynb`, notebook([
      codeCell('add = 0', ['parameters']),
      // Replaying this cell would log it twice: a restored checkpoint leaves one line.
      codeCell(`x = 40\nopen(${JSON.stringify(log)}, "a").write("ran\\n")`),
      codeCell(`if add == 0:\n    raise ValueError("add is 0")\nprint("total", x + add, "runs", len(open(${JSON.stringify(log)}).read().splitlines()))`),
    ]));
    const runId = `inspect-checkpointed-${tag}`;
    const first = await runCli(['run', path, '--id', runId, '--checkpoint', '--json'], h.cliEnv);
    expect(first.code, first.stderr).toBe(1);
    const app = openRun(runId, fullActions());
    try {
      await frameWhere(app, (t) => t.includes('cell 2 · failed') && t.includes('u resume'), 'the failed run');
      app.stdin.write('u');
      await frameWhere(app, (t) => t.includes('resume from cell 2, replaying the cells before it · parameters as before') && t.includes('t checkpoint'), 'the resume form');
      app.stdin.write('t');
      await frameWhere(app, (t) => t.includes('resume from cell 2, restoring its checkpoint'), 'the checkpoint chosen');
      app.stdin.write('padd=2\r');
      await frameWhere(app, (t) => t.includes('restoring its checkpoint · changed: add: 2'), 'the parameter changed');
      app.stdin.write('\r');
      const resumed = await frameWhere(app, (t) => /^resumed from: *\S+ at cell 2/m.test(t) && /\bcompleted\b/.test(lineWith(t, 'status:')), 'the resumed run completed');
      expect(lineWith(resumed, 'resumed from:')).toContain(runId);
      app.stdin.write('G');
      // (The new run's record has the injected-parameters cell papermill adds: the last cell is cell 3.)
      await frameWhere(app, (t) => t.includes('cell 3 · completed') && /^total 42 runs 1$/m.test(t), 'the last cell\'s output');
    } finally {
      app.unmount();
    }
  });

  it('runs scratch code in a paused run\'s kernel with !, shows what it printed, and the run stays paused', async () => {
    const { runId, handle } = await startPaused('inspect-exec', [codeCell('x = 21'), codeCell('raise ValueError("look first")'), codeCell('print("after", x)')]);
    const app = openRun(runId);
    try {
      await frameWhere(app, (t) => isPausedView(t) && t.includes('! exec'), 'the paused run');
      app.stdin.write('!');
      await frameWhere(app, (t) => t.includes('exec in the paused kernel of cell 1 (enter runs · esc cancels): ▏'), 'the prompt');
      app.stdin.write('print("x is", x * 2)\r');
      const shown = await frameWhere(app, (t) => t.includes('── exec: print("x is", x * 2) ──') && /^x is 42$/m.test(t), 'what it printed');
      expect(shown).toContain(`scratch code ran: run ${runId} is still paused`);
      app.stdin.write('\u001b');
      await frameWhere(app, (t) => isPausedView(t) && t.includes('cell 1 · failed') && !t.includes('── exec'), 'the cells again');
      // Still paused: skip it so the run ends.
      app.stdin.write('sy');
      expect(((await handle.result()) as RunResult).status).toBe('completed');
    } finally {
      app.unmount();
    }
  });

  it('v opens the run\'s page in the browser viewer at the selected cell, with the serve token; says what to start when no viewer answers', async () => {
    const token = randomBytes(12).toString('hex');
    const viewer = await startViewer({ storeRoot: h.config.storeRoot, host: '127.0.0.1', port: 0, token, log: () => undefined });
    const opened = join(h.dir, `browser-${randomBytes(3).toString('hex')}.txt`);
    // The browser: a script that keeps the URL it was given.
    const browser = join(h.dir, 'browser.sh');
    await writeFile(browser, `#!/bin/sh\nprintf '%s' "$1" > ${opened}\n`, { mode: 0o755 });
    const saved = { MILLRACE_VIEWER_URL: process.env['MILLRACE_VIEWER_URL'], MILLRACE_SERVE_TOKEN: process.env['MILLRACE_SERVE_TOKEN'], BROWSER: process.env['BROWSER'] };
    Object.assign(process.env, { MILLRACE_VIEWER_URL: viewer.url, MILLRACE_SERVE_TOKEN: token, BROWSER: browser });
    const app = openRun(okRun, [VIEWER_ACTION]);
    try {
      await frameWhere(app, (t) => t.includes('cell 0 · completed') && t.includes('v viewer'), 'the run');
      app.stdin.write('jv');
      // The token goes to the browser, not to the screen.
      const shown = await frameWhere(app, (t) => t.includes(`${viewer.url}runs/${okRun}#cell-1: opened with ${browser}`), 'the answer');
      expect(shown).not.toContain(token);
      await waitFor('the browser given the URL', async () => (await readFile(opened, 'utf8').catch(() => '')) || undefined);
      const url = await readFile(opened, 'utf8');
      expect(url).toBe(`${viewer.url}runs/${okRun}?token=${token}#cell-1`);
      // The viewer takes the token (a session cookie, then the address without it), and has the cell.
      const login = await fetch(url, { redirect: 'manual' });
      expect(login.headers.get('set-cookie')).toMatch(/^millrace-viewer=/);
      const page = await fetch(`${viewer.url}runs/${okRun}`, { headers: { Authorization: `token ${token}` } });
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('id="cell-1"');

      await viewer.close();
      app.stdin.write('v');
      await frameWhere(app, (t) => t.includes(`viewer failed: no viewer at ${viewer.url}: start \`millrace serve\`, or set MILLRACE_VIEWER_URL to where it runs`), 'the refusal');
    } finally {
      app.unmount();
      await viewer.close().catch(() => undefined);
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });

  it('cancels a running run with c, y', async () => {
    const runId = `inspect-cancel-${randomBytes(3).toString('hex')}`;
    const path = await h.writeNotebook(`${runId}.ipynb`, notebook([codeCell('import time\nprint("sleeping", flush=True)\ntime.sleep(600)')]));
    const input = await buildRunInput(h.config, { notebookPath: path, params: {}, runId });
    const handle = await h.client.workflow.start('notebookRun', { taskQueue: h.taskQueue, workflowId: runId, args: [input], memo: { notebook: basename(path), output: input.output } });
    const app = openRun(runId, fullActions());
    try {
      await frameWhere(app, (t) => /\brunning\b/.test(lineWith(t, 'status:')) && t.includes('c cancel'), 'the running run');
      app.stdin.write('c');
      await frameWhere(app, (t) => t.includes('cancel the run (interrupts its kernel and shuts it down)? y cancels'), 'the question');
      app.stdin.write('y');
      await frameWhere(app, (t) => t.includes(`cancellation requested for ${runId}`), 'the answer');
      await frameWhere(app, (t) => /\bcancelled\b/.test(lineWith(t, 'status:')), 'the run cancelled');
      expect(await handle.result().then(() => 'completed', (e: unknown) => (e as Error).constructor.name)).toBe('WorkflowFailedError');
    } finally {
      app.unmount();
    }
  });

  it('fixes the failed cell of a paused run in $EDITOR (e, y) and retries it: the run completes', async () => {
    const { runId, handle } = await startPaused('inspect-edit', [codeCell('x = 40'), codeCell('x += 1 / 0'), codeCell('print("total", x)')]);
    // The editor: a script that replaces the cell's source, as a person would.
    const editor = join(h.dir, 'fix-cell.sh');
    await writeFile(editor, '#!/bin/sh\nprintf "x += 2\\n" > "$1"\n', { mode: 0o755 });
    const saved = process.env['VISUAL'];
    process.env['VISUAL'] = editor;
    const app = openRun(runId, fullActions());
    try {
      await frameWhere(app, (t) => isPausedView(t) && t.includes('e edit & retry'), 'the paused run');
      app.stdin.write('e');
      await frameWhere(app, (t) => t.includes(`edit cell 1 in ${editor}, then retry it with what you save? y edits`), 'the question');
      app.stdin.write('y');
      await frameWhere(app, (t) => t.includes(`cell 1 completed: run ${runId} goes on`), 'the retry answer');
      expect(((await handle.result()) as RunResult).status).toBe('completed');
      app.stdin.write('G');
      await frameWhere(app, (t) => t.includes('cell 2 · completed') && /^total 42$/m.test(t), 'the last cell\'s output');
    } finally {
      if (saved === undefined) delete process.env['VISUAL'];
      else process.env['VISUAL'] = saved;
      app.unmount();
    }
  });

  it('shows a schedule on :schedules; p pauses and unpauses it, t, y triggers a run, enter lists its runs; h shows a run\'s history', async () => {
    const name = `insp-${randomBytes(3).toString('hex')}`;
    const nb = await h.writeNotebook(`${name}.ipynb`, notebook([codeCell('print("scheduled")')]));
    const made = await runCli(['schedule', 'create', name, nb, '--every', '1d', '--json'], h.cliEnv, h.dir);
    expect(made.code, made.stderr).toBe(0);
    const app = render(createElement(InspectApp, { source: temporalSource(h.client), scheduleActions: scheduleActions({ client: h.client, mode: 'cluster' }) }));
    Object.defineProperty(app.stdout, 'columns', { get: () => 160 });
    app.stdout.emit('resize');
    try {
      await frameWhere(app, (t) => t.includes('millrace runs'), 'the list');
      app.stdin.write(':sch\r');
      let t = await frameWhere(app, (f) => f.includes('millrace schedules') && f.includes(name), 'the schedule');
      expect(lineWith(t, name)).toMatch(new RegExp(`${name}\\s+${name}\\.ipynb\\s+every 1d\\s+\\d\\d-\\d\\d \\d\\d:\\d\\dZ.*\\bactive$`));
      for (let moves = 0; !lineWith(t, name).startsWith('›'); moves++) {
        if (moves > 40) throw new Error(`cannot select ${name}:\n${t}`);
        app.stdin.write('j');
        const before = t;
        t = await frameWhere(app, (f) => f !== before, 'the selection moving');
      }
      app.stdin.write('p');
      await frameWhere(app, (f) => f.includes(`paused schedule ${name}`) && /\bpaused$/.test(lineWith(f, name)), 'the schedule paused');
      expect((await h.client.schedule.getHandle(`millrace-schedule-${name}`).describe()).state.paused).toBe(true);
      app.stdin.write('p');
      await frameWhere(app, (f) => f.includes(`unpaused schedule ${name}`) && /\bactive$/.test(lineWith(f, name)), 'the schedule unpaused');
      app.stdin.write('t');
      await frameWhere(app, (f) => f.includes(`trigger a run of ${name} now? y triggers`), 'the question');
      app.stdin.write('y');
      t = await frameWhere(app, (f) => f.includes(`started ${name}-`), 'the triggered run');
      const runId = new RegExp(`started (${name}-\\S+)`).exec(t)![1]!;
      app.stdin.write('\r');
      await frameWhere(app, (f) => f.includes(`search: schedule:${name}`) && f.includes(runId), 'the schedule\'s runs');
      // Its history, once it completed: the kernel, the cell, the end, each on the harness's worker.
      await h.client.workflow.getHandle(runId).result();
      app.stdin.write('h');
      const history = await frameWhere(app, (f) => f.includes(`history · ${runId}`) && f.includes('run completed'), 'the history');
      expect(history).toMatch(/run started on task queue/);
      expect(history).toMatch(/kernel start: done/);
      expect(history).toMatch(/cell( 0| In \[1\] \(local\)): done/);
    } finally {
      app.unmount();
      await h.client.schedule.getHandle(`millrace-schedule-${name}`).delete().catch(() => undefined);
    }
  });

  // The terminal closing is the pseudo-terminal's master closing (script(1) killed): the
  // kernel sends the inspector SIGHUP, as when a terminal window or tmux session goes.
  it.each([
    ['SIGHUP (its terminal closed)', 'hangup'],
    ['SIGTERM', 'term'],
  ] as const)('ends on %s and stops the embedded Temporal server it started', async (_, how) => {
    const home = join(h.dir, `inspect-${how}`);
    await mkdir(home, { recursive: true });
    // CI set, as CI machines set it: Ink would draw nothing until it exits.
    const env: NodeJS.ProcessEnv = { ...process.env, MILLRACE_HOME: home, CI: 'true' };
    for (const key of ['TEMPORAL_ADDRESS', 'MILLRACE_STORE', 'MILLRACE_TASK_QUEUE']) delete env[key];
    const command = `stty cols 120 rows 30; echo PID $$; exec '${process.execPath}' bin/millrace.js inspect`;
    const terminal = spawn('script', ['-qec', command, '/dev/null'], { env, cwd: packageRoot(), stdio: ['pipe', 'pipe', 'pipe'] });
    let seen = '';
    terminal.stdout.on('data', (d) => (seen += d));
    const stackOf = () => execFileSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' }).split('\n').filter((l) => l.includes(home));
    const alive = (pid: number) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    let pid = 0;
    try {
      await waitFor('the run list on the terminal', async () => (plain(seen).includes('millrace runs') ? true : undefined), 90_000);
      pid = Number(/PID (\d+)/.exec(seen)?.[1]);
      expect(alive(pid)).toBe(true);
      expect(stackOf().some((l) => l.includes('temporal'))).toBe(true);
      if (how === 'hangup') terminal.kill('SIGKILL');
      else process.kill(pid, 'SIGTERM');
      await waitFor('the inspector and its stack gone', async () => (!alive(pid) && stackOf().length === 0 ? true : undefined), 60_000);
      // It had the terminal report the mouse wheel (SGR mode), and gave the mouse back as it ended.
      expect(seen).toContain('\u001b[?1000h\u001b[?1006h');
      if (how === 'term') await waitFor('the mouse given back', async () => (seen.lastIndexOf('\u001b[?1006l\u001b[?1000l') > seen.lastIndexOf('\u001b[?1006h') ? true : undefined), 10_000);
    } finally {
      if (pid && alive(pid)) process.kill(pid, 'SIGKILL');
      terminal.kill('SIGKILL');
      for (const line of stackOf()) process.kill(Number(line.trim().split(/\s+/)[0]), 'SIGKILL');
    }
  });

  it('refuses to start without a terminal, in one line, exit 2', async () => {
    const r = await runCli(['inspect'], h.cliEnv);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('millrace: inspect needs a terminal; use `millrace runs` / `millrace show RUN --json`\n');
    expect(r.stdout).toBe('');
  });
});
