/**
 * The inspector's screens and keys beyond the first phase (issue 19), rendered with an
 * in-memory source that filters as the Temporal one does: `/` search, status and notebook
 * filters, reading further as the cursor reaches the end, refresh keeping the cursor, `:`.
 */
import type { Key } from 'ink';
import { render } from 'ink-testing-library';
import { createElement } from 'react';
import { describe, expect, it } from 'vitest';
import type { ScheduleRow } from '../../cli/commands/schedule.js';
import { InspectApp, jump } from '../../cli/inspect/app.js';
import type { TimelineRow } from '../../cli/inspect/history.js';
import type { ScheduleActions } from '../../cli/inspect/schedules-view.js';
import type { InspectSource, ListFilter } from '../../cli/inspect/data.js';
import { editLine } from '../../cli/inspect/line-input.js';
import { matchesSearch, parseSearch, type RunDetail, type RunListEntry } from '../../cli/inspect/view-model.js';
import type { CodeCell, Notebook } from '../../notebook/nbformat.js';
import { frameWhere, selected, sized } from './helpers/ink-frames.js';

function entry(runId: string, extra: Partial<RunListEntry> = {}): RunListEntry {
  return { run_id: runId, status: 'completed', notebook: 'etl.ipynb', output: null, schedule: null, started: '2026-12-06T08:00:00Z', ended: null, duration_s: 1, parameters: null, failed_cell: null, error: null, ...extra };
}

function detail(runId: string): RunDetail {
  const cell: CodeCell = { cell_type: 'code', id: 'c0', source: 'x = 1', metadata: { papermill: { status: 'completed' } }, outputs: [], execution_count: 1 };
  const notebook: Notebook = { nbformat: 4, nbformat_minor: 5, metadata: {}, cells: [cell] };
  return { summary: { run_id: runId, status: 'completed', notebook: 'n.ipynb', output: null, schedule: null, started: null, ended: null, duration_s: null, parameters: null }, notebook, progress: null, failure: null, resumedAs: [], note: null };
}

/** A source over `runs` that filters and limits as temporalSource does, and records each filter. */
function memorySource(runs: () => RunListEntry[], filters: ListFilter[] = []): InspectSource {
  return {
    listRuns: async (filter) => {
      filters.push(filter);
      return runs()
        .filter((r) => (!filter.status || r.status === filter.status) && (!filter.notebook || r.notebook === filter.notebook) && (!filter.schedule || r.schedule === filter.schedule))
        .filter((r) => matchesSearch(r, filter.words ?? []))
        .slice(0, filter.limit);
    },
    loadRun: async (runId) => detail(runId),
  };
}

const KEY: Key = {
  upArrow: false, downArrow: false, leftArrow: false, rightArrow: false, pageDown: false, pageUp: false, home: false, end: false,
  return: false, escape: false, ctrl: false, shift: false, tab: false, backspace: false, delete: false, meta: false,
  super: false, hyper: false, capsLock: false, numLock: false,
};

const runs = [
  entry('etl-20261206T080000Z-aaaa', { parameters: { region: 'eu' } }),
  entry('etl-20261206T070000Z-bbbb', { status: 'failed', parameters: { region: 'us' }, failed_cell: 2, error: { ename: 'KeyError', evalue: 'x' } }),
  entry('report-20261206T060000Z-cccc', { notebook: 'report.ipynb', schedule: 'daily' }),
  entry('report-20261206T050000Z-dddd', { notebook: 'report.ipynb', status: 'failed' }),
];

