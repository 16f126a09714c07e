import { describe, expect, it } from 'vitest';
import {
  cellSummary,
  NotebookError,
  parseNotebook,
  serializeNotebook,
  sourceText,
  type Cell,
} from '../../notebook/nbformat.js';
import { oracle } from './helpers/python.js';

const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==\n';

function richNotebook(): string {
  const nb = {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: {
      kernelspec: { name: 'python3', display_name: 'Python 3 (ipykernel)', language: 'python' },
      language_info: { name: 'python', version: '3.11.4', codemirror_mode: { name: 'ipython', version: 3 } },
      signature: 'sha256:dropped',
      'ключ': 'значение',
      sort: { a: 1, B: 2, é: 3, '\ue000': 4, '😀': 5, z: 6, _: 7, '10': 8, '9': 9, '': 10 },
      numbers: { half: 0.5, tiny: 1e-7, huge: 1.5e300, frac: 123456.789, neg: -2.5, big: 12345678901234, exp: 1.25e-5, maxsafe: 9007199254740991 },
      flags: [true, false, null],
      ctrl: 'nul\u0000 bell\u0007 del\u007f ls\u2028 esc\u001b tab\t',
    },
    cells: [
      {
        id: 'intro',
        cell_type: 'markdown',
        metadata: { trusted: true },
        source: ['# Títle 😀\n', '\n', 'Some *text*\r\n', 'with\u2028odd\u0085breaks\x0b\x0cand\x1cmore'],
        attachments: { 'img.png': { 'image/png': PNG, 'text/plain': 'a\nb\n' } },
      },
      {
        id: 'params',
        cell_type: 'code',
        execution_count: 1,
        metadata: { tags: ['parameters'], collapsed: false },
        source: 'alpha = 0.5\nname = "ünï"\n',
        outputs: [],
      },
      {
        id: 'work',
        cell_type: 'code',
        execution_count: 2,
        metadata: { scrolled: 'auto', execution: { 'iopub.status.busy': '2024-05-01T10:00:00.000001Z' } },
        source: ['import json\n', 'print("héllo")\n', 'display(x)'],
        outputs: [
          { output_type: 'stream', name: 'stdout', text: ['héllo\n', 'world\n'] },
          { output_type: 'stream', name: 'stderr', text: 'warn\r\nnext\rline\nno newline' },
          {
            output_type: 'execute_result',
            execution_count: 2,
            metadata: { 'image/png': { width: 10.5 } },
            data: {
              'text/plain': ['{\n', "  'a': 1\n", '}'],
              'text/html': '<table>\n<tr><td>ü</td></tr>\n</table>\n',
              'image/png': PNG,
              'application/json': { key: ['list\nwith newline', 1, 2.5, { nested: null }] },
              'application/vnd.custom+json': ['keep', 'as list\n'],
              'image/svg+xml': '<svg>\n<g/>\n</svg>',
              'application/javascript': 'console.log(1);\nconsole.log(2);',
              'text/latex': '$x^2$',
            },
          },
          { output_type: 'display_data', metadata: {}, data: { 'text/markdown': '**bold**\n\nmore' } },
          {
            output_type: 'error',
            ename: 'ValueError',
            evalue: 'bad "value"\nsecond line',
            traceback: ['\u001b[0;31m---------\u001b[0m', 'Traceback:\n  line'],
          },
        ],
      },
      { id: 'empty', cell_type: 'code', execution_count: null, metadata: {}, source: '', outputs: [] },
      { id: 'raw', cell_type: 'raw', metadata: { format: 'text/restructuredtext' }, source: 'raw\ntext' },
    ],
  };
  // Python's json (and so nbformat) reads and writes NaN and Infinity.
  return JSON.stringify(nb, null, 2).replace('"half": 0.5', '"half": 0.5, "nan": NaN, "inf": Infinity, "ninf": -Infinity, "e16": 1.5e+16, "e300": 1e300');
}

