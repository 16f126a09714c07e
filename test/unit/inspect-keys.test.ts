/**
 * The inspector as a k9s user meets it (issue 19, first phase), rendered with an in-memory
 * source: batched keystrokes, the help overlay, Esc and q, `r` as refresh, run ids and cell
 * lines at 80 and 200 columns, long lines in the detail pane, skipped cells.
 */
import { render } from 'ink-testing-library';
import { createElement } from 'react';
import { describe, expect, it } from 'vitest';
import type { RunAction } from '../../cli/inspect/actions.js';
import { InspectApp } from '../../cli/inspect/app.js';
import type { InspectSource } from '../../cli/inspect/data.js';
import { displayWidth, wrapToWidth } from '../../cli/inspect/terminal-text.js';
import type { RunDetail, RunListEntry } from '../../cli/inspect/view-model.js';
import type { CodeCell, Notebook } from '../../notebook/nbformat.js';
import { frameWhere, plain, selected, sized } from './helpers/ink-frames.js';

function entry(runId: string, status = 'completed'): RunListEntry {
  return { run_id: runId, status, notebook: 'fragile.ipynb', output: null, schedule: null, started: '2026-12-06T08:00:00Z', ended: null, duration_s: 1, parameters: null, failed_cell: null, error: null };
}

function cell(source: string, status: string, millrace?: Record<string, unknown>): CodeCell {
  return { cell_type: 'code', id: `c${Math.random().toString(36).slice(2)}`, source, metadata: { papermill: { status }, ...(millrace ? { millrace } : {}) }, outputs: [], execution_count: null };
}

function detail(runId: string, cells: CodeCell[], status = 'completed'): RunDetail {
  const notebook: Notebook = { nbformat: 4, nbformat_minor: 5, metadata: {}, cells };
  return {
    summary: { run_id: runId, status, notebook: 'n.ipynb', output: `/s/${runId}/n.ipynb`, schedule: null, started: null, ended: null, duration_s: null, parameters: null },
    notebook,
    progress: null,
    failure: null,
    resumedAs: [],
    note: null,
  };
}

const ids = Array.from({ length: 12 }, (_, i) => `fragile-20261206T0800${String(i).padStart(2, '0')}Z-a1b2${String(i).padStart(2, '0')}`);
const listSource = (loads = { n: 0 }): InspectSource => ({
  listRuns: async () => {
    loads.n++;
    return ids.map((id) => entry(id));
  },
  loadRun: async (runId) => detail(runId, [cell('x = 1', 'completed')]),
});

