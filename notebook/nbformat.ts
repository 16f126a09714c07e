// nbformat v4 (4.5) notebook model, validation and byte-compatible serialisation.
// The notebook is plain data (papermill style): functions elsewhere return new
// notebooks that share unchanged subtrees with their input, so treat notebooks as
// immutable.

import { z } from 'zod';
import { JsonSyntaxError, pyJsonDumps, pyJsonDumpsAt, pyJsonLoads } from './pyjson.js';
import { codePoints, pySplitLines, pyStrip } from './pystr.js';
import { jsonDepth, MAX_NOTEBOOK_DEPTH } from './limits.js';

export type MultilineString = string | string[];
export type JsonObject = Record<string, unknown>;

/** Mime type -> value; text for ordinary mimes, any JSON for application/(*+)json. */
export type MimeBundle = Record<string, unknown>;

export interface StreamOutput {
  output_type: 'stream';
  name: string;
  text: MultilineString;
}
export interface DisplayDataOutput {
  output_type: 'display_data';
  data: MimeBundle;
  metadata: JsonObject;
}
export interface ExecuteResultOutput {
  output_type: 'execute_result';
  data: MimeBundle;
  metadata: JsonObject;
  execution_count: number | null;
}
export interface ErrorOutput {
  output_type: 'error';
  ename: string;
  evalue: string;
  traceback: string[];
}
export type Output = StreamOutput | DisplayDataOutput | ExecuteResultOutput | ErrorOutput;

/** Cell metadata is open; these are the keys this project reads or writes. */
export interface CellMetadata {
  tags?: string[];
  papermill?: JsonObject;
  execution?: Record<string, string>;
  [key: string]: unknown;
}

export interface CodeCell {
  cell_type: 'code';
  id: string;
  source: MultilineString;
  metadata: CellMetadata;
  outputs: Output[];
  execution_count: number | null;
}
export interface MarkdownCell {
  cell_type: 'markdown';
  id: string;
  source: MultilineString;
  metadata: CellMetadata;
  attachments?: Record<string, MimeBundle>;
}
export interface RawCell {
  cell_type: 'raw';
  id: string;
  source: MultilineString;
  metadata: CellMetadata;
  attachments?: Record<string, MimeBundle>;
}
export type Cell = CodeCell | MarkdownCell | RawCell;

export interface KernelSpec {
  name: string;
  display_name: string;
  language?: string;
  [key: string]: unknown;
}
export interface LanguageInfo {
  name: string;
  [key: string]: unknown;
}
export interface NotebookMetadata {
  kernelspec?: KernelSpec;
  language_info?: LanguageInfo;
  papermill?: JsonObject;
  [key: string]: unknown;
}
export interface Notebook {
  nbformat: 4;
  nbformat_minor: number;
  metadata: NotebookMetadata;
  cells: Cell[];
}

/** Raised for a file that is not a notebook we can run; the message is one line. */
export class NotebookError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NotebookError';
  }
}

// ---- zod schemas (the trust boundary for notebooks read from files/storage) ----

const openObject = z.record(z.string(), z.unknown(), { error: 'must be an object' });
export const multilineStringSchema = z.union([z.string(), z.array(z.string())], {
  error: 'must be a string or a list of strings',
});
// Values of JSON mimes may be anything; the others must be text (checked in
// validateMimeBundle, since zod records cannot switch on the key).
export const mimeBundleSchema = openObject;
const executionCountSchema = z
  .number({ error: 'must be an integer or null' })
  .int({ error: 'must be an integer or null' })
  .min(0, { error: 'must be an integer >= 0 or null' })
  .nullable();

export const streamOutputSchema = z.looseObject({
  output_type: z.literal('stream'),
  name: z.string({ error: 'must be a string' }),
  text: multilineStringSchema,
});
export const displayDataOutputSchema = z.looseObject({
  output_type: z.literal('display_data'),
  data: mimeBundleSchema,
  metadata: openObject,
});
export const executeResultOutputSchema = z.looseObject({
  output_type: z.literal('execute_result'),
  data: mimeBundleSchema,
  metadata: openObject,
  execution_count: executionCountSchema,
});
export const errorOutputSchema = z.looseObject({
  output_type: z.literal('error'),
  ename: z.string({ error: 'must be a string' }),
  evalue: z.string({ error: 'must be a string' }),
  traceback: z.array(z.string(), { error: 'must be a list of strings' }),
});
export const outputSchema = z.discriminatedUnion(
  'output_type',
  [streamOutputSchema, displayDataOutputSchema, executeResultOutputSchema, errorOutputSchema],
  { error: 'must be stream, display_data, execute_result or error' },
);

