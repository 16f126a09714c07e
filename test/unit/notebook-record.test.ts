import { beforeAll, describe, expect, it } from 'vitest';
import { parseNotebook, serializeNotebook, type CodeCell, type Notebook, type Output } from '../../notebook/nbformat.js';
import {
  addErrorBanner,
  ERROR_ANCHOR_MSG,
  ERROR_MARKER_TAG,
  ERROR_MESSAGE_TEMPLATE,
  findExecutionError,
  finishRecord,
  initRecord,
  loadedNotebook,
  markCellCompleted,
  markCellFailed,
  markCellRunning,
  preparedNotebook,
  recordExecutionTiming,
  resetExecutionTiming,
} from '../../notebook/record.js';
import { durationSeconds, nbclientTimestamp, papermillTime } from '../../notebook/time.js';
import { oracle } from './helpers/python.js';

type Event =
  | ['notebook_start', string]
  | ['cell_start', number, string]
  | ['cell_complete', number, string]
  | ['cell_exception', number]
  | ['set_outputs', number, Output[], number | null]
  | ['notebook_complete', string];

interface Scenario {
  name: string;
  text: string;
  parameters: unknown;
  events: Event[];
  reportMode?: boolean;
  version?: string;
}

const cellsText = (cells: unknown[], metadata: Record<string, unknown> = {}): string =>
  JSON.stringify({ nbformat: 4, nbformat_minor: 5, metadata: { kernelspec: { name: 'python3', display_name: 'Python 3' }, ...metadata }, cells });
const code = (id: string, source: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  id, cell_type: 'code', metadata: {}, source, outputs: [{ output_type: 'stream', name: 'stdout', text: 'stale\n' }], execution_count: 9, ...extra,
});
const md = (id: string, source: string, metadata: Record<string, unknown> = {}): Record<string, unknown> => ({ id, cell_type: 'markdown', metadata, source });

const T = (s: number): string => new Date(Date.UTC(2024, 4, 1, 10, 0, 0) + s).toISOString();
const stdout = (text: string): Output => ({ output_type: 'stream', name: 'stdout', text });
const error = (ename: string, evalue: string): Output => ({ output_type: 'error', ename, evalue, traceback: [`${ename}: ${evalue}`] });

/** papermill visits every cell (markdown too); a run that fails stops at the failing cell. */
function run(nCells: number, failAt: number | null, outputs: Record<number, [Output[], number | null]>): Event[] {
  const ev: Event[] = [['notebook_start', T(250)]];
  let t = 1000;
  for (let i = 0; i < nCells; i++) {
    ev.push(['cell_start', i, T((t += 137))]);
    if (outputs[i]) ev.push(['set_outputs', i, outputs[i]![0], outputs[i]![1]]);
    if (i === failAt) ev.push(['cell_exception', i]);
    ev.push(['cell_complete', i, T((t += 1311))]);
    if (i === failAt) break;
  }
  ev.push(['notebook_complete', T((t += 77))]);
  return ev;
}

const SCENARIOS: Scenario[] = [
  {
    name: 'a successful run',
    text: cellsText([md('m', '# Title'), code('a', 'x = 1', { metadata: { tags: ['parameters'] } }), code('b', 'print(x)'), code('c', '')]),
    parameters: { x: 2, name: 'ü' },
    events: run(4, null, { 1: [[], 1], 2: [[stdout('2\n')], 2] }),
  },
  {
    name: 'a run failing in the third cell',
    text: cellsText([md('m', 'intro'), code('a', 'x = 1'), code('b', 'raise ValueError("no")'), md('after', 'not reached'), code('c', 'print(2)')]),
    parameters: {},
    events: run(5, 2, { 1: [[], 1], 2: [[stdout('before\n'), error('ValueError', 'no')], 2] }),
  },
  {
    name: 'a failure without an error output (e.g. a timeout)',
    text: cellsText([code('a', 'import time; time.sleep(99)')]),
    parameters: { t: 1.5 },
    events: run(1, 0, {}),
  },
  {
    name: 'sys.exit(0) is not an error',
    text: cellsText([code('a', 'import sys; sys.exit(0)'), code('b', 'pass')]),
    parameters: {},
    events: run(2, null, { 0: [[error('SystemExit', '0')], 1] }),
  },
  {
    name: 'an earlier papermill output as input: old markers removed, old keys kept',
    text: cellsText(
      [
        md('old-banner', 'old', { tags: [ERROR_MARKER_TAG] }),
        code('a', 'x = 1', { metadata: { papermill: { status: 'failed' }, execution: { 'iopub.status.busy': 'stale' } } }),
        md('old-anchor', ERROR_ANCHOR_MSG, { tags: [ERROR_MARKER_TAG] }),
        code('b', '1/0'),
      ],
      { papermill: { version: '2.4.0', default_parameters: { d: 1 }, environment_variables: {}, parameters: { old: 1 }, duration: 3.5, custom: 'kept' } },
    ),
    parameters: { new: true },
    version: '2.4.0',
    events: run(2, 1, { 0: [[], 1], 1: [[error('ZeroDivisionError', 'division by zero')], 2] }),
  },
  {
    name: 'report mode',
    text: cellsText([code('a', 'x = 1', { metadata: { jupyter: { outputs_hidden: true } } }), md('m', 'x')]),
    parameters: {},
    reportMode: true,
    events: run(2, null, {}),
  },
];

