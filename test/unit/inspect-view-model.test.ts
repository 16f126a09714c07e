/** The inspector's pure view-model: what the list, the run header, the cell table and a cell's detail show. */
import { describe, expect, it } from 'vitest';
import type { Cell, CodeCell, Notebook } from '../../notebook/nbformat.js';
import type { RunProgress } from '../../workflows/contracts.js';
import type { RunSummary } from '../../cli/run-summaries.js';
import {
  cellDetailLines,
  cellRows,
  columnWidths,
  fit,
  fitColumns,
  fitMiddle,
  formatDuration,
  formatShortTime,
  formatTime,
  initialCellPosition,
  isLive,
  nextStatusFilter,
  runHeader,
  runRows,
  statusColor,
  STATUS_COLORS,
  terminalLines,
  windowStart,
  type RunDetail,
  type RunListEntry,
} from '../../cli/inspect/view-model.js';

const RED = '\u001b[0;31m';
const RESET = '\u001b[0m';

function code(source: string, status: string, extra: Partial<CodeCell> = {}, duration: number | null = null): CodeCell {
  return {
    cell_type: 'code',
    id: `c${Math.random().toString(16).slice(2, 8)}`,
    source,
    metadata: { papermill: { status, duration, exception: status === 'failed', start_time: null, end_time: null } },
    outputs: [],
    execution_count: null,
    ...extra,
  };
}

function notebookOf(cells: Cell[], metadata: Notebook['metadata'] = {}): Notebook {
  return { nbformat: 4, nbformat_minor: 5, metadata, cells };
}

const failing = code('import os\nraise RuntimeError("boom")', 'failed', {
  outputs: [
    { output_type: 'stream', name: 'stdout', text: ['before\n'] },
    {
      output_type: 'error',
      ename: 'RuntimeError',
      evalue: 'boom',
      traceback: [`${RED}---------${RESET}`, `${RED}RuntimeError${RESET}  Traceback\nCell In[2], line 2`, `${RED}RuntimeError${RESET}: boom`],
    },
  ],
}, 0.25);

const summary: RunSummary = {
  run_id: 'etl-1',
  status: 'failed',
  notebook: 'etl.ipynb',
  output: '/store/runs/etl-1/etl.ipynb',
  schedule: null,
  started: '2025-06-01T06:00:03.123Z',
  ended: '2025-06-01T06:00:07.623Z',
  duration_s: 4.5,
  parameters: null,
};

describe('run list', () => {
  it('shows id, notebook, status, start, duration and the failed cell; a running run counts up to now', () => {
    const runs: RunListEntry[] = [
      { ...summary, failed_cell: 5, error: { ename: 'RuntimeError', evalue: 'boom' } },
      { ...summary, run_id: 'etl-2', status: 'running', ended: null, duration_s: null, failed_cell: null, error: null },
    ];
    const rows = runRows(runs, new Date('2025-06-01T06:02:08.123Z'));
    expect(rows[0]).toEqual({ runId: 'etl-1', notebook: 'etl.ipynb', status: 'failed', started: '06-01 06:00Z', duration: '4.50s', failed: 'cell 5: RuntimeError' });
    expect(rows[1]).toMatchObject({ status: 'running', duration: '2m05s', failed: '' });
  });

  it('cycles the status filter through all statuses and back to all', () => {
    const seen = [nextStatusFilter(undefined)];
    while (seen[seen.length - 1] !== undefined) seen.push(nextStatusFilter(seen[seen.length - 1]));
    expect(seen).toEqual(['running', 'paused', 'completed', 'failed', 'cancelled', undefined]);
    // Paused runs stand out from running ones and from every other run status.
    const others = ['running', 'completed', 'failed', 'cancelled'].map(statusColor);
    expect(statusColor('paused')).toBeDefined();
    expect(others).not.toContain(statusColor('paused'));
    expect(Object.keys(STATUS_COLORS)).toContain('paused');
    // Open workflows are read again while on screen; closed ones never change.
    expect(['running', 'paused', 'completed', 'failed', 'cancelled'].filter(isLive)).toEqual(['running', 'paused']);
  });

  it('formats durations and times for narrow columns', () => {
    expect(formatDuration(null)).toBe('');
    expect(formatDuration(0.123)).toBe('0.12s');
    expect(formatDuration(42.44)).toBe('42.4s');
    expect(formatDuration(3599)).toBe('59m59s');
    expect(formatDuration(7380)).toBe('2h03m');
    expect(formatTime('2025-06-01T06:00:03.123Z')).toBe('2025-06-01 06:00:03Z');
    expect(formatTime(null)).toBe('');
    expect(formatShortTime('2025-06-01T06:00:03.123Z')).toBe('06-01 06:00Z');
  });

  it('aligns columns, capping and cutting long values', () => {
    expect(columnWidths(['RUN', 'X'], [['abcdef', ''], ['ab', 'xyz']], [4])).toEqual([4, 3]);
    expect(fit('abcdef', 4)).toBe('abc…');
    expect(fit('ab', 4)).toBe('ab  ');
  });

  it('narrows the notebook, then the run id, to fit the terminal, keeping the other columns whole', () => {
    // 2 + (40 + 20 + 9 + 20) + 3 gaps of 2 = 97 characters.
    const shrink = [[1, 8], [0, 16]] as const;
    expect(fitColumns([40, 20, 9, 20], 100, shrink)).toEqual([40, 20, 9, 20]);
    expect(fitColumns([40, 20, 9, 20], 90, shrink)).toEqual([40, 13, 9, 20]);
    expect(fitColumns([40, 20, 9, 20], 70, shrink)).toEqual([25, 8, 9, 20]);
    expect(fitColumns([40, 20, 9, 20], 40, shrink)).toEqual([16, 8, 9, 20]);
  });
});