describe('inspect keys', () => {
  it('applies every press of a batch: seven j sent at once move seven rows, three k three back, arrows too', async () => {
    const app = sized(render(createElement(InspectApp, { source: listSource() })), 120);
    try {
      await frameWhere(app, (t) => selected(t).includes(ids[0]!));
      app.stdin.write('jjjjjjj');
      await frameWhere(app, (t) => selected(t).includes(ids[7]!));
      app.stdin.write('kkk');
      await frameWhere(app, (t) => selected(t).includes(ids[4]!));
      app.stdin.write('\u001b[B\u001b[B');
      await frameWhere(app, (t) => selected(t).includes(ids[6]!));
    } finally {
      app.unmount();
    }
  });

  it('the mouse wheel moves the list\'s cursor and scrolls the detail pane; clicks do nothing and type nothing', async () => {
    const wheelDown = '\u001b[<65;10;5M';
    const wheelUp = '\u001b[<64;10;5M';
    const lines = Array.from({ length: 40 }, (_, i) => `line ${i}`).join('\n');
    const source: InspectSource = { ...listSource(), loadRun: async (runId) => detail(runId, [cell(lines, 'completed'), cell('y = 2', 'completed')]) };
    const app = sized(render(createElement(InspectApp, { source })), 120);
    try {
      await frameWhere(app, (t) => selected(t).includes(ids[0]!));
      app.stdin.write(wheelDown);
      app.stdin.write(wheelDown);
      // With Ctrl held (button 65 + 16) it is the wheel still.
      app.stdin.write('\u001b[<81;10;5M');
      await frameWhere(app, (t) => selected(t).includes(ids[3]!));
      app.stdin.write(wheelUp);
      await frameWhere(app, (t) => selected(t).includes(ids[2]!));
      // A click and its release: no move, and none of the report's characters taken as keys.
      app.stdin.write('\u001b[<0;10;5M');
      app.stdin.write('\u001b[<0;10;5m');
      app.stdin.write('/');
      const typing = await frameWhere(app, (t) => t.includes('/▏'));
      expect(selected(typing)).toContain(ids[2]!);
      app.stdin.write('\u001b[<0;10;5M');
      app.stdin.write(wheelDown);
      await new Promise((r) => setTimeout(r, 50));
      expect(plain(app.lastFrame())).toContain('/▏');
      app.stdin.write('\u001b');
      await frameWhere(app, (t) => !t.includes('/▏') && selected(t).includes(ids[2]!));

      // In a run: the wheel moves between cells, then scrolls the cell's text.
      app.stdin.write('\r');
      await frameWhere(app, (t) => t.includes('cell 0 · completed'));
      app.stdin.write(wheelDown);
      await frameWhere(app, (t) => t.includes('cell 1 · completed'));
      app.stdin.write(wheelUp);
      app.stdin.write('\r');
      await frameWhere(app, (t) => t.includes('cell 0 · completed · lines 1-'));
      app.stdin.write(wheelDown);
      app.stdin.write(wheelDown);
      await frameWhere(app, (t) => t.includes('cell 0 · completed · lines 3-'));
    } finally {
      app.unmount();
    }
  });

  it('? lists the screen\'s keys and Esc closes it; Esc on the list does not quit; r refreshes', async () => {
    const loads = { n: 0 };
    const app = sized(render(createElement(InspectApp, { source: listSource(loads) })), 120, 30);
    try {
      await frameWhere(app, (t) => t.includes(ids[0]!));
      app.stdin.write('?');
      const help = await frameWhere(app, (t) => t.includes('keys · runs'));
      expect(help).toMatch(/enter\s+→\s+open the run/);
      expect(help).toMatch(/q\s+ctrl-c\s+quit/);
      expect(help).toMatch(/r\s+refresh now/);
      app.stdin.write('\u001b');
      await frameWhere(app, (t) => t.includes('millrace runs') && !t.includes('keys · runs'));
      // Esc again, on the list: still there, still answering keys.
      app.stdin.write('\u001b');
      app.stdin.write('j');
      await frameWhere(app, (t) => selected(t).includes(ids[1]!));
      const before = loads.n;
      app.stdin.write('r');
      for (let i = 0; i < 3000 && loads.n === before; i++) await new Promise((r) => setTimeout(r, 10));
      expect(loads.n).toBeGreaterThan(before);
    } finally {
      app.unmount();
    }
  });

  it('in a run, r refreshes, ? lists the repair keys, and retry asks before it runs (R, then y)', async () => {
    let loads = 0;
    const calls: string[] = [];
    const source: InspectSource = {
      listRuns: async () => [],
      loadRun: async (runId) => {
        loads++;
        return detail(runId, [cell('x = 1', 'completed'), cell('1 / 0', 'failed')], 'paused');
      },
    };
    const retry: RunAction = {
      key: 'R',
      label: 'retry',
      confirm: 'retry the failed cell? y retries',
      appliesTo: () => true,
      perform: async ({ runId }) => {
        calls.push(runId);
        return 'retried';
      },
    };
    const app = sized(render(createElement(InspectApp, { source, initialRun: 'p1', actions: [retry] })), 120, 30);
    try {
      await frameWhere(app, (t) => t.includes('R retry'));
      const before = loads;
      app.stdin.write('r');
      for (let i = 0; i < 3000 && loads === before; i++) await new Promise((r) => setTimeout(r, 10));
      expect(loads).toBeGreaterThan(before);
      expect(calls).toEqual([]);
      app.stdin.write('?');
      const help = await frameWhere(app, (t) => t.includes('keys · run'));
      expect(help).toMatch(/R then y\s+retry/);
      expect(help).toMatch(/esc\s+←\s+back\n/);
      app.stdin.write('?');
      await frameWhere(app, (t) => t.includes('R retry'));
      app.stdin.write('R');
      await frameWhere(app, (t) => t.includes('retry the failed cell? y retries'));
      expect(calls).toEqual([]);
      app.stdin.write('y');
      await frameWhere(app, (t) => t.includes('retried'));
      expect(calls).toEqual(['p1']);
    } finally {
      app.unmount();
    }
  });

  it('Esc read together with the next key (Ink parses them as Alt and that key) is Esc, then that key', async () => {
    const calls: Array<number | null> = [];
    const source: InspectSource = {
      listRuns: async () => [],
      loadRun: async (runId) => detail(runId, [cell('x = 1', 'completed'), cell('1 / 0', 'failed')], 'failed'),
    };
    const resume: RunAction = {
      key: 'u',
      label: 'resume',
      appliesTo: () => true,
      perform: async ({ cellIndex }) => {
        calls.push(cellIndex);
        return 'resumed';
      },
    };
    const app = sized(render(createElement(InspectApp, { source, initialRun: 'f1', actions: [resume] })), 120, 30);
    try {
      await frameWhere(app, (t) => t.includes('CELL') && t.includes('u resume'));
      app.stdin.write('\r');
      await frameWhere(app, (t) => t.includes('esc back to cells'));
      // As a terminal sends Esc then u when the app reads both at once (a slow frame).
      app.stdin.write('\u001bu');
      await frameWhere(app, (t) => t.includes('resumed'));
      expect(calls).toEqual([1]);
      expect(app.lastFrame()).toContain('CELL');
    } finally {
      app.unmount();
    }
  });

  it('at 80 columns shows the end of run ids that differ only there; at 200, whole ids', async () => {
    const narrow = sized(render(createElement(InspectApp, { source: listSource() })), 80);
    try {
      const t = await frameWhere(narrow, (f) => f.includes('a1b200') && f.includes('a1b201'));
      for (const line of t.split('\n')) expect(line.length).toBeLessThanOrEqual(80);
    } finally {
      narrow.unmount();
    }
    const wide = sized(render(createElement(InspectApp, { source: listSource() })), 200);
    try {
      await frameWhere(wide, (f) => ids.slice(0, 5).every((id) => f.includes(id)));
    } finally {
      wide.unmount();
    }
  });

  it('shows a cell\'s whole first line on a wide terminal, and skipped cells as skipped', async () => {
    const long = `result = compute(${'argument_number_one, '.repeat(6)}last)`;
    const source: InspectSource = {
      listRuns: async () => [],
      loadRun: async (runId) => detail(runId, [cell(long, 'completed'), cell('raise ValueError()', 'failed', { skipped: true }), cell('y = 2', 'completed')]),
    };
    const app = sized(render(createElement(InspectApp, { source, initialRun: 'r1' })), 200, 30);
    try {
      const t = await frameWhere(app, (f) => f.includes('CELL'));
      expect(long.length).toBeGreaterThan(100);
      expect(t).toContain(long);
      expect(t).toMatch(/ 1\s+code\s+skipped/);
      expect(t).not.toMatch(/ 1\s+code\s+failed/);
    } finally {
      app.unmount();
    }
  });

  it('keeps the detail pane\'s first line and stays within the width when a line is longer than it', async () => {
    const line = `print(${'"a long argument", '.repeat(20)})`;
    const source: InspectSource = {
      listRuns: async () => [],
      loadRun: async (runId) => detail(runId, [cell(`${line}\n${line}\n${line}`, 'completed')]),
    };
    const app = sized(render(createElement(InspectApp, { source, initialRun: 'r1' })), 80, 24);
    try {
      await frameWhere(app, (f) => f.includes('CELL'));
      app.stdin.write('\r');
      const t = await frameWhere(app, (f) => f.includes('── source (code) ──') && !f.includes('CELL'));
      const lines = t.split('\n');
      expect(lines.length).toBeLessThanOrEqual(24);
      for (const l of lines) expect(displayWidth(l)).toBeLessThanOrEqual(80);
      expect(lines.find((l) => l.startsWith('cell 0 · completed'))).toBeDefined();
      expect(t).toContain('print("a long argument", ');
    } finally {
      app.unmount();
    }
  });
});

describe('terminal text', () => {
  it('measures display width: wide characters take two columns, colours none', () => {
    expect(displayWidth('abc')).toBe(3);
    expect(displayWidth('日本語')).toBe(6);
    expect(displayWidth('\u001b[31mred\u001b[0m')).toBe(3);
    expect(displayWidth('e\u0301')).toBe(1);
  });

  it('wraps a line to a width by display width, carrying its colour over', () => {
    expect(wrapToWidth('abcdefgh', 3)).toEqual(['abc', 'def', 'gh']);
    expect(wrapToWidth('日本語です', 4)).toEqual(['日本', '語で', 'す']);
    const rows = wrapToWidth('\u001b[31mabcdef\u001b[0m!', 4);
    expect(rows).toEqual(['\u001b[31mabcd\u001b[0m', '\u001b[31mef\u001b[0m!']);
    expect(wrapToWidth('', 10)).toEqual(['']);
  });
});
