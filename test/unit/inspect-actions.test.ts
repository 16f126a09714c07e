/**
 * The run view's extension point for actions on a run (cli/inspect/actions.ts), rendered
 * with an in-memory source: an action is offered only where it applies, gets the selected
 * cell, and its answer is shown before the run is read again.
 */
import { render } from 'ink-testing-library';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createElement } from 'react';
import { describe, expect, it } from 'vitest';
import { PAGER_ACTION, runActions, scheduleActions, type RunAction, type RunActionContext } from '../../cli/inspect/actions.js';
import { InspectApp } from '../../cli/inspect/app.js';
import { openRunInViewer, runPageLink } from '../../cli/inspect/viewer-link.js';
import type { InspectSource } from '../../cli/inspect/data.js';
import { listening } from './helpers/ink-frames.js';
import type { RunDetail } from '../../cli/inspect/view-model.js';
import type { CodeCell, Notebook } from '../../notebook/nbformat.js';
import { float, int, str } from '../../notebook/params.js';

function cell(source: string, status: string): CodeCell {
  return { cell_type: 'code', id: `c-${source.length}-${status}`, source, metadata: { papermill: { status } }, outputs: [], execution_count: null };
}

function detail(runId: string, status: string): RunDetail {
  const notebook: Notebook = { nbformat: 4, nbformat_minor: 5, metadata: {}, cells: [cell('a = 1', 'completed'), cell('b = a / 0', status === 'failed' ? 'failed' : 'completed'), cell('c = 3', status === 'failed' ? 'pending' : 'completed')] };
  return {
    summary: { run_id: runId, status, notebook: 'n.ipynb', output: `/s/${runId}/n.ipynb`, schedule: null, started: null, ended: null, duration_s: null, parameters: null },
    notebook,
    progress: null,
    failure: status === 'failed' ? { failed_cell: 1, error: { ename: 'ZeroDivisionError', evalue: 'division by zero' }, reason: null } : null,
    resumedAs: [],
    note: null,
  };
}

/** Within 30 s: a bound for a loaded CI machine; a pass never waits it. */
async function until(ok: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (ok()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`never: ${what}`);
}

async function frameWhere(app: ReturnType<typeof render>, ok: (t: string) => boolean): Promise<string> {
  await until(() => ok(app.lastFrame() ?? '') && listening(app), `a frame like that; last:\n${app.lastFrame()}`);
  return app.lastFrame() ?? '';
}