describe('run ids in a narrow column', () => {
  it('cuts them in the middle, keeping the distinguishing end', () => {
    const id = 'fragile-20261206T080001Z-a1b2c3';
    expect(fitMiddle(id, 16)).toBe('fragi…01Z-a1b2c3');
    expect(fitMiddle(id, 16)).toHaveLength(16);
    expect(fitMiddle(id, 40)).toBe(id.padEnd(40));
    expect(fitMiddle(id, 1)).toBe('f');
  });
});

describe('cell rows', () => {
  it('reads status, duration, first line and error from the record', () => {
    const nb = notebookOf([
      { cell_type: 'markdown', id: 'm1', source: '# Title', metadata: { papermill: { status: 'completed' } } },
      code('x = 1\n', 'completed', {}, 0.5),
      failing,
      code('print(x)', 'pending'),
    ]);
    expect(cellRows(nb, null)).toEqual([
      { index: 0, cellType: 'markdown', status: 'completed', durationS: null, summary: '# Title', error: null, carriedOver: false },
      { index: 1, cellType: 'code', status: 'completed', durationS: 0.5, summary: 'x = 1', error: null, carriedOver: false },
      { index: 2, cellType: 'code', status: 'failed', durationS: 0.25, summary: 'import os', error: { ename: 'RuntimeError', evalue: 'boom' }, carriedOver: false },
      { index: 3, cellType: 'code', status: 'pending', durationS: null, summary: 'print(x)', error: null, carriedOver: false },
    ]);
  });

  it('takes the live progress where it is further along than the record, never behind it', () => {
    const nb = notebookOf([code('a = 1', 'completed', {}, 0.1), code('b = 2', 'pending'), code('c = 3', 'pending')]);
    const progress: RunProgress = {
      runId: 'r',
      output: 'o',
      phase: 'executing',
      cells: [
        { index: 0, summary: 'a = 1', status: 'pending' },
        { index: 1, summary: 'b = 2', status: 'completed', durationMs: 1500 },
        { index: 2, summary: 'c = 3', status: 'running' },
      ],
    };
    expect(cellRows(nb, progress).map((r) => [r.status, r.durationS])).toEqual([
      ['completed', 0.1],
      ['completed', 1.5],
      ['running', null],
    ]);
  });

  it('falls back on the progress query before the record is written', () => {
    const progress: RunProgress = { runId: 'r', output: 'o', phase: 'executing', cells: [{ index: 1, summary: 'x = 1', status: 'running' }] };
    expect(cellRows(null, progress)).toEqual([{ index: 1, cellType: 'code', status: 'running', durationS: null, summary: 'x = 1', error: null, carriedOver: false }]);
  });

  it('marks cells carried over from a resumed run', () => {
    const carried = code('x = 1', 'completed');
    carried.metadata['millrace'] = { carried_over_from: 'etl-0' };
    expect(cellRows(notebookOf([carried]), null)[0]!.carriedOver).toBe(true);
  });

  it('says skipped for a cell `millrace skip` passed, from the record or ahead of it from the progress query', () => {
    const skipped = code('raise ValueError()', 'failed');
    skipped.metadata['millrace'] = { skipped: true };
    expect(cellRows(notebookOf([skipped]), null)[0]!.status).toBe('skipped');
    const progress: RunProgress = { runId: 'r', output: 'o', phase: 'executing', cells: [{ index: 0, summary: 'raise ValueError()', status: 'skipped' }] };
    expect(cellRows(notebookOf([code('raise ValueError()', 'failed')]), progress)[0]!.status).toBe('skipped');
  });

  it('keeps a cell\'s whole first line: the table cuts it to the terminal', () => {
    const long = `total = ${'value + '.repeat(20)}1`;
    expect(cellRows(notebookOf([code(`\n${long}\nmore`, 'completed')]), null)[0]!.summary).toBe(long);
  });

  it('preselects the failed cell, a sys.exit() is no failure, else the running cell, else the first code cell', () => {
    const rows = cellRows(notebookOf([{ cell_type: 'markdown', id: 'm', source: 'x', metadata: {} }, code('a', 'completed'), failing]), null);
    expect(initialCellPosition(rows)).toBe(2);
    expect(initialCellPosition(rows, 1)).toBe(1);
    const exit = code('import sys; sys.exit()', 'failed', { outputs: [{ output_type: 'error', ename: 'SystemExit', evalue: '', traceback: [] }] });
    const rows2 = cellRows(notebookOf([{ cell_type: 'markdown', id: 'm', source: 'x', metadata: {} }, exit, code('b', 'running')]), null);
    expect(initialCellPosition(rows2)).toBe(2);
    expect(initialCellPosition(cellRows(notebookOf([{ cell_type: 'markdown', id: 'm', source: 'x', metadata: {} }, code('a', 'pending')]), null))).toBe(1);
    expect(initialCellPosition([])).toBe(0);
  });
});

