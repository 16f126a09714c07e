// The shape of metadata.millrace, on the notebook and on each cell: what millrace keeps
// in a run's record beside papermill's metadata.papermill. Records are files read back
// from the store (written by this version, older ones, or another tool), so every field
// is optional, unknown fields are kept, and a known field of the wrong type is refused
// with a message naming it.
//
// The schema lives here, at the bottom, because pure notebook/ code reads and writes it
// (outputs.ts: the display-id map; record.ts: dropping it; scrapbook.ts: a run's facts)
// and notebook/ imports nothing above it. record/metadata.ts owns it for everyone else:
// code outside notebook/ imports it from there.

import { z } from 'zod';
import { NotebookError, type Cell, type CellMetadata, type JsonObject, type Notebook } from './nbformat.js';

const cellIndex = z.number().int().nonnegative();

/** `millrace resume`: the run this one continues (activities/index.ts prepareRun). */
export const resumedFromSchema = z.looseObject({
  run_id: z.string(),
  from_cell: z.number().int(),
  /** Absent in records written before --restore existed: replay. */
  restore: z.enum(['replay', 'checkpoint']).optional(),
  /** --restore checkpoint: the earlier run's checkpoint loaded (null: nothing to load). */
  checkpoint: z
    .looseObject({ after_cell: cellIndex, location: z.string().optional(), sha256: z.string().optional(), bytes: z.number().optional() })
    .nullable()
    .optional(),
  replayed_cells: z.array(cellIndex).optional(),
  reassigned_parameters: z.array(z.string()).optional(),
});

/** --on-kernel-loss restart: one entry per kernel replaced (activities/execute-cell.ts replayCells). */
export const kernelRestartSchema = z.looseObject({
  lost_at_cell: cellIndex.optional(),
  time: z.string().optional(),
  replayed_cells: z.array(cellIndex).optional(),
});

/** `millrace exec`: scratch code run in a paused kernel (activities/repair.ts). */
export const scratchEntrySchema = z.looseObject({
  cell: cellIndex.optional(),
  time: z.string().optional(),
  code: z.string().optional(),
  status: z.string().optional(),
  ename: z.string().optional(),
  evalue: z.string().optional(),
});

/** `millrace wrap`: the job file a generated notebook came from (jobs/wrap.ts). */
export const jobSchema = z.looseObject({
  kind: z.string(),
  path: z.string(),
  sha256: z.string(),
  engine: z.string().optional(),
  connection: z.string().optional(),
});

/** The notebook's metadata.millrace. */
export const notebookMillraceSchema = z.looseObject({
  run_id: z.string().optional(),
  /** Record revision: one per saved change (record/run-record.ts). */
  revision: z.number().int().min(0).optional(),
  /** Set when the run is finalized: the record is complete. */
  status: z.string().optional(),
  /** Why a failed run failed, when an error ended it rather than a cell's own exception. */
  reason: z.string().optional(),
  /** The schedule that started the run. */
  schedule: z.string().optional(),
  /** The kernel's working directory (`run --cwd`, else where `millrace run` was called from). */
  cwd: z.string().optional(),
  /**
   * The run's kernel: which interpreter and kernelspec it was (workflows/contracts.ts
   * KernelEnvironment, written when the run ends), and, for a container, where it ran
   * (image, cpus, memory, env_names, mounts; written at start).
   */
  kernel: z
    .looseObject({
      name: z.string().optional(),
      python: z.string().optional(),
      python_version: z.string().optional(),
      argv0: z.string().optional(),
      spec_dir: z.string().optional(),
    })
    .optional(),
  /** Seconds the kernel had to answer at start (`run --start-timeout`). */
  start_timeout: z.number().optional(),
  resumed_from: resumedFromSchema.optional(),
  kernel_restarts: z.array(kernelRestartSchema).optional(),
  scratch: z.array(scratchEntrySchema).optional(),
  /** A job file wrapped into this notebook (`millrace wrap`, `run FILE.sql`): where it was read from, its sha256. */
  job: jobSchema.optional(),
});
export type NotebookMillrace = z.infer<typeof notebookMillraceSchema>;

/** `millrace retry`: the error a cell was retried after (activities/repair.ts). */
export const retriedAfterSchema = z.looseObject({
  time: z.string().optional(),
  ename: z.string().nullable().optional(),
  evalue: z.string().nullable().optional(),
});