describe('run actions', () => {
  it('lists an applicable action, performs it on the selected cell, shows its answer and reloads', async () => {
    let loads = 0;
    const source: InspectSource = {
      listRuns: async () => [],
      loadRun: async (runId) => {
        loads++;
        return detail(runId, runId === 'broken' ? 'failed' : 'completed');
      },
    };
    const calls: Array<{ runId: string; cellIndex: number | null }> = [];
    const retry: RunAction = {
      key: 'R',
      label: 'retry',
      appliesTo: (run) => run.status === 'failed',
      perform: async (context) => {
        calls.push(context);
        return 'retried cell 1: completed';
      },
    };

    const app = render(createElement(InspectApp, { source, initialRun: 'broken', actions: [retry] }));
    try {
      await frameWhere(app, (t) => t.includes('R retry') && t.includes('cell 1 · failed'));
      const before = loads;
      app.stdin.write('R');
      await frameWhere(app, (t) => t.includes('retried cell 1: completed'));
      expect(calls).toMatchObject([{ runId: 'broken', cellIndex: 1 }]);
      await until(() => loads > before, 'the run read again after the action');
    } finally {
      app.unmount();
    }

    const done = render(createElement(InspectApp, { source, initialRun: 'fine', actions: [retry] }));
    try {
      const frame = await frameWhere(done, (t) => t.includes('status:') && /^› 0 /m.test(t));
      expect(frame).not.toContain('R retry');
      // Keys are handled in order: once `j` has moved the selection, `R` was handled (as nothing).
      done.stdin.write('R');
      done.stdin.write('j');
      await frameWhere(done, (t) => /^› 1 /m.test(t));
      expect(calls).toHaveLength(1);
    } finally {
      done.unmount();
    }
  });

  it('acts on the cell moved to by a key in the same input (jR, kkR)', async () => {
    const source: InspectSource = { listRuns: async () => [], loadRun: async (runId) => detail(runId, 'failed') };
    const cells: Array<number | null> = [];
    const retry: RunAction = { key: 'R', label: 'retry', appliesTo: () => true, perform: async ({ cellIndex }) => `retried ${cells.push(cellIndex)}` };
    const app = render(createElement(InspectApp, { source, initialRun: 'broken', actions: [retry] }));
    try {
      await frameWhere(app, (t) => t.includes('R retry') && t.includes('cell 1 · failed'));
      app.stdin.write('jR');
      await frameWhere(app, (t) => t.includes('retried 1'));
      app.stdin.write('kkR');
      await frameWhere(app, (t) => t.includes('retried 2'));
      expect(cells).toEqual([2, 0]);
    } finally {
      app.unmount();
    }
  });

  it('asks for y before an action with a confirmation, and runs one action at a time', async () => {
    const source: InspectSource = { listRuns: async () => [], loadRun: async (runId) => detail(runId, 'failed') };
    let release: (line: string) => void = () => {};
    const calls: string[] = [];
    const abort: RunAction = {
      key: 'x',
      label: 'abort',
      confirm: 'abort? y aborts',
      appliesTo: () => true,
      perform: (context) => {
        calls.push(context.runId);
        return new Promise((resolve) => (release = resolve));
      },
    };
    const app = render(createElement(InspectApp, { source, initialRun: 'broken', actions: [abort] }));
    try {
      await frameWhere(app, (t) => t.includes('x abort') && t.includes('cell 1 · failed'));
      // Its key only asks; any other key than y takes the question back (and does nothing else).
      app.stdin.write('x');
      await frameWhere(app, (t) => t.includes('abort? y aborts'));
      app.stdin.write('x');
      await frameWhere(app, (t) => t.includes('x abort') && !t.includes('y aborts'));
      app.stdin.write('j');
      await frameWhere(app, (t) => t.includes('cell 2 · pending') && t.includes('x abort'));
      expect(calls).toEqual([]);

      // y answers: it runs; asked and answered again while it is in progress, nothing more is sent.
      app.stdin.write('x');
      await frameWhere(app, (t) => t.includes('abort? y aborts'));
      app.stdin.write('y');
      await frameWhere(app, (t) => t.includes('abort…'));
      app.stdin.write('x');
      app.stdin.write('y');
      app.stdin.write('k');
      await frameWhere(app, (t) => t.includes('cell 1 · failed'));
      expect(calls).toEqual(['broken']);
      release('run broken aborted');
      await frameWhere(app, (t) => t.includes('run broken aborted'));
      expect(calls).toEqual(['broken']);
    } finally {
      app.unmount();
    }
  });

  it('asks with the selected cell, opens the run an action starts, and runs a program on the terminal with a file', async () => {
    const source: InspectSource = { listRuns: async () => [], loadRun: async (runId) => detail(runId, runId === 'broken' ? 'failed' : 'completed') };
    const edited: string[] = [];
    const resume: RunAction = {
      key: 'u',
      label: 'resume',
      appliesTo: (run) => run.status === 'failed',
      confirm: (c) => `resume from cell ${c.cellIndex}? y resumes`,
      perform: async (context) => {
        const file = join(tmpdir(), `inspect-action-${process.pid}.txt`);
        writeFileSync(file, 'before');
        // As $EDITOR would: the program gets the file as its last argument.
        const status = context.runOnTerminal!(`sh -c 'printf after > "$0"'`, file);
        edited.push(`${status}:${readFileSync(file, 'utf8')}:${context.detail?.summary.run_id}`);
        rmSync(file);
        return { line: 'resumed as fine', open: 'fine' };
      },
    };
    const app = render(createElement(InspectApp, { source, initialRun: 'broken', actions: [resume] }));
    try {
      await frameWhere(app, (t) => t.includes('u resume') && t.includes('cell 1 · failed'));
      app.stdin.write('k');
      await frameWhere(app, (t) => t.includes('cell 0 · completed'));
      app.stdin.write('u');
      await frameWhere(app, (t) => t.includes('resume from cell 0? y resumes'));
      app.stdin.write('y');
      await frameWhere(app, (t) => /run: +fine/.test(t));
      expect(edited).toEqual(['0:after:broken']);
      // Back from the run it opened: the run it was started from.
      app.stdin.write('\u001b');
      await frameWhere(app, (t) => /run: +broken/.test(t));
    } finally {
      app.unmount();
    }
  });

  it('u opens the resume form: the cell, replay or checkpoint, parameters typed as name=value or edited as YAML in $EDITOR', async () => {
    const source: InspectSource = { listRuns: async () => [], loadRun: async (runId) => detail(runId, 'failed') };
    const calls: RunActionContext[] = [];
    const resume = (checkpoints: boolean): RunAction => ({
      key: 'u',
      label: 'resume',
      appliesTo: (run) => run.status === 'failed',
      form: async () => ({ parameters: { n: int(1), name: str('a') }, checkpoints }),
      perform: async (context) => {
        calls.push(context);
        return `resumed ${context.runId} from cell ${context.cellIndex}`;
      },
    });
    const editor = join(tmpdir(), `inspect-params-${process.pid}.sh`);
    const copy = `${editor}.seen`;
    // The editor: keeps a copy of what it was given, then changes name and adds ratio.
    writeFileSync(editor, `#!/bin/sh\ncp "$1" ${copy}\nsed -i 's/^name: .*/name: "b"/' "$1"\nprintf 'ratio: 1.0\\n' >> "$1"\n`, { mode: 0o755 });
    const saved = process.env['VISUAL'];
    process.env['VISUAL'] = editor;
    const app = render(createElement(InspectApp, { source, initialRun: 'broken', actions: [resume(true)] }));
    try {
      await frameWhere(app, (t) => t.includes('u resume') && t.includes('cell 1 · failed'));
      app.stdin.write('u');
      let t = await frameWhere(app, (f) => f.includes('resume from cell 1, replaying the cells before it · parameters as before'));
      expect(t).toContain('↑↓ cell · t checkpoint · p name=value · e parameters in $EDITOR · enter resumes · esc cancels');
      // The cursor keys choose the cell; t restores the checkpoint instead.
      app.stdin.write('k');
      app.stdin.write('t');
      await frameWhere(app, (f) => f.includes('resume from cell 0, restoring its checkpoint') && f.includes('t replay'));
      // A bad name is refused in one line, and changes nothing.
      app.stdin.write('p1x=3\r');
      await frameWhere(app, (f) => f.includes('parameter name "1x" is not a valid Python identifier'));
      app.stdin.write('pn=5\r');
      await frameWhere(app, (f) => f.includes('changed: n: 5'));
      // Setting a value back to what it was undoes the change.
      app.stdin.write('pn=1\r');
      await frameWhere(app, (f) => f.includes('parameters as before'));
      app.stdin.write('pn=5\r');
      await frameWhere(app, (f) => f.includes('changed: n: 5'));
      app.stdin.write('e');
      t = await frameWhere(app, (f) => f.includes('changed: n: 5, name: "b", ratio: 1.0'));
      expect(readFileSync(copy, 'utf8')).toMatch(/^# The parameters of the resumed run[^]*\nn: 5\nname: "a"\n$/);
      app.stdin.write('\r');
      await frameWhere(app, (f) => f.includes('resumed broken from cell 0'));
      expect(calls).toHaveLength(1);
      expect(calls[0]).toMatchObject({ runId: 'broken', cellIndex: 0, resume: { restore: 'checkpoint', overrides: { n: int(5), name: str('b'), ratio: float(1) } } });

      // Esc closes the form without resuming.
      app.stdin.write('u');
      await frameWhere(app, (f) => f.includes('parameters as before'));
      app.stdin.write('\u001b');
      await frameWhere(app, (f) => f.includes('u resume') && !f.includes('parameters as before'));
      expect(calls).toHaveLength(1);
    } finally {
      if (saved === undefined) delete process.env['VISUAL'];
      else process.env['VISUAL'] = saved;
      rmSync(editor, { force: true });
      rmSync(copy, { force: true });
      app.unmount();
    }

    // A run that took no checkpoints: t says so, and the resume replays.
    const plain = render(createElement(InspectApp, { source, initialRun: 'broken', actions: [resume(false)] }));
    try {
      await frameWhere(plain, (t) => t.includes('u resume'));
      plain.stdin.write('u');
      const form = await frameWhere(plain, (f) => f.includes('parameters as before'));
      expect(form).not.toContain('t checkpoint');
      plain.stdin.write('t');
      await frameWhere(plain, (f) => f.includes('run broken was not started with --checkpoint: its cells can only be replayed'));
      plain.stdin.write('y');
      await frameWhere(plain, (f) => f.includes('resumed broken from cell 1'));
      expect(calls[1]).toMatchObject({ cellIndex: 1, resume: { restore: 'replay', overrides: {} } });
    } finally {
      plain.unmount();
    }
  });

  it('! reads a line of code, Enter runs it, and what it printed shows in the detail pane until Esc', async () => {
    const source: InspectSource = { listRuns: async () => [], loadRun: async (runId) => detail(runId, 'failed') };
    const codes: string[] = [];
    const exec: RunAction = {
      key: '!',
      label: 'exec',
      appliesTo: () => true,
      line: 'exec (enter runs · esc cancels): ',
      perform: async ({ text }) => {
        codes.push(text!);
        return { line: 'scratch code ran', output: { title: `exec: ${text}`, text: 'first\nsecond\n' } };
      },
    };
    const app = render(createElement(InspectApp, { source, initialRun: 'broken', actions: [exec] }));
    try {
      await frameWhere(app, (t) => t.includes('! exec') && t.includes('cell 1 · failed'));
      // Esc takes the line back; q and j are typed, not keys.
      app.stdin.write('!');
      await frameWhere(app, (t) => t.includes('exec (enter runs · esc cancels): ▏'));
      app.stdin.write('\u001b');
      await frameWhere(app, (t) => t.includes('! exec'));
      app.stdin.write('!print(1)');
      await frameWhere(app, (t) => t.includes('exec (enter runs · esc cancels): print(1)▏'));
      for (const key of ['\u007f', '\u007f', '\u007f', '("jq")', '\r']) app.stdin.write(key);
      const shown = await frameWhere(app, (t) => t.includes('── exec: print("jq") ──'));
      expect(codes).toEqual(['print("jq")']);
      expect(shown).toMatch(/^first\nsecond$/m);
      expect(shown).toContain('scratch code ran');
      app.stdin.write('\u001b');
      const back = await frameWhere(app, (t) => t.includes('CELL') && t.includes('── source (code) ──'));
      expect(back).not.toContain('exec: print');
    } finally {
      app.unmount();
    }
  });

  it('o pages the output notebook: its cells as text in $PAGER, which gets a file', async () => {
    const source: InspectSource = { listRuns: async () => [], loadRun: async (runId) => detail(runId, 'failed') };
    const copy = join(tmpdir(), `inspect-pager-${process.pid}.txt`);
    const saved = process.env['PAGER'];
    // The pager: a program that reads the file it is given (here, copies it away).
    process.env['PAGER'] = `sh -c 'cp "$0" ${copy}'`;
    const app = render(createElement(InspectApp, { source, initialRun: 'broken', actions: [PAGER_ACTION] }));
    try {
      await frameWhere(app, (t) => t.includes('o page') && t.includes('cell 1 · failed'));
      app.stdin.write('o');
      await frameWhere(app, (t) => t.includes('/s/broken/n.ipynb: read in sh -c'));
      const paged = readFileSync(copy, 'utf8');
      expect(paged).toContain('━━ cell 1 ━━\n── source (code) ──\nb = a / 0');
      expect(paged).toContain('c = 3');
    } finally {
      if (saved === undefined) delete process.env['PAGER'];
      else process.env['PAGER'] = saved;
      rmSync(copy, { force: true });
      app.unmount();
    }
  });

  it('refuses, in one line, to resume, trigger or backfill where the inspector started its own Temporal server (no worker, nothing outlives it)', async () => {
    const session = { client: undefined as never, taskQueue: 'q', mode: 'embedded' as const };
    const resume = runActions(session, '/store').find((a) => a.key === 'u')!;
    await expect(resume.perform({ runId: 'r', cellIndex: 1 })).rejects.toThrow('no worker here to run it: start `millrace dev` (or use `millrace resume RUN`)');
    await expect(resume.form!({ runId: 'r', cellIndex: 1 })).rejects.toThrow('no worker here to run it: start `millrace dev` (or use `millrace resume RUN`)');
    const schedules = scheduleActions(session);
    await expect(schedules.trigger('nightly')).rejects.toThrow('schedule trigger needs a stack that outlives this command: start `millrace dev` or set TEMPORAL_ADDRESS');
    await expect(schedules.backfill('nightly', '2026-12-01', '2026-12-02')).rejects.toThrow('schedule backfill needs a stack that outlives this command');
  });
});

describe('viewer links', () => {
  it('points at the run page and the cell on the viewer, the token only in the link the browser gets', () => {
    expect(runPageLink('http://127.0.0.1:8780/', 'etl-20261206T080000Z-a1b2', 3, 'sekrit')).toEqual({
      shown: 'http://127.0.0.1:8780/runs/etl-20261206T080000Z-a1b2#cell-3',
      opened: 'http://127.0.0.1:8780/runs/etl-20261206T080000Z-a1b2?token=sekrit#cell-3',
    });
    // A viewer behind a path prefix, given without its last slash; no cell, no token.
    expect(runPageLink('https://example.test/millrace', 'a b', null)).toEqual({ shown: 'https://example.test/millrace/runs/a%20b', opened: 'https://example.test/millrace/runs/a%20b' });
  });

  it('refuses a MILLRACE_VIEWER_URL that is not a URL, in one line', async () => {
    await expect(openRunInViewer('r', null, { MILLRACE_VIEWER_URL: 'localhost:8780' })).rejects.toThrow("MILLRACE_VIEWER_URL must be the viewer's URL, such as http://127.0.0.1:8780/");
  });
});