describe('run header', () => {
  const detail: RunDetail = {
    summary,
    notebook: notebookOf([failing], {
      papermill: { parameters: { alpha: 0.5, label: 'x' } },
      millrace: { resumed_from: { run_id: 'etl-0', from_cell: 3 } },
    }),
    progress: null,
    failure: { failed_cell: 2, error: { ename: 'RuntimeError', evalue: 'boom' }, reason: 'cell 2 failed' },
    resumedAs: [{ run_id: 'etl-1-2', output: '/store/runs/etl-1-2/etl.ipynb' }],
    note: null,
  };

  it('names the run, its output, parameters, the failure and both resume links', () => {
    const fields = Object.fromEntries(runHeader(detail, new Date()).map((f) => [f.label, f.value]));
    expect(fields).toEqual({
      run: 'etl-1',
      status: 'failed',
      notebook: 'etl.ipynb',
      output: '/store/runs/etl-1/etl.ipynb',
      started: '2025-06-01 06:00:03Z  (4.50s)',
      parameters: 'alpha=0.5  label="x"',
      'resumed from': 'etl-0 at cell 3  [f]',
      'resumed as': 'etl-1-2  [a]',
      failed: 'cell 2: RuntimeError: boom',
    });
  });

  it('says a live run is still counting, and falls back on the failure reason when no cell failed', () => {
    const live = runHeader(
      { ...detail, summary: { ...summary, status: 'failed', ended: null, duration_s: null }, notebook: null, resumedAs: [], failure: { failed_cell: null, error: null, reason: 'kernel "nope" is unknown' } },
      new Date('2025-06-01T06:00:13.123Z'),
    );
    expect(live.find((f) => f.label === 'started')?.value).toBe('2025-06-01 06:00:03Z  (10.0s so far)');
    expect(live.find((f) => f.label === 'failed')?.value).toBe('kernel "nope" is unknown');
    expect(live.some((f) => f.label === 'parameters' || f.label.startsWith('resumed'))).toBe(false);
  });

  it("says where a container kernel ran, variable names only, and nothing for a process kernel", () => {
    const placed = notebookOf([failing], {
      millrace: { kernel: { image: 'localhost/k:1', cpus: 0.5, memory: '256m', env_names: ['A', 'B'], mounts: ['/srv:/data:ro'], name: 'python3' } },
    });
    const fields = runHeader({ ...detail, notebook: placed }, new Date());
    expect(fields.find((f) => f.label === 'image')?.value).toBe('localhost/k:1, 0.5 CPUs, 256m, env A B, mount /srv:/data:ro');
    expect(runHeader(detail, new Date()).some((f) => f.label === 'image')).toBe(false);
  });

  it('says which cell a paused run waits at, and until when, from the progress query', () => {
    const progress: RunProgress = {
      runId: 'etl-1',
      output: '/store/runs/etl-1/etl.ipynb',
      phase: 'paused',
      cells: [],
      paused: { cell: 2, ename: 'RuntimeError', evalue: 'boom\nsecond line', since: '2025-06-01T06:00:05.000Z', until: '2025-06-02T06:00:05.000Z' },
    };
    const fields = runHeader({ ...detail, summary: { ...summary, status: 'paused', ended: null, duration_s: null }, progress, failure: null }, new Date('2025-06-01T06:00:13.123Z'));
    const paused = fields.find((f) => f.label === 'paused');
    expect(paused).toEqual({ label: 'paused', value: 'cell 2: RuntimeError: boom  (until 2025-06-02 06:00:05Z)', color: statusColor('paused') });
    expect(fields.find((f) => f.label === 'status')).toMatchObject({ value: 'paused', color: statusColor('paused') });
    expect(fields.some((f) => f.label === 'failed')).toBe(false);
    expect(runHeader(detail, new Date()).some((f) => f.label === 'paused')).toBe(false);
  });
});

