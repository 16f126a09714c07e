/**
 * `millrace serve` over a store filled by real runs: the Jupyter contents API compared
 * with jupyter_server's own FileContentsManager, token auth, no write methods, paths that
 * try to leave the store (also through symbolic links a notebook planted), Markdown built
 * to stall the server, paging past 1,000 runs, @jupyterlab/services as a client, and
 * the HTML pages in headless Chromium (Debian's chromium driven by playwright-core), with
 * a screenshot of a rendered output notebook saved to test/e2e/artifacts/viewer.png (and to
 * docs/viewer.png with MILLRACE_UPDATE_DOCS=1, so a test run leaves the checkout clean).
 */
import { ContentsManager } from '@jupyterlab/services';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, utimes, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serverSettings } from '../../activities/jupyter.js';
import { packageRoot } from '../../worker/paths.js';
import { codeCell, markdownCell, notebook, python, startHarness, type Harness, type RunOutcomeForTest } from './harness.js';
import { get, serve, type Served } from './viewer-client.js';

const CHROMIUM = '/usr/bin/chromium';

// A 40x20 red PNG, made by the kernel without any plotting library.
const PNG_CELL = `import struct, zlib
from IPython.display import Image, display
def png(w, h, rgb):
    raw = b''.join(b'\\x00' + bytes(rgb) * w for _ in range(h))
    def chunk(t, d):
        return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d) & 0xffffffff)
    return b'\\x89PNG\\r\\n\\x1a\\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 2, 0, 0, 0)) + chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b'')
display(Image(data=png(40, 20, (200, 30, 30))))`;

// Script in every place a notebook could smuggle it: none of it may run in the viewer.
const HOSTILE_HTML = `from IPython.display import HTML, display
display(HTML('<b id="evil">bold from html</b><script>top.document.title = "pwned"; alert(1)</script><img src="x" onerror="top.document.body.dataset.pwned = 1">'))`;

let h: Harness;
let viewer: Served;
let report: RunOutcomeForTest;
let simple: RunOutcomeForTest;
let heavy: RunOutcomeForTest;
let plant: RunOutcomeForTest;
let browser: Browser | undefined;
const auth = () => ({ Authorization: `token ${viewer.token}` });
const relPath = (location: string) => location.slice(h.config.storeRoot.length + 1);

beforeAll(async () => {
  h = await startHarness();
  const reportNb = await h.writeNotebook(
    'report.ipynb',
    notebook([
      markdownCell('# Daily report\n\nRegion **summary** with `code` and <script>alert("md")</script> [a link](https://example.org/x).'),
      codeCell('region = "us"\nlimit = 2', ['parameters']),
      codeCell('print(f"hello viewer from {region}")\nimport sys\nprint("\\x1b[31mred warning\\x1b[0m", file=sys.stderr)'),
      codeCell('import pandas as pd\npd.DataFrame({"city": ["Paris", "Lyon", "Nice"], "visits": [10, 20, limit]})'),
      codeCell(PNG_CELL),
      codeCell(HOSTILE_HTML),
      codeCell('def check(v):\n    raise ValueError(f"bad value {v}")\ncheck(42)'),
      codeCell('print("never runs")'),
    ]),
  );
  report = await h.runNotebook(reportNb, { parameters: [['region', 'eu']] });
  simple = await h.runNotebook(await h.writeNotebook('simple.ipynb', notebook([codeCell('1 + 1')])));
  // Something outside the store that a path escaping it would reach.
  await writeFile(join(h.dir, 'secret.txt'), 'TOPSECRET-outside-the-store\n');
  // Markdown that took the old regexes 18 s (150 kB) and 75 s (300 kB), and the worst
  // input we found for markdown-it just under the cell limit.
  heavy = await h.runNotebook(
    await h.writeNotebook(
      'heavy.ipynb',
      notebook([markdownCell(`${'['.repeat(150_000)}a](`), markdownCell(`${'['.repeat(300_000)}a](`), markdownCell('!['.repeat(49_000)), markdownCell('**still rendered**'), codeCell('1')]),
    ),
  );
  // Symbolic links planted by a notebook, as a hostile one would: to /, to a file outside
  // the store, and into the store (a folder and a notebook), each in a real folder runs/zz.
  plant = await h.runNotebook(
    await h.writeNotebook(
      'plant.ipynb',
      notebook([
        codeCell('store = ""\noutside = ""\ninside = ""', ['parameters']),
        codeCell(
          'import os\n' +
            'zz = os.path.join(store, "runs", "zz")\n' +
            'os.makedirs(zz, exist_ok=True)\n' +
            'open(os.path.join(zz, "real.txt"), "w").write("a real file")\n' +
            'os.symlink("/", os.path.join(zz, "hostroot"))\n' +
            'os.symlink(outside, os.path.join(zz, "secret.txt"))\n' +
            'os.symlink(inside, os.path.join(zz, "inside"))\n' +
            'os.symlink(os.path.join(inside, os.listdir(inside)[0]), os.path.join(zz, "copy.ipynb"))\n' +
            'os.symlink("/", os.path.join(store, "runs", "hostrun"))\n' +
            'os.symlink("/", os.path.join(store, "hostroot"))\n' +
            'print("planted")',
        ),
      ]),
    ),
    {
      parameters: [
        ['store', h.config.storeRoot],
        ['outside', join(h.dir, 'secret.txt')],
        ['inside', dirname(simple.input.output)],
      ],
    },
  );
  viewer = await serve(h.cliEnv);
});

