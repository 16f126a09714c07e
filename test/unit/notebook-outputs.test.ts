import { describe, expect, it } from 'vitest';
import { parseNotebook, serializeNotebook, type CodeCell, type Notebook } from '../../notebook/nbformat.js';
import { CellOutputCollector, displayIdMapFromNotebook, type IopubMessage } from '../../notebook/outputs.js';
import { oracle } from './helpers/python.js';

let clock = 0;
const at = (): string => `2024-05-01T10:00:${String(10 + Math.floor(clock / 1000)).padStart(2, '0')}.${String((clock += 137) % 1000).padStart(3, '0')}123Z`;
const msg = (msg_type: string, content: Record<string, unknown>): IopubMessage => ({ header: { msg_type, date: at() }, content });
const busy = (): IopubMessage => msg('status', { execution_state: 'busy' });
const idle = (): IopubMessage => msg('status', { execution_state: 'idle' });
const input = (n: number): IopubMessage => msg('execute_input', { code: '...', execution_count: n });
const stream = (name: string, text: string): IopubMessage => msg('stream', { name, text });
const display = (data: Record<string, unknown>, displayId?: string, metadata: Record<string, unknown> = {}): IopubMessage =>
  msg('display_data', { data, metadata, ...(displayId ? { transient: { display_id: displayId } } : {}) });
const update = (data: Record<string, unknown>, displayId: string, metadata: Record<string, unknown> = {}): IopubMessage =>
  msg('update_display_data', { data, metadata, transient: { display_id: displayId } });
const clear = (wait: boolean): IopubMessage => msg('clear_output', { wait });

interface Step {
  index: number;
  messages: IopubMessage[];
  reply_date: string;
}

function scenario(): { text: string; steps: Step[] } {
  clock = 0;
  const cells = [0, 1, 2, 3, 4].map((i) => ({
    id: `c${i}`,
    cell_type: i === 3 ? 'markdown' : 'code',
    metadata: i === 0 ? { execution: { stale: 'x' } } : {},
    source: `cell ${i}`,
    ...(i === 3 ? {} : { outputs: [], execution_count: null }),
  }));
  const text = JSON.stringify({ nbformat: 4, nbformat_minor: 5, metadata: {}, cells });
  const steps: Step[] = [
    {
      index: 0,
      messages: [
        busy(), input(1),
        stream('stdout', 'a'), stream('stdout', 'b\n'), stream('stderr', 'warn\n'), stream('stdout', 'c\rd\n'),
        display({ 'text/plain': 'v1', 'text/html': '<b>v1</b>\n<i>x</i>' }, 'd1'),
        msg('execute_result', { execution_count: 1, data: { 'text/plain': '42' }, metadata: { m: 1 }, transient: { display_id: 'r1' } }),
        idle(),
      ],
      reply_date: at(),
    },
    {
      index: 1,
      messages: [
        busy(), input(2),
        display({ 'text/plain': 'd2-first' }, 'd2'),
        clear(true),
        update({ 'text/plain': 'd2-after-clear-wait' }, 'd2'),
        stream('stdout', 'after clear\n'),
        update({ 'text/plain': 'v2' }, 'd1', { updated: true }),
        display({ 'text/plain': 'v3' }, 'd1'),
        clear(false),
        display({ 'text/plain': 'd2-again' }, 'd2'),
        update({ 'text/plain': 'd2-updated' }, 'd2'),
        msg('execute_result', { execution_count: 2, data: { 'text/plain': "'r'" }, metadata: {}, transient: { display_id: 'r1' } }),
        idle(),
      ],
      reply_date: at(),
    },
    {
      index: 2,
      messages: [
        busy(), input(3),
        update({ 'text/plain': 'nobody' }, 'zz'),
        msg('comm_msg', { comm_id: 'c', data: {} }),
        clear(true),
        msg('debug_event', { event: 'x' }),
        update({ 'text/plain': 'v4', 'image/png': 'AAAA' }, 'd1', { w: 2 }),
        msg('display_data', { data: { 'text/plain': 'no id' }, metadata: {}, transient: null }),
        msg('error', { ename: 'ValueError', evalue: 'bad', traceback: ['\u001b[31mValueError\u001b[0m: bad'] }),
        idle(),
      ],
      reply_date: at(),
    },
    {
      index: 4,
      messages: [
        busy(), input(4),
        display({ 'text/plain': 'd5' }, 'd5'),
        clear(true),
        display({ 'text/plain': 'plain, replaces d5' }),
        // The delayed clear dropped d5's place: nothing may be updated.
        update({ 'text/plain': 'must not appear' }, 'd5'),
        clear(true),
        idle(),
      ],
      reply_date: at(),
    },
  ];
  return { text, steps };
}

