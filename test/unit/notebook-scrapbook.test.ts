// Outputs below are what scrapbook 0.5's glue() writes (captured from a papermill run of
// `sb.glue("n", 42)`, `sb.glue("s", "hello")`, ..., with the kernel's own metadata).
import { describe, expect, it } from 'vitest';
import { parseNotebook, type Notebook } from '../../notebook/nbformat.js';
import { ERROR_MARKER_TAG } from '../../notebook/record.js';
import { extractScraps, isDecoded, runFacts } from '../../notebook/scrapbook.js';

const glue = (name: string, data: unknown, encoder: string) => ({
  output_type: 'display_data',
  data: { [`application/scrapbook.scrap.${encoder}+json`]: { data, encoder, name, version: 1 } },
  metadata: { scrapbook: { data: true, display: false, name } },
});

const pmCell = (status: string, duration: number | null) => ({ papermill: { status, duration, start_time: null, end_time: null, exception: null }, tags: [] });

function nb(cells: unknown[], metadata: Record<string, unknown> = {}): Notebook {
  return parseNotebook(JSON.stringify({ nbformat: 4, nbformat_minor: 5, metadata, cells }), 'test.ipynb');
}

const code = (id: string, outputs: unknown[], metadata: Record<string, unknown> = pmCell('completed', 0.5), source = 'x = 1') => ({
  id,
  cell_type: 'code',
  source,
  metadata,
  outputs,
  execution_count: 1,
});

describe('extractScraps', () => {
  it('reads json, text and pandas scraps, in order, with the cell that glued them', () => {
    const scraps = extractScraps(
      nb([
        { id: 'm', cell_type: 'markdown', source: '# t', metadata: {} },
        code('a', [glue('n', 42, 'json'), glue('s', 'hello', 'text'), { output_type: 'stream', name: 'stdout', text: 'hi\n' }]),
        code('b', [glue('d', { a: [1, 2.5] }, 'json'), glue('df', 'UEFSMRUE', 'pandas')]),
      ]),
    );
    expect([...scraps.values()]).toEqual([
      { name: 'n', data: 42, encoder: 'json', cell: 1 },
      { name: 's', data: 'hello', encoder: 'text', cell: 1 },
      { name: 'd', data: { a: [1, 2.5] }, encoder: 'json', cell: 2 },
      { name: 'df', data: 'UEFSMRUE', encoder: 'pandas', cell: 2 },
    ]);
    expect(isDecoded(scraps.get('df')!)).toBe(false);
    expect(isDecoded(scraps.get('n')!)).toBe(true);
  });

  it('keeps the last glue of a name, as scrapbook does', () => {
    const scraps = extractScraps(nb([code('a', [glue('n', 1, 'json')]), code('b', [glue('n', 2, 'json')])]));
    expect(scraps.get('n')).toEqual({ name: 'n', data: 2, encoder: 'json', cell: 1 });
  });

  it("decodes a JSON string the json encoder stored, and reads papermill's record() outputs", () => {
    const scraps = extractScraps(
      nb([
        code('a', [
          glue('j', '[1, 2]', 'json'),
          glue('notjson', 'plain words', 'json'),
          { output_type: 'display_data', data: { 'application/papermill.record+json': { legacy: 7 } }, metadata: {} },
        ]),
      ]),
    );
    expect(scraps.get('j')?.data).toEqual([1, 2]);
    expect(scraps.get('notjson')?.data).toBe('plain words');
    expect(scraps.get('legacy')).toEqual({ name: 'legacy', data: 7, encoder: 'json', cell: 0 });
  });

  it('ignores display-only glues, other JSON mimes and malformed payloads', () => {
    const scraps = extractScraps(
      nb([
        code('a', [
          { output_type: 'display_data', data: { 'text/plain': '3' }, metadata: { scrapbook: { name: 'shown', data: false, display: true } } },
          { output_type: 'display_data', data: { 'application/vnd.other+json': { name: 'x', data: 1 } }, metadata: {} },
          { output_type: 'display_data', data: { 'application/scrapbook.scrap.json+json': ['not', 'an', 'object'] }, metadata: {} },
          { output_type: 'display_data', data: { 'application/scrapbook.scrap.json+json': { data: 1 } }, metadata: {} },
        ]),
      ]),
    );
    expect(scraps.size).toBe(0);
  });

  it('counts cells without papermill error banner cells, like `millrace show`', () => {
    const banner = { id: 'e', cell_type: 'markdown', source: '<span>An Exception was encountered</span>', metadata: { tags: [ERROR_MARKER_TAG] } };
    const scraps = extractScraps(nb([banner, code('a', []), code('b', [glue('v', 1, 'json')])]));
    expect(scraps.get('v')?.cell).toBe(1);
  });
});

describe('runFacts', () => {
  const papermill = {
    parameters: { region: 'eu', limit: 3 },
    start_time: '2024-01-01T06:00:00.000001+00:00',
    end_time: '2024-01-01T06:00:02+00:00',
    duration: 2.0,
    exception: null,
  };

  it('reads run id, status, schedule, times, parameters and per-cell durations', () => {
    const facts = runFacts(
      nb(
        [
          { id: 'm', cell_type: 'markdown', source: '# t', metadata: pmCell('completed', null) },
          code('a', [], pmCell('completed', 0.25)),
          code('blank', [], pmCell('pending', null), '   '),
          code('b', [], pmCell('completed', 1.5)),
        ],
        { papermill, millrace: { run_id: 'nb-1', revision: 4, status: 'completed', schedule: 'daily' } },
      ),
    );
    expect(facts).toEqual({
      run_id: 'nb-1',
      status: 'completed',
      schedule: 'daily',
      start_time: '2024-01-01T06:00:00.000001+00:00',
      end_time: '2024-01-01T06:00:02+00:00',
      duration_s: 2,
      parameters: { region: 'eu', limit: 3 },
      cell_durations: { '1': 0.25, '3': 1.5 },
    });
  });

  it('calls a record without a final status running, and tolerates missing metadata', () => {
    expect(runFacts(nb([], { papermill: { ...papermill, end_time: null, duration: null } })).status).toBe('running');
    expect(runFacts(nb([], { papermill: { ...papermill, exception: true } })).status).toBe('failed');
    expect(runFacts(nb([]))).toEqual({
      run_id: null,
      status: 'running',
      schedule: null,
      start_time: null,
      end_time: null,
      duration_s: null,
      parameters: {},
      cell_durations: {},
    });
  });
});
