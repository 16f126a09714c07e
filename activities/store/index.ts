/**
 * Where run records and source snapshots live. Everything is addressed by a location
 * string: an absolute local path today, `s3://bucket/key` once the S3 backend lands.
 * One small interface so the workflow never cares which backend is behind a location.
 */
import type { Readable } from 'node:stream';
import { localBackend } from './local.js';

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

export function backendFor(location: string): StoreBackend {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(location)) {
    throw new Error(`unsupported store location ${location}: only local paths are supported in this version`);
  }
  return localBackend;
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
};
