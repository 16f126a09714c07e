/**
 * Browsing the store like commuter, in headless Chromium: the store's folders (runs,
 * sources, schedules) as a directory view over a local store and over S3 (a real
 * versitygw), paged past 1,000 keys; the run list filtered by notebook, status, schedule
 * and date, with parameters shown; and "compare with previous run" of one notebook.
 */
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startS3Server, type S3Server } from '../../worker/s3-server.js';
import { runRecord } from './viewer-reference.js';
import { get, serve, type Served } from './viewer-client.js';

const CHROMIUM = '/usr/bin/chromium';
const MANY = 1_050;

let dir: string;
let viewer: Served;
let browser: Browser;
let s3: S3Server | undefined;

type Record = ReturnType<typeof runRecord>;
const record = (id: string, opts: { notebook?: string; status?: string; schedule?: string; day: string; params: object; outputs: string[]; sources?: string[] }): [string, string, Record] => {
  const r = runRecord(id, { ...(opts.status ? { status: opts.status } : {}), ...(opts.schedule ? { schedule: opts.schedule } : {}) }, (opts.sources ?? ['x = 1', 'print(x)', 'y = 2']).map((source) => ({ status: 'completed', source })), {
    start_time: `${opts.day}T10:00:00.000000`,
    end_time: `${opts.day}T10:00:05.000000`,
    duration: 5,
    parameters: opts.params,
  });
  (r.cells as Array<{ id: string; outputs: unknown[] }>).forEach((c, i) => {
    c.id = `cell${i}`;
    if (opts.outputs[i] !== undefined) c.outputs = [{ output_type: 'stream', name: 'stdout', text: opts.outputs[i] }];
  });
  return [id, opts.notebook ?? 'report.ipynb', r];
};

const RUNS = [
  record('report-20261201T100000Z-0001', { status: 'completed', day: '2026-12-01', params: { region: 'eu' }, outputs: ['', 'rows: 10\ntotal: 100\n'] }),
  record('other-20261202T100000Z-0002', { notebook: 'other.ipynb', status: 'failed', day: '2026-12-02', params: { n: 3 }, outputs: [] }),
  record('daily-2026-12-03T00:00:00Z', { status: 'completed', schedule: 'daily', day: '2026-12-03', params: { region: 'us' }, outputs: ['', 'rows: 10\ntotal: 90\n'] }),
  record('report-20261204T100000Z-0004', { status: 'completed', day: '2026-12-04', params: { region: 'eu' }, outputs: ['', 'rows: 12\ntotal: 90\n'], sources: ['x = 1', 'print(x * 2)', 'y = 2', 'z = 3'] }),
];

async function fillStore(store: string): Promise<void> {
  for (const [id, name, r] of RUNS) {
    await mkdir(join(store, 'runs', id), { recursive: true });
    await writeFile(join(store, 'runs', id, name), JSON.stringify(r));
  }
  await mkdir(join(store, 'sources'), { recursive: true });
  await writeFile(join(store, 'sources', `${'a'.repeat(64)}.ipynb`), JSON.stringify(RUNS[0]![2]));
  await mkdir(join(store, 'schedules', 'daily'), { recursive: true });
  await writeFile(join(store, 'schedules', 'daily', 'schedule.json'), '{"name":"daily"}');
  await mkdir(join(store, 'many'), { recursive: true });
  for (let i = 0; i < MANY; i++) await writeFile(join(store, 'many', `f${String(i).padStart(4, '0')}.json`), '{}');
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'millrace-viewer-browse-'));
  await fillStore(join(dir, 'store'));
  viewer = await serve({ ...process.env, MILLRACE_HOME: join(dir, 'home') }, ['--store', join(dir, 'store')]);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
});

afterAll(async () => {
  await browser?.close();
  await viewer?.stop();
  await s3?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function open(served: Served, path: string): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 }, extraHTTPHeaders: { Authorization: `token ${served.token}` } });
  const page = await context.newPage();
  const response = await page.goto(`${served.url}${path}`);
  expect(response?.status()).toBe(200);
  return page;
}

const entries = (page: Page) => page.locator('a.entry').allTextContents();

/** The directory view of `served`: folders at the root, a notebook opened, 1,050 keys in pages. */
async function browseStore(served: Served): Promise<void> {
  const page = await open(served, 'runs');
  await page.locator('nav a', { hasText: 'store' }).click();
  expect(await entries(page)).toEqual(['many/', 'runs/', 'schedules/', 'sources/']);
  await page.locator('a.entry', { hasText: 'sources/' }).click();
  await page.locator('a.entry').first().click();
  await page.waitForURL(/\/view\/sources\/a{64}\.ipynb$/);
  expect(await page.locator('.cell.code').count()).toBe(3);
  await page.goto(`${served.url}tree/runs/`);
  expect(await entries(page)).toEqual(RUNS.map(([id]) => `${id}/`).sort());
  await page.goto(`${served.url}tree/schedules/daily/`);
  expect(await entries(page)).toEqual(['schedule.json']);
  expect(await page.locator('a.entry').getAttribute('href')).toBe('/raw/schedules/daily/schedule.json');
  // Past 1,000 keys: 200 a page, every key on exactly one page.
  await page.goto(`${served.url}tree/many/`);
  expect(await page.locator('.pager').first().innerText()).toContain(`entries 1–200 of ${MANY}`);
  const seen: string[] = [];
  for (let p = 1; ; p++) {
    seen.push(...(await entries(page)));
    const next = page.locator('.pager a[rel="next"]').first();
    if ((await next.count()) === 0) break;
    await next.click();
    await page.waitForURL(new RegExp(`page=${p + 1}$`));
  }
  expect(seen).toEqual(Array.from({ length: MANY }, (_, i) => `f${String(i).padStart(4, '0')}.json`));
  expect((await get(served.url, '/tree/many/?page=7', { headers: { Authorization: `token ${served.token}` } })).status).toBe(404);
  expect((await get(served.url, '/tree/nothing/', { headers: { Authorization: `token ${served.token}` } })).status).toBe(404);
  await page.context().close();
}