describe('search terms', () => {
  it('reads status, notebook and schedule terms, and free words any case; an unknown status is an error', () => {
    expect(parseSearch('  status:failed Nightly notebook:etl.ipynb schedule:daily ')).toEqual({ status: 'failed', notebook: 'etl.ipynb', schedule: 'daily', words: ['nightly'] });
    expect(parseSearch('status:broken').error).toBe('no status "broken": one of running, paused, completed, failed, cancelled');
    const run = entry('etl-20261206T0800Z-abcd', { parameters: { region: 'EU-west', n: 3 }, schedule: 'daily' });
    expect(matchesSearch(run, ['eu-west'])).toBe(true);
    expect(matchesSearch(run, ['n=3', 'abcd', 'daily'])).toBe(true);
    expect(matchesSearch(run, ['abcd', 'us-east'])).toBe(false);
  });

  it('edits a line: typed characters, backspace, ctrl-u, enter accepts and esc cancels', () => {
    expect(editLine('ab', 'c', KEY)).toEqual({ text: 'abc' });
    expect(editLine('abc', '', { ...KEY, backspace: true })).toEqual({ text: 'ab' });
    expect(editLine('abc', '', { ...KEY, delete: true })).toEqual({ text: 'ab' });
    expect(editLine('abc', 'u', { ...KEY, ctrl: true })).toEqual({ text: '' });
    expect(editLine('abc', '', { ...KEY, return: true })).toEqual({ done: 'abc' });
    expect(editLine('abc', '', { ...KEY, escape: true })).toEqual({ cancelled: true });
    expect(editLine('abc', '', { ...KEY, upArrow: true })).toEqual({ text: 'abc' });
  });
});

describe('runs screen', () => {

  it('/ searches ids, notebooks and parameters (a `:` typed in it is text), s filters by status, n by notebook, esc clears', async () => {
    const filters: ListFilter[] = [];
    const app = sized(render(createElement(InspectApp, { source: memorySource(() => runs, filters) })), 120);
    try {
      await frameWhere(app, (t) => t.includes('4 shown'));
      app.stdin.write('/region=us');
      await frameWhere(app, (t) => t.includes('/region=us▏'));
      app.stdin.write('\r');
      let t = await frameWhere(app, (f) => f.includes('search: region=us · 1 shown'));
      expect(t).toContain('etl-20261206T070000Z-bbbb');
      expect(t).not.toContain('aaaa');
      expect(filters[filters.length - 1]).toMatchObject({ words: ['region=us'] });

      // The search again, replaced by a structured term; a `:` inside is typed, not a screen jump.
      app.stdin.write('/');
      await frameWhere(app, (f) => f.includes('/region=us▏'));
      app.stdin.write('\u0015schedule:daily\r');
      t = await frameWhere(app, (f) => f.includes('search: schedule:daily · 1 shown'));
      expect(t).toContain('cccc');
      expect(filters[filters.length - 1]).toMatchObject({ schedule: 'daily', words: [] });

      // Esc clears the search; s cycles the status filter on the server's side.
      app.stdin.write('\u001b');
      await frameWhere(app, (f) => f.includes('status: all · 4 shown'));
      app.stdin.write('ssss');
      t = await frameWhere(app, (f) => f.includes('status: failed · 2 shown'));
      expect(filters[filters.length - 1]).toMatchObject({ status: 'failed' });

      // n: only the selected run's notebook, n again: every notebook.
      app.stdin.write('j');
      await frameWhere(app, (f) => selected(f).includes('dddd'));
      app.stdin.write('n');
      t = await frameWhere(app, (f) => f.includes('search: notebook:report.ipynb · 1 shown'));
      expect(filters[filters.length - 1]).toMatchObject({ notebook: 'report.ipynb', status: 'failed' });
      app.stdin.write('n');
      await frameWhere(app, (f) => f.includes('status: failed · 2 shown'));

      // An unknown status in a search says so.
      app.stdin.write('/status:broken\r');
      await frameWhere(app, (f) => f.includes('search: no status "broken"'));
    } finally {
      app.unmount();
    }
  });

  it('reads further as the cursor reaches the end of the list, until there are no more runs', async () => {
    const many = Array.from({ length: 130 }, (_, i) => entry(`etl-${String(i).padStart(4, '0')}`));
    const filters: ListFilter[] = [];
    const app = sized(render(createElement(InspectApp, { source: memorySource(() => many, filters), limit: 50 })), 120);
    try {
      await frameWhere(app, (t) => t.includes('50+ shown'));
      app.stdin.write('G');
      await frameWhere(app, (t) => t.includes('100+ shown') && selected(t).includes('etl-0049'));
      app.stdin.write('G');
      await frameWhere(app, (t) => t.includes('130 shown') && selected(t).includes('etl-0099'));
      app.stdin.write('G');
      await frameWhere(app, (t) => selected(t).includes('etl-0129'));
      expect(Math.max(...filters.map((f) => f.limit))).toBe(150);
    } finally {
      app.unmount();
    }
  });

  it('draws a list read before the screen was up (through `millrace dev`) in its first frame, and reads again only on the beat', async () => {
    const filters: ListFilter[] = [];
    let read: RunListEntry[] | undefined = runs.slice();
    const takeRead = (filter: ListFilter) => {
      filters.push({ ...filter, limit: -filter.limit });
      const list = read;
      read = undefined;
      return list;
    };
    const app = sized(render(createElement(InspectApp, { source: { ...memorySource(() => runs, filters), takeRead } })), 120);
    try {
      await frameWhere(app, (t) => t.includes('4 shown'));
      expect(app.frames.filter((f) => f.includes('loading'))).toEqual([]);
      // Asked for what was read with the list's first filter; not loaded again at once.
      expect(filters).toEqual([{ status: undefined, notebook: undefined, schedule: undefined, words: [], limit: -50 }]);
      app.stdin.write('r');
      await frameWhere(app, () => filters.length === 2);
      expect(filters[1]).toMatchObject({ words: [], limit: 50 });
    } finally {
      app.unmount();
    }
  });

  it('keeps the cursor on its run when a refresh brings new runs above it', async () => {
    let list = runs.slice();
    const app = sized(render(createElement(InspectApp, { source: memorySource(() => list) })), 120);
    try {
      await frameWhere(app, (t) => t.includes('4 shown'));
      app.stdin.write('jj');
      await frameWhere(app, (t) => selected(t).includes('cccc'));
      list = [entry('etl-20261206T090000Z-new1'), entry('etl-20261206T090100Z-new2'), ...runs];
      app.stdin.write('r');
      const t = await frameWhere(app, (f) => f.includes('6 shown'));
      expect(selected(t)).toContain('cccc');
    } finally {
      app.unmount();
    }
  });
});