/** Drop our display-id bookkeeping, which nbclient keeps in memory instead. */
function withoutMillrace(nb: Notebook): Notebook {
  return {
    ...nb,
    cells: nb.cells.map((c) => {
      const { millrace: _m, ...metadata } = c.metadata;
      return { ...c, metadata };
    }),
  };
}

describe('CellOutputCollector matches nbclient process_message', () => {
  it('for streams, clear_output with and without wait, and display updates across cells', () => {
    const { text, steps } = scenario();
    const [expected] = oracle<string>('nbclient', [{ text, cells: steps }]);
    let nb = parseNotebook(text, 'x.ipynb');
    for (const step of steps) {
      // A fresh collector per cell, as on another worker: the display-id map must
      // come back from the notebook itself.
      const reloaded = parseNotebook(serializeNotebook(nb), 'x.ipynb');
      const collector = new CellOutputCollector(reloaded, step.index);
      let done = false;
      for (const m of step.messages) done = collector.apply(m).done || done;
      expect(done).toBe(true);
      collector.applyExecuteReply({ header: { date: step.reply_date } });
      nb = collector.applyTo(reloaded);
    }
    expect(serializeNotebook(withoutMillrace(nb), { trailingNewline: false })).toBe(expected);
  });
});

describe('CellOutputCollector', () => {
  it('reports what changed and keeps the display ids in cell metadata', () => {
    const nb = parseNotebook(
      JSON.stringify({
        nbformat: 4,
        nbformat_minor: 5,
        metadata: {},
        cells: [0, 1].map((i) => ({ id: `c${i}`, cell_type: 'code', metadata: {}, source: '', outputs: [], execution_count: null })),
      }),
      'x.ipynb',
    );
    const first = new CellOutputCollector(nb, 0);
    expect(first.apply(display({ 'text/plain': 'a' }, 'd')).outputsChanged).toBe(true);
    const nb1 = first.applyTo();
    expect((nb1.cells[0]!.metadata.millrace as { display_ids: unknown }).display_ids).toEqual({ d: [0] });
    expect(displayIdMapFromNotebook(nb1).get('d')?.get(0)).toEqual([0]);

    const second = new CellOutputCollector(nb1, 1);
    const r = second.apply(update({ 'text/plain': 'b' }, 'd'));
    expect(r).toEqual({ done: false, outputsChanged: false, otherCellsChanged: [0] });
    expect(second.updatedCells().get(0)).toEqual([{ output_type: 'display_data', data: { 'text/plain': 'b' }, metadata: {} }]);
    const nb2 = second.applyTo();
    expect((nb2.cells[0] as CodeCell).outputs[0]).toMatchObject({ data: { 'text/plain': 'b' } });
    // The notebook given to the collector is not modified.
    expect((nb1.cells[0] as CodeCell).outputs[0]).toMatchObject({ data: { 'text/plain': 'a' } });
    expect(second.apply(msg('clear_output', { wait: true })).outputsChanged).toBe(false);
    expect(second.apply(idle()).done).toBe(true);
  });

  it('drops the display ids of an earlier attempt at the same cell', () => {
    const nb = parseNotebook(
      JSON.stringify({
        nbformat: 4,
        nbformat_minor: 5,
        metadata: {},
        cells: [{ id: 'c', cell_type: 'code', metadata: { millrace: { display_ids: { d: [0] } } }, source: '', outputs: [{ output_type: 'display_data', data: {}, metadata: {} }], execution_count: 1 }],
      }),
      'x.ipynb',
    );
    const c = new CellOutputCollector(nb, 0);
    expect(c.apply(update({ 'text/plain': 'x' }, 'd')).outputsChanged).toBe(false);
    const cell = c.applyTo().cells[0] as CodeCell;
    expect(cell.outputs).toEqual([]);
    expect(cell.execution_count).toBeNull();
    expect(cell.metadata.millrace).toBeUndefined();
  });

  it('uses the clock option when a message has no date', () => {
    const nb = parseNotebook(JSON.stringify({ nbformat: 4, nbformat_minor: 5, metadata: {}, cells: [{ id: 'c', cell_type: 'code', metadata: {}, source: 'x', outputs: [], execution_count: null }] }), 'x.ipynb');
    const c = new CellOutputCollector(nb, 0, { clock: () => 'T' });
    c.apply({ header: { msg_type: 'status' }, content: { execution_state: 'busy' } });
    expect(c.timing).toEqual({ 'iopub.status.busy': 'T' });
    expect(() => new CellOutputCollector(nb, 5)).toThrow(RangeError);
  });
});