describe('millrace serve: browsing the store', () => {
  it('shows a local store as folders, paged past 1,000 keys', async () => {
    await browseStore(viewer);
  });

  it('shows an S3 store (versitygw) as folders, paged past 1,000 keys', async () => {
    s3 = await startS3Server({ stateDir: join(dir, 's3') });
    const client = new S3Client({ endpoint: s3.endpoint, forcePathStyle: true, region: 'us-east-1', credentials: { accessKeyId: s3.root.accessKey, secretAccessKey: s3.root.secretKey } });
    await client.send(new CreateBucketCommand({ Bucket: 'viewer' }));
    client.destroy();
    // versitygw serves files placed in its bucket directory as objects.
    await fillStore(join(s3.dataDir, 'viewer', 'store'));
    const onS3 = await serve({ ...process.env, ...s3.clientEnv(), MILLRACE_HOME: join(dir, 'home-s3') }, ['--store', 's3://viewer/store']);
    try {
      await browseStore(onS3);
    } finally {
      await onS3.stop();
    }
  });

  it('filters the run list by notebook, status, schedule and date, and shows parameters', async () => {
    const page = await open(viewer, 'runs');
    const ids = () => page.locator('a.run-link').allTextContents();
    expect(await ids()).toEqual(RUNS.map(([id]) => id).reverse());
    const row = page.locator('tr', { has: page.locator('a.run-link:text-is("other-20261202T100000Z-0002")') });
    expect(await row.locator('.params-cell').innerText()).toBe('n=3');
    await page.locator('input[name="notebook"]').fill('report');
    await page.locator('button[type="submit"]').click();
    await page.waitForURL(/notebook=report/);
    expect(await ids()).toEqual(['report-20261204T100000Z-0004', 'daily-2026-12-03T00:00:00Z', 'report-20261201T100000Z-0001']);
    expect(await page.locator('.pager').first().innerText()).toContain('runs 1–3 of 3 matching');
    await page.locator('input[name="schedule"]').fill('daily');
    await page.locator('button[type="submit"]').click();
    await page.waitForURL(/schedule=daily/);
    expect(await ids()).toEqual(['daily-2026-12-03T00:00:00Z']);
    await page.goto(`${viewer.url}runs?status=failed`);
    expect(await ids()).toEqual(['other-20261202T100000Z-0002']);
    expect(await page.locator('select[name="status"]').inputValue()).toBe('failed');
    await page.goto(`${viewer.url}runs?since=2026-12-02&until=2026-12-04`);
    expect(await ids()).toEqual(['daily-2026-12-03T00:00:00Z', 'other-20261202T100000Z-0002']);
    await page.goto(`${viewer.url}runs?status=paused`);
    expect(await page.locator('body').innerText()).toContain('no runs match these filters');
    const bad = await get(viewer.url, '/runs?since=yesterday', { headers: { Authorization: `token ${viewer.token}` } });
    expect(bad.status).toBe(400);
    expect(bad.body).toContain('since must be a date (2024-05-01) or an ISO 8601 time');
  });

  it('compares a run with the previous run of the same notebook, cell by cell', async () => {
    const page = await open(viewer, 'runs/report-20261204T100000Z-0004');
    await page.locator('a.compare-link').click();
    await page.waitForURL(/\/compare\/report-20261204T100000Z-0004$/);
    // The previous run of report.ipynb, not the other notebook's run in between.
    expect(await page.locator('dl.facts dd').first().innerText()).toContain('daily-2026-12-03T00:00:00Z');
    expect(await page.locator('.compare-summary').textContent()).toBe('2 of 4 cells differ; the others are the same.');
    const changed = page.locator('section.cell.compare.changed');
    expect(await changed.locator('.cell-head').innerText()).toContain('cell 1');
    expect(await changed.locator('.badge').textContent()).toBe('source and outputs changed');
    expect(await changed.locator('pre.diff .del').allTextContents()).toEqual(['- print(x)', '- rows: 10']);
    expect(await changed.locator('pre.diff .ins').allTextContents()).toEqual(['+ print(x * 2)', '+ rows: 12']);
    expect(await page.locator('section.cell.compare.added .cell-head').innerText()).toContain('cell 3');
    expect(await page.locator('dl.facts').innerText()).toContain('{"region":"us"} → {"region":"eu"}');
    // Any two runs, by name; a run with no earlier run of its notebook says so.
    await page.goto(`${viewer.url}compare/report-20261204T100000Z-0004?with=report-20261201T100000Z-0001`);
    expect(await page.locator('.compare-summary').textContent()).toBe('2 of 4 cells differ; the others are the same.');
    const first = await get(viewer.url, '/compare/report-20261201T100000Z-0001', { headers: { Authorization: `token ${viewer.token}` } });
    expect(first.status).toBe(404);
    expect(first.body).toContain('no earlier run of report.ipynb in this store to compare with');
    for (const other of ['..', '../../secret', '.hidden', '']) {
      const r = await get(viewer.url, `/compare/report-20261204T100000Z-0004?with=${encodeURIComponent(other)}`, { headers: { Authorization: `token ${viewer.token}` } });
      expect([400, 404], other).toContain(r.status);
    }
  });
});
