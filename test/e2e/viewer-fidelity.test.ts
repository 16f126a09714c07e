/**
 * Fidelity, measured: each reference notebook (viewer-reference.ts) rendered by millrace
 * and exported by nbconvert (`jupyter nbconvert --to html`, lab template, from the project's
 * venv), both opened in headless Chromium at the same width. Cell by cell, the sources, the
 * outputs' text, the images' sizes and the tables' rows must agree, except for the
 * differences listed in KNOWN (each must still hold, so the list stays true). Side-by-side
 * screenshots go to test/e2e/artifacts/fidelity/, and to docs/fidelity/ with
 * MILLRACE_UPDATE_DOCS=1 (docs/viewer.md lists the remaining differences).
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot, venvPython } from '../../worker/paths.js';
import { REFERENCE_NOTEBOOKS } from './viewer-reference.js';
import { serve, type Served } from './viewer-client.js';

const CHROMIUM = '/usr/bin/chromium';
const WIDTH = 1000;
const NOTEBOOKS = ['markdown.ipynb', 'code.ipynb', 'code-r.ipynb', 'streams.ipynb', 'outputs.ipynb', 'charts.ipynb', 'error.ipynb'];

/** Where millrace and nbconvert differ on purpose, by `<notebook>#<cell index>`. */
const KNOWN: Record<string, string> = {
  'markdown.ipynb#1': 'math: typeset by KaTeX in millrace; nbconvert loads MathJax from a CDN (offline here, so it shows the TeX)',
  'streams.ipynb#1': 'tqdm: millrace shows the bar as JupyterLab does, its last state; nbconvert shows every `\\r` update on a line of its own',
  'streams.ipynb#2': '`\\b` and `\\r`: applied by millrace as JupyterLab does; nbconvert leaves the characters in the text',
  'outputs.ipynb#3': 'application/json: millrace shows a JSON tree, as JupyterLab does; nbconvert shows its text/plain',
  'charts.ipynb#3': 'application/json: millrace shows a JSON tree, as JupyterLab does; nbconvert shows its text/plain',
};

interface CellFacts {
  source: string;
  text: string;
  images: string[];
  tableRows: number;
}

const norm = (s: string) => s.replace(/\s+/g, ' ').trim();

/** What each cell shows, read from millrace's page. */
async function ours(page: Page): Promise<CellFacts[]> {
  const cells = page.locator('main > section.cell');
  const out: CellFacts[] = [];
  for (let i = 0; i < (await cells.count()); i++) {
    const cell = cells.nth(i);
    const isCode = (await cell.getAttribute('class'))!.includes('code');
    // HTML outputs, and Markdown cells with raw HTML, are in sandboxed frames.
    const frames = cell.locator('iframe.html-output, iframe.markdown-html');
    let frameText = '';
    let tableRows = 0;
    const frameImages: string[] = [];
    for (let k = 0; k < (await frames.count()); k++) {
      const frame = (await (await frames.nth(k).elementHandle())!.contentFrame())!;
      frameText += await frame.evaluate(() => document.body.innerText);
      tableRows += await frame.evaluate(() => document.querySelectorAll('tbody tr').length);
      frameImages.push(...(await frame.evaluate(() => Array.from(document.images).map((e) => `${e.naturalWidth}x${e.naturalHeight}`))));
    }
    const textParts = isCode ? await cell.locator('.outputs pre').allInnerTexts() : [await cell.locator('.markdown').innerText()];
    out.push({
      source: isCode ? norm(await cell.locator('pre.source').innerText()) : '',
      text: norm(textParts.join(' ') + frameText),
      images: [...(await cell.locator('img').evaluateAll((els) => els.map((e) => `${(e as HTMLImageElement).naturalWidth}x${(e as HTMLImageElement).naturalHeight}`))), ...frameImages],
      tableRows: tableRows + (await cell.locator('.markdown tbody tr').count()),
    });
  }
  return out;
}

/** What each cell shows, read from nbconvert's export. */
async function theirs(page: Page): Promise<CellFacts[]> {
  const cells = page.locator('main > .jp-Cell');
  const out: CellFacts[] = [];
  for (let i = 0; i < (await cells.count()); i++) {
    const cell = cells.nth(i);
    const isCode = (await cell.getAttribute('class'))!.includes('jp-CodeCell');
    const textParts = isCode ? await cell.locator('.jp-OutputArea-output').evaluateAll((els) => els.filter((e) => !e.querySelector('img')).map((e) => (e as HTMLElement).innerText)) : [await cell.locator('.jp-MarkdownOutput').innerText()];
    out.push({
      source: isCode ? norm(await cell.locator('.jp-InputArea-editor').innerText()) : '',
      text: norm(textParts.join(' ')),
      images: await cell.locator(isCode ? '.jp-OutputArea img' : '.jp-MarkdownOutput img').evaluateAll((els) => els.map((e) => `${(e as HTMLImageElement).naturalWidth}x${(e as HTMLImageElement).naturalHeight}`)),
      tableRows: await cell.locator('tbody tr').count(),
    });
  }
  return out;
}

