// The viewer's pure pieces: URL paths into the store, ANSI tracebacks, markdown, and the
// escaping of everything a notebook holds.
import { describe, expect, it } from 'vitest';
import { parseNotebook } from '../../notebook/nbformat.js';
import { cellNumbers } from '../../notebook/record.js';
import { ansiToHtml, stripAnsi } from '../../viewer/ansi.js';
import { renderMarkdown } from '../../viewer/markdown.js';
import { renderNotebookPage } from '../../viewer/render-notebook.js';
import { timeFromRunId } from '../../viewer/runs.js';
import { locationOf, parseStorePath, PathRefused } from '../../viewer/store-path.js';

function refused(raw: string): number | undefined {
  try {
    parseStorePath(raw);
    return undefined;
  } catch (err) {
    return err instanceof PathRefused ? err.status : -1;
  }
}

describe('parseStorePath', () => {
  it('decodes each segment once', () => {
    expect(parseStorePath('/runs/my%20run/nb.ipynb')).toEqual(['runs', 'my run', 'nb.ipynb']);
    expect(parseStorePath('')).toEqual([]);
    expect(parseStorePath('/')).toEqual([]);
  });
  it.each([
    ['/..', 400],
    ['/runs/../x', 400],
    ['/%2e%2e/x', 400],
    ['/%2E%2e', 400],
    ['/.%2e', 400],
    ['/a%2fb', 400],
    ['/a%2Fb', 400],
    ['/a%5cb', 400],
    ['/a\\b', 400],
    ['/%252e%252e', 400],
    ['/a//b', 400],
    ['/%00', 400],
    ['/%zz', 400],
    ['/%c0%ae', 400],
    ['/.hidden', 404],
    ['/runs/.x.tmp', 404],
  ])('refuses %s with %i', (raw, status) => {
    expect(refused(raw)).toBe(status);
  });
  it('keeps locations inside the root', () => {
    expect(locationOf('/store', ['runs', 'a'])).toBe('/store/runs/a');
    expect(locationOf('/store/', [])).toBe('/store');
    expect(locationOf('s3://bucket/prefix', ['runs'])).toBe('s3://bucket/prefix/runs');
  });
});

describe('ansiToHtml', () => {
  it('turns SGR colours into classes, escapes text, drops other sequences', () => {
    expect(ansiToHtml('\x1b[0;31mValueError\x1b[0m: <b>&')).toBe('<span class="ansi-red-fg">ValueError</span>: &lt;b&gt;&amp;');
    expect(ansiToHtml('\x1b[1;32mok\x1b[39m still bold\x1b[0m')).toBe('<span class="ansi-green-fg ansi-bold">ok</span><span class="ansi-bold"> still bold</span>');
    expect(ansiToHtml('\x1b[38;5;9mx\x1b[0m\x1b[2K\x1b]0;title\x07y')).toBe('<span class="ansi-bright-red-fg">x</span>y');
    expect(stripAnsi('\x1b[31mred\x1b[0m')).toBe('red');
  });
});

