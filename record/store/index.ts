/**
 * Where run records and source snapshots live. Everything is addressed by a location
 * string: an absolute local path, `s3://bucket/key`, or (read-only, for inputs) an
 * `https://` or `http://` URL. One small interface so the workflow never cares which
 * backend is behind a location.
 */
import { httpBackend, isHttpLocation } from './http.js';
import { localBackend } from './local.js';
import { StoreError, type StoreBackend } from './errors.js';
import { isUrlLocation } from './locations.js';
import { parseS3Location } from './s3-location.js';

export { isUrlLocation, locationBasename } from './locations.js';
export { parseS3Location, type S3Location } from './s3-location.js';
export {
  ObjectExistsError,
  ObjectNotFoundError,
  StoreError,
  redactUrl,
  type FolderListing,
  type ObjectInfo,
  type StoreBackend,
  type StoreErrorKind,
  type WriteOptions,
} from './errors.js';

export function isS3Location(location: string): boolean {
  return /^s3:\/\//i.test(location);
}

// The AWS SDK takes a good part of a second to load: only commands that touch S3 pay it.
let s3Module: Promise<typeof import('./s3.js')> | undefined;
const s3 = () => (s3Module ??= import('./s3.js'));

const s3Backend: StoreBackend = {
  read: async (location) => (await s3()).s3Backend.read(location),
  readStream: async (location) => (await s3()).s3Backend.readStream(location),
  write: async (location, data, options) => (await s3()).s3Backend.write(location, data, options),
  exists: async (location) => (await s3()).s3Backend.exists(location),
  stat: async (location) => (await s3()).s3Backend.stat(location),
  list: async (prefix) => (await s3()).s3Backend.list(prefix),
  listFolder: async (folder) => (await s3()).s3Backend.listFolder(folder),
  removeFolder: async (folder) => (await s3()).s3Backend.removeFolder(folder),
};

export function backendFor(location: string): StoreBackend {
  if (isS3Location(location)) {
    parseS3Location(location);
    return s3Backend;
  }
  if (isHttpLocation(location)) return httpBackend;
  if (isUrlLocation(location)) {
    throw new StoreError(`unsupported location ${location}: use a local path, s3://bucket/key, or (to read) an https:// URL`, 'bad-location', location);
  }
  return localBackend;
}

/** Whether runs can write there: local paths and S3, not http(s). */
export function isWritableLocation(location: string): boolean {
  return backendFor(location) !== httpBackend;
}

/**
 * Fails fast, naming the endpoint, when a remote store cannot be reached at all; a
 * no-op for local paths. Used before anything is started.
 */
export async function checkReachable(location: string): Promise<void> {
  if (isS3Location(location)) await (await s3()).checkS3Reachable(location);
}

/** Joins a store root and a relative key. */
export function joinLocation(root: string, ...keys: string[]): string {
  const trimmed = root.replace(/\/+$/, '');
  return [trimmed, ...keys.map((k) => k.replace(/^\/+|\/+$/g, ''))].join('/');
}

export const store: StoreBackend = {
  read: (location) => backendFor(location).read(location),
  write: (location, data, options) => backendFor(location).write(location, data, options),
  readStream: (location) => backendFor(location).readStream(location),
  exists: (location) => backendFor(location).exists(location),
  stat: (location) => backendFor(location).stat(location),
  list: (prefix) => backendFor(prefix).list(prefix),
  listFolder: (folder) => backendFor(folder).listFolder(folder),
  removeFolder: (folder) => backendFor(folder).removeFolder(folder),
};