describe(': jumps to a screen', () => {
  it('goes by a name or a prefix, refuses an unknown name in one line, and :q quits', async () => {
    expect(jump('ru', [{ kind: 'run', runId: 'x' }])).toEqual({ stack: [] });
    expect(jump('nope', [])).toEqual({ error: 'no screen "nope": one of runs, history, schedules' });
    expect(jump('hist', [])).toEqual({ error: 'history: open a run first (or select one in the list)' });
    expect(jump('h', [], 'r1')).toEqual({ stack: [{ kind: 'history', runId: 'r1' }] });
    expect(jump('history', [{ kind: 'run', runId: 'r2' }], 'r1')).toEqual({ stack: [{ kind: 'run', runId: 'r2' }, { kind: 'history', runId: 'r2' }] });
    expect(jump('sch', [{ kind: 'run', runId: 'r2' }])).toEqual({ stack: [{ kind: 'run', runId: 'r2' }, { kind: 'schedules' }] });
    const app = sized(render(createElement(InspectApp, { source: memorySource(() => runs), initialRun: 'etl-20261206T080000Z-aaaa' })), 120);
    try {
      await frameWhere(app, (t) => t.includes('cell 0 · completed'));
      app.stdin.write(':nope\r');
      await frameWhere(app, (t) => t.includes('no screen "nope"'));
      app.stdin.write(':ru\r');
      await frameWhere(app, (t) => t.includes('millrace runs') && t.includes('4 shown'));
    } finally {
      app.unmount();
    }
  });
});