describe('renderMarkdown', () => {
  it('renders a safe subset and shows raw HTML as text', () => {
    const out = renderMarkdown('# T <i>\n\n**b** *i* `<c>`\n\n- one\n- two\n\n[ok](https://x.org/?a=1&b=2) [bad](javascript:alert(1)) <script>alert(1)</script>');
    expect(out).toContain('<h1>T &lt;i&gt;</h1>');
    expect(out).toContain('<strong>b</strong> <em>i</em> <code>&lt;c&gt;</code>');
    expect(out).toContain('<ul><li>one</li><li>two</li></ul>');
    expect(out).toContain('<a href="https://x.org/?a=1&amp;b=2" rel="noopener noreferrer nofollow" target="_blank">ok</a>');
    expect(out).toContain('[bad](javascript:alert(1))');
    expect(out).not.toMatch(/<script|href="javascript/);
  });
});

describe('renderNotebookPage', () => {
  it('escapes sources, text and attributes, and puts HTML outputs in sandboxed srcdoc frames', () => {
    const nb = parseNotebook(
      JSON.stringify({
        nbformat: 4,
        nbformat_minor: 5,
        metadata: { papermill: { parameters: { '<p>': '"><script>' } }, millrace: { run_id: 'r<1>', status: 'completed' } },
        cells: [
          {
            id: 'a',
            cell_type: 'code',
            source: '"</pre><script>alert(1)</script>',
            metadata: { tags: ['"><x>'] },
            execution_count: 1,
            outputs: [
              { output_type: 'stream', name: 'stdout', text: '</pre><img src=x onerror=alert(1)>' },
              { output_type: 'display_data', metadata: {}, data: { 'text/html': '<script>alert(1)</script><b>"q"</b>' } },
              { output_type: 'display_data', metadata: {}, data: { 'image/png': 'iVBOR"><script>' } },
              { output_type: 'display_data', metadata: {}, data: { 'image/svg+xml': '<svg onload="alert(1)"></svg>' } },
            ],
          },
        ],
      }),
      'x.ipynb',
    );
    const page = renderNotebookPage(nb, { path: 'runs/r/x.ipynb', contentsHref: '/api/contents/runs/r/x.ipynb', rawHref: '/raw/runs/r/x.ipynb' });
    // The only elements are the viewer's own: no script, no event handler, no notebook tag.
    const bad = /<script|<img src=x|<[^>]*\son\w+=|<x>|<p>|<b>/i.exec(page);
    expect(bad && page.slice(bad.index - 80, bad.index + 40)).toBeNull();
    expect(page).toContain('&lt;/pre&gt;&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(page).toContain('<iframe class="html-output" sandbox=""');
    expect(page).toMatch(/srcdoc="[^"]*&lt;script&gt;alert\(1\)&lt;\/script&gt;&lt;b&gt;&quot;q&quot;&lt;\/b&gt;/);
    expect(page).toContain('invalid image/png data');
    expect(page).toContain('src="data:image/svg+xml;base64,');
  });
});

describe('the viewer\'s cell numbers', () => {
  it('numbers cells as the CLI does: papermill\'s banner and anchor are not counted', () => {
    const code = (id: string, status: string) => ({ id, cell_type: 'code', source: id, metadata: { papermill: { status } }, execution_count: 1, outputs: [] });
    const marker = (id: string) => ({ id, cell_type: 'markdown', source: '<span id="papermill-error-cell"></span>', metadata: { tags: ['papermill-error-cell-tag'] } });
    const nb = parseNotebook(
      JSON.stringify({
        nbformat: 4,
        nbformat_minor: 5,
        metadata: {},
        cells: [marker('banner'), { id: 'md', cell_type: 'markdown', source: '# t', metadata: {} }, code('ok', 'completed'), marker('anchor'), code('bad', 'failed'), code('next', 'pending')],
      }),
      'x.ipynb',
    );
    expect(cellNumbers(nb)).toEqual([null, 0, 1, null, 2, 3]);
    const page = renderNotebookPage(nb, { path: 'runs/r/x.ipynb', contentsHref: '/c', rawHref: '/r' });
    expect(page).toMatch(/<section class="cell code status-failed" id="cell-2">[\s\S]*?<a class="cell-link" href="#cell-2">cell 2<\/a>/);
    expect(page).not.toContain('id="cell-4"');
  });
});

describe('timeFromRunId', () => {
  it("reads the times millrace puts in run ids", () => {
    expect(timeFromRunId('report-20240102T030405Z-abc123')).toBe(Date.UTC(2024, 0, 2, 3, 4, 5));
    expect(timeFromRunId('daily-2024-01-02T06:00:00Z')).toBe(Date.UTC(2024, 0, 2, 6));
    expect(timeFromRunId('my-own-id')).toBeUndefined();
  });
});
