/**
 * The Jupyter contents API, read-only, over the store: the same models jupyter_server's
 * FileContentsManager returns (services/contents/filemanager.py `_base_model`,
 * `_dir_model`, `_notebook_model`, `_file_model`; handlers.py `ContentsHandler.get`), so
 * Jupyter clients can list runs and open output notebooks. Everything is `writable: false`.
 * Folders carry no times in object stores: their `created`/`last_modified` are the newest
 * object directly inside, else the Unix epoch (jupyter_server's own fallback).
 */
import { createHash } from 'node:crypto';
import { store, type ObjectInfo } from '../record/store/index.js';
import { parseNotebook } from '../notebook/nbformat.js';
import { notebookModelJsonInWorker } from './contents-offload.js';

export interface ContentsModel {
  name: string;
  path: string;
  type: 'directory' | 'notebook' | 'file';
  created: string;
  last_modified: string;
  content: unknown;
  format: 'json' | 'text' | 'base64' | null;
  mimetype: string | null;
  size: number | null;
  writable: false;
  /** Filled in with `?hash=1` (files and notebooks), else null, as jupyter_server does. */
  hash: string | null;
  hash_algorithm: string | null;
}

export class ContentsError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'ContentsError';
  }
}

export interface GetOptions {
  type?: 'directory' | 'notebook' | 'file';
  format?: 'text' | 'base64';
  content: boolean;
  hash: boolean;
}

const EPOCH = new Date(0);

// Python's mimetypes.guess_type for what a store holds; anything else falls back to
// text/plain or application/octet-stream by content, as jupyter_server does.
const MIME_BY_EXTENSION: Record<string, string> = {
  json: 'application/json',
  txt: 'text/plain',
  csv: 'text/csv',
  html: 'text/html',
  htm: 'text/html',
  md: 'text/markdown',
  py: 'text/x-python',
  sql: 'application/sql',
  yaml: 'application/yaml',
  yml: 'application/yaml',
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  svg: 'image/svg+xml',
  pdf: 'application/pdf',
  gz: 'application/gzip',
  zip: 'application/zip',
};

function guessMime(name: string): string | null {
  const ext = /\.([^.]+)$/.exec(name)?.[1]?.toLowerCase();
  return (ext && MIME_BY_EXTENSION[ext]) || null;
}

/** jupyter_client's json_default for datetimes: ISO 8601 in UTC with a Z. */
const isoZ = (d: Date) => d.toISOString();

function base(path: string, type: ContentsModel['type'], modified: Date, size: number | null): ContentsModel {
  return {
    name: path.split('/').pop() ?? '',
    path,
    type,
    created: isoZ(modified),
    last_modified: isoZ(modified),
    content: null,
    format: null,
    mimetype: null,
    size,
    writable: false,
    hash: null,
    hash_algorithm: null,
  };
}

function objectModel(path: string, info: ObjectInfo, type?: GetOptions['type']): ContentsModel {
  const isNotebook = type === 'notebook' || (type === undefined && path.endsWith('.ipynb'));
  const model = base(path, isNotebook ? 'notebook' : 'file', info.modified, info.size);
  if (!isNotebook) model.mimetype = guessMime(model.name);
  return model;
}

function hashOf(bytes: Buffer): { hash: string; hash_algorithm: string } {
  return { hash: createHash('sha256').update(bytes).digest('hex'), hash_algorithm: 'sha256' };
}

/** A notebook model's content from the notebook's bytes: pure, so it also runs in contents-worker.ts. */
export function notebookModelFromBytes(model: ContentsModel, bytes: Buffer, hash: boolean): ContentsModel {
  let nb;
  try {
    nb = parseNotebook(bytes.toString('utf8'), model.path);
  } catch (err) {
    throw new ContentsError(400, `Unreadable Notebook: ${model.path} ${(err as Error).message}`);
  }
  // nbformat's notary marks every code cell; nothing the viewer serves is trusted, so
  // Jupyter front ends will not run a notebook's JavaScript outputs.
  const cells = nb.cells.map((c) => (c.cell_type === 'code' ? { ...c, metadata: { ...c.metadata, trusted: false } } : c));
  return { ...model, content: { ...nb, cells }, format: 'json', ...(hash ? hashOf(bytes) : {}) };
}

/**
 * Notebooks larger than this have their model built in a worker thread (contents-worker.ts):
 * parsing and serialising a 200 MB notebook held the event loop, and every other request,
 * for 1.7 s.
 */
export const NOTEBOOK_MODEL_OFFLOAD_BYTES = 8 * 1024 * 1024;

async function notebookContent(model: ContentsModel, location: string, options: GetOptions): Promise<ContentsModel | SerializedModel> {
  const bytes = await store.read(location);
  if (bytes.length > NOTEBOOK_MODEL_OFFLOAD_BYTES) return { serialized: await notebookModelJsonInWorker(model, bytes, options.hash), last_modified: model.last_modified };
  return notebookModelFromBytes(model, bytes, options.hash);
}

async function fileContent(model: ContentsModel, location: string, options: GetOptions): Promise<ContentsModel> {
  const bytes = await store.read(location);
  let format: 'text' | 'base64' = options.format ?? 'text';
  let content: string;
  if (format === 'text') {
    try {
      content = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
      if (options.format === 'text') throw new ContentsError(400, `${model.path} is not UTF-8 encoded`);
      format = 'base64';
      content = bytes.toString('base64');
    }
  } else {
    content = bytes.toString('base64');
  }
  const mimetype = model.mimetype ?? (format === 'text' ? 'text/plain' : 'application/octet-stream');
  return { ...model, content, format, mimetype, ...(options.hash ? hashOf(bytes) : {}) };
}

/** A model already serialised to JSON (a large notebook's, built off the event loop). */
export interface SerializedModel {
  serialized: Buffer;
  last_modified: string;
}

/**
 * The model of `path` ('' is the store root); `location` is where it lives in the store.
 * A large notebook's model comes back already serialised (SerializedModel).
 */
export async function getModel(path: string, location: string, options: GetOptions): Promise<ContentsModel | SerializedModel> {
  const info = path === '' ? undefined : await store.stat(location);
  if (info) {
    if (options.type === 'directory') throw new ContentsError(400, `${path} is not a directory`);
    const model = objectModel(path, info, options.type);
    if (!options.content) {
      return options.hash ? { ...model, ...hashOf(await store.read(location)) } : model;
    }
    return model.type === 'notebook' ? notebookContent(model, location, options) : fileContent(model, location, options);
  }
  const listing = await store.listFolder(location);
  if (path !== '' && listing.folders.length === 0 && listing.objects.length === 0) {
    throw new ContentsError(404, `file or directory ${JSON.stringify(path)} does not exist`);
  }
  if (options.type === 'file' || options.type === 'notebook') throw new ContentsError(400, `${path} is a directory, not a ${options.type}`);
  const newest = listing.objects.reduce((t, o) => (o.modified > t ? o.modified : t), EPOCH);
  const model = base(path, 'directory', newest, null);
  if (!options.content) return model;
  const child = (name: string) => (path === '' ? name : `${path}/${name}`);
  const nameOf = (loc: string) => loc.replace(/\/+$/, '').split('/').pop() ?? '';
  const content: ContentsModel[] = [];
  for (const folder of listing.folders) {
    const name = nameOf(folder);
    if (!name.startsWith('.')) content.push(base(child(name), 'directory', EPOCH, null));
  }
  for (const object of listing.objects) {
    const name = nameOf(object.location);
    if (!name.startsWith('.')) content.push(objectModel(child(name), object));
  }
  return { ...model, content, format: 'json' };
}
