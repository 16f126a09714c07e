/**
 * The store's contract and its errors, shared by the backends (kept apart from index.ts,
 * which imports the backends, so that no backend imports its own dispatcher).
 */
// The module, not the package's index, which loads all of @temporalio/common (about 0.05 s of
// CPU in every command that touches the store); the same class either way.
import { ApplicationFailure } from '@temporalio/common/lib/failure.js';
import type { Readable } from 'node:stream';

export interface WriteOptions {
  /** Refuse to replace an existing object: the immutability guard for records. */
  ifAbsent?: boolean;
}

export interface ObjectInfo {
  location: string;
  size: number;
  modified: Date;
}

/** One level of a folder: what a file browser (or the Jupyter contents API) shows. */
export interface FolderListing {
  /** Locations of sub-folders, without a trailing slash. */
  folders: string[];
  objects: ObjectInfo[];
}

export interface StoreBackend {
  read(location: string): Promise<Buffer>;
  /** Streams a large object instead of holding it in memory. */
  readStream(location: string): Promise<Readable>;
  /** Atomic: a reader sees the old object or the new one, never half of one. */
  write(location: string, data: Buffer | string, options?: WriteOptions): Promise<void>;
  exists(location: string): Promise<boolean>;
  /** undefined when there is no such object. */
  stat(location: string): Promise<ObjectInfo | undefined>;
  /** Every object under prefix, recursively, sorted; however many there are. */
  list(prefix: string): Promise<string[]>;
  /** One level under folder, sorted; however many there are (S3 pages past 1,000 keys). */
  listFolder(folder: string): Promise<FolderListing>;
  /**
   * Deletes everything under folder. Only for a run's own working state (its record
   * journal once the whole record is written): records and snapshots are never deleted.
   */
  removeFolder(folder: string): Promise<void>;
}

export class ObjectExistsError extends Error {
  constructor(readonly location: string) {
    super(`${location} already exists and records are never overwritten`);
    this.name = 'ObjectExistsError';
  }
}

export class ObjectNotFoundError extends Error {
  constructor(readonly location: string) {
    super(`${location} does not exist`);
    this.name = 'ObjectNotFoundError';
  }
}

/**
 * - `unreachable`: the server did not answer (retrying may help: a flapping store);
 * - `denied`: the credentials lack permission, or were refused;
 * - `no-bucket`: the bucket does not exist;
 * - `read-only`: a location that can only be read (http/https) was written;
 * - `bad-location`: not a location this backend understands;
 * - `no-space`: the disk (or the user's quota) is full: retrying fills it again.
 */
export type StoreErrorKind = 'unreachable' | 'denied' | 'no-bucket' | 'read-only' | 'bad-location' | 'no-space';

/**
 * A store failure with a message fit for one line on a terminal. It is a Temporal
 * ApplicationFailure so that an activity meeting one fails at once when retrying cannot
 * help (everything but `unreachable`), instead of retrying into the same wall.
 */
export class StoreError extends ApplicationFailure {
  constructor(
    message: string,
    readonly kind: StoreErrorKind,
    readonly location: string,
  ) {
    super(message, `Store${kind.replace(/(^|-)(\w)/g, (_, _d, c: string) => c.toUpperCase())}`, kind !== 'unreachable');
    // ApplicationFailure's name is a read-only property of its prototype.
    Object.defineProperty(this, 'name', { value: 'StoreError' });
  }
}

/**
 * A URL fit for logs, history and notebooks: no user name or password, no query string
 * or fragment (a presigned URL's signature lives there).
 */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    u.search = '';
    u.hash = '';
    // "http://host:9000", not "http://host:9000/": an endpoint reads better without.
    return u.pathname === '/' && u.origin !== 'null' ? u.origin : u.toString();
  } catch {
    return url.replace(/\/\/[^/@]*@/, '//').replace(/[?#].*$/, '');
  }
}
