/**
 * The viewer's speed (SPEC §6 for `millrace serve`, issue 20), not a test: `npm run build &&
 * node dist/bench/viewer.js [--out bench/results]`.
 *
 * 1. Server-side rendering of a 100-cell page with images: 100 code cells, each with
 *    highlighted source, a stream with ANSI colours and a 20 kB PNG, plus 10 Markdown cells
 *    with a table and math. renderNotebookPage in-process (median and p95 of 30 after 5
 *    warm-ups), and the whole GET through `startViewer` (read, parse, render, send).
 * 2. A 200 MB notebook does not block other requests: while one client fetches the 200 MB
 *    notebook's page, its /raw download and its contents-API model, another asks for a small
 *    page every 20 ms; the slowest of those small answers, and the event loop's longest
 *    stall (the server runs in this process), are how long other requests were held.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Notebook } from '../notebook/nbformat.js';
import { renderNotebookPage } from '../viewer/render-notebook.js';
import { startViewer } from '../viewer/server.js';
import { describeMachine } from './machine.js';

const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;

function pngBase64(bytes: number): string {
  // Not a decodable image: the renderer treats it as opaque base64, as it does real PNGs.
  return Buffer.alloc(bytes, 7).toString('base64');
}

function hundredCells(): Notebook {
  const cells: unknown[] = [];
  for (let i = 0; i < 100; i++) {
    if (i % 10 === 0) cells.push({ cell_type: 'markdown', id: `m${i}`, metadata: {}, source: `## Section ${i}\n\n| a | b |\n|---|---|\n| 1 | $x^${i}$ |\n\nInline $\\alpha_${i} + \\beta$ and **bold**.` });
    cells.push({
      cell_type: 'code',
      id: `c${i}`,
      metadata: { papermill: { status: 'completed', duration: 0.1 } },
      execution_count: i + 1,
      source: `import numpy as np\ndef f${i}(x: int) -> str:\n    """doc"""\n    return f"{x}"  # comment\nplot(f${i}(${i}))`,
      outputs: [
        { output_type: 'stream', name: 'stdout', text: `step ${i}: \x1b[32mok\x1b[0m\n` },
        { output_type: 'display_data', metadata: {}, data: { 'image/png': pngBase64(20_000), 'text/plain': '<Figure>' } },
      ],
    });
  }
  // A valid nbformat 4.5 notebook by construction (the viewer's e2e tests read the same shapes).
  return { nbformat: 4, nbformat_minor: 5, metadata: { kernelspec: { name: 'python3', language: 'python', display_name: 'Python 3' }, language_info: { name: 'python' } }, cells } as unknown as Notebook;
}

function get(url: string, path: string, token: string): Promise<{ status: number; bytes: number; ms: number }> {
  const t = performance.now();
  return new Promise((resolve, reject) => {
    const req = request(new URL(path, url), { headers: { Authorization: `token ${token}` }, agent: false }, (res) => {
      let bytes = 0;
      res.on('data', (d: Buffer) => (bytes += d.length));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes, ms: performance.now() - t }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function main(): Promise<void> {
  const outArg = process.argv.indexOf('--out');
  const out = outArg > 0 ? process.argv[outArg + 1]! : join(process.cwd(), 'bench', 'results');
  const dir = await mkdtemp(join(tmpdir(), 'millrace-bench-viewer-'));
  const token = 'bench-token-0123456789abcdef';
  try {
    // 1. The 100-cell page.
    const nb = hundredCells();
    const options = { path: 'runs/r/bench.ipynb', contentsHref: '/c', rawHref: '/r', exportHref: '/e' };
    for (let i = 0; i < 5; i++) await renderNotebookPage(nb, options);
    const renders: number[] = [];
    let pageBytes = 0;
    for (let i = 0; i < 30; i++) {
      const t = performance.now();
      pageBytes = (await renderNotebookPage(nb, options)).length;
      renders.push(performance.now() - t);
    }
    const store = join(dir, 'store');
    await mkdir(join(store, 'runs', 'r'), { recursive: true });
    await writeFile(join(store, 'runs', 'r', 'bench.ipynb'), JSON.stringify(nb));
    // 2. A 200 MB notebook: 100 cells of 2 MB images.
    await mkdir(join(store, 'runs', 'big'), { recursive: true });
    const big = { ...JSON.parse(JSON.stringify(nb)) } as { cells: Array<{ outputs?: Array<{ data?: Record<string, string> }> }> };
    for (const c of big.cells) for (const o of c.outputs ?? []) if (o.data?.['image/png']) o.data['image/png'] = pngBase64(1_500_000);
    const bigText = JSON.stringify(big);
    await writeFile(join(store, 'runs', 'big', 'big.ipynb'), bigText);

    const viewer = await startViewer({ storeRoot: store, host: '127.0.0.1', port: 0, token, log: () => {} });
    const gets: number[] = [];
    for (let i = 0; i < 20; i++) gets.push((await get(viewer.url, '/runs/r', token)).ms);

    const held: Record<string, { ms: number; status: number; bytes: number; slowestOther: number; others: number; maxLoopDelayMs: number }> = {};
    for (const path of ['/runs/big', '/raw/runs/big/big.ipynb', '/api/contents/runs/big/big.ipynb', '/export/runs/big/big.ipynb']) {
      let done = false;
      const others: number[] = [];
      // The server runs in this process: the event loop's longest stall is how long every
      // other request was held.
      const delay = monitorEventLoopDelay({ resolution: 5 });
      delay.enable();
      const poll = (async () => {
        while (!done) {
          others.push((await get(viewer.url, '/runs/r', token)).ms);
          await new Promise((r) => setTimeout(r, 20));
        }
      })();
      const r = await get(viewer.url, path, token);
      done = true;
      await poll;
      delay.disable();
      held[path] = { ms: r.ms, status: r.status, bytes: r.bytes, slowestOther: Math.max(...others), others: others.length, maxLoopDelayMs: delay.max / 1e6 };
    }
    await viewer.close();

    const result = {
      machine: await describeMachine(),
      page100: { renderMedianMs: quantile(renders, 0.5), renderP95Ms: quantile(renders, 0.95), pageBytes, getMedianMs: quantile(gets, 0.5), getP95Ms: quantile(gets, 0.95) },
      notebook200MB: { bytes: Buffer.byteLength(bigText), requests: held },
    };
    await mkdir(out, { recursive: true });
    await writeFile(join(out, 'viewer.json'), `${JSON.stringify(result, null, 2)}\n`);
    const f = (n: number) => n.toFixed(1);
    const md = [
      '# Viewer speed',
      '',
      `100-cell page with images (${(pageBytes / 1e6).toFixed(1)} MB of HTML): render ${f(result.page100.renderMedianMs)} ms median, ${f(result.page100.renderP95Ms)} ms p95 (target ≤ 200 ms: ${result.page100.renderP95Ms <= 200 ? 'met' : 'missed'}); whole GET ${f(result.page100.getMedianMs)} ms median, ${f(result.page100.getP95Ms)} ms p95.`,
      '',
      `A ${(result.notebook200MB.bytes / 1e6).toFixed(0)} MB notebook, with a small page requested every 20 ms meanwhile:`,
      '',
      '| request | status | answer | time | small requests meanwhile | slowest small request | longest event-loop stall |',
      '|---|---|---|---|---|---|---|',
      ...Object.entries(held).map(([p, h]) => `| \`${p}\` | ${h.status} | ${(h.bytes / 1e6).toFixed(1)} MB | ${f(h.ms)} ms | ${h.others} | ${f(h.slowestOther)} ms | ${f(h.maxLoopDelayMs)} ms |`),
      '',
    ].join('\n');
    await writeFile(join(out, 'viewer.md'), md);
    process.stdout.write(md);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
