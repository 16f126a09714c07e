/**
 * The viewer's rendering with maintained libraries, in headless Chromium over the
 * reference notebooks (viewer-reference.ts) put in a store: math typeset by KaTeX on the
 * server with its CSS and fonts served by the viewer, Markdown tables and images (data:
 * and cell attachments), code highlighted by the notebook's language, ANSI colours by
 * anser, and `\r`/`\b` applied to streams as JupyterLab does; the page runs no script but the one that sizes frames, and
 * its CSP blocks nothing it needs.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PAGE_SCRIPT } from '../../viewer/frame-size.js';
import { REFERENCE_NOTEBOOKS, runRecord, TQDM_FINAL } from './viewer-reference.js';
import { get, serve, type Served } from './viewer-client.js';

const CHROMIUM = '/usr/bin/chromium';

// 12 code cells of 1 MB outputs: a notebook over NOTEBOOK_MODEL_OFFLOAD_BYTES (8 MiB).
const BIG = {
  ...REFERENCE_NOTEBOOKS['code.ipynb']!,
  cells: Array.from({ length: 12 }, (_, i) => ({
    cell_type: 'code',
    id: `big${i}`,
    metadata: {},
    execution_count: i + 1,
    source: `blob(${i})`,
    outputs: [{ output_type: 'display_data', metadata: {}, data: { 'image/png': String(i % 10).repeat(1_000_000), 'text/plain': 'blob' } }],
  })),
};

let dir: string;
let viewer: Served;
let browser: Browser;
const auth = () => ({ Authorization: `token ${viewer.token}` });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'millrace-viewer-render-'));
  const store = join(dir, 'store');
  await mkdir(join(store, 'reference'), { recursive: true });
  for (const [name, nb] of Object.entries(REFERENCE_NOTEBOOKS)) await writeFile(join(store, 'reference', name), JSON.stringify(nb));
  const runs: Array<[string, ReturnType<typeof runRecord>]> = [
    // --on-failure pause: a cell failed, the record has no final status yet.
    ['nb-20261201T100000Z-aaaa', runRecord('nb-20261201T100000Z-aaaa', {}, [{ status: 'completed', source: 'a = 1' }, { status: 'failed', source: 'boom()' }, { status: 'pending', source: 'b = 2' }])],
    ['nb-20261201T110000Z-bbbb', runRecord('nb-20261201T110000Z-bbbb', {}, [{ status: 'completed', source: 'a = 1' }, { status: 'running', source: 'sleep()' }])],
    ['nb-20261201T120000Z-cccc', runRecord('nb-20261201T120000Z-cccc', { status: 'cancelled' }, [{ status: 'completed', source: 'a = 1' }], { end_time: '2026-12-01T12:00:05.000000' })],
    [
      'nb-20261201T130000Z-dddd',
      runRecord('nb-20261201T130000Z-dddd', { status: 'completed', resumed_from: { run_id: 'nb-20261201T100000Z-aaaa', from_cell: 1 } }, [{ status: 'completed', source: 'a = 1' }], {
        end_time: '2026-12-01T13:00:05.000000',
      }),
    ],
  ];
  for (const [id, record] of runs) {
    await mkdir(join(store, 'runs', id), { recursive: true });
    await writeFile(join(store, 'runs', id, 'nb.ipynb'), JSON.stringify(record));
  }
  // Over the size from which the contents API builds a model in a worker thread.
  await writeFile(join(store, 'reference', 'big.ipynb'), JSON.stringify(BIG));
  await writeFile(join(store, 'reference', 'big-broken.ipynb'), `${JSON.stringify(BIG).slice(0, -10)}`);
  await writeFile(join(store, 'runs', 'nb-20261201T100000Z-aaaa', 'resumed-as.json'), JSON.stringify([{ run_id: 'nb-20261201T130000Z-dddd', output: 'x' }]));
  viewer = await serve({ ...process.env, MILLRACE_HOME: join(dir, 'home') }, ['--store', store]);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
});

afterAll(async () => {
  await browser?.close();
  await viewer?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** A page of the viewer opened in Chromium, with every CSP violation and console error kept. */
async function open(path: string): Promise<{ page: Page; problems: string[] }> {
  const context = await browser.newContext({ viewport: { width: 1000, height: 900 }, extraHTTPHeaders: auth() });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(m.text());
  });
  page.on('pageerror', (e) => problems.push(e.message));
  const response = await page.goto(`${viewer.url}${path}`);
  expect(response?.status()).toBe(200);
  await page.evaluate(() => document.fonts.ready);
  return { page, problems };
}