describe('history screen', () => {
  const timeline: TimelineRow[] = [
    { time: '2026-12-06T10:15:00.100Z', what: 'run started on task queue q', worker: null, tone: 'note' },
    { time: '2026-12-06T10:15:01.000Z', what: 'kernel start: done in 0.9s', worker: '111@worker-a', tone: 'ok' },
    { time: '2026-12-06T10:15:20.000Z', what: 'handed over to another worker (was 111@worker-a)', worker: '222@worker-b', tone: 'warn' },
    { time: '2026-12-06T10:15:25.000Z', what: 'cell 1: done in 4.0s, attempt 2 (earlier: activity Heartbeat timeout)', worker: '222@worker-b', tone: 'warn' },
    { time: '2026-12-06T10:15:26.000Z', what: 'run completed', worker: '222@worker-b', tone: 'ok' },
  ];
  const source = (): InspectSource => ({ ...memorySource(() => runs), loadHistory: async () => ({ rows: timeline, live: false }) });

  it('opens with h from the list and from a run, and with :history; shows each event\'s time, worker and what; esc goes back', async () => {
    const app = sized(render(createElement(InspectApp, { source: source() })), 120);
    try {
      await frameWhere(app, (t) => t.includes('4 shown'));
      app.stdin.write('h');
      let t = await frameWhere(app, (f) => f.includes('history · etl-20261206T080000Z-aaaa · 2026-12-06 (UTC) · 5 events'));
      expect(t).toMatch(/10:15:25\.0 +222@worker-b +cell 1: done in 4\.0s, attempt 2 \(earlier: activity Heartbeat timeout\)/);
      expect(t).toMatch(/handed over to another worker \(was 111@worker-a\)/);
      // The last event is selected; g goes to the first.
      expect(selected(t)).toContain('run completed');
      app.stdin.write('g');
      await frameWhere(app, (f) => selected(f).includes('run started'));
      app.stdin.write('\u001b');
      await frameWhere(app, (f) => f.includes('millrace runs'));
      app.stdin.write('\r');
      await frameWhere(app, (f) => f.includes('cell 0 · completed'));
      app.stdin.write('h');
      await frameWhere(app, (f) => f.includes('history · etl-20261206T080000Z-aaaa'));
      app.stdin.write('\u001b');
      await frameWhere(app, (f) => f.includes('cell 0 · completed'));
      app.stdin.write(':hi\r');
      t = await frameWhere(app, (f) => f.includes('history · etl-20261206T080000Z-aaaa'));
      app.stdin.write('\u001b');
      await frameWhere(app, (f) => f.includes('cell 0 · completed'));
      app.stdin.write(':hi\r');
      t = await frameWhere(app, (f) => f.includes('history · etl-20261206T080000Z-aaaa'));
      app.stdin.write('?');
      t = await frameWhere(app, (f) => f.includes('keys · history'));
      expect(t).toMatch(/esc\s+←\s+back/);
    } finally {
      app.unmount();
    }
  });
});

describe(':history from the list', () => {
  it('shows the history of the selected run, the first one before the cursor moved', async () => {
    const app = sized(render(createElement(InspectApp, { source: { ...memorySource(() => runs), loadHistory: async () => ({ rows: [], live: false }) } })), 120);
    try {
      await frameWhere(app, (t) => t.includes('4 shown'));
      app.stdin.write(':history\r');
      await frameWhere(app, (t) => t.includes('history · etl-20261206T080000Z-aaaa · 0 events'));
      app.stdin.write('\u001b');
      await frameWhere(app, (t) => t.includes('4 shown'));
      // Keys after a move in one input act on the run moved to.
      app.stdin.write('j:h\r');
      await frameWhere(app, (t) => t.includes('history · etl-20261206T070000Z-bbbb'));
    } finally {
      app.unmount();
    }
  });
});