describe('serializeNotebook is byte-identical to nbformat.writes', () => {
  it('on a notebook with unicode, multi-line sources and every output type', () => {
    const text = richNotebook();
    const [expected] = oracle<string>('writes', [{ text }]);
    const ours = serializeNotebook(parseNotebook(text, 'rich.ipynb'));
    expect(ours).toBe(expected + '\n');
    expect(serializeNotebook(parseNotebook(text, 'rich.ipynb'), { trailingNewline: false })).toBe(expected);
    // What we write reads back to the same bytes.
    expect(serializeNotebook(parseNotebook(ours, 'again.ipynb'))).toBe(ours);
  });

  it("on papermill's own test notebooks (all nbformat 4.1-4.4, upgraded to 4.5)", () => {
    const [fixtures] = oracle<{ name: string; text: string }[]>('fixture_notebooks', [null]);
    expect(fixtures!.length).toBeGreaterThan(10);
    const parsed = fixtures!.map((f) => parseNotebook(f.text, f.name));
    const expected = oracle<string>(
      'writes',
      fixtures!.map((f, i) => ({ text: f.text, ids: parsed[i]!.cells.map((c) => c.id) })),
    );
    fixtures!.forEach((f, i) => {
      expect(serializeNotebook(parsed[i]!, { trailingNewline: false }), f.name).toBe(expected[i]);
    });
  });
});