/** A cell's metadata.millrace. */
export const cellMillraceSchema = z.looseObject({
  /** This cell's part of nbclient's display-id map: display id -> output indices (outputs.ts). */
  display_ids: z.record(z.string(), z.array(z.number().int())).optional(),
  /**
   * The cell's own time limit in seconds. People write it in their notebooks, so any value
   * is kept here: the one reader (activities, cellTimeout) refuses what is not a positive
   * number with a message naming both ways to set it.
   */
  timeout: z.unknown().optional(),
  /** `millrace resume`: the run whose execution of this cell was taken over. */
  carried_over_from: z.string().optional(),
  /** `millrace skip`: failed for papermill, skipped for people. */
  skipped: z.boolean().optional(),
  skipped_at: z.string().optional(),
  /** Finished while no worker was attached; its outcome came from the kernel's registry. */
  recovered: z.boolean().optional(),
  retried_after: z.array(retriedAfterSchema).optional(),
  /** The source before the first `millrace retry --source`. */
  original_source: z.string().optional(),
});
export type CellMillrace = z.infer<typeof cellMillraceSchema>;

/** metadata.millrace that is there but not as this version reads it. */
export class MillraceMetadataError extends NotebookError {
  constructor(message: string) {
    super(message);
    this.name = 'MillraceMetadataError';
  }
}

/** `where: metadata.millrace.<field>: <what is wrong>` for the first problem zod found. */
function parseOrThrow<T>(schema: z.ZodType<T>, value: unknown, where: string[]): T {
  const parsed = schema.safeParse(value ?? {});
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const key = ['metadata', 'millrace', ...issue.path.map(String)].join('.');
  throw new MillraceMetadataError([...where, key, issue.message].join(': '));
}

/**
 * The notebook's metadata.millrace ({} when it has none); `where` (a location) begins the
 * message of the MillraceMetadataError thrown when a field has the wrong type.
 */
export function notebookMillrace(nb: Notebook, where?: string): NotebookMillrace {
  return parseOrThrow(notebookMillraceSchema, nb.metadata['millrace'], where ? [where] : []);
}

/** A cell's metadata.millrace ({} when it has none). Throws MillraceMetadataError naming the cell (after `where`). */
export function cellMillrace(cell: Cell, where?: string): CellMillrace {
  return parseOrThrow(cellMillraceSchema, cell.metadata['millrace'], [...(where ? [where] : []), `cell ${cell.id}`]);
}

/** Whether a metadata value is a JSON object (what metadata.millrace is when present). */
export function isJsonObject(value: unknown): value is JsonObject {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/**
 * What is stored in metadata.millrace, unvalidated, for writers that keep what they do not
 * know ({} when absent or not an object). Readers use notebookMillrace/cellMillrace.
 */
export function storedMillrace(metadata: JsonObject): JsonObject {
  const value = metadata['millrace'];
  return isJsonObject(value) ? value : {};
}

// Writers merge into what is stored, as `{ ...old, ...patch }`, without parsing it: fields
// this version does not know are kept, and a value is written as it was given.

/** A new notebook whose metadata.millrace has `patch` merged in. */
export function withNotebookMillrace(nb: Notebook, patch: Partial<NotebookMillrace>): Notebook {
  return { ...nb, metadata: { ...nb.metadata, millrace: { ...storedMillrace(nb.metadata), ...patch } } };
}

/** A new notebook whose metadata.millrace is `meta` alone (a new run's: what an input notebook carried is not its own). */
export function replaceNotebookMillrace(nb: Notebook, meta: NotebookMillrace): Notebook {
  return { ...nb, metadata: { ...nb.metadata, millrace: meta } };
}

/**
 * Cell metadata whose metadata.millrace.display_ids is `ids`, dropped when empty, and
 * without metadata.millrace when nothing is left in it (outputs.ts keeps the display-id
 * map there; a cleared cell has none).
 */
export function withDisplayIds(metadata: CellMetadata, ids: Record<string, number[]>): CellMetadata {
  const { display_ids: _d, ...rest } = storedMillrace(metadata);
  const { millrace: _m, ...others } = metadata;
  const millrace = Object.keys(ids).length ? { ...rest, display_ids: ids } : rest;
  return Object.keys(millrace).length ? { ...others, millrace } : others;
}

/** A new cell whose metadata.millrace has `patch` merged in. */
export function withCellMillrace<C extends Cell>(cell: C, patch: Partial<CellMillrace>): C {
  return { ...cell, metadata: { ...cell.metadata, millrace: { ...storedMillrace(cell.metadata), ...patch } } };
}