export const CELL_ID_RE = /^[a-zA-Z0-9-_]{1,64}$/;
const cellIdSchema = z.string().regex(CELL_ID_RE, { error: 'must match ^[a-zA-Z0-9-_]{1,64}$' });
const cellBase = {
  id: cellIdSchema,
  source: multilineStringSchema,
  metadata: openObject,
};
export const codeCellSchema = z.looseObject({
  cell_type: z.literal('code'),
  ...cellBase,
  outputs: z.array(outputSchema, { error: 'must be a list' }),
  execution_count: executionCountSchema,
});
export const markdownCellSchema = z.looseObject({
  cell_type: z.literal('markdown'),
  ...cellBase,
  attachments: z.record(z.string(), mimeBundleSchema).optional(),
});
export const rawCellSchema = z.looseObject({
  cell_type: z.literal('raw'),
  ...cellBase,
  attachments: z.record(z.string(), mimeBundleSchema).optional(),
});
export const cellSchema = z.discriminatedUnion('cell_type', [codeCellSchema, markdownCellSchema, rawCellSchema], {
  error: 'must be code, markdown or raw',
});
export const notebookSchema = z.looseObject({
  nbformat: z.literal(4),
  nbformat_minor: z.number().int().min(5),
  metadata: z.looseObject({
    kernelspec: z
      // nbformat requires display_name too but only logs when it is missing; papermill
      // runs such notebooks, so only the name (used to pick a kernel) is checked.
      .looseObject({ name: z.string({ error: 'must be a string' }) })
      .optional(),
    language_info: z.looseObject({ name: z.string({ error: 'must be a string' }) }).optional(),
    papermill: openObject.optional(),
  }),
  cells: z.array(cellSchema, { error: 'must be a list' }),
});

// ---- reading ----

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'an object';
  return `a ${typeof v}`;
}

function at(root: unknown, path: readonly PropertyKey[]): unknown {
  let v = root;
  for (const k of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[k];
  }
  return v;
}

/** "cell 4: output 1: "text"" style location for a path into the notebook. */
function describePath(path: readonly PropertyKey[]): { where: string; key: string } {
  const where: string[] = [];
  let rest = [...path];
  if (rest[0] === 'cells' && typeof rest[1] === 'number') {
    where.push(`cell ${rest[1]}`);
    rest = rest.slice(2);
    if (rest[0] === 'outputs' && typeof rest[1] === 'number') {
      where.push(`output ${rest[1]}`);
      rest = rest.slice(2);
    }
  }
  return { where: where.join(': '), key: rest.map(String).join('.') };
}

function zodMessage(root: unknown, issue: z.core.$ZodIssue): string {
  const { where, key } = describePath(issue.path);
  const value = at(root, issue.path);
  let what: string;
  if (value === undefined && (issue.code === 'invalid_type' || issue.code === 'invalid_union')) what = `"${key}" is missing`;
  else if (issue.code === 'invalid_type' && issue.message.startsWith('Invalid input')) {
    what = `"${key}" must be ${issue.expected === 'record' ? 'an object' : `a ${issue.expected}`} (got ${typeName(value)})`;
  } else if (issue.code === 'invalid_value' && key === 'nbformat_minor') {
    what = `"nbformat_minor" must be an integer`;
  } else if (issue.code === 'too_small' && key === 'nbformat_minor') {
    what = `"nbformat_minor" must be >= 5`;
  } else if (issue.message.startsWith('Invalid') || issue.message.startsWith('Too')) {
    what = `"${key}" is invalid (${issue.message})`;
  } else what = `"${key}" ${issue.message}`;
  return where ? `${where}: ${what}` : what;
}