describe('cell detail', () => {
  it('shows the source, then stream text and the traceback with its ANSI colours kept', () => {
    expect(cellDetailLines(failing)).toEqual([
      { text: '── source (code) ──', tone: 'heading' },
      { text: 'import os', tone: 'source' },
      { text: 'raise RuntimeError("boom")', tone: 'source' },
      { text: '── outputs (2) ──', tone: 'heading' },
      { text: 'before', tone: 'stdout' },
      { text: `${RED}---------${RESET}`, tone: 'error' },
      { text: `${RED}RuntimeError${RESET}  Traceback`, tone: 'error' },
      { text: 'Cell In[2], line 2', tone: 'error' },
      { text: `${RED}RuntimeError${RESET}: boom`, tone: 'error' },
    ]);
  });

  it('shows text/plain of results and names the other mime types; stderr apart; an error without traceback by name', () => {
    const cell = code('df', 'completed', {
      outputs: [
        { output_type: 'stream', name: 'stderr', text: 'warning\n' },
        { output_type: 'execute_result', execution_count: 1, metadata: {}, data: { 'text/plain': ['   a\n', '0  1'], 'text/html': '<table/>' } },
        { output_type: 'display_data', metadata: {}, data: { 'image/png': 'iVBOR' } },
        { output_type: 'error', ename: 'KeyError', evalue: "'x'", traceback: [] },
      ],
    });
    expect(cellDetailLines(cell).slice(3)).toEqual([
      { text: 'warning', tone: 'stderr' },
      { text: '   a', tone: 'result' },
      { text: '0  1', tone: 'result' },
      { text: '[text/html]', tone: 'note' },
      { text: '[image/png, 3 bytes · v opens it in the viewer]', tone: 'note' },
      { text: "KeyError: 'x'", tone: 'error' },
    ]);
  });

  it('shows an image as a placeholder with its size in pixels and bytes, in place of its text/plain', () => {
    // A PNG's signature and IHDR chunk (640 x 480), then 2,000 bytes of data.
    const png = Buffer.concat([Buffer.from('89504e470d0a1a0a0000000d4948445200000280000001e008060000', 'hex'), Buffer.alloc(2000)]);
    const cell = code('plt.plot()', 'completed', {
      outputs: [
        { output_type: 'display_data', metadata: {}, data: { 'image/png': `${png.toString('base64').slice(0, 60)}\n${png.toString('base64').slice(60)}`, 'text/plain': '<Figure size 640x480 with 1 Axes>' } },
        { output_type: 'display_data', metadata: { 'image/jpeg': { width: 32, height: 16 } }, data: { 'image/jpeg': Buffer.alloc(3000).toString('base64') } },
        { output_type: 'display_data', metadata: {}, data: { 'image/svg+xml': '<svg xmlns="http://www.w3.org/2000/svg"/>' } },
      ],
    });
    expect(cellDetailLines(cell).slice(3).map((l) => l.text)).toEqual([
      `[image/png 640×480, ${((png.length) / 1024).toFixed(1)} kB · v opens it in the viewer]`,
      '[image/jpeg 32×16, 2.9 kB · v opens it in the viewer]',
      '[image/svg+xml, 41 bytes · v opens it in the viewer]',
    ]);
  });

  it('keeps what a terminal would show of progress bars and tabs', () => {
    expect(terminalLines('10%\r50%\r100%\nnext\tcol\n')).toEqual(['100%', 'next    col']);
    expect(terminalLines('a\r\nb')).toEqual(['a', 'b']);
    expect(terminalLines('')).toEqual(['']);
  });

  it('says when a cell is not in the record yet, and shows markdown as source only', () => {
    expect(cellDetailLines(undefined)).toEqual([{ text: 'the record of this cell is not written yet', tone: 'note' }]);
    expect(cellDetailLines({ cell_type: 'markdown', id: 'm', source: ['# T\n', 'text'], metadata: {} })).toEqual([
      { text: '── source (markdown) ──', tone: 'heading' },
      { text: '# T', tone: 'source' },
      { text: 'text', tone: 'source' },
    ]);
  });
});

describe('scrolling window', () => {
  it('keeps the selection visible and moves as little as it can', () => {
    expect(windowStart(0, 5, 10)).toBe(0);
    expect(windowStart(12, 30, 10)).toBe(3);
    expect(windowStart(12, 30, 10, 5)).toBe(5);
    expect(windowStart(2, 30, 10, 5)).toBe(2);
    expect(windowStart(29, 30, 10, 25)).toBe(20);
  });
});
