/**
 * Turning a URL path into a path inside the store, refusing anything that could step out
 * of it. Each segment is percent-decoded exactly once; `.`/`..`, empty segments,
 * backslashes, encoded slashes, NUL and control characters, and anything still
 * percent-encoded after that one decoding (double encoding) are refused with 400, hidden
 * names (leading `.`) with 404. The result is a list of plain names, joined onto the store
 * root by the store's own `joinLocation`, so it cannot name anything outside the root.
 */
import { realpath } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { isUrlLocation, joinLocation } from '../record/store/index.js';

export class PathRefused extends Error {
  constructor(
    readonly status: 400 | 404,
    message: string,
  ) {
    super(message);
    this.name = 'PathRefused';
  }
}

/** `raw` is the percent-encoded URL path after a route prefix (`/api/contents`, `/runs/`...). */
export function parseStorePath(raw: string): string[] {
  if (/\\|%5c/i.test(raw)) throw new PathRefused(400, 'backslashes are not allowed in paths');
  const trimmed = raw.replace(/^\/+/, '').replace(/\/+$/, '');
  if (trimmed === '') return [];
  const segments: string[] = [];
  for (const encoded of trimmed.split('/')) {
    if (encoded === '') throw new PathRefused(400, 'empty path segment');
    let name: string;
    try {
      name = decodeURIComponent(encoded);
    } catch {
      throw new PathRefused(400, 'malformed percent-encoding in path');
    }
    if (name === '.' || name === '..') throw new PathRefused(400, 'relative path segments are not allowed');
    if (/[/\\]/.test(name)) throw new PathRefused(400, 'encoded slashes are not allowed in paths');
    // eslint-disable-next-line no-control-regex
    if (/[\x00-\x1f\x7f]/.test(name)) throw new PathRefused(400, 'control characters are not allowed in paths');
    if (/%[0-9a-f]{2}/i.test(name)) throw new PathRefused(400, 'double-encoded paths are not allowed');
    if (name.startsWith('.')) throw new PathRefused(404, 'hidden files are not served');
    segments.push(name);
  }
  return segments;
}

/** The store location of a parsed path, checked once more against the root for local stores. */
export function locationOf(storeRoot: string, segments: string[]): string {
  const location = segments.length ? joinLocation(storeRoot, ...segments) : storeRoot.replace(/\/+$/, '');
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(storeRoot)) {
    const rel = relative(resolve(storeRoot), resolve(location));
    if (rel.startsWith('..') || isAbsolute(rel)) throw new PathRefused(400, 'path outside the store');
  }
  return location;
}

/**
 * The location of a parsed path, to read. A local store follows symbolic links, and a
 * notebook can plant them (`runs/x/hostroot -> /`), so a check on the path's text is not
 * enough: the real path must be exactly the path asked for under the root's real path.
 * A link anywhere below the root, pointing out of the store or back into it, is therefore
 * refused with 404, the same as the listings, which show only real files and directories
 * (the local store's listFolder skips links); the store never writes links itself. For a
 * path that does not exist, its longest existing prefix is checked the same way, so
 * `hostroot/<anything>` cannot tell which host paths exist. Callers read the returned
 * real path, so a link swapped in afterwards is only followed within the instant between
 * this check and the read. S3 keys are not links, and no `..` reaches an S3 key:
 * parseStorePath refuses such segments and joinLocation joins without resolving anything.
 */
export async function readableLocation(storeRoot: string, segments: string[]): Promise<string> {
  const location = locationOf(storeRoot, segments);
  if (isUrlLocation(storeRoot)) return location;
  const refused = () => new PathRefused(404, 'symbolic links in the store are not followed');
  let rootReal: string | undefined;
  for (let n = segments.length; n >= 0; n--) {
    let real: string;
    try {
      real = await realpath(locationOf(storeRoot, segments.slice(0, n)));
      rootReal ??= await realpath(storeRoot);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') continue;
      if (code === 'ELOOP') throw refused();
      throw err;
    }
    if (real !== join(rootReal, ...segments.slice(0, n))) throw refused();
    return n === segments.length ? real : location;
  }
  return location; // not even the store root exists
}
