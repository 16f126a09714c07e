/**
 * `millrace serve`: a read-only HTTP server over the store. Routes:
 *   GET /runs[?page=N&notebook=&status=&schedule=&since=&until=]
 *                               runs, newest first, 100 a page, filtered
 *   GET /runs/<run id>          the run's output notebook, rendered
 *   GET /tree/<folder>/[?page=N] the store's folders, one level, 200 entries a page
 *   GET /compare/<run>[?with=<run>] two runs of a notebook, cell by cell
 *   GET /view/<path>.ipynb      any notebook in the store, rendered
 *   GET /raw/<path>             an object's bytes, as a download
 *   GET /export/<path>.ipynb    a notebook's page as one standalone HTML file, as a download
 *   GET /api/contents/<path>    the Jupyter contents API (GET only)
 *   GET /static/katex/...       KaTeX's style sheet and fonts, for pages with math
 * Every other method is refused with 405: there is no write or delete endpoint. URL paths
 * are read raw (never normalised, which would resolve `..`) and checked segment by segment
 * (store-path.ts). Pages load nothing but themselves and KaTeX's CSS and fonts: no scripts,
 * inline styles, data: images.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import { joinLocation, ObjectNotFoundError, store } from '../record/store/index.js';
import { NotebookError, type Notebook } from '../notebook/nbformat.js';
import { readRecord } from '../record/run-record.js';
import { TokenAuth } from './auth.js';
import { FRAME_SCRIPT_HASH, PAGE_SCRIPT_HASH } from './frame-size.js';
import { ContentsError, getModel, type GetOptions } from './contents.js';
import { escapeHtml, hrefFor, html } from './html.js';
import { page } from './page.js';
import { NOTEBOOK_PAGE_LIMIT, renderNotebookPage, renderTooLargePage } from './render-notebook.js';
import { renderComparePage } from './render-compare.js';
import { renderRunsPage, type RunFilters } from './render-runs.js';
import { renderTreePage } from './render-tree.js';
import { matchesQuery, parseDateBound, RunIndex, runNotebook, type RunQuery } from './runs.js';
import { katexCssInline, staticFile } from './static.js';
import { parseStorePath, PathRefused, readableLocation } from './store-path.js';

export interface ViewerOptions {
  storeRoot: string;
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** null turns authentication off (`--no-auth`). */
  token: string | null;
  pageSize?: number;
  /** Where unexpected errors are reported (one line each, never a URL's query). */
  log?: (line: string) => void;
}

export interface Viewer {
  /** http://host:port/ (without the token). */
  url: string;
  port: number;
  close(): Promise<void>;
}

// 'self' styles and fonts are KaTeX's, from /static/katex/ (static.ts); the two scripts, by
// hash, are the frame-sizing page and frame scripts (frame-size.ts; srcdoc frames inherit
// this policy, so the frame's script must be allowed here too).
const HTML_CSP =
  `default-src 'none'; script-src ${PAGE_SCRIPT_HASH} ${FRAME_SCRIPT_HASH}; style-src 'self' 'unsafe-inline'; font-src 'self'; img-src data:; ` +
  "frame-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";
const API_CSP = "default-src 'none'; frame-ancestors 'none'; sandbox";
const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);
const AUTH_MESSAGES = {
  missing: 'a token is required',
  expired: 'the session has expired: open the link with the token again',
  wrong: 'invalid token or session (sessions end after 12 hours and when the server restarts)',
} as const;

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function send(res: ServerResponse, status: number, type: string, body: string | Buffer, headers: Record<string, string> = {}): void {
  res.writeHead(status, {
    'Content-Type': type,
    'Content-Length': String(Buffer.byteLength(body)),
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
    'Cache-Control': 'no-store',
    ...headers,
  });
  res.end(body);
}

function sendJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  send(res, status, 'application/json; charset=utf-8', JSON.stringify(value), { 'Content-Security-Policy': API_CSP, ...headers });
}

function sendHtml(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  send(res, status, 'text/html; charset=utf-8', body, { 'Content-Security-Policy': HTML_CSP, ...headers });
}

function errorPage(status: number, message: string): string {
  return page(`${status} · millrace`, html`<nav><a href="/runs">runs</a></nav><h1>${status}</h1><p>${message}</p>`);
}

