import { describe, expect, it } from 'vitest';
import { parseNotebook, type Cell, type Notebook } from '../../notebook/nbformat.js';
import { float, int, ParamError, str, type Params } from '../../notebook/params.js';
import {
  findParametersCell,
  inferParameters,
  INJECTED_PARAMETERS_TAG,
  NO_PARAMETERS_CELL_WARNING,
  parameterize,
} from '../../notebook/parameterize.js';
import { hideCodeSources } from '../../notebook/record.js';
import { oracle } from './helpers/python.js';

const md = (id: string, source: string, tags?: string[]): Record<string, unknown> => ({
  id,
  cell_type: 'markdown',
  metadata: tags ? { tags } : {},
  source,
});
const code = (id: string, source: string, tags?: string[]): Record<string, unknown> => ({
  id,
  cell_type: 'code',
  metadata: tags ? { tags } : {},
  source,
  outputs: [],
  execution_count: null,
});
const notebookText = (cells: unknown[], kernel = { name: 'python3', display_name: 'Python 3', language: 'python' }): string =>
  JSON.stringify({ nbformat: 4, nbformat_minor: 5, metadata: { kernelspec: kernel, language_info: { name: 'python' } }, cells });

const CASES: { name: string; cells: unknown[]; params: Params; reportMode?: boolean }[] = [
  {
    name: 'parameters cell in the middle, one unknown name',
    cells: [md('m', '# Title'), code('imports', 'import os'), code('p', 'alpha = 0.1  # rate\nname: str = "x"', ['parameters']), code('w', 'print(alpha)')],
    params: { alpha: float(0.5), zeta: str('unknown "one"') },
  },
  {
    name: 'no parameters cell: injected at the top, every name unknown',
    cells: [code('a', 'x = 1'), md('m', 'text')],
    params: { x: int(2), y: { t: 'list', v: [int(1), { t: 'none' }] } },
  },
  {
    name: 'an earlier injected cell is replaced in place',
    cells: [
      code('p', 'a = 1', ['parameters']),
      code('between', 'pass'),
      code('injected-parameters', '# Parameters\na = 5\n', ['injected-parameters']),
      code('rest', 'print(a)'),
    ],
    params: { a: int(7) },
  },
  {
    name: 'injected cell but no parameters cell',
    cells: [code('old', '# Parameters\nb = 1\n', ['injected-parameters']), code('x', 'print(b)')],
    params: { b: int(2) },
  },
  {
    name: 'two parameters cells: after the first',
    cells: [code('p1', 'a = 1', ['parameters', 'other']), code('p2', 'b = 2', ['parameters']), code('x', 'pass')],
    params: { a: int(3), b: int(4) },
  },
  {
    name: 'report mode hides the injected source',
    cells: [code('p', 'a = 1', ['parameters'])],
    params: { a: str('x') },
    reportMode: true,
  },
  {
    name: 'no parameters: nothing injected',
    cells: [code('p', 'a = 1', ['parameters'])],
    params: {},
  },
];

const tagsOf = (c: { metadata: Record<string, unknown> }): unknown => c.metadata.tags ?? [];