/** The same run through notebook/record.ts. */
function replay(s: Scenario): Notebook {
  const start = s.events[0]![1] as string;
  let nb = initRecord(parseNotebook(s.text, 'in.ipynb'), {
    inputPath: 'in.ipynb',
    outputPath: 'out.ipynb',
    parameters: s.parameters,
    startTime: start,
    version: s.version ?? '2.7.0',
    reportMode: s.reportMode,
  });
  let failedAt: number | null = null;
  for (const ev of s.events) {
    switch (ev[0]) {
      case 'cell_start':
        nb = markCellRunning(nb, ev[1], ev[2]);
        break;
      case 'set_outputs': {
        const cells = [...nb.cells];
        cells[ev[1]] = { ...(cells[ev[1]] as CodeCell), outputs: ev[2], execution_count: ev[3] };
        nb = { ...nb, cells };
        break;
      }
      case 'cell_exception':
        failedAt = ev[1];
        break;
      case 'cell_complete':
        nb = failedAt === ev[1] ? markCellFailed(nb, ev[1], ev[2]) : markCellCompleted(nb, ev[1], ev[2]);
        break;
      case 'notebook_complete':
        nb = finishRecord(nb, { endTime: ev[1], failed: failedAt !== null });
        break;
    }
  }
  const err = findExecutionError(nb);
  return err ? addErrorBanner(nb, err.cellIndex) : nb;
}

type PyRecord = { text: string; error: { cellIndex: number; ename: string; evalue: string } | null };
let expected: PyRecord[];
beforeAll(() => {
  expected = oracle<PyRecord>(
    'record',
    SCENARIOS.map((s) => ({ text: s.text, parameters: s.parameters, inputPath: 'in.ipynb', outputPath: 'out.ipynb', events: s.events, reportMode: s.reportMode ?? false })),
  );
});

describe('the run record matches papermill (NotebookExecutionManager + raise_for_execution_errors)', () => {
  it('byte for byte, for several runs', () => {
    SCENARIOS.forEach((s, i) => {
      const ours = replay(s);
      expect(serializeNotebook(ours, { trailingNewline: false }), s.name).toBe(expected[i]!.text);
    });
  });

  it('finds the failing cell as raise_for_execution_errors does', () => {
    SCENARIOS.forEach((s, i) => {
      // Replay without the banner to look for the error.
      const nb = replay({ ...s });
      const clean = { ...nb, cells: nb.cells.filter((c) => !(c.metadata.tags ?? []).includes(ERROR_MARKER_TAG)) };
      const found = findExecutionError(clean);
      expect(found && { cellIndex: found.cellIndex, ename: found.ename, evalue: found.evalue }, s.name).toEqual(expected[i]!.error);
    });
  });
});