describe('parseNotebook', () => {
  const nb = (cells: unknown[], extra: Record<string, unknown> = {}): string =>
    JSON.stringify({ nbformat: 4, nbformat_minor: 5, metadata: {}, cells, ...extra });
  const code = (id: string, source = 'x = 1'): Record<string, unknown> => ({
    id,
    cell_type: 'code',
    metadata: {},
    source,
    outputs: [],
    execution_count: null,
  });

  const failsWith = (text: string, message: string | RegExp): void => {
    let err: unknown;
    try {
      parseNotebook(text, 'report.ipynb');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(NotebookError);
    const msg = (err as Error).message;
    expect(msg).not.toContain('\n');
    if (typeof message === 'string') expect(msg).toBe(message);
    else expect(msg).toMatch(message);
  };

  it('explains broken JSON with its position', () => {
    failsWith('{\n "cells": [\n }', /^report\.ipynb: not valid JSON \(.* at line 3 col 2\): is it a notebook\?$/);
    failsWith('', /^report\.ipynb: not valid JSON \(.*\): is it a notebook\?$/);
  });
  it('refuses what is not a v4 notebook', () => {
    failsWith('[1]', 'report.ipynb: not a notebook: the JSON is a list, not an object');
    failsWith('{"cells": []}', 'report.ipynb: not a notebook: "nbformat" is missing');
    failsWith(
      JSON.stringify({ nbformat: 3, nbformat_minor: 0, metadata: {}, worksheets: [] }),
      'report.ipynb: nbformat 3 notebooks are not supported; upgrade with: jupyter nbconvert --to notebook --nbformat 4 FILE',
    );
    failsWith(JSON.stringify({ nbformat: 5, nbformat_minor: 0, metadata: {}, cells: [] }), /nbformat 5 is newer/);
    failsWith(JSON.stringify({ nbformat: 4, metadata: {}, cells: [] }), /"nbformat_minor" must be an integer/);
  });
  it('names the cell and field that is wrong', () => {
    failsWith(nb([code('a'), code('b'), code('c'), code('d'), { ...code('e'), cell_type: 'heading' }]), 'report.ipynb: cell 4: "cell_type" must be code, markdown or raw');
    failsWith(nb([{ ...code('a'), source: 5 }]), 'report.ipynb: cell 0: "source" must be a string or a list of strings');
    failsWith(nb([{ ...code('a'), outputs: [{ output_type: 'stream', name: 'stdout' }] }]), 'report.ipynb: cell 0: output 0: "text" is missing');
    failsWith(nb([{ ...code('a'), outputs: [{ output_type: 'weird' }] }]), /^report\.ipynb: cell 0: output 0: "output_type" must be stream, display_data, execute_result or error$/);
    failsWith(nb([{ ...code('a'), outputs: [{ output_type: 'display_data', metadata: {}, data: { 'text/plain': 3 } }] }]), 'report.ipynb: cell 0: output 0: "data" "text/plain" must be a string or a list of strings');
    failsWith(nb([{ ...code('a'), execution_count: 'one' }]), /^report\.ipynb: cell 0: "execution_count" must be/);
    failsWith(nb([]).replace('"metadata":{}', '"metadata":{"kernelspec":{"name":3}}'), /^report\.ipynb: "metadata\.kernelspec\.name" must be a string/);
  });
  it('accepts a notebook without cells', () => {
    expect(parseNotebook(nb([]), 'x.ipynb').cells).toEqual([]);
  });
  it('upgrades 4.0-4.4 with deterministic cell ids, as nbformat.v4.upgrade (which uses random ones)', () => {
    const old = JSON.stringify({
      nbformat: 4,
      nbformat_minor: 2,
      metadata: {},
      cells: [code('keep-me-not'), { cell_type: 'markdown', metadata: {}, source: ['a\n', 'b'] }],
    });
    const parsed = parseNotebook(old, 'old.ipynb');
    expect(parsed.nbformat_minor).toBe(5);
    expect(parsed.cells.map((c) => c.id)).toEqual(['cell-0000', 'cell-0001']);
    expect(parsed.cells[1]!.source).toBe('a\nb');
    expect(parseNotebook(old, 'old.ipynb')).toEqual(parsed);
    expect('orig_nbformat_minor' in parsed.metadata).toBe(false);
  });
  it('repairs missing, duplicate and invalid ids in 4.5 notebooks, keeping good ones', () => {
    const { id: _drop, ...noId } = code('x');
    const parsed = parseNotebook(nb([code('a'), code('a'), noId, code('bad id!'), code('cell-0002')]), 'x.ipynb');
    const ids = parsed.cells.map((c) => c.id);
    expect(ids).toEqual(['a', 'cell-0001', 'cell-0002-1', 'cell-0003', 'cell-0002']);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(id).toMatch(/^[a-zA-Z0-9-_]{1,64}$/);
  });
  it('fills what nbformat tolerates: missing metadata, outputs, execution_count', () => {
    const parsed = parseNotebook(JSON.stringify({ nbformat: 4, nbformat_minor: 5, cells: [{ id: 'a', cell_type: 'code', source: 'x' }] }), 'x.ipynb');
    expect(parsed.metadata).toEqual({});
    expect(parsed.cells[0]).toEqual({ id: 'a', cell_type: 'code', source: 'x', metadata: {}, outputs: [], execution_count: null });
  });
  it('keeps a "__proto__" key as data', () => {
    const parsed = parseNotebook('{"nbformat":4,"nbformat_minor":5,"metadata":{"__proto__":{"polluted":1}},"cells":[]}', 'x.ipynb');
    expect(Object.keys(parsed.metadata)).toEqual(['__proto__']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(serializeNotebook(parsed)).toContain('"__proto__": {');
  });
});

describe('small helpers', () => {
  const cell = (source: string | string[]): Cell => ({ id: 'a', cell_type: 'code', metadata: {}, source, outputs: [], execution_count: null });
  it('sourceText joins lines', () => {
    expect(sourceText(['a\n', 'b'])).toBe('a\nb');
    expect(sourceText('x')).toBe('x');
  });
  it("a wrapped SQL statement's summary is its first line of SQL, not the magic or its comments", () => {
    expect(cellSummary(cell('%%millrace_sql line=11 name=orders output=out/o.parquet\n-- The orders.\n-- @name orders\n\nSELECT order_id, amount FROM sales\nWHERE 1'))).toBe('SELECT order_id, amount FROM sales');
    expect(cellSummary(cell('%%millrace_sql line=1 name=s1\n-- only a comment'))).toBe('-- only a comment');
    expect(cellSummary(cell('%%millrace_sql line=1 name=s1\n'))).toBe('%%millrace_sql line=1 name=s1');
    expect(cellSummary(cell('%%time\nx = 1'))).toBe('%%time');
  });

  it('cellSummary is the first non-blank line, at most 60 characters', () => {
    expect(cellSummary(cell(['\n', '   \n', '  import pandas as pd  \n', 'x = 1']))).toBe('import pandas as pd');
    expect(cellSummary(cell(''))).toBe('');
    const long = 'x = "' + '😀'.repeat(80) + '"';
    const s = cellSummary(cell(long));
    expect([...s].length).toBe(60);
    expect(s.endsWith('…')).toBe(true);
  });
});