describe('parameterize matches papermill execute_notebook(prepare_only=True)', () => {
  it('for injection placement, cell source, tags and warnings', () => {
    const expected = oracle<{ text: string; warnings: string[] }>(
      'parameterize',
      CASES.map((c) => ({ text: notebookText(c.cells), params: Object.entries(c.params), reportMode: c.reportMode })),
    );
    CASES.forEach((c, i) => {
      const input = parseNotebook(notebookText(c.cells), 'in.ipynb');
      const before = JSON.stringify(input);
      const result = parameterize(input, c.params, { reportMode: c.reportMode });
      const { warnings } = result;
      // papermill hides every code cell in report mode when it prepares the record.
      const notebook = c.reportMode ? hideCodeSources(result.notebook) : result.notebook;
      expect(JSON.stringify(input), `${c.name}: input untouched`).toBe(before);
      const py = JSON.parse(expected[i]!.text) as Notebook;
      expect(warnings, c.name).toEqual(expected[i]!.warnings);
      const shape = (cells: Cell[]): unknown =>
        cells.map((cell) => ({
          id: tagsOf(cell as never) instanceof Array && (tagsOf(cell as never) as string[]).includes(INJECTED_PARAMETERS_TAG) ? '*' : cell.id,
          type: cell.cell_type,
          source: typeof cell.source === 'string' ? cell.source : cell.source.join(''),
          tags: tagsOf(cell as never),
          jupyter: cell.metadata.jupyter,
          outputs: cell.cell_type === 'code' ? cell.outputs : undefined,
          execution_count: cell.cell_type === 'code' ? cell.execution_count : undefined,
        }));
      expect(shape(notebook.cells), c.name).toEqual(shape(py.cells));
      if (Object.keys(c.params).length) {
        expect(notebook.metadata.papermill?.parameters, c.name).toEqual(py.metadata.papermill?.parameters);
      }
    });
  });
});

describe('parameterize', () => {
  const nb = parseNotebook(notebookText([code('p', 'a = 1', ['parameters']), code('injected-parameters', 'x', ['other'])]), 'x.ipynb');
  it('gives the injected cell a deterministic id that no other cell has', () => {
    const { notebook } = parameterize(nb, { a: int(2) });
    expect(notebook.cells.map((c) => c.id)).toEqual(['p', 'injected-parameters-1', 'injected-parameters']);
    expect(parameterize(nb, { a: int(2) })).toEqual(parameterize(nb, { a: int(2) }));
  });
  it('uses the comment option', () => {
    const { notebook } = parameterize(nb, { a: int(2) }, { comment: 'Injected by millrace' });
    expect(notebook.cells[1]!.source).toBe('# Injected by millrace\na = 2\n');
  });
  it('refuses kernels without a Python translator', () => {
    const r = parseNotebook(notebookText([code('p', 'a <- 1', ['parameters'])], { name: 'ir', display_name: 'R', language: 'R' }).replace('"language_info":{"name":"python"}', '"language_info":{"name":"R"}'), 'r.ipynb');
    expect(() => parameterize(r, { a: int(1) })).toThrow(new ParamError('no parameter translator for language "R": only Python kernels are supported'));
  });
  it('needs a kernel name, as papermill does, unless one is given', () => {
    const bare = parseNotebook(JSON.stringify({ nbformat: 4, nbformat_minor: 5, metadata: {}, cells: [] }), 'b.ipynb');
    expect(() => parameterize(bare, { a: int(1) })).toThrow(ParamError);
    expect(parameterize(bare, { a: int(1) }, { kernelName: 'python3', language: 'python' }).notebook.cells).toHaveLength(1);
  });
});

describe('findParametersCell and inferParameters', () => {
  it('find the first cell tagged parameters and inspect it', () => {
    const nb = parseNotebook(notebookText([md('m', 'x', ['parameters']), code('p', 'a: int = 1  # the a\nb = "s"', ['parameters'])]), 'x.ipynb');
    expect(findParametersCell(nb)).toBe(0);
    // papermill inspects the first tagged cell, whatever its type.
    expect(inferParameters(nb)).toEqual([]);
    const nb2 = parseNotebook(notebookText([code('p', 'a: int = 1  # the a\nb = "s"', ['parameters'])]), 'x.ipynb');
    expect(inferParameters(nb2)).toEqual([
      { name: 'a', inferred_type_name: 'int', default: '1', help: 'the a' },
      { name: 'b', inferred_type_name: 'None', default: '"s"', help: '' },
    ]);
    expect(findParametersCell(parseNotebook(notebookText([]), 'e.ipynb'))).toBe(-1);
    expect(NO_PARAMETERS_CELL_WARNING).toBe("Input notebook does not contain a cell with tag 'parameters'");
  });
});
