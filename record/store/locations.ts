/**
 * What a location string is, without loading any backend (nor the Temporal failure types
 * store errors are): `millrace params` of a local notebook needs no more than this.
 */

/** A URL-like location (scheme://...) rather than a local path. */
export function isUrlLocation(location: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(location);
}

/** The last segment of a location: a file name (for an s3:// or https:// location too). */
export function locationBasename(location: string): string {
  if (!isUrlLocation(location)) return location.replace(/[\\/]+$/, '').split(/[\\/]/).pop() ?? '';
  const last = location.replace(/[?#].*$/, '').replace(/\/+$/, '').split('/').pop() ?? '';
  try {
    return decodeURIComponent(last);
  } catch {
    return last;
  }
}

