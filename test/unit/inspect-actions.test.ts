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
import { PAGER_ACTION, runActions, scheduleActions, type RunAction } from '../../cli/inspect/actions.js';
import { InspectApp } from '../../cli/inspect/app.js';
import type { InspectSource } from '../../cli/inspect/data.js';
import type { RunDetail } from '../../cli/inspect/view-model.js';
import type { CodeCell, Notebook } from '../../notebook/nbformat.js';

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

async function until(ok: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (ok()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`never: ${what}`);
}

async function frameWhere(app: ReturnType<typeof render>, ok: (t: string) => boolean): Promise<string> {
  await until(() => ok(app.lastFrame() ?? ''), `a frame like that; last:\n${app.lastFrame()}`);
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
    const schedules = scheduleActions(session);
    await expect(schedules.trigger('nightly')).rejects.toThrow('schedule trigger needs a stack that outlives this command: start `millrace dev` or set TEMPORAL_ADDRESS');
    await expect(schedules.backfill('nightly', '2026-12-01', '2026-12-02')).rejects.toThrow('schedule backfill needs a stack that outlives this command');
  });
});
