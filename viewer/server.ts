/**
 * `millrace serve`: a read-only HTTP server over the store. Routes:
 *   GET /runs[?page=N]          runs, newest first, 100 a page
 *   GET /runs/<run id>          the run's output notebook, rendered
 *   GET /view/<path>.ipynb      any notebook in the store, rendered
 *   GET /raw/<path>             an object's bytes, as a download
 *   GET /api/contents/<path>    the Jupyter contents API (GET only)
 * Every other method is refused with 405: there is no write or delete endpoint. URL paths
 * are read raw (never normalised, which would resolve `..`) and checked segment by segment
 * (store-path.ts). Pages load nothing but themselves: no scripts, inline styles, data: images.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ObjectNotFoundError, store } from '../record/store/index.js';
import { NotebookError } from '../notebook/nbformat.js';
import { readRecord } from '../record/run-record.js';
import { TokenAuth } from './auth.js';
import { ContentsError, getModel, type GetOptions } from './contents.js';
import { escapeHtml, hrefFor, html } from './html.js';
import { page } from './page.js';
import { NOTEBOOK_PAGE_LIMIT, renderNotebookPage, renderTooLargePage } from './render-notebook.js';
import { renderRunsPage } from './render-runs.js';
import { RunIndex, runNotebook } from './runs.js';
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

const HTML_CSP =
  "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";
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
    sendJson(res, 200, model, { 'Last-Modified': new Date(model.last_modified).toUTCString() });
  }

  async function runsPage(res: ServerResponse, query: URLSearchParams): Promise<void> {
    const pageArg = query.get('page') ?? '1';
    const n = /^[1-9]\d{0,8}$/.test(pageArg) ? Number(pageArg) : NaN;
    if (!Number.isInteger(n)) throw new HttpError(400, 'page must be a whole number from 1');
    await readableLocation(root, ['runs']); // refuses a `runs` that is a link
    const all = await index.list();
    const pages = Math.max(1, Math.ceil(all.length / pageSize));
    if (n > pages) throw new HttpError(404, `there are ${pages} pages of runs`);
    const shown = await index.summarize(all.slice((n - 1) * pageSize, n * pageSize));
    sendHtml(res, 200, renderRunsPage(shown, { page: n, pageSize, total: all.length }));
  }

  async function notebookPage(res: ServerResponse, segments: string[], siblings: Array<{ name: string; href: string }> = []): Promise<void> {
    const path = segments.join('/');
    if (!path.endsWith('.ipynb')) throw new HttpError(404, 'only notebooks are rendered; use /raw/ for other files');
    const location = await readableLocation(root, segments);
    const links = { contentsHref: hrefFor('/api/contents/', path), rawHref: hrefFor('/raw/', path) };
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
    sendHtml(res, 200, await renderNotebookPage(nb, { path, ...links, siblings }));
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
    await notebookPage(res, ['runs', segments[0]!, notebook.name], siblings);
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