describe('schedules screen', () => {
  const schedules = (paused: boolean): ScheduleRow[] => [
    { name: 'daily', notebook: 'report.ipynb', spec: '0 6 * * *', timezone: 'UTC', paused, next_run: paused ? null : '2026-12-07T06:00:00.000Z', last_run: { run_id: 'daily-2026-12-06T06:00:00Z', scheduled_time: '', started: '', status: 'completed', output: null } },
    { name: 'hourly', notebook: 'etl.ipynb', spec: 'every 1h', timezone: 'Europe/Paris', paused: false, next_run: '2026-12-06T11:00:00.000Z', last_run: null },
  ];

  it('lists schedules with next and last runs; p pauses, t asks then triggers, b backfills a typed range, enter lists the runs', async () => {
    let paused = false;
    const calls: string[] = [];
    const actions: ScheduleActions = {
      setPaused: async (name, p) => {
        calls.push(`pause ${name} ${p}`);
        paused = p;
        return `${p ? 'paused' : 'unpaused'} schedule ${name}`;
      },
      trigger: async (name) => {
        calls.push(`trigger ${name}`);
        return `started ${name}-now`;
      },
      backfill: async (name, start, end) => {
        calls.push(`backfill ${name} ${start} ${end}`);
        return `backfill of ${name} queued`;
      },
    };
    const filters: ListFilter[] = [];
    const src: InspectSource = { ...memorySource(() => runs, filters), listSchedules: async () => schedules(paused) };
    const app = sized(render(createElement(InspectApp, { source: src, scheduleActions: actions })), 140);
    try {
      await frameWhere(app, (t) => t.includes('4 shown'));
      app.stdin.write(':sched\r');
      let t = await frameWhere(app, (f) => f.includes('millrace schedules · 2 schedules'));
      expect(t).toMatch(/› daily +report\.ipynb +0 6 \* \* \* +12-07 06:00Z +daily-2026-12-06T06:00:00Z +completed +active/);
      expect(t).toMatch(/hourly +etl\.ipynb +every 1h \(Europe\/Paris\) +12-06 11:00Z/);

      app.stdin.write('p');
      t = await frameWhere(app, (f) => f.includes('paused schedule daily') && /› daily .* paused/.test(f));
      app.stdin.write('t');
      await frameWhere(app, (f) => f.includes('trigger a run of daily now (it is paused: the run starts anyway)? y triggers'));
      app.stdin.write('n');
      await frameWhere(app, (f) => f.includes('p pause/unpause'));
      expect(calls).toEqual(['pause daily true']);
      app.stdin.write('ty');
      await frameWhere(app, (f) => f.includes('started daily-now'));

      app.stdin.write('jb');
      await frameWhere(app, (f) => f.includes('backfill hourly from START to END: ▏'));
      app.stdin.write('2026-12-01\r');
      await frameWhere(app, (f) => f.includes('backfill: type START END'));
      app.stdin.write('b2026-12-01 2026-12-03\r');
      await frameWhere(app, (f) => f.includes('backfill of hourly queued'));
      expect(calls).toEqual(['pause daily true', 'trigger daily', 'backfill hourly 2026-12-01 2026-12-03']);

      app.stdin.write('\r');
      await frameWhere(app, (f) => f.includes('millrace runs') && f.includes('search: schedule:hourly'));
      expect(filters[filters.length - 1]).toMatchObject({ schedule: 'hourly' });
    } finally {
      app.unmount();
    }
  });
});

describe('NO_COLOR', () => {
  it('drops the colours of cell outputs (a traceback\'s) when NO_COLOR is set, and keeps them otherwise', async () => {
    const red = '\u001b[0;31mValueError\u001b[0m: bad';
    const source: InspectSource = {
      listRuns: async () => [],
      loadRun: async (runId) => {
        const d = detail(runId);
        d.notebook!.cells[0] = { cell_type: 'code', id: 'c0', source: 'raise ValueError("bad")', metadata: { papermill: { status: 'failed' } }, outputs: [{ output_type: 'error', ename: 'ValueError', evalue: 'bad', traceback: [red] }], execution_count: 1 };
        return d;
      },
    };
    const shown = async () => {
      const app = sized(render(createElement(InspectApp, { source, initialRun: 'r1' })), 120);
      try {
        await frameWhere(app, (t) => t.includes('ValueError: bad'));
        return (app.lastFrame() ?? '').split('\n').find((l) => l.includes('bad') && !l.includes('raise')) ?? '';
      } finally {
        app.unmount();
      }
    };
    expect(await shown()).toMatch(/\u001b\[[0-9;]*m/);
    process.env['NO_COLOR'] = '1';
    try {
      expect(await shown()).not.toMatch(/\u001b\[[0-9;]*m/);
    } finally {
      delete process.env['NO_COLOR'];
    }
  });
});
