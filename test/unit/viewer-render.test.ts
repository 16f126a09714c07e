// The viewer's pure pieces: URL paths into the store, ANSI tracebacks, and the
// escaping of everything a notebook holds.
import { mkdir, mkdtemp, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseNotebook } from '../../notebook/nbformat.js';
import { cellNumbers } from '../../notebook/record.js';
import { ansiToHtml, stripAnsi } from '../../viewer/ansi.js';
import { collapseOverwrites, mergeStreams } from '../../viewer/streams.js';
import { PAGE_SCRIPT } from '../../viewer/frame-size.js';
import { JSON_TREE_DEPTH, JSON_TREE_NODES, jsonTree } from '../../viewer/json-tree.js';
import { renderNotebookPage } from '../../viewer/render-notebook.js';
import { parseDateBound, timeFromRunId } from '../../viewer/runs.js';
import { diffLines, DIFF_LINE_LIMIT } from '../../viewer/diff.js';
import { locationOf, parseStorePath, PathRefused, readableLocation } from '../../viewer/store-path.js';

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

describe('readableLocation', () => {
  it('reads real files and folders, and refuses every symbolic link below the root with 404', async () => {
    const dir = await realpath(await mkdtemp(join(tmpdir(), 'millrace-viewer-')));
    try {
      const root = join(dir, 'store');
      await mkdir(join(root, 'runs', 'r'), { recursive: true });
      await writeFile(join(root, 'runs', 'r', 'nb.ipynb'), '{}');
      await writeFile(join(dir, 'secret.txt'), 'secret');
      await symlink('/', join(root, 'runs', 'r', 'hostroot'));
      await symlink(join(dir, 'secret.txt'), join(root, 'runs', 'r', 'secret.txt'));
      await symlink(join(root, 'runs', 'r'), join(root, 'runs', 'inside'));
      await symlink('loop', join(root, 'runs', 'loop'));
      expect(await readableLocation(root, ['runs', 'r', 'nb.ipynb'])).toBe(join(root, 'runs', 'r', 'nb.ipynb'));
      expect(await readableLocation(root, [])).toBe(root);
      expect(await readableLocation(root, ['runs', 'missing'])).toBe(join(root, 'runs', 'missing'));
      expect(await readableLocation(root, ['runs', 'r', 'nb.ipynb', 'x'])).toBe(join(root, 'runs', 'r', 'nb.ipynb', 'x'));
      expect(await readableLocation(join(dir, 'nowhere'), ['runs'])).toBe(join(dir, 'nowhere', 'runs'));
      for (const segments of [['runs', 'r', 'hostroot'], ['runs', 'r', 'hostroot', 'etc', 'passwd'], ['runs', 'r', 'hostroot', 'no-such-dir', 'x'], ['runs', 'r', 'secret.txt'], ['runs', 'inside'], ['runs', 'inside', 'nb.ipynb'], ['runs', 'loop']]) {
        await expect(readableLocation(root, segments), segments.join('/')).rejects.toMatchObject({ status: 404, message: 'symbolic links in the store are not followed' });
      }
      // A store root reached through a link (macOS's /tmp) is fine: only links below it are refused.
      await symlink(root, join(dir, 'store-link'));
      expect(await readableLocation(join(dir, 'store-link'), ['runs', 'r', 'nb.ipynb'])).toBe(join(root, 'runs', 'r', 'nb.ipynb'));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('leaves S3 keys as joined, with nothing resolved', async () => {
    expect(await readableLocation('s3://bucket/prefix', ['runs', 'a..b', 'x'])).toBe('s3://bucket/prefix/runs/a..b/x');
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

/** A notebook of these cells rendered as a page (no run metadata). */
const pageOf = (cells: unknown[]) =>
  renderNotebookPage(parseNotebook(JSON.stringify({ nbformat: 4, nbformat_minor: 5, metadata: {}, cells }), 'x.ipynb'), { path: 'x.ipynb', contentsHref: '/c', rawHref: '/r', exportHref: '/e' });

describe('renderNotebookPage', () => {
  it('escapes sources, text and attributes, and puts HTML outputs in sandboxed srcdoc frames', async () => {
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
    const page = await renderNotebookPage(nb, { path: 'runs/r/x.ipynb', contentsHref: '/api/contents/runs/r/x.ipynb', rawHref: '/raw/runs/r/x.ipynb', exportHref: '/export/runs/r/x.ipynb' });
    // The only elements are the viewer's own: no script but its frame-sizing one, no event
    // handler, no notebook tag.
    expect(page.split(`<script>${PAGE_SCRIPT}</script>`)).toHaveLength(2);
    const bad = /<script|<img src=x|<[^>]*\son\w+=|<x>|<p>|<b>/i.exec(page.replace(`<script>${PAGE_SCRIPT}</script>`, ''));
    expect(bad && page.slice(bad.index - 80, bad.index + 40)).toBeNull();
    expect(page).toContain('&lt;/pre&gt;&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(page).toContain('<iframe class="html-output" sandbox="allow-scripts"');
    expect(page).toMatch(/srcdoc="[^"]*&lt;script&gt;alert\(1\)&lt;\/script&gt;&lt;b&gt;&quot;q&quot;&lt;\/b&gt;/);
    expect(page).toContain('invalid image/png data');
    expect(page).toContain('src="data:image/svg+xml;base64,');
  });

  it('shows chart libraries\' PNG fallbacks, JSON as a tree (as text when too big), and folds long text results', async () => {
    const result = (data: Record<string, unknown>) => ({ output_type: 'execute_result', execution_count: 1, metadata: {}, data });
    const page = await pageOf([
      {
        id: 'a',
        cell_type: 'code',
        source: '',
        metadata: {},
        execution_count: 1,
        outputs: [
          result({ 'application/vnd.plotly.v1+json': { data: [] }, 'image/png': 'UExPVExZ' }),
          result({ 'application/vnd.vegalite.v5+json': { mark: 'bar' }, 'image/png': 'VkVHQQ==', 'text/plain': '<VegaLite 5 object>' }),
          result({ 'application/json': Object.fromEntries(Array.from({ length: JSON_TREE_NODES }, (_, i) => [`k${i}`, i])), 'text/plain': 'too big' }),
          result({ 'application/json': { a: [1, 'x<y', null, true], b: { c: {} } }, 'text/plain': 'small' }),
          result({ 'text/plain': Array.from({ length: 70 }, (_, i) => `row ${i}`).join('\n') }),
        ],
      },
    ]);
    expect(page).toContain('<img class="image-output" alt="image/png output" src="data:image/png;base64,UExPVExZ">');
    expect(page).toContain('<img class="image-output" alt="image/png output" src="data:image/png;base64,VkVHQQ==">');
    expect(page).not.toContain('VegaLite 5 object');
    // Over the tree's limit: text, folded.
    expect(page).toContain(`<details class="long-output" open><summary>${(JSON_TREE_NODES + 2).toLocaleString('en')} lines of output</summary><pre class="output json">{\n  &quot;k0&quot;: 0,`);
    // Else a tree of <details>, escaped.
    expect(page).toContain(
      '<div class="json-tree"><details class="json-node" open><summary><span class="json-count">{…} 2 keys</span></summary>' +
        '<details class="json-node" open><summary><span class="json-key">a</span>: <span class="json-count">[…] 4 items</span></summary>' +
        '<div class="json-leaf"><span class="json-key">0</span>: <span class="json-number">1</span></div>' +
        '<div class="json-leaf"><span class="json-key">1</span>: <span class="json-string">&quot;x&lt;y&quot;</span></div>' +
        '<div class="json-leaf"><span class="json-key">2</span>: <span class="json-null">null</span></div>' +
        '<div class="json-leaf"><span class="json-key">3</span>: <span class="json-boolean">true</span></div></details>' +
        '<details class="json-node" open><summary><span class="json-key">b</span>: <span class="json-count">{…} 1 key</span></summary><div class="json-leaf"><span class="json-key">c</span>: {}</div></details></details></div>',
    );
    expect(page).toContain('<details class="long-output" open><summary>70 lines of output</summary><pre class="output">row 0\n');
  });

  it('makes no JSON tree deeper than JSON_TREE_DEPTH', () => {
    let deep: unknown = 1;
    for (let i = 0; i < JSON_TREE_DEPTH; i++) deep = [deep];
    expect(jsonTree(deep)).toContain('json-node');
    expect(jsonTree([deep])).toBeUndefined();
  });

  it('puts a Markdown cell with raw HTML in a sandboxed srcdoc frame, never in the page', async () => {
    const page = await pageOf([
      { id: 'a', cell_type: 'markdown', metadata: {}, source: '# Note\n\n<b id="x">bold</b><script>alert(1)</script><img src=x onerror=alert(1)>' },
      { id: 'b', cell_type: 'markdown', metadata: {}, source: '**plain** markdown' },
    ]);
    expect(page.split(`<script>${PAGE_SCRIPT}</script>`)).toHaveLength(2);
    // The frame's document is an attribute value, escaped: checked below, not here.
    const rest = page.replace(`<script>${PAGE_SCRIPT}</script>`, '').replace(/srcdoc="[^"]*"/g, 'srcdoc=""');
    const bad = /<script|<img src=x|<[^>]*\son\w+=|<b id|<h1>Note/i.exec(rest);
    expect(bad && rest.slice(bad.index - 80, bad.index + 40)).toBeNull();
    expect(page).toMatch(/<section class="cell markdown" id="cell-0"><div class="markdown"><iframe class="markdown-html" sandbox="allow-scripts" [^>]*srcdoc="[^"]*&lt;h1&gt;Note&lt;\/h1&gt;[^"]*&lt;b id=&quot;x&quot;&gt;bold&lt;\/b&gt;&lt;script&gt;alert\(1\)/);
    // The frame's own CSP allows no script but the frame-sizing one.
    expect(page).toMatch(/srcdoc="[^"]*script-src &#39;sha256-[^"]*&#39;&quot;&gt;/);
    expect(page).toContain('<div class="markdown"><p><strong>plain</strong> markdown</p>');
  });
});

describe('the notebook page of a container run', () => {
  it('says where the kernel ran, variable names only', async () => {
    const record = (kernel: Record<string, unknown>) =>
      parseNotebook(JSON.stringify({ nbformat: 4, nbformat_minor: 5, metadata: { millrace: { run_id: 'r', status: 'completed', kernel } }, cells: [] }), 'x.ipynb');
    const options = { path: 'runs/r/x.ipynb', contentsHref: '/c', rawHref: '/raw/runs/r/x.ipynb', exportHref: '/export/runs/r/x.ipynb' };
    const page = await renderNotebookPage(record({ image: 'localhost/k:1', memory: '512m', env_names: ['REGION'], mounts: ['/srv/<d>:/data:ro'], name: 'python3' }), options);
    expect(page).toContain('<dt>image</dt><dd class="placement">localhost/k:1, 512m, env REGION, mount /srv/&lt;d&gt;:/data:ro</dd>');
    expect(await renderNotebookPage(record({ name: 'python3', python: '/usr/bin/python3' }), options)).not.toContain('<dt>image</dt>');
  });
});

describe('the viewer\'s cell numbers', () => {
  it('numbers cells as the CLI does: papermill\'s banner and anchor are not counted', async () => {
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
    const page = await renderNotebookPage(nb, { path: 'runs/r/x.ipynb', contentsHref: '/c', rawHref: '/r', exportHref: '/e' });
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

describe('streams as JupyterLab shows them', () => {
  it('applies \\r and \\b like a terminal line, and \\r\\n as a newline', () => {
    expect(collapseOverwrites('12345\r67\n')).toBe('67345\n');
    expect(collapseOverwrites('abc\b\bX')).toBe('aX');
    expect(collapseOverwrites('a\r\nb')).toBe('a\nb');
    expect(collapseOverwrites('\r 10%\r 20%\r100%\n')).toBe('100%\n');
    expect(collapseOverwrites('plain\n')).toBe('plain\n');
    expect(collapseOverwrites('abc\r\bX')).toBe('Xbc');
  });

  it('joins consecutive outputs of one stream, and only those', () => {
    const s = (name: string, text: string | string[]) => ({ output_type: 'stream' as const, name, text });
    const d = { output_type: 'display_data' as const, data: { 'text/plain': 'x' }, metadata: {} };
    expect(mergeStreams([s('stderr', '\r 0%'), s('stderr', ['\r', '50%']), s('stderr', '\r100%\n'), s('stdout', 'a\n'), d, s('stdout', 'b\n')])).toEqual([
      s('stderr', '100%\n'),
      s('stdout', 'a\n'),
      d,
      s('stdout', 'b\n'),
    ]);
  });

  it('keeps the last state of a long progress stream', () => {
    const text = Array.from({ length: 200_000 }, (_, i) => `\r${i}`).join('') + '\b'.repeat(3);
    expect(collapseOverwrites(text)).toBe('199');
  });
});

describe('ansiToHtml by anser', () => {
  it('gives 256-colour and 24-bit colours as styles, drops OSC and cursor sequences, and escapes text', () => {
    expect(ansiToHtml('\x1b[38;5;208m<o>\x1b[0m')).toBe('<span style="color:rgb(255,135,0)">&lt;o&gt;</span>');
    expect(ansiToHtml('\x1b[48;2;1;2;3mt\x1b[0m u')).toBe('<span style="background-color:rgb(1,2,3)">t</span> u');
    expect(ansiToHtml('\x1b]8;;https://x\x1b\\link\x1b]8;;\x1b\\ \x1b[2K\x1b[1Adone')).toBe('link done');
  });
});

describe('diffLines', () => {
  it('keeps common lines and marks removed and added ones', () => {
    expect(diffLines('a\nb\nc', 'a\nx\nc\nd')).toEqual([
      { op: ' ', text: 'a' },
      { op: '-', text: 'b' },
      { op: '+', text: 'x' },
      { op: ' ', text: 'c' },
      { op: '+', text: 'd' },
    ]);
    expect(diffLines('', 'a')).toEqual([{ op: '+', text: 'a' }]);
    expect(diffLines('x\n'.repeat(DIFF_LINE_LIMIT + 1), 'x')).toBeUndefined();
  });
});

describe('the run list filters', () => {
  it('reads dates and ISO times as metrics --since does, and refuses anything else', () => {
    expect(parseDateBound('2026-12-01')).toBe(Date.UTC(2026, 11, 1));
    expect(parseDateBound('2026-12-01T06:30')).toBe(Date.UTC(2026, 11, 1, 6, 30));
    expect(parseDateBound('2026-12-01T06:30:00+01:00')).toBe(Date.UTC(2026, 11, 1, 5, 30));
    expect(parseDateBound('yesterday')).toBeUndefined();
    expect(parseDateBound('2026-13-01')).toBeUndefined();
  });
});
