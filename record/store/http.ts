/**
 * https:// (and http://) URLs as read-only inputs: `millrace run https://host/nb.ipynb`.
 * The run executes a snapshot copied into the writable store, so nothing reads the URL
 * again. A user name and password in the URL become a Basic Authorization header (fetch
 * refuses them in URLs); every message names the URL without them or its query string.
 */
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { ObjectNotFoundError, StoreError, redactUrl, type StoreBackend } from './errors.js';

const TIMEOUT_MS = 30_000;

export function isHttpLocation(location: string): boolean {
  return /^https?:\/\//i.test(location);
}

function request(location: string): { url: string; headers: Record<string, string> } {
  const url = new URL(location);
  const headers: Record<string, string> = {};
  if (url.username || url.password) {
    const user = decodeURIComponent(url.username);
    const password = decodeURIComponent(url.password);
    headers['authorization'] = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
    url.username = '';
    url.password = '';
  }
  return { url: url.toString(), headers };
}

async function get(location: string, method: 'GET' | 'HEAD'): Promise<Response | undefined> {
  const { url, headers } = request(location);
  let response: Response;
  try {
    response = await fetch(url, { method, headers, redirect: 'follow', signal: AbortSignal.timeout(TIMEOUT_MS) });
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name;
    throw new StoreError(`cannot reach ${redactUrl(location)} (${cause})`, 'unreachable', redactUrl(location));
  }
  if (response.status === 404 || response.status === 410) {
    await response.body?.cancel();
    return undefined;
  }
  if (response.status === 401 || response.status === 403) {
    await response.body?.cancel();
    throw new StoreError(`access denied reading ${redactUrl(location)} (HTTP ${response.status})`, 'denied', redactUrl(location));
  }
  if (!response.ok) {
    await response.body?.cancel();
    throw new StoreError(`${redactUrl(location)} answered HTTP ${response.status} ${response.statusText}`, 'unreachable', redactUrl(location));
  }
  return response;
}

function readOnly(location: string, what: string): never {
  throw new StoreError(
    `${redactUrl(location)}: an http(s) URL can be read, not ${what}; write outputs and the store to a local path or s3://bucket/key`,
    'read-only',
    redactUrl(location),
  );
}

export const httpBackend: StoreBackend = {
  async read(location) {
    const response = await get(location, 'GET');
    if (!response) throw new ObjectNotFoundError(redactUrl(location));
    return Buffer.from(await response.arrayBuffer());
  },

  async readStream(location) {
    const response = await get(location, 'GET');
    if (!response) throw new ObjectNotFoundError(redactUrl(location));
    if (!response.body) return Readable.from([]);
    return Readable.fromWeb(response.body as unknown as WebReadableStream<Uint8Array>);
  },

  async write(location) {
    readOnly(location, 'written');
  },

  async exists(location) {
    return (await this.stat(location)) !== undefined;
  },

  async stat(location) {
    const response = await get(location, 'HEAD');
    if (!response) return undefined;
    const size = Number(response.headers.get('content-length') ?? 0);
    const modified = new Date(response.headers.get('last-modified') ?? 0);
    return { location: redactUrl(location), size: Number.isFinite(size) ? size : 0, modified };
  },

  async removeFolder(folder) {
    readOnly(folder, 'written');
  },

  async list(prefix) {
    readOnly(prefix, 'listed');
  },

  async listFolder(folder) {
    readOnly(folder, 'listed');
  },
};