/**
 * A full-page screenshot; frames are painted separately, so the viewport is made as tall as
 * the page, once every sandboxed frame has been sized to its content by its height message.
 * Each frame is scrolled into view first, as a reader would: Chromium does not run the
 * rendering steps (so no ResizeObserver) of a cross-origin frame outside the viewport, and a
 * frame whose content reflowed after its first height message keeps that height until seen.
 */
async function shot(page: Page): Promise<Buffer> {
  const frames = page.locator('iframe.html-output, iframe.markdown-html');
  for (let i = 0; i < (await frames.count()); i++) {
    const el = (await frames.nth(i).elementHandle())!;
    const inner = await el.contentFrame();
    if (!inner) continue; // nbconvert's page has none
    await el.scrollIntoViewIfNeeded();
    const content = () => inner.evaluate(() => Math.ceil(document.documentElement.getBoundingClientRect().height));
    await expect.poll(async () => (await el.evaluate((e) => e.clientHeight)) === (await content())).toBe(true);
  }
  const height = await page.evaluate(() => document.documentElement.scrollHeight);
  await page.setViewportSize({ width: WIDTH, height: Math.min(height, 8000) });
  return page.screenshot();
}

let dir: string;
let viewer: Served;
let browser: Browser;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'millrace-viewer-fidelity-'));
  await mkdir(join(dir, 'store', 'reference'), { recursive: true });
  for (const name of NOTEBOOKS) await writeFile(join(dir, 'store', 'reference', name), JSON.stringify(REFERENCE_NOTEBOOKS[name]));
  await promisify(execFile)(venvPython(), ['-m', 'nbconvert', '--to', 'html', '--output-dir', join(dir, 'nbconvert'), ...NOTEBOOKS.map((n) => join(dir, 'store', 'reference', n))]);
  viewer = await serve({ ...process.env, MILLRACE_HOME: join(dir, 'home') }, ['--store', join(dir, 'store')]);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
});

afterAll(async () => {
  await browser?.close();
  await viewer?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('millrace serve against nbconvert, in Chromium at the same width', () => {
  it.each(NOTEBOOKS)('%s: same cells, sources, output text, images and table rows, apart from the known differences', async (name) => {
    const mine = await browser.newPage({ viewport: { width: WIDTH, height: 900 }, extraHTTPHeaders: { Authorization: `token ${viewer.token}` } });
    await mine.goto(`${viewer.url}view/reference/${name}`);
    await mine.evaluate(() => document.fonts.ready);
    const exported = await browser.newContext({ viewport: { width: WIDTH, height: 900 } });
    // nbconvert's page asks a CDN for require.js and MathJax: the test runs offline.
    await exported.route(/^https?:/, (route) => route.abort());
    const other = await exported.newPage();
    await other.goto(`file://${join(dir, 'nbconvert', name.replace(/\.ipynb$/, '.html'))}`);

    const a = await ours(mine);
    const b = await theirs(other);
    expect(a.length).toBe(b.length);
    for (let i = 0; i < a.length; i++) {
      const key = `${name}#${i}`;
      expect(a[i]!.source, key).toBe(b[i]!.source);
      expect(a[i]!.images, key).toEqual(b[i]!.images);
      expect(a[i]!.tableRows, key).toBe(b[i]!.tableRows);
      if (KNOWN[key]) expect(a[i]!.text, `${key} is listed as different: ${KNOWN[key]}`).not.toBe(b[i]!.text);
      else expect(a[i]!.text, key).toBe(b[i]!.text);
    }

    // Side by side: millrace on the left, nbconvert on the right.
    const left = await shot(mine);
    const right = await shot(other);
    const board = await browser.newPage({ viewport: { width: 2 * WIDTH + 24, height: 900 } });
    await board.setContent(
      '<body style="margin:0;display:flex;gap:24px;align-items:flex-start;background:#888">' +
        `<img src="data:image/png;base64,${left.toString('base64')}"><img src="data:image/png;base64,${right.toString('base64')}"></body>`,
    );
    const png = await board.screenshot({ fullPage: true });
    const out = join(packageRoot(), 'test', 'e2e', 'artifacts', 'fidelity');
    await mkdir(out, { recursive: true });
    await writeFile(join(out, name.replace(/\.ipynb$/, '.png')), png);
    if (process.env['MILLRACE_UPDATE_DOCS'] === '1') {
      await mkdir(join(packageRoot(), 'docs', 'fidelity'), { recursive: true });
      await writeFile(join(packageRoot(), 'docs', 'fidelity', name.replace(/\.ipynb$/, '.png')), png);
    }
    await Promise.all([mine.close(), exported.close(), board.close()]);
  });
});