function loginPage(status: number, message: string): string {
  const form = `<form method="get" action=""><label>token <input name="token" type="password" autocomplete="off" size="50"></label> <button type="submit">open</button></form>`;
  return page('log in · millrace', `<h1>millrace viewer</h1><p>${escapeHtml(message)}</p>${form}<p class="muted">The token was printed by <code>millrace serve</code> when it started (or is MILLRACE_SERVE_TOKEN).</p>`).replace(
    '<title>',
    `<title>${status} `,
  );
}

/**
 * The path part of a redirect to this server. Browsers read `//host/x` and `/\host/x` as
 * another host (and drop tabs and newlines first), and a request may name an absolute URL
 * (`GET http://host/x`): the path always starts with exactly one slash, whatever slashes,
 * backslashes, spaces or control characters led it.
 */
export function sameOriginPath(rawPath: string): string {
  // eslint-disable-next-line no-control-regex
  return `/${rawPath.replace(/^[\s/\\\x00-\x1f]+/, '')}`;
}

const resumedAsSchema = z.array(z.looseObject({ run_id: z.string() }));

/**
 * The runs that resumed this one, from `resumed-as.json` in its folder (activities/resume.ts).
 * A file that cannot be read or parsed only loses these links; the page still renders.
 */
async function resumedAsOf(folder: string, objects: Array<{ location: string }>): Promise<string[]> {
  if (!objects.some((o) => o.location.endsWith('/resumed-as.json'))) return [];
  try {
    const parsed = resumedAsSchema.safeParse(JSON.parse((await store.read(joinLocation(folder, 'resumed-as.json'))).toString('utf8')));
    return parsed.success ? parsed.data.map((l) => l.run_id) : [];
  } catch {
    return [];
  }
}

/** `?page=N`, from 1. */
function pageNumber(query: URLSearchParams): number {
  const pageArg = query.get('page') ?? '1';
  if (!/^[1-9]\d{0,8}$/.test(pageArg)) throw new HttpError(400, 'page must be a whole number from 1');
  return Number(pageArg);
}

/** Entries on one page of a folder's listing (/tree/). */
const TREE_PAGE_SIZE = 200;

function contentsOptions(query: URLSearchParams): GetOptions {
  const typeArg = query.get('type');
  const type = typeArg === null ? undefined : typeArg === 'directory' || typeArg === 'notebook' ? typeArg : 'file';
  const format = query.get('format');
  if (format !== null && format !== 'text' && format !== 'base64') throw new HttpError(400, `Format ${JSON.stringify(format)} is invalid`);
  const content = query.get('content') ?? '1';
  if (content !== '0' && content !== '1') throw new HttpError(400, `Content ${JSON.stringify(content)} is invalid`);
  const hash = query.get('hash') ?? '0';
  if (hash !== '0' && hash !== '1') throw new HttpError(400, `Hash argument ${JSON.stringify(hash)} is invalid. It must be '0' or '1'.`);
  return { ...(type ? { type } : {}), ...(format ? { format } : {}), content: content === '1', hash: hash === '1' };
}