// Python's json.loads rejects a BOM; editors sometimes add one, and nothing else
// could be meant by it, so it is dropped.
function stripBom(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

const isJsonMime = (mime: string): boolean =>
  mime === 'application/json' || (mime.startsWith('application/') && mime.endsWith('+json'));

function rejoinMimeBundle(data: MimeBundle): MimeBundle {
  let out: MimeBundle | undefined;
  for (const [mime, value] of Object.entries(data)) {
    if (!isJsonMime(mime) && Array.isArray(value) && value.every((l) => typeof l === 'string')) {
      out ??= { ...data };
      out[mime] = value.join('');
    }
  }
  return out ?? data;
}

function validateMimeBundle(data: MimeBundle, where: string): void {
  for (const [mime, value] of Object.entries(data)) {
    if (isJsonMime(mime)) continue;
    if (typeof value !== 'string' && !(Array.isArray(value) && value.every((l) => typeof l === 'string'))) {
      throw new Error(`${where}"${mime}" must be a string or a list of strings`);
    }
  }
}

/**
 * Deterministic cell ids for notebooks that lack valid, unique ones. nbformat
 * uses random ids; a run must be reproducible (and workflow code may call this),
 * so ids derive from the cell index: cell-0003, or cell-0003-1 if taken.
 */
function repairCellIds(cells: JsonObject[], replaceAll: boolean): void {
  const keep = (c: JsonObject): boolean => !replaceAll && typeof c.id === 'string' && CELL_ID_RE.test(c.id);
  const taken = new Set<string>();
  const needs: number[] = [];
  cells.forEach((c, i) => {
    if (keep(c) && !taken.has(c.id as string)) taken.add(c.id as string);
    else needs.push(i);
  });
  for (const i of needs) {
    const base = `cell-${String(i).padStart(4, '0')}`;
    let id = base;
    for (let n = 1; taken.has(id); n++) id = `${base}-${n}`;
    taken.add(id);
    cells[i]!.id = id;
  }
}

/**
 * Parse notebook JSON text. Like nbformat.reads(as_version=4) followed by
 * nbformat.v4.upgrade: multi-line fields are joined into strings, transient keys
 * dropped, 4.0-4.4 notebooks become 4.5 with cell ids. `where` names the file in
 * errors. Throws NotebookError.
 */
export function parseNotebook(text: string, where: string): Notebook {
  // Reading, validating and writing a notebook recurse through it: bound the depth first.
  if (jsonDepth(text) > MAX_NOTEBOOK_DEPTH) {
    throw new NotebookError(`${where}: nested more than ${MAX_NOTEBOOK_DEPTH} levels deep (the limit): is it a notebook?`);
  }
  let raw: unknown;
  try {
    raw = pyJsonLoads(stripBom(text));
  } catch (e) {
    const detail = e instanceof JsonSyntaxError ? e.message : String((e as Error).message ?? e);
    throw new NotebookError(`${where}: not valid JSON (${detail}): is it a notebook?`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new NotebookError(`${where}: not a notebook: the JSON is ${typeName(raw)}, not an object`);
  }
  const nb = { ...(raw as JsonObject) };
  if (nb.nbformat === undefined) {
    throw new NotebookError(`${where}: not a notebook: "nbformat" is missing`);
  }
  if (typeof nb.nbformat !== 'number') {
    throw new NotebookError(`${where}: "nbformat" must be an integer (got ${typeName(nb.nbformat)})`);
  }
  if (nb.nbformat < 4) {
    throw new NotebookError(
      `${where}: nbformat ${nb.nbformat} notebooks are not supported; upgrade with: ` +
        `jupyter nbconvert --to notebook --nbformat 4 FILE`,
    );
  }
  if (nb.nbformat > 4) {
    throw new NotebookError(`${where}: nbformat ${nb.nbformat} is newer than this tool supports (4)`);
  }
  if (typeof nb.nbformat_minor !== 'number' || !Number.isInteger(nb.nbformat_minor)) {
    throw new NotebookError(`${where}: "nbformat_minor" must be an integer; nbformat needs it to read a v4 notebook`);
  }
  if (!Array.isArray(nb.cells)) {
    throw new NotebookError(`${where}: "cells" ${nb.cells === undefined ? 'is missing' : 'must be a list'}`);
  }
  // Lenient where nbformat would only log: a missing metadata object is empty.
  nb.metadata ??= {};
  const upgrading = nb.nbformat_minor < 5;

  const cells: JsonObject[] = [];
  for (const [i, c] of (nb.cells as unknown[]).entries()) {
    if (c === null || typeof c !== 'object' || Array.isArray(c)) {
      throw new NotebookError(`${where}: cell ${i}: must be an object (got ${typeName(c)})`);
    }
    const cell = { ...(c as JsonObject) };
    if (!['code', 'markdown', 'raw'].includes(cell.cell_type as string)) {
      throw new NotebookError(`${where}: cell ${i}: "cell_type" must be code, markdown or raw`);
    }
    cell.metadata ??= {};
    if (Array.isArray(cell.source)) cell.source = cell.source.join('');
    if (cell.attachments && typeof cell.attachments === 'object') {
      cell.attachments = Object.fromEntries(
        Object.entries(cell.attachments as JsonObject).map(([k, v]) => [
          k,
          v && typeof v === 'object' && !Array.isArray(v) ? rejoinMimeBundle(v as MimeBundle) : v,
        ]),
      );
    }
    if (cell.metadata && typeof cell.metadata === 'object' && 'trusted' in (cell.metadata as JsonObject)) {
      const { trusted: _t, ...rest } = cell.metadata as JsonObject;
      cell.metadata = rest;
    }
    if (cell.cell_type === 'code') {
      cell.outputs ??= [];
      if (cell.execution_count === undefined) cell.execution_count = null;
      if (Array.isArray(cell.outputs)) {
        cell.outputs = (cell.outputs as unknown[]).map((o) => {
          if (!o || typeof o !== 'object' || Array.isArray(o)) return o;
          const out = { ...(o as JsonObject) };
          if ((out.output_type === 'execute_result' || out.output_type === 'display_data') && out.data && typeof out.data === 'object' && !Array.isArray(out.data)) {
            out.data = rejoinMimeBundle(out.data as MimeBundle);
          } else if (out.output_type && Array.isArray(out.text)) {
            out.text = (out.text as unknown[]).join('');
          }
          return out;
        });
      }
    }
    cells.push(cell);
  }
  repairCellIds(cells, upgrading);
  nb.cells = cells;
  if (upgrading) nb.nbformat_minor = 5;
  if (nb.metadata && typeof nb.metadata === 'object' && !Array.isArray(nb.metadata)) {
    nb.metadata = stripTransientMetadata(nb.metadata as JsonObject);
  }

  const result = notebookSchema.safeParse(nb);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw new NotebookError(`${where}: ${zodMessage(nb, issue)}`);
  }
  for (const [i, cell] of cells.entries()) {
    try {
      if (cell.cell_type === 'code') {
        for (const [j, o] of (cell.outputs as JsonObject[]).entries()) {
          if (o.output_type === 'execute_result' || o.output_type === 'display_data') {
            validateMimeBundle(o.data as MimeBundle, `output ${j}: "data" `);
          }
        }
      }
      for (const [name, bundle] of Object.entries((cell.attachments as Record<string, MimeBundle>) ?? {})) {
        validateMimeBundle(bundle, `attachment "${name}": `);
      }
    } catch (e) {
      throw new NotebookError(`${where}: cell ${i}: ${(e as Error).message}`);
    }
  }
  return nb as unknown as Notebook;
}

// nbformat's strip_transient: these never belong in a file.
function stripTransientMetadata(md: JsonObject): JsonObject {
  if (!('orig_nbformat' in md || 'orig_nbformat_minor' in md || 'signature' in md)) return md;
  const { orig_nbformat: _a, orig_nbformat_minor: _b, signature: _c, ...rest } = md;
  return rest;
}

// ---- writing ----

/** Join a multi-line string (nbformat's rejoin_lines for one value). */
export function sourceText(s: MultilineString): string {
  return typeof s === 'string' ? s : s.join('');
}

const NON_TEXT_SPLIT_MIMES = new Set(['application/javascript', 'image/svg+xml']);

function splitMimeBundle(data: MimeBundle): MimeBundle {
  const out: MimeBundle = { ...data };
  for (const [mime, value] of Object.entries(data)) {
    if (typeof value === 'string' && (mime.startsWith('text/') || NON_TEXT_SPLIT_MIMES.has(mime))) {
      out[mime] = pySplitLines(value, true);
    }
  }
  return out;
}

/** One cell in the JSON-ready form nbformat.writes produces (split_lines). */
function cellToDiskForm(cell: Cell): JsonObject {
  {
    const out: JsonObject = { ...cell };
    if (typeof cell.source === 'string') out.source = pySplitLines(cell.source, true);
    if ('trusted' in cell.metadata) {
      const { trusted: _t, ...rest } = cell.metadata;
      out.metadata = rest;
    }
    // nbformat splits attachments of any cell type (code cells should have none).
    const attachments = (cell as { attachments?: unknown }).attachments;
    if (attachments && typeof attachments === 'object') {
      out.attachments = Object.fromEntries(
        Object.entries(attachments as Record<string, unknown>).map(([k, v]) => [
          k,
          v && typeof v === 'object' && !Array.isArray(v) ? splitMimeBundle(v as MimeBundle) : v,
        ]),
      );
    }
    if (cell.cell_type === 'code') {
      out.outputs = cell.outputs.map((o) => {
        if (o.output_type === 'execute_result' || o.output_type === 'display_data') {
          return { ...o, data: splitMimeBundle(o.data ?? {}) };
        }
        if (o.output_type === 'stream' && typeof o.text === 'string') {
          return { ...o, text: pySplitLines(o.text, true) };
        }
        return o;
      });
    }
    return out;
  }
}

/**
 * Serialised cells by identity. notebook/ functions never mutate, so an unchanged cell
 * is the same object in every revision of a record, and rewriting the record while a
 * long notebook runs costs one cell's serialisation plus a string join, not the whole
 * notebook's (a 2,000-cell run would otherwise serialise O(cells²) bytes).
 */
const serializedCells = new WeakMap<Cell, string>();

/** A cell as nbformat writes it inside the top-level "cells" list (depth 2). */
function serializeCell(cell: Cell): string {
  let text = serializedCells.get(cell);
  if (text === undefined) {
    text = pyJsonDumpsAt(cellToDiskForm(cell), 2, 1);
    serializedCells.set(cell, text);
  }
  return text;
}

/**
 * Serialise exactly as nbformat.writes does (sorted keys, indent 1, non-ASCII kept,
 * multi-line strings split into lines), plus a trailing newline as nbformat.write
 * and Jupyter's contents manager add. papermill itself writes the same bytes
 * without the final newline: pass {trailingNewline: false} for that.
 */
export function serializeNotebook(nb: Notebook, opts: { trailingNewline?: boolean } = {}): string {
  // Serialise the rest with an empty cell list and splice the cells in, each from the
  // cache. Top-level keys (any of them, in any order: "Authors" and "__proto__" sort
  // before "cells") are the only lines indented by exactly one space, and strings hold
  // no raw newline, so the top-level "cells" line is the only match.
  const rest = pyJsonDumps({ ...nb, metadata: stripTransientMetadata(nb.metadata), cells: [] }, 1);
  const slot = '\n "cells": []';
  const at = rest.indexOf(slot);
  const cells = nb.cells.length === 0 ? '[]' : `[\n  ${nb.cells.map(serializeCell).join(',\n  ')}\n ]`;
  const text = `${rest.slice(0, at)}\n "cells": ${cells}${rest.slice(at + slot.length)}`;
  return opts.trailingNewline === false ? text : text + '\n';
}

// ---- small helpers used across the project ----

/** The cell's tags, tolerating notebooks whose metadata.tags is not a list. */
export function cellTags(cell: Cell): string[] {
  const tags = cell.metadata.tags;
  return Array.isArray(tags) ? tags.filter((t): t is string => typeof t === 'string') : [];
}

/** nbclient's skip_cells_with_tag default: a code cell tagged so is never sent to the kernel. */
export const SKIP_EXECUTION_TAG = 'skip-execution';

/**
 * nbclient only sends code cells whose source is not blank and that are not tagged
 * `skip-execution` to the kernel (execute_cell); others are skipped (no outputs, no
 * metadata.execution), though papermill still times them as it passes them.
 */
export function isExecutable(cell: Cell): cell is CodeCell {
  return cell.cell_type === 'code' && pyStrip(sourceText(cell.source)).length > 0 && !cellTags(cell).includes(SKIP_EXECUTION_TAG);
}

const SUMMARY_MAX = 60;

/** First non-blank line of the source, at most 60 characters (progress views, activity summaries). */
export function cellSummary(cell: Cell): string {
  const t = cellFirstLine(cell);
  const cps = [...codePoints(t)];
  if (cps.length <= SUMMARY_MAX) return t;
  return String.fromCodePoint(...cps.slice(0, SUMMARY_MAX - 1)) + '…';
}

/**
 * First non-blank line of the source, whole (a view cuts it to its width). A wrapped SQL
 * job's statement cell (`%%millrace_sql ...`, jobs/) is summarized by its statement's first
 * line of SQL, after the magic and the statement's comments.
 */
export function cellFirstLine(cell: Cell): string {
  let magic: string | undefined;
  let comment: string | undefined;
  for (const line of pySplitLines(sourceText(cell.source))) {
    const t = pyStrip(line);
    if (!t) continue;
    if (magic === undefined) {
      if (!t.startsWith('%%millrace_sql')) return t;
      magic = t;
    } else if (t.startsWith('--')) comment ??= t;
    else return t;
  }
  return comment ?? magic ?? '';
}

/** A cell id not used by any cell of `cells`: `base`, else base-1, base-2, ... */
export function uniqueCellId(cells: readonly Cell[], base: string): string {
  const taken = new Set(cells.map((c) => c.id));
  let id = base;
  for (let n = 1; taken.has(id); n++) id = `${base}-${n}`;
  return id;
}

/** A new nbformat 4.5 notebook for the `python3` kernel, with these cells and extra metadata. */
export function pythonNotebook(cells: Cell[], metadata: NotebookMetadata = {}): Notebook {
  return {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: { kernelspec: { name: 'python3', display_name: 'Python 3', language: 'python' }, language_info: { name: 'python' }, ...metadata },
    cells,
  };
}