describe('record functions', () => {
  const nb = initRecord(parseNotebook(cellsText([code('a', 'x'), code('b', 'y'), md('m', 'z')]), 'x.ipynb'), {
    inputPath: 'x.ipynb', outputPath: 'o.ipynb', parameters: {}, startTime: '2024-05-01T10:00:00Z', version: '0.1.0',
  });
  it('never modify their input', () => {
    const before = JSON.stringify(nb);
    markCellRunning(nb, 0, T(1));
    markCellFailed(nb, 0, T(2));
    finishRecord(nb, { endTime: T(3), failed: true });
    addErrorBanner(nb, 1);
    expect(JSON.stringify(nb)).toBe(before);
  });
  it('keep pending cells pending when a run fails without a failed cell (cancelled)', () => {
    const done = finishRecord(markCellCompleted(markCellRunning(nb, 0, T(1)), 0, T(2)), { endTime: T(3), failed: true });
    expect(done.cells.map((c) => (c.metadata.papermill as { status: string }).status)).toEqual(['completed', 'pending', 'pending']);
    expect(done.metadata.papermill?.exception).toBe(true);
  });
  it('time the cells a completed run passed after its last executed cell, at its end, as papermill does', () => {
    const ran = markCellCompleted(markCellRunning(markCellCompleted(markCellRunning(nb, 0, T(1)), 0, T(2)), 1, T(3)), 1, T(4));
    const last = finishRecord(ran, { endTime: T(5), failed: false }).cells[2]!.metadata.papermill;
    expect(last).toEqual({ exception: false, start_time: papermillTime(T(5)), end_time: papermillTime(T(5)), duration: 0, status: 'completed' });
  });
  it('put the banner and anchor in place, once, with deterministic ids', () => {
    const failed = { ...nb, cells: nb.cells.map((c, i) => (i === 1 ? { ...(c as CodeCell), execution_count: 7 } : c)) };
    const once = addErrorBanner(failed, 1);
    const twice = addErrorBanner(once, 3);
    expect(twice).toEqual(once);
    expect(once.cells.map((c) => c.id)).toEqual(['papermill-error-banner', 'a', 'papermill-error-anchor', 'b', 'm']);
    expect(once.cells[0]!.source).toBe(ERROR_MESSAGE_TEMPLATE.replace('%s', '7'));
    expect(once.cells[0]!.source).toContain(`'<a href="#papermill-error-cell">In [7]</a>'`);
    expect(() => addErrorBanner(nb, 99)).toThrow(RangeError);
  });
  it('record nbclient execution timing', () => {
    let cell = resetExecutionTiming(nb.cells[0] as CodeCell);
    cell = recordExecutionTiming(cell, 'iopub.status.busy', '2024-05-01T10:00:00.123Z');
    cell = recordExecutionTiming(cell, 'shell.execute_reply', '2024-05-01T10:00:01.5+02:00');
    expect(cell.metadata.execution).toEqual({
      'iopub.status.busy': '2024-05-01T10:00:00.123000Z',
      'shell.execute_reply': '2024-05-01T10:00:01.500000Z',
    });
  });
  it('spell times and durations as papermill and nbclient do', () => {
    expect(papermillTime('2024-05-01T10:00:00Z')).toBe('2024-05-01T10:00:00+00:00');
    expect(papermillTime('2024-05-01T12:00:00.5+02:00')).toBe('2024-05-01T10:00:00.500000+00:00');
    expect(papermillTime('2024-05-01T10:00:00.1234567Z')).toBe('2024-05-01T10:00:00.123456+00:00');
    expect(durationSeconds('2024-05-01T10:00:00.000001Z', '2024-05-01T10:00:02.5Z')).toBe(2.499999);
    expect(nbclientTimestamp('2024-05-01T10:00:00Z')).toBe('2024-05-01T10:00:00.000000Z');
    expect(nbclientTimestamp('garbage')).toBeUndefined();
    expect(() => papermillTime('yesterday')).toThrow(RangeError);
  });
});

describe('--prepare-only (papermill load_notebook_node, prepare_notebook_metadata)', () => {
  const source = (): Notebook => ({
    nbformat: 4,
    nbformat_minor: 5,
    metadata: {},
    cells: [
      { id: 'a', cell_type: 'code', metadata: {}, source: 'print(1)', execution_count: 2, outputs: [{ output_type: 'stream', name: 'stdout', text: '1\n' }] },
      { id: 'b', cell_type: 'markdown', metadata: { tags: ['x'] }, source: '# t' },
    ],
  });

  it('adds empty papermill metadata and tags where absent, keeping outputs', () => {
    const nb = loadedNotebook(source(), '9.9');
    expect(nb.metadata.papermill).toEqual({ default_parameters: {}, parameters: {}, environment_variables: {}, version: '9.9' });
    expect(nb.cells.map((c) => c.metadata)).toEqual([{ tags: [], papermill: {} }, { tags: ['x'], papermill: {} }]);
    expect((nb.cells[0] as CodeCell).outputs).toHaveLength(1);
    expect((nb.cells[0] as CodeCell).execution_count).toBe(2);
  });

  it('keeps metadata.papermill of an earlier run, records the paths, hides sources in report mode', () => {
    const earlier = { ...source(), metadata: { papermill: { version: '2.6.0', start_time: 't' } } };
    const nb = preparedNotebook(loadedNotebook(earlier, '9.9'), { inputPath: 'in.ipynb', outputPath: 'out.ipynb', reportMode: true });
    expect(nb.metadata.papermill).toEqual({ version: '2.6.0', start_time: 't', input_path: 'in.ipynb', output_path: 'out.ipynb' });
    expect(nb.cells[0]!.metadata['jupyter']).toEqual({ source_hidden: true });
    expect(nb.cells[1]!.metadata['jupyter']).toBeUndefined();
  });
});