afterAll(async () => {
  await browser?.close();
  await viewer?.stop();
  await h?.close();
});

describe('millrace serve: HTTP', () => {
  it('the runs really happened: one failed with a traceback, the others completed', () => {
    expect(report.error).toBeDefined();
    expect(simple.result?.status).toBe('completed');
    expect(heavy.result?.status).toBe('completed');
    expect(plant.result?.status).toBe('completed');
    expect(JSON.stringify(plant.output.cells[2]!.outputs)).toContain('planted');
  });

  it('prints the URL with a random token once, and never logs it otherwise', () => {
    expect(viewer.token).toMatch(/^[0-9a-f]{48}$/);
    expect(viewer.stdout.split(viewer.token).length - 1).toBe(1);
    expect(viewer.stderr).not.toContain(viewer.token);
  });

  it('requires the token: 401 without, 403 with a wrong one, 200 with the header, query or cookie', async () => {
    expect((await get(viewer.url, '/api/contents/')).status).toBe(401);
    expect((await get(viewer.url, '/runs')).status).toBe(401);
    expect((await get(viewer.url, '/api/contents/', { headers: { Authorization: 'token wrong' } })).status).toBe(403);
    expect((await get(viewer.url, '/api/contents/?token=wrong')).status).toBe(403);
    expect((await get(viewer.url, '/api/contents/', { headers: { Cookie: 'millrace-viewer=forged' } })).status).toBe(403);
    expect((await get(viewer.url, '/api/contents/', { headers: auth() })).status).toBe(200);
    expect((await get(viewer.url, '/api/contents/', { headers: { Authorization: `Bearer ${viewer.token}` } })).status).toBe(200);

    const viaQuery = await get(viewer.url, `/runs?token=${viewer.token}`);
    expect(viaQuery.status).toBe(302);
    expect(viaQuery.headers['location']).toBe('/runs');
    const cookie = String(viaQuery.headers['set-cookie']);
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    expect(cookie).not.toContain(viewer.token);
    const withCookie = await get(viewer.url, '/runs', { headers: { Cookie: cookie.split(';')[0]! } });
    expect(withCookie.status).toBe(200);
    expect(withCookie.body).toContain(report.input.runId);
  });

  it('has no write or delete endpoint: PUT, POST, DELETE and PATCH are 405 and change nothing', async () => {
    const path = `/api/contents/${relPath(report.input.output)}`;
    const before = await readFile(report.input.output);
    for (const method of ['PUT', 'POST', 'DELETE', 'PATCH']) {
      const body = JSON.stringify({ type: 'file', format: 'text', content: 'overwritten' });
      for (const target of [path, '/api/contents/runs/new.ipynb', '/api/contents/', `${path}/checkpoints`, '/runs']) {
        const r = await get(viewer.url, target, { method, headers: { ...auth(), 'Content-Type': 'application/json' }, body });
        expect(r.status, `${method} ${target}`).toBe(405);
        expect(r.headers['allow']).toBe('GET, HEAD');
      }
    }
    expect(await readFile(report.input.output)).toEqual(before);
    expect(existsSync(join(h.config.storeRoot, 'runs', 'new.ipynb'))).toBe(false);
  });

  it('refuses every path that tries to leave the store', async () => {
    const attempts = [
      '/api/contents/..',
      '/api/contents/../secret.txt',
      '/api/contents/runs/../../secret.txt',
      '/api/contents/%2e%2e/secret.txt',
      '/api/contents/%2E%2E/secret.txt',
      '/api/contents/.%2e/secret.txt',
      '/api/contents/..%2fsecret.txt',
      '/api/contents/runs%2f..%2f..%2fsecret.txt',
      '/api/contents/%252e%252e/secret.txt',
      '/api/contents/%252e%252e%252fsecret.txt',
      '/api/contents/..%5csecret.txt',
      '/api/contents/..\\secret.txt',
      '/api/contents/%2fetc%2fpasswd',
      '/api/contents//etc/passwd',
      '/api/contents/%00',
      '/api/contents/%c0%ae%c0%ae/secret.txt',
      '/raw/../secret.txt',
      '/raw/%2e%2e/secret.txt',
      '/raw/%2e%2e%2fsecret.txt',
      '/view/..%2fsecret.txt',
      '/runs/..%2f..%2fsecret.txt',
      '/runs/%2e%2e',
    ];
    for (const path of attempts) {
      const r = await get(viewer.url, path, { headers: auth() });
      expect([400, 404], path).toContain(r.status);
      expect(r.body, path).not.toContain('TOPSECRET');
      expect(r.body, path).not.toContain('root:');
    }
  });

  it('never follows a symbolic link a notebook planted, on any route, and never lists one', async () => {
    const zz = 'runs/zz';
    const nbName = simple.input.output.split('/').pop()!;
    const refused = [
      `/raw/${zz}/hostroot/etc/passwd`,
      `/raw/${zz}/secret.txt`,
      `/raw/${zz}/hostroot${h.dir}/secret.txt`,
      `/raw/hostroot/etc/passwd`,
      `/api/contents/${zz}/hostroot`,
      `/api/contents/${zz}/hostroot/etc`,
      `/api/contents/${zz}/hostroot/etc/passwd`,
      `/api/contents/${zz}/hostroot/etc/passwd?type=file&format=text`,
      `/api/contents/${zz}/secret.txt`,
      `/api/contents/${zz}/secret.txt/checkpoints`,
      `/api/contents/hostroot/etc/passwd`,
      `/api/contents/runs/hostrun`,
      `/view/${zz}/hostroot${report.input.output}`,
      `/runs/hostrun`,
      // Links back into the store are refused the same way: the viewer shows what is really there.
      `/api/contents/${zz}/inside`,
      `/api/contents/${zz}/inside/${nbName}`,
      `/api/contents/${zz}/copy.ipynb`,
      `/raw/${zz}/copy.ipynb`,
      `/raw/${zz}/inside/${nbName}`,
      `/view/${zz}/copy.ipynb`,
    ];
    for (const path of refused) {
      for (const method of ['GET', 'HEAD']) {
        const r = await get(viewer.url, path, { method, headers: auth() });
        expect(r.status, `${method} ${path}`).toBe(404);
        expect(r.body, path).not.toMatch(/root:|TOPSECRET|nbformat/);
      }
    }
    // The same answer whether the target exists or not: the links tell nothing about the host.
    for (const path of [`${zz}/copy.ipynb`, `${zz}/hostroot/etc`, `${zz}/hostroot/no-such-dir-on-this-host`]) {
      expect(JSON.parse((await get(viewer.url, `/api/contents/${path}`, { headers: auth() })).body).message, path).toBe('symbolic links in the store are not followed');
    }
    // Listings show the real file only; the links are not there.
    const names = async (path: string) => JSON.parse((await get(viewer.url, `/api/contents/${path}`, { headers: auth() })).body).content.map((e: { name: string }) => e.name);
    expect(await names(zz)).toEqual(['real.txt']);
    expect(await names('')).not.toContain('hostroot');
    expect(await names('runs')).not.toContain('hostrun');
    expect((await get(viewer.url, '/runs', { headers: auth() })).body).not.toContain('hostrun');
    const real = await get(viewer.url, `/raw/${zz}/real.txt`, { headers: auth() });
    expect([real.status, real.body]).toEqual([200, 'a real file']);
  });

  it('answers at once while a page of Markdown built to stall it is rendered or refused (issue 14: under 1 s)', async () => {
    // The issue asks for under 1 s; the bound here is generous for two busy cores, and the
    // old regexes took 18 s and 75 s on the first two cells.
    const BOUND_MS = 5_000;
    const started = performance.now();
    const timed = (path: string) => get(viewer.url, path, { headers: auth(), timeoutMs: BOUND_MS }).then((r) => ({ ...r, ms: performance.now() - started }));
    const [page, other, view] = await Promise.all([timed(`/runs/${heavy.input.runId}`), timed('/api/contents/runs'), timed(`/view/${relPath(heavy.input.output)}`)]);
    for (const r of [page, other, view]) {
      expect(r.status).toBe(200);
      expect(r.ms).toBeLessThan(BOUND_MS);
    }
    const download = `<a href="/raw/${relPath(heavy.input.output)}">download the notebook</a>`;
    expect(page.body).toContain(`<p class="too-large">Too large to render here (151 kB of Markdown; the limit is 100 kB a cell) — ${download}.</p>`);
    expect(page.body).toContain(`<p class="too-large">Too large to render here (301 kB of Markdown; the limit is 100 kB a cell) — ${download}.</p>`);
    expect(page.body).toContain(`<p>${'!['.repeat(49_000)}</p>`);
    expect(page.body).toContain('<strong>still rendered</strong>');
    expect(view.body.match(/class="too-large"/g)).toHaveLength(2);
    expect(view.body).toContain('<strong>still rendered</strong>');
  });

  it('does not render a notebook over 16 MB: it offers the download instead', async () => {
    const huge = notebook([codeCell('print("x" * 17_000_000)')]);
    huge.cells[0]!.outputs = [{ output_type: 'stream', name: 'stdout', text: `${'x'.repeat(17_000_000)}\n` }];
    await mkdir(join(h.config.storeRoot, 'big'), { recursive: true });
    await writeFile(join(h.config.storeRoot, 'big', 'huge.ipynb'), JSON.stringify(huge));
    const r = await get(viewer.url, '/view/big/huge.ipynb', { headers: auth() });
    expect(r.status).toBe(200);
    expect(r.body).toContain('<p class="too-large">This notebook is 16.2 MB: too large to render here (the limit is 16.0 MB) — <a href="/raw/big/huge.ipynb">download the notebook</a>.</p>');
    expect(r.body).not.toContain('xxxxxxxxxx');
    expect((await get(viewer.url, '/raw/big/huge.ipynb', { method: 'HEAD', headers: auth() })).status).toBe(200);
  });

  it('redirects after ?token= only to a path on this server', async () => {
    for (const [path, location] of [
      ['//evil.example/x', '/evil.example/x'],
      ['/\\evil.example/x', '/evil.example/x'],
      ['///evil.example', '/evil.example'],
      ['/runs', '/runs'],
    ]) {
      const r = await get(viewer.url, `${path}?token=${viewer.token}&page=2`);
      expect(r.status, path).toBe(302);
      expect(r.headers['location'], path).toBe(`${location}?page=2`);
    }
  });

  it('answers HEAD on the contents API with the headers of GET, Content-Length included, and no body', async () => {
    for (const path of [relPath(report.input.output), `${relPath(report.input.output)}?content=0`, 'runs', '', 'runs/zz/real.txt']) {
      const got = await get(viewer.url, `/api/contents/${path}`, { headers: auth() });
      const head = await get(viewer.url, `/api/contents/${path}`, { method: 'HEAD', headers: auth() });
      expect(head.status, path).toBe(200);
      expect(head.body, path).toBe('');
      expect(head.headers['content-length'], path).toBe(String(Buffer.byteLength(got.body)));
      expect(head.headers['content-type'], path).toBe(got.headers['content-type']);
    }
  });

  it('gives the session cookie a 12-hour Max-Age, and a restarted server refuses an old cookie', async () => {
    const token = randomBytes(20).toString('hex');
    const login = async (s: Served) => String((await get(s.url, `/runs?token=${token}`)).headers['set-cookie']);
    const first = await serve({ ...h.cliEnv, MILLRACE_SERVE_TOKEN: token });
    let cookie: string;
    try {
      const header = await login(first);
      expect(header).toMatch(/; Max-Age=43200(;|$)/);
      cookie = header.split(';')[0]!;
      expect((await get(first.url, '/runs', { headers: { Cookie: cookie } })).status).toBe(200);
    } finally {
      await first.stop();
    }
    const second = await serve({ ...h.cliEnv, MILLRACE_SERVE_TOKEN: token });
    try {
      const stale = await get(second.url, '/runs', { headers: { Cookie: cookie } });
      expect(stale.status).toBe(403);
      expect(stale.body).toContain('sessions end after 12 hours and when the server restarts');
      expect((await get(second.url, '/runs', { headers: { Cookie: (await login(second)).split(';')[0]! } })).status).toBe(200);
    } finally {
      await second.stop();
    }
  });

  it('serves the same contents models as jupyter_server, read-only', async () => {
    const path = relPath(report.input.output);
    const runDir = path.split('/').slice(0, -1).join('/');
    const ours = await Promise.all(
      [path, `${path}?content=0`, runDir, 'runs', `${runDir}/resumed-as.json`].map(async (p) => {
        const r = await get(viewer.url, `/api/contents/${p}`, { headers: auth() });
        return r.status === 200 ? JSON.parse(r.body) : { status: r.status };
      }),
    );
    // jupyter_server's FileContentsManager over the same directory, serialised by its handler's rules.
    const theirs = JSON.parse(
      await python(
        'import json, sys\n' +
          'from jupyter_client.jsonutil import json_default\n' +
          'from jupyter_server.services.contents.filemanager import FileContentsManager\n' +
          'cm = FileContentsManager(root_dir=sys.argv[1])\n' +
          'p, d = sys.argv[2], sys.argv[3]\n' +
          'out = [cm.get(p), cm.get(p, content=False), cm.get(d), cm.get("runs")]\n' +
          'print(json.dumps(out, default=json_default))\n',
        [h.config.storeRoot, path, runDir],
      ),
    );
    const [nb, nbNoContent, dir, runs, missing] = ours;
    const [jnb, jnbNoContent, jdir, jruns] = theirs;
    for (const [a, b] of [
      [nb, jnb],
      [nbNoContent, jnbNoContent],
      [dir, jdir],
      [runs, jruns],
    ]) {
      expect(Object.keys(a).sort()).toEqual(Object.keys(b).sort());
      for (const key of ['name', 'path', 'type', 'format', 'mimetype', 'size']) expect(a[key], key).toEqual(b[key]);
      expect(a.writable).toBe(false);
    }
    // The notebook itself, as nbformat reads it (lines joined, code cells marked untrusted).
    expect(nb.content).toEqual(jnb.content);
    expect(nb.content.cells.filter((c: any) => c.cell_type === 'code').every((c: any) => c.metadata.trusted === false)).toBe(true);
    expect(Date.parse(nb.last_modified)).toBe(Math.floor(Date.parse(jnb.last_modified)));
    expect(nbNoContent.content).toBeNull();
    // Listings: the same entries, each a model without content.
    const entries = (m: any) => m.content.map((e: any) => [e.name, e.type, e.size, e.mimetype, e.content]).sort();
    expect(entries(dir)).toEqual(entries(jdir));
    // jupyter_server lists symbolic links; the viewer does not (runs/hostrun, planted above).
    expect(entries(runs)).toEqual(entries(jruns).filter((e: unknown[]) => e[0] !== 'hostrun'));
    expect(missing).toEqual({ status: 404 });

    // Query arguments as jupyter_server checks them.
    expect((await get(viewer.url, `/api/contents/${path}?content=2`, { headers: auth() })).status).toBe(400);
    expect((await get(viewer.url, `/api/contents/${path}?format=xml`, { headers: auth() })).status).toBe(400);
    expect((await get(viewer.url, `/api/contents/${path}?type=directory`, { headers: auth() })).status).toBe(400);
    expect((await get(viewer.url, `/api/contents/${runDir}?type=notebook`, { headers: auth() })).status).toBe(400);
    const asFile = JSON.parse((await get(viewer.url, `/api/contents/${path}?type=file&format=text&hash=1`, { headers: auth() })).body);
    expect(asFile).toMatchObject({ type: 'file', format: 'text', mimetype: 'text/plain', hash_algorithm: 'sha256' });
    expect(asFile.content).toBe(await readFile(report.input.output, 'utf8'));
    const b64 = JSON.parse((await get(viewer.url, `/api/contents/${path}?type=file&format=base64`, { headers: auth() })).body);
    expect(Buffer.from(b64.content, 'base64')).toEqual(await readFile(report.input.output));
    expect(JSON.parse((await get(viewer.url, `/api/contents/${path}/checkpoints`, { headers: auth() })).body)).toEqual([]);
  });

  it('works as a contents server for @jupyterlab/services, and refuses its writes', async () => {
    const contents = new ContentsManager({ serverSettings: serverSettings({ url: viewer.url, token: viewer.token }) });
    const model = await contents.get(relPath(simple.input.output));
    expect(model.type).toBe('notebook');
    expect(model.writable).toBe(false);
    expect(model.content.cells[0].outputs[0].data['text/plain']).toBe('2');
    const listing = await contents.get('runs', { content: true });
    // Not `hostrun`, the planted link to /.
    expect(listing.content.map((e: { name: string }) => e.name).sort()).toEqual([report.input.runId, simple.input.runId, heavy.input.runId, plant.input.runId, 'zz'].sort());
    await expect(contents.save(relPath(simple.input.output), { type: 'file', format: 'text', content: 'x' })).rejects.toThrow(/405|read-only/);
    await expect(contents.delete(relPath(simple.input.output))).rejects.toThrow(/405|read-only/);
    expect(existsSync(simple.input.output)).toBe(true);
  });

  it('lists and pages more than 1,000 runs, newest first', async () => {
    const root = join(h.dir, 'big-store');
    const count = 1_050;
    const small = JSON.stringify(notebook([codeCell('1')]));
    const base = Date.parse('2024-03-01T00:00:00Z') / 1000;
    for (let i = 1; i <= count; i++) {
      const dir = join(root, 'runs', `r-${String(i).padStart(4, '0')}`);
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, 'nb.ipynb'), small);
      // Ids without a time: the viewer orders these by their record's modification time.
      await utimes(join(dir, 'nb.ipynb'), base + i * 60, base + i * 60);
    }
    const big = await serve(h.cliEnv, ['--store', root]);
    try {
      const headers = { Authorization: `token ${big.token}` };
      const listing = JSON.parse((await get(big.url, '/api/contents/runs', { headers })).body);
      expect(listing.content).toHaveLength(count);
      const rows = (body: string) => [...body.matchAll(/class="run-link" href="\/runs\/([^"]+)"/g)].map((m) => m[1]);
      const first = await get(big.url, '/runs', { headers });
      expect(rows(first.body)).toEqual(Array.from({ length: 100 }, (_, k) => `r-${String(count - k).padStart(4, '0')}`));
      expect(first.body).toContain('runs 1–100 of 1050');
      expect(first.body).toContain('href="/runs?page=2"');
      const eleventh = await get(big.url, '/runs?page=11', { headers });
      expect(rows(eleventh.body)).toEqual(Array.from({ length: 50 }, (_, k) => `r-${String(50 - k).padStart(4, '0')}`));
      expect(eleventh.body).toContain('href="/runs?page=10"');
      expect(eleventh.body).not.toContain('href="/runs?page=12"');
      expect((await get(big.url, '/runs?page=12', { headers })).status).toBe(404);
      expect((await get(big.url, '/runs?page=0', { headers })).status).toBe(400);
      // Every run appears on exactly one page.
      const seen = new Set<string>();
      for (let p = 1; p <= 11; p++) for (const id of rows((await get(big.url, `/runs?page=${p}`, { headers })).body)) seen.add(id!);
      expect(seen.size).toBe(count);
    } finally {
      await big.stop();
    }
  });

  it('takes MILLRACE_SERVE_TOKEN without printing it', async () => {
    const token = randomBytes(20).toString('hex');
    const s = await serve({ ...h.cliEnv, MILLRACE_SERVE_TOKEN: token });
    try {
      expect(s.stdout + s.stderr).not.toContain(token);
      expect(s.stdout).toContain('?token=<MILLRACE_SERVE_TOKEN>');
      expect((await get(s.url, '/api/contents/', { headers: { Authorization: `token ${token}` } })).status).toBe(200);
      expect((await get(s.url, '/api/contents/')).status).toBe(401);
    } finally {
      await s.stop();
    }
  });
});

