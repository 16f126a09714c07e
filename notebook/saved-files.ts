// Files a cell saves to its run's folder in the store (a SQL job's `-- @output`). The kernel
// has no store credentials, so it sends the file's bytes to the worker over the kernel's
// iopub channel, in display_data messages whose only payload is `transient.millrace_file`:
// transient data is never recorded (the Jupyter protocol's rule; the worker also drops
// these messages before collecting outputs). The worker writes the file beside the run's
// record and records one small output in its place. Pure: the parts' schema, the limits,
// the path rule and the recorded output; the writing is activities/saved-files.ts.

import { z } from 'zod';
import { savedFileFacts, type SavedFile } from './saved-file-facts.js';
import type { Cell, JsonObject } from './nbformat.js';

/** The transient key of a part; the kernel side is `_millrace_send_file` in jobs/runtime/sql_runtime.py. */
export const SAVED_FILE_KEY = 'millrace_file';
/** The largest file a cell may save this way: the worker holds it in memory until it is written. */
export const SAVED_FILE_MAX_BYTES = 64 * 1024 * 1024;
/** Bytes per part, before base64: well under the 10 MiB a gateway's websocket takes per message. */
export const SAVED_FILE_PART_BYTES = 1024 * 1024;

export const savedFilePartSchema = z.object({
  path: z.string().min(1).max(500),
  part: z.number().int().nonnegative(),
  parts: z.number().int().positive(),
  bytes: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  rows: z.number().int().nonnegative().nullable(),
  data: z.string(),
});
export type SavedFilePart = z.infer<typeof savedFilePartSchema>;

/** The part a display_data message carries, if it is one (not validated: see savedFilePartSchema). */
export function savedFilePayload(msgType: string, content: unknown): unknown {
  if (msgType !== 'display_data' || content === null || typeof content !== 'object') return undefined;
  const transient = (content as { transient?: unknown }).transient;
  if (transient === null || typeof transient !== 'object') return undefined;
  return (transient as Record<string, unknown>)[SAVED_FILE_KEY];
}

/**
 * Why `path` cannot name a file in a run's folder, or undefined when it can: relative,
 * plain segments, and nothing of the folder's own (the record's journal, checkpoints).
 */
export function savedFilePathProblem(path: string): string | undefined {
  const segments = path.split('/');
  if (path.startsWith('/') || segments.some((s) => s === '' || s === '.' || s === '..')) {
    return 'a path inside the run\'s folder (relative, no "..")';
  }
  if (segments.some((s) => !/^[\w.-]+$/.test(s))) return 'letters, digits, "_", "-" and "." in each folder and file name';
  if (segments[0] === 'checkpoints' || segments.some((s) => s.endsWith('.journal'))) return 'a path that is not the run\'s own (checkpoints/, *.journal)';
  return undefined;
}

/** The display_data content recorded in the cell in place of the file's parts: where it went. */
export function savedFileDisplay(file: SavedFile): { data: JsonObject; metadata: JsonObject } {
  return {
    data: { 'text/plain': `saved ${file.path} to ${file.location} ${savedFileFacts(file)}` },
    metadata: { millrace: { saved_file: { ...file } } },
  };
}

const savedFileSchema = z.object({
  path: z.string(),
  location: z.string(),
  bytes: z.number().int().nonnegative(),
  rows: z.number().int().nonnegative().nullable(),
  sha256: z.string(),
});
const outputMetadataSchema = z.object({ millrace: z.object({ saved_file: savedFileSchema }) });

/** The files a recorded cell saved to its run's folder, from its outputs (`millrace show`). */
export function savedFilesOf(cell: Cell): SavedFile[] {
  if (cell.cell_type !== 'code') return [];
  return cell.outputs.flatMap((o) => (o.output_type === 'display_data' ? (outputMetadataSchema.safeParse(o.metadata).data?.millrace.saved_file ?? []) : []));
}

/**
 * The file a wrapped SQL cell saves, from its magic line (`%%millrace_sql … output=PATH`,
 * the argument single-quoted as notebook/sql/generate.ts quotes it): a cell that finished
 * while no worker was attached sent that file's parts to nobody.
 */
export function savedFileDeclared(source: string): string | undefined {
  const magic = source.split('\n', 1)[0] ?? '';
  if (!/^%%millrace_sql(\s|$)/.test(magic)) return undefined;
  const m = /\s(?:output=([\w.,/-]+)|'output=((?:[^']|'"'"')*)')(?=\s|$)/.exec(magic);
  if (!m) return undefined;
  return m[1] ?? m[2]!.replace(/'"'"'/g, "'");
}

/** Why a recovered cell that declared `path` fails: its file never reached the store. */
export function lostSavedFileMessage(path: string, cellIndex: number): string {
  return `${path} was not saved: the worker receiving it was lost while cell ${cellIndex} ran; resume from cell ${cellIndex} to save it`;
}