export async function startViewer(options: ViewerOptions): Promise<Viewer> {
  const root = options.storeRoot.replace(/\/+$/, '');
  const auth = options.token === null ? null : new TokenAuth(options.token);
  const index = new RunIndex(root);
  const pageSize = options.pageSize ?? 100;
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const loopback = LOOPBACK_HOSTS.has(options.host);

  async function contents(res: ServerResponse, rest: string, query: URLSearchParams): Promise<void> {
    const segments = parseStorePath(rest);
    // jupyter_server routes `<file>/checkpoints` to its checkpoints handler: none here.
    if (segments.length > 1 && segments[segments.length - 1] === 'checkpoints') {
      const parent = await readableLocation(root, segments.slice(0, -1));
      if (await store.stat(parent)) return sendJson(res, 200, []);
    }
    const path = segments.join('/');
    const model = await getModel(path, await readableLocation(root, segments), contentsOptions(query));
    // HEAD gets GET's headers, Content-Length included; Node sends no body for HEAD.
    const headers = { 'Last-Modified': new Date(model.last_modified).toUTCString() };
    if ('serialized' in model) send(res, 200, 'application/json; charset=utf-8', model.serialized, { 'Content-Security-Policy': API_CSP, ...headers });
    else sendJson(res, 200, model, headers);
  }

  async function runsPage(res: ServerResponse, query: URLSearchParams): Promise<void> {
    const n = pageNumber(query);
    const filters: RunFilters = {};
    const q: RunQuery = {};
    for (const key of ['notebook', 'status', 'schedule'] as const) {
      const v = query.get(key)?.trim();
      if (v) filters[key] = q[key] = v;
    }
    for (const key of ['since', 'until'] as const) {
      const v = query.get(key)?.trim();
      if (!v) continue;
      const t = parseDateBound(v);
      if (t === undefined) throw new HttpError(400, `${key} must be a date (2024-05-01) or an ISO 8601 time (2024-05-01T06:00:00Z)`);
      filters[key] = v;
      q[key] = t;
    }
    await readableLocation(root, ['runs']); // refuses a `runs` that is a link
    const all = await index.list();
    let total = all.length;
    let shown;
    if (Object.keys(q).length === 0) {
      shown = await index.summarize(all.slice((n - 1) * pageSize, n * pageSize));
    } else {
      // Status, schedule and notebook are in the records: every run is summarised (the
      // summaries of finished runs are cached), then filtered.
      const matching = (await index.summarize(all)).filter((r) => matchesQuery(r, q));
      total = matching.length;
      shown = matching.slice((n - 1) * pageSize, n * pageSize);
    }
    const pages = Math.max(1, Math.ceil(total / pageSize));
    if (n > pages) throw new HttpError(404, `there are ${pages} pages of runs`);
    sendHtml(res, 200, renderRunsPage(shown, { page: n, pageSize, total, filters }));
  }

  /** `exported`: the page as a standalone HTML download (/export/), KaTeX's CSS inlined. */
  async function notebookPage(
    res: ServerResponse,
    segments: string[],
    extra: { siblings?: Array<{ name: string; href: string }>; resumedAs?: string[]; exported?: boolean; compareHref?: string } = {},
  ): Promise<void> {
    const path = segments.join('/');
    if (!path.endsWith('.ipynb')) throw new HttpError(404, 'only notebooks are rendered; use /raw/ for other files');
    const location = await readableLocation(root, segments);
    const links = { contentsHref: hrefFor('/api/contents/', path), rawHref: hrefFor('/raw/', path), exportHref: hrefFor('/export/', path) };
    const size = (await store.stat(location))?.size ?? 0;
    if (size > NOTEBOOK_PAGE_LIMIT) return sendHtml(res, 200, renderTooLargePage(path, size, links.rawHref, links.contentsHref));
    let nb;
    try {
      // A live run's record is the notebook plus its journal; any other notebook is itself.
      nb = (await readRecord(location, { name: path })).notebook;
    } catch (err) {
      if (err instanceof NotebookError) throw new HttpError(400, err.message);
      throw err;
    }
    const { siblings = [], resumedAs = [], exported = false, compareHref } = extra;
    const rendered = await renderNotebookPage(nb, { path, ...links, siblings, resumedAs, ...(compareHref ? { compareHref } : {}), ...(exported ? { standalone: { katexCss: await katexCssInline() } } : {}) });
    if (!exported) return sendHtml(res, 200, rendered);
    const name = `${segments[segments.length - 1]!.replace(/\.ipynb$/, '').replace(/[^\w.-]+/g, '_')}.html`;
    sendHtml(res, 200, rendered, { 'Content-Disposition': `attachment; filename="${name}"` });
  }

  async function runPage(res: ServerResponse, rest: string): Promise<void> {
    const segments = parseStorePath(rest);
    if (segments.length !== 1) throw new HttpError(404, 'no such run');
    const folder = await readableLocation(root, ['runs', segments[0]!]);
    const notebook = await runNotebook(folder);
    if (!notebook) throw new HttpError(404, `no run ${segments[0]} in this store`);
    const { objects } = await store.listFolder(folder);
    const siblings = objects
      .map((o) => o.location.split('/').pop()!)
      .filter((name) => name !== notebook.name && !name.startsWith('.'))
      .map((name) => ({ name, href: hrefFor('/raw/', `runs/${segments[0]}/${name}`) }));
    await notebookPage(res, ['runs', segments[0]!, notebook.name], { siblings, resumedAs: await resumedAsOf(folder, objects), compareHref: hrefFor('/compare/', segments[0]!) });
  }

  /** A run's output notebook, read as a record, or a 404 naming the run. */
  async function runRecordOf(runId: string): Promise<{ name: string; notebook: Notebook }> {
    const folder = await readableLocation(root, ['runs', runId]);
    const object = await runNotebook(folder);
    if (!object) throw new HttpError(404, `no run ${runId} in this store`);
    if (object.size > NOTEBOOK_PAGE_LIMIT) throw new HttpError(413, `the record of ${runId} is too large to compare here`);
    const location = await readableLocation(root, ['runs', runId, object.name]);
    try {
      return { name: object.name, notebook: (await readRecord(location, { name: `runs/${runId}/${object.name}` })).notebook };
    } catch (err) {
      if (err instanceof NotebookError) throw new HttpError(400, err.message);
      throw err;
    }
  }

  /** `/compare/<run>[?with=<run>]`: by default, with the newest earlier run of the same notebook. */
  async function comparePage(res: ServerResponse, rest: string, query: URLSearchParams): Promise<void> {
    const segments = parseStorePath(rest);
    if (segments.length !== 1) throw new HttpError(404, 'no such run');
    const later = await runRecordOf(segments[0]!);
    let otherId = query.get('with');
    if (otherId !== null) {
      // The query value is already decoded: encoded once more, it gets the path checks.
      const named = parseStorePath(encodeURIComponent(otherId));
      if (named.length !== 1) throw new HttpError(400, 'with= must name one run');
      otherId = named[0]!;
    } else {
      const all = await index.list();
      const at = all.findIndex((e) => e.runId === segments[0]);
      for (const entry of all.slice(at + 1)) {
        if ((await runNotebook(entry.folder))?.name === later.name) {
          otherId = entry.runId;
          break;
        }
      }
      if (otherId === null) throw new HttpError(404, `no earlier run of ${later.name} in this store to compare with`);
    }
    const earlier = await runRecordOf(otherId);
    sendHtml(res, 200, renderComparePage({ runId: otherId, notebook: earlier.notebook }, { runId: segments[0]!, notebook: later.notebook }));
  }

  async function treePage(res: ServerResponse, rest: string, query: URLSearchParams): Promise<void> {
    const segments = parseStorePath(rest);
    const n = pageNumber(query);
    const listing = await store.listFolder(await readableLocation(root, segments));
    const nameOf = (loc: string) => loc.replace(/\/+$/, '').split('/').pop() ?? '';
    const folders = listing.folders.map(nameOf).filter((name) => !name.startsWith('.')).sort();
    const objects = listing.objects
      .map((o) => ({ ...o, name: nameOf(o.location) }))
      .filter((o) => !o.name.startsWith('.'))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    if (segments.length > 0 && folders.length === 0 && objects.length === 0) throw new HttpError(404, `no folder ${segments.join('/')} in this store`);
    const pages = Math.max(1, Math.ceil((folders.length + objects.length) / TREE_PAGE_SIZE));
    if (n > pages) throw new HttpError(404, `there are ${pages} pages in this folder`);
    sendHtml(res, 200, renderTreePage({ path: segments.join('/'), folders, objects, page: n, pageSize: TREE_PAGE_SIZE }));
  }

  async function raw(res: ServerResponse, rest: string, head: boolean): Promise<void> {
    const segments = parseStorePath(rest);
    if (segments.length === 0) throw new HttpError(404, 'no such object');
    const location = await readableLocation(root, segments);
    const info = await store.stat(location);
    if (!info) throw new HttpError(404, 'no such object');
    const name = segments[segments.length - 1]!.replace(/[^\w.-]+/g, '_');
    res.writeHead(200, {
      'Content-Type': 'application/octet-stream',
      'Content-Length': String(info.size),
      'Content-Disposition': `attachment; filename="${name}"`,
      'Content-Security-Policy': API_CSP,
      'X-Content-Type-Options': 'nosniff',
      'Cache-Control': 'no-store',
    });
    if (head) return void res.end();
    const stream = await store.readStream(location);
    stream.on('error', () => res.destroy());
    stream.pipe(res);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const rawPath = q < 0 ? url : url.slice(0, q);
    const query = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
    const isApi = rawPath === '/api' || rawPath.startsWith('/api/');
    const fail = (status: number, message: string) =>
      isApi ? sendJson(res, status, { message, reason: null }) : sendHtml(res, status, errorPage(status, message));

    // A page on a loopback address is only for this machine: refuse other Host names, which
    // is what a DNS-rebinding page would send.
    if (loopback) {
      const hostname = (req.headers.host ?? '').replace(/:\d+$/, '').toLowerCase();
      if (!LOOPBACK_HOSTS.has(hostname)) return fail(403, 'Host header is not a loopback name');
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      // The reply goes out before any body is read: the connection then closes, so a
      // client cannot reuse a socket with an unread body on it.
      req.resume();
      const headers = { Allow: 'GET, HEAD', Connection: 'close' };
      return isApi
        ? sendJson(res, 405, { message: `${req.method} is not allowed: this server is read-only`, reason: null }, headers)
        : sendHtml(res, 405, errorPage(405, 'this server is read-only'), headers);
    }
    const head = req.method === 'HEAD';

    const extraHeaders: Record<string, string> = {};
    if (auth) {
      const token = query.get('token');
      const verdict = auth.check(req, token);
      if (verdict !== 'ok') {
        const status = verdict === 'wrong' ? 403 : 401;
        const message = AUTH_MESSAGES[verdict];
        return isApi ? sendJson(res, status, { message, reason: null }) : sendHtml(res, status, loginPage(status, message));
      }
      if (token !== null) {
        extraHeaders['Set-Cookie'] = auth.setCookieHeader();
        if (!isApi) {
          // Drop the token from the address bar (and from history) once the cookie is set.
          query.delete('token');
          const rest = query.toString();
          res.writeHead(302, { Location: `${sameOriginPath(rawPath)}${rest ? `?${rest}` : ''}`, ...extraHeaders, 'Cache-Control': 'no-store', 'Referrer-Policy': 'no-referrer' });
          return void res.end();
        }
        res.setHeader('Set-Cookie', extraHeaders['Set-Cookie']);
      }
    }

    try {
      if (rawPath === '/') {
        res.writeHead(302, { Location: '/runs' });
        return void res.end();
      }
      if (rawPath === '/api/contents' || rawPath.startsWith('/api/contents/')) return await contents(res, rawPath.slice('/api/contents'.length), query);
      if (rawPath === '/runs' || rawPath === '/runs/') return await runsPage(res, query);
      if (rawPath.startsWith('/runs/')) return await runPage(res, rawPath.slice('/runs/'.length));
      if (rawPath.startsWith('/view/')) return await notebookPage(res, parseStorePath(rawPath.slice('/view/'.length)));
      if (rawPath.startsWith('/raw/')) return await raw(res, rawPath.slice('/raw/'.length), head);
      if (rawPath.startsWith('/compare/')) return await comparePage(res, rawPath.slice('/compare/'.length), query);
      if (rawPath === '/tree' || rawPath.startsWith('/tree/')) return await treePage(res, rawPath.slice('/tree'.length), query);
      if (rawPath.startsWith('/export/')) return await notebookPage(res, parseStorePath(rawPath.slice('/export/'.length)), { exported: true });
      if (rawPath.startsWith('/static/')) {
        const file = await staticFile(rawPath.slice('/static/'.length));
        if (file) return send(res, 200, file.type, file.body, { 'Content-Security-Policy': API_CSP });
      }
      return fail(404, 'not found');
    } catch (err) {
      if (err instanceof PathRefused || err instanceof ContentsError || err instanceof HttpError) return fail(err.status, err.message);
      if (err instanceof ObjectNotFoundError) return fail(404, 'not found');
      log(`millrace serve: ${req.method} ${rawPath}: ${(err as Error).message.split('\n')[0]}`);
      if (!res.headersSent) fail(500, 'internal error (see the server log)');
      else res.destroy();
    }
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err) => {
      log(`millrace serve: ${(err as Error).message}`);
      res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const hostInUrl = options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    url: `http://${hostInUrl}:${port}/`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