describe('millrace serve: the HTML pages in Chromium', () => {
  it('lists the runs and renders an output notebook: code, streams, table, image, traceback, status; no notebook script runs', async () => {
    expect(existsSync(CHROMIUM), 'Debian chromium (scripts/setup.sh installs it)').toBe(true);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    let dialogs = 0;
    page.on('dialog', (d) => {
      dialogs++;
      void d.dismiss();
    });
    await page.goto(`${viewer.url}runs?token=${viewer.token}`);
    expect(new URL(page.url()).search).toBe(''); // the token left the address bar
    await expect.poll(() => page.locator('a.run-link').allTextContents()).toEqual(expect.arrayContaining([report.input.runId, simple.input.runId]));
    const reportRow = page.locator('tr', { has: page.locator(`a.run-link:text-is("${report.input.runId}")`) });
    expect(await reportRow.locator('.badge').textContent()).toBe('failed');

    await page.locator(`a.run-link:text-is("${report.input.runId}")`).click();
    await page.waitForURL(/\/runs\/report-/);
    const body = page.locator('body');
    // Run metadata: status, parameters.
    expect(await page.locator('h1 .badge').textContent()).toBe('failed');
    expect(await page.locator('table.params').innerText()).toContain('region');
    expect(await page.locator('table.params').innerText()).toContain('eu');
    // Markdown rendered; the cell has raw HTML (a <script>), so it is in a sandboxed frame,
    // where that script does not run (no dialog below).
    const markdownFrame = page.frameLocator('.cell.markdown iframe.markdown-html').first();
    expect(await markdownFrame.locator('h1').textContent()).toBe('Daily report');
    expect(await markdownFrame.locator('strong').textContent()).toBe('summary');
    expect(await page.locator('.cell.markdown iframe.markdown-html').getAttribute('sandbox')).toBe('allow-scripts');
    expect(await page.locator('main script').count()).toBe(0);
    // Code with execution counts, stdout, stderr with its colour converted.
    expect(await body.innerText()).toContain('print(f"hello viewer from {region}")');
    expect(await page.locator('pre.stream.stdout').first().textContent()).toBe('hello viewer from eu\n');
    expect(await page.locator('pre.stderr .ansi-red-fg').textContent()).toBe('red warning');
    expect(await page.locator('.prompt.in').allTextContents()).toContain('In [3]:');
    // The DataFrame's HTML table, inside a sandboxed frame.
    const frame = page.frameLocator('iframe.html-output').first();
    expect(await frame.locator('table').innerText()).toContain('Paris');
    expect(await frame.locator('tbody tr').count()).toBe(3);
    // Sandboxed: only the viewer's frame-sizing script may run in it (by the CSP's hash).
    expect(await page.locator('iframe.html-output').first().getAttribute('sandbox')).toBe('allow-scripts');
    // The PNG, decoded by the browser.
    const img = page.locator('img.image-output');
    expect(await img.evaluate((el: HTMLImageElement) => el.complete && el.naturalWidth)).toBe(40);
    // The hostile HTML rendered inert: no script ran, in the page or the frame.
    expect(await page.frameLocator('iframe.html-output').nth(1).locator('#evil').textContent()).toBe('bold from html');
    expect(await page.title()).not.toContain('pwned');
    expect(await body.getAttribute('data-pwned')).toBeNull();
    expect(dialogs).toBe(0);
    // The failure: banner, the cell's status, the traceback with ANSI colours converted.
    expect(await page.locator('.error-banner').innerText()).toMatch(/An Exception was encountered at In \[7\]/);
    const failed = page.locator('.cell.code.status-failed');
    expect(await failed.count()).toBe(1);
    expect(await failed.locator('.badge').textContent()).toMatch(/^failed \d+\.\d\d s$/);
    const traceback = await failed.locator('pre.traceback').innerText();
    expect(traceback).toContain('ValueError: bad value 42');
    expect(traceback).toContain('check(42)');
    expect(traceback).not.toContain('\x1b');
    expect(await failed.locator('pre.traceback span[class*="ansi-"]').count()).toBeGreaterThan(0);
    expect(await page.locator('.cell.code.status-pending').count()).toBe(1);
    // parameters, injected-parameters, print, DataFrame, image, HTML.
    expect(await page.locator('.cell.code.status-completed').count()).toBe(6);

    // Sandboxed frames are painted in their own process, which full-page screenshots miss:
    // make the viewport as tall as the page instead.
    const height = await page.evaluate(() => document.documentElement.scrollHeight);
    await page.setViewportSize({ width: 1100, height });
    expect(await frame.locator('table').isVisible()).toBe(true);
    const shot = await page.screenshot({ path: join(packageRoot(), 'test', 'e2e', 'artifacts', 'viewer.png') });
    expect(shot.byteLength).toBeGreaterThan(10_000);
    if (process.env['MILLRACE_UPDATE_DOCS'] === '1') await writeFile(join(packageRoot(), 'docs', 'viewer.png'), shot);
  });
});