/** The KaTeX font families the page has loaded (runs in the page). */
const loadedKatexFonts = () =>
  [...(document.fonts as unknown as Iterable<FontFace>)].filter((f) => f.family.replace(/"/g, '').startsWith('KaTeX') && f.status === 'loaded').map((f) => f.family.replace(/"/g, ''));

describe('millrace serve renders with maintained libraries', () => {
  it('typesets math with KaTeX on the server, with its CSS and fonts from the viewer, and needs no script for it', async () => {
    const { page, problems } = await open('view/reference/markdown.ipynb');
    const cell = page.locator('.cell.markdown').nth(1);
    expect(await cell.locator('.katex').count()).toBe(3);
    expect(await cell.locator('.katex-display').count()).toBe(1);
    // KaTeX's own fonts are in use: its CSS and fonts loaded under the page's CSP.
    expect(await cell.locator('.katex').first().evaluate((el) => getComputedStyle(el).fontFamily)).toContain('KaTeX_Main');
    expect(await page.evaluate(loadedKatexFonts)).toContain('KaTeX_Main');
    // The MathML copy is for screen readers only; the TeX source is not shown as text.
    expect(await cell.innerText()).not.toContain('\\frac');
    // The page's one script sizes the frame of its Markdown cell with raw HTML.
    expect(await page.evaluate(() => Array.from(document.scripts).map((s) => s.textContent))).toEqual([PAGE_SCRIPT]);
    expect(problems).toEqual([]);
  });

  it('renders Markdown tables, data: images and attachment: images', async () => {
    const { page, problems } = await open('view/reference/markdown.ipynb');
    const table = page.locator('.cell.markdown').first().locator('table');
    expect(await table.locator('tbody tr').count()).toBe(2);
    expect(await table.locator('td').nth(1).evaluate((el) => getComputedStyle(el).textAlign)).toBe('right');
    const images = page.locator('.cell.markdown').nth(2).locator('img.md-image');
    expect(await images.count()).toBe(2);
    const sizes = await images.evaluateAll((els) => els.map((el) => [(el as HTMLImageElement).naturalWidth, (el as HTMLImageElement).alt]));
    expect(sizes).toEqual([
      [16, 'checker'],
      [240, 'chart'],
    ]);
    expect(problems).toEqual([]);
  });

  it('highlights code by the notebook language (Python, R), and a cell magic by its own', async () => {
    const { page } = await open('view/reference/code.ipynb');
    const first = page.locator('.cell.code pre.source').first();
    expect(await first.locator('.hljs-keyword').allTextContents()).toEqual(expect.arrayContaining(['import', 'def', 'return']));
    expect(await first.locator('.hljs-string').first().textContent()).toBe('"""Area of a circle."""');
    expect(await first.locator('.hljs-comment').textContent()).toBe('# πr²');
    expect(await first.locator('.hljs-keyword').first().evaluate((el) => getComputedStyle(el).color)).not.toBe(await first.evaluate((el) => getComputedStyle(el).color));
    expect(await first.innerText()).toContain('def area(r: float) -> float:');
    const sql = page.locator('.cell.code pre.source').nth(1);
    expect(await sql.locator('.hljs-keyword').allTextContents()).toEqual(expect.arrayContaining(['SELECT', 'FROM', 'WHERE']));
    // An R notebook is highlighted as R.
    const { page: r } = await open('view/reference/code-r.ipynb');
    const rSource = r.locator('.cell.code pre.source');
    expect(await rSource.first().locator('.hljs-keyword').allTextContents()).toContain('function');
    expect(await rSource.first().locator('.hljs-comment').textContent()).toBe('# mean visits per city');
    expect(await rSource.nth(1).locator('.hljs-literal').allTextContents()).toContain('TRUE');
  });

  it('converts ANSI colours (16, 256 and 24-bit) and shows tqdm progress as its final line', async () => {
    const { page } = await open('view/reference/streams.ipynb');
    const colours = page.locator('.cell.code').first().locator('pre.stream.stdout');
    expect(await colours.innerText()).toBe('plain OK and red, orange, truecolour, on blue\n');
    expect(await colours.locator('span.ansi-green-fg.ansi-bold').textContent()).toBe('OK');
    expect(await colours.locator('span', { hasText: 'orange' }).evaluate((el) => getComputedStyle(el).color)).toBe('rgb(255, 135, 0)');
    expect(await colours.locator('span', { hasText: 'truecolour' }).evaluate((el) => getComputedStyle(el).color)).toBe('rgb(10, 20, 200)');
    expect(await colours.locator('span.ansi-blue-bg.ansi-bright-white-fg').textContent()).toBe('on blue');
    // Seven stream messages to stderr are one block showing the bar's last state.
    const progress = page.locator('.cell.code').nth(1).locator('pre.stream');
    expect(await progress.count()).toBe(1);
    expect(await progress.innerText()).toBe(`${TQDM_FINAL}\n`);
    // \b deletes, \r overwrites; the two print calls' outputs are one block.
    const overwrites = page.locator('.cell.code').nth(2).locator('pre.stream');
    expect(await overwrites.count()).toBe(1);
    expect(await overwrites.innerText()).toBe('aX\n67345\n');
  });

  it('sizes HTML output frames to their content by a height message, and runs none of the notebook\'s script', async () => {
    const { page } = await open('view/reference/layout.ipynb');
    const frames = page.locator('iframe.html-output');
    expect(await frames.count()).toBe(3);
    for (let i = 0; i < 3; i++) {
      const frame = (await frames.nth(i).elementHandle())!;
      const inner = (await frame.contentFrame())!;
      // Seen, as a reader scrolls to it: Chromium runs no rendering steps (so no
      // ResizeObserver) in a cross-origin frame outside the viewport.
      await frame.scrollIntoViewIfNeeded();
      const content = await inner.evaluate(() => Math.ceil(document.documentElement.getBoundingClientRect().height));
      await expect.poll(() => frame.evaluate((el) => (el as HTMLElement).clientHeight), { message: `frame ${i}` }).toBe(content);
    }
    // The tall output is taller than the server's estimate allows (640 px): measured, not guessed.
    expect(await frames.nth(1).evaluate((el) => el.clientHeight)).toBeGreaterThan(640);
    // The hostile frame's script and handler did not run: its height is its content's, not 99999 or 3.
    const hostile = frames.nth(2);
    expect(await page.frameLocator('iframe.html-output').nth(2).locator('#evil').textContent()).toBe('inert');
    expect(await hostile.evaluate((el) => el.clientHeight)).toBeGreaterThan(10);
    expect(await hostile.evaluate((el) => el.clientHeight)).toBeLessThan(200);
    expect(await page.title()).not.toContain('pwned');
    expect(await hostile.getAttribute('sandbox')).toBe('allow-scripts');
  });

  it('renders raw HTML in Markdown only inside a sandboxed frame: its script cannot run, touch the page, its cookie or the token', async () => {
    // Logged in as a browser is: ?token= once, then the session cookie.
    const context = await browser.newContext({ viewport: { width: 1000, height: 900 } });
    const page = await context.newPage();
    let dialogs = 0;
    page.on('dialog', (d) => {
      dialogs++;
      void d.dismiss();
    });
    const plainCsp = (await get(viewer.url, '/view/reference/code.ipynb', { headers: auth() })).headers['content-security-policy'];
    const response = await page.goto(`${viewer.url}view/reference/hostile.ipynb?token=${viewer.token}`);
    expect(response?.status()).toBe(200);
    expect(new URL(page.url()).search).toBe('');
    expect((await context.cookies()).map((c) => c.httpOnly)).toEqual([true]);
    // The page's CSP is the one every page has: two script hashes, no inline script.
    const csp = (await response!.allHeaders())['content-security-policy'];
    expect(csp).toBe(plainCsp);
    expect(csp).toMatch(/script-src 'sha256-[^' ]+' 'sha256-[^' ]+'; /);

    const cell = page.locator('.cell.markdown').first();
    const frameEl = cell.locator('iframe.markdown-html');
    expect(await frameEl.getAttribute('sandbox')).toBe('allow-scripts');
    const frame = (await (await frameEl.elementHandle())!.contentFrame())!;
    // The cell's Markdown and HTML are rendered, in the frame and not in the page.
    expect(await frame.locator('h1').innerText()).toBe('Hostile markdown');
    expect(await frame.locator('#evil').textContent()).toBe('markdown');
    expect(await page.locator('#evil').count()).toBe(0);
    expect(await page.evaluate(() => document.scripts.length)).toBe(1);
    // Its math is MathML, laid out without KaTeX's style sheet.
    expect(await frame.locator('math').count()).toBe(1);
    // No script of the notebook ran: not the <script>, not onerror, not a javascript: link.
    await frame.locator('#nav').click();
    await frame.locator('#top').click();
    expect(await frame.evaluate(() => document.body.dataset['ran'] ?? 'nothing')).toBe('nothing');
    expect(dialogs).toBe(0);
    expect(await page.title()).not.toContain('pwned');
    expect(page.url()).toBe(`${viewer.url}view/reference/hostile.ipynb`);
    // Its height is its content's, not 99999 or 5.
    const content = await frame.evaluate(() => Math.ceil(document.documentElement.getBoundingClientRect().height));
    await expect.poll(() => frameEl.evaluate((el) => el.clientHeight)).toBe(content);
    expect(content).toBeGreaterThan(100);
    // Had it run, it could not have reached the page: the frame's origin is opaque, so the
    // page's document, the cookie and storage are out of reach; the token is nowhere in it.
    expect(await frame.evaluate(() => window.origin)).toBe('null');
    const reach = (f: () => unknown) => frame.evaluate(`(() => { try { return String((${f.toString()})()); } catch (e) { return 'blocked: ' + e.name; } })()`);
    expect(await reach(() => document.cookie)).toBe('blocked: SecurityError');
    expect(await reach(() => window.parent.document.title)).toBe('blocked: SecurityError');
    expect(await reach(() => window.top!.location.href)).toBe('blocked: SecurityError');
    expect(await reach(() => localStorage.length)).toBe('blocked: SecurityError');
    expect(await frame.content()).not.toContain(viewer.token);
    // A cell without raw HTML stays on the page.
    expect(await page.locator('.cell.markdown').nth(1).locator('strong').textContent()).toBe('plain');
    await context.close();
  });

  it('shows chart outputs by their PNG fallbacks, and JSON as a tree that folds', async () => {
    const { page, problems } = await open('view/reference/charts.ipynb');
    // plotly, Vega-Lite and Vega outputs: their PNGs, decoded.
    expect(await page.locator('img.image-output').evaluateAll((els) => els.map((el) => (el as HTMLImageElement).naturalWidth))).toEqual([300, 260, 240]);
    const tree = page.locator('.json-tree');
    expect(await tree.locator('details.json-node').count()).toBe(31);
    const city1 = tree.locator('details.json-node').nth(2);
    expect(await city1.locator('summary').innerText()).toBe('city1: {…} 2 keys');
    const leaf = city1.locator('.json-leaf').first();
    expect(await leaf.innerText()).toBe('visits: 10');
    await city1.locator('summary').click();
    expect(await leaf.isVisible()).toBe(false);
    expect(await tree.locator('details.json-node').nth(3).locator('.json-leaf').first().isVisible()).toBe(true);
    expect(problems).toEqual([]);
  });

  it('folds long outputs, open and scrolled at first', async () => {
    const { page } = await open('view/reference/layout.ipynb');
    const long = page.locator('details.long-output');
    expect(await long.count()).toBe(1);
    expect(await long.locator('summary').textContent()).toBe('120 lines of output');
    const pre = long.locator('pre.stream');
    expect(await pre.isVisible()).toBe(true);
    expect(await pre.evaluate((el) => el.scrollHeight > el.clientHeight)).toBe(true);
    await long.locator('summary').click();
    expect(await pre.isVisible()).toBe(false);
    // Short outputs are not folded.
    expect(await page.locator('.cell.code').first().locator('details').count()).toBe(0);
    // A LaTeX output (SymPy's) is typeset by KaTeX.
    const latex = page.locator('.latex-output');
    expect(await latex.locator('.katex').count()).toBe(1);
    expect(await latex.locator('.katex-html').innerText()).toContain('x');
  });

  it('labels runs as their records say: paused, running, cancelled, resumed; links the failed cell and the resumes', async () => {
    const { page } = await open('runs');
    const badge = (id: string) => page.locator('tr', { has: page.locator(`a.run-link:text-is("${id}")`) }).locator('.badge');
    expect(await badge('nb-20261201T100000Z-aaaa').textContent()).toBe('paused');
    expect(await badge('nb-20261201T110000Z-bbbb').textContent()).toBe('running');
    expect(await badge('nb-20261201T120000Z-cccc').textContent()).toBe('cancelled');
    expect(await badge('nb-20261201T130000Z-dddd').textContent()).toBe('completed');

    await page.goto(`${viewer.url}runs/nb-20261201T100000Z-aaaa`);
    expect(await page.locator('h1 .badge.run-status').textContent()).toBe('paused');
    // A later run resumed it.
    expect(await page.locator('h1 .badge.resumed').textContent()).toBe('resumed');
    const failed = page.locator('a.failed-link');
    expect(await failed.textContent()).toBe('cell 1');
    await failed.click();
    expect(new URL(page.url()).hash).toBe('#cell-1');
    expect(await page.locator('#cell-1').getAttribute('class')).toContain('status-failed');
    await page.locator('a.resumed-as').click();
    await page.waitForURL(/nb-20261201T130000Z-dddd$/);
    expect(await page.locator('a.resumed-from').textContent()).toBe('nb-20261201T100000Z-aaaa');
  });

  it('downloads the output notebook as .ipynb and as standalone HTML that renders on its own', async () => {
    const { page } = await open('view/reference/markdown.ipynb');
    const [ipynb] = await Promise.all([page.waitForEvent('download'), page.locator('a.download-ipynb').click()]);
    expect(ipynb.suggestedFilename()).toBe('markdown.ipynb');
    expect(JSON.parse(await readFile((await ipynb.path())!, 'utf8'))).toEqual(REFERENCE_NOTEBOOKS['markdown.ipynb']);
    const [htmlFile] = await Promise.all([page.waitForEvent('download'), page.locator('a.download-html').click()]);
    expect(htmlFile.suggestedFilename()).toBe('markdown.html');
    const saved = join(dir, 'markdown.html');
    await htmlFile.saveAs(saved);
    const text = await readFile(saved, 'utf8');
    expect(text).not.toContain('/static/');
    // Opened from disk, with no server: the math still has KaTeX's fonts, the images show.
    const offline = await browser.newPage();
    await offline.goto(`file://${saved}`);
    await offline.evaluate(() => document.fonts.ready);
    expect(await offline.evaluate(loadedKatexFonts)).toContain('KaTeX_Main');
    expect(await offline.locator('.katex').count()).toBe(3);
    expect(await offline.locator('img.md-image').evaluateAll((els) => els.map((el) => (el as HTMLImageElement).naturalWidth))).toEqual([16, 240]);
    // The Markdown cell with raw HTML renders in its frame too.
    expect(await offline.frameLocator('iframe.markdown-html').locator('strong').first().textContent()).toBe('Note:');
    await offline.close();
  });

  it('builds a large notebook\'s contents model off the event loop, the same model as for a small one', async () => {
    const r = await get(viewer.url, '/api/contents/reference/big.ipynb', { headers: auth() });
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(Number(r.headers['content-length'])).toBe(Buffer.byteLength(r.body));
    const model = JSON.parse(r.body);
    expect(model).toMatchObject({ name: 'big.ipynb', path: 'reference/big.ipynb', type: 'notebook', format: 'json', writable: false });
    expect(model.content).toEqual({ ...BIG, cells: BIG.cells.map((c) => ({ ...c, metadata: { trusted: false } })) });
    const small = JSON.parse((await get(viewer.url, '/api/contents/reference/code.ipynb', { headers: auth() })).body);
    expect(Object.keys(model).sort()).toEqual(Object.keys(small).sort());
    const hashed = JSON.parse((await get(viewer.url, '/api/contents/reference/big.ipynb?hash=1', { headers: auth() })).body);
    expect(hashed.hash_algorithm).toBe('sha256');
    const broken = await get(viewer.url, '/api/contents/reference/big-broken.ipynb', { headers: auth() });
    expect(broken.status).toBe(400);
    expect(JSON.parse(broken.body).message).toMatch(/^Unreadable Notebook: reference\/big-broken.ipynb /);
  });

  it('serves KaTeX files only, as static files behind the token', async () => {
    const css = await get(viewer.url, '/static/katex/katex.min.css', { headers: auth() });
    expect(css.status).toBe(200);
    expect(css.headers['content-type']).toBe('text/css; charset=utf-8');
    expect(css.body).toContain('KaTeX_Main');
    const font = await get(viewer.url, '/static/katex/fonts/KaTeX_Main-Regular.woff2', { headers: auth() });
    expect(font.status).toBe(200);
    expect(font.headers['content-type']).toBe('font/woff2');
    expect((await get(viewer.url, '/static/katex/katex.min.css')).status).toBe(401);
    for (const path of ['/static/katex/katex.js', '/static/katex/../../package.json', '/static/katex/fonts/../katex.mjs', '/static/x']) {
      expect((await get(viewer.url, path, { headers: auth() })).status, path).toBe(404);
    }
  });
});
