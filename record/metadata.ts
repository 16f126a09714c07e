/**
 * metadata.millrace, the part of a run's record that is millrace's own (the notebook's:
 * run id, revision, final status, resume link, kernel restarts, scratch log; each cell's:
 * display ids, carried over, skipped, recovered, retries). Every reader and writer outside
 * notebook/ goes through this module: the zod schema is the trust boundary for records read
 * back from the store, and the writers merge into what is stored instead of replacing it.
 *
 * The schema itself is in notebook/millrace-metadata.ts, because pure notebook/ code reads
 * it too and notebook/ imports nothing above it; this module is where everyone else gets it.
 */
import type { Notebook } from '../notebook/nbformat.js';
import { jobSchema, MillraceMetadataError, notebookMillrace, type NotebookMillrace } from '../notebook/millrace-metadata.js';

export {
  cellMillrace,
  cellMillraceSchema,
  MillraceMetadataError,
  notebookMillrace,
  notebookMillraceSchema,
  replaceNotebookMillrace,
  withCellMillrace,
  withNotebookMillrace,
  type CellMillrace,
  type NotebookMillrace,
} from '../notebook/millrace-metadata.js';

/** metadata.millrace of a run record: prepareRun writes run_id and revision 0 first. */
export type RunRecordMillrace = NotebookMillrace & { run_id: string; revision: number };

/** The record's metadata.millrace; throws MillraceMetadataError when the notebook is not a run record. */
export function runRecordMillrace(nb: Notebook, where?: string): RunRecordMillrace {
  const meta = notebookMillrace(nb, where);
  const { run_id, revision } = meta;
  if (run_id === undefined || revision === undefined) {
    const missing = run_id === undefined ? 'run_id' : 'revision';
    throw new MillraceMetadataError(`${where ? `${where}: ` : ''}not a run record: metadata.millrace.${missing} is missing`);
  }
  return { ...meta, run_id, revision };
}

/** The record's revision, -1 before a run wrote one (record/run-record.ts). */
export function recordRevision(nb: Notebook): number {
  return notebookMillrace(nb).revision ?? -1;
}

/** Whether the run finalized its record (metadata.millrace.status is set): nothing changes it again. */
export function isFinishedRecord(nb: Notebook): boolean {
  return notebookMillrace(nb).status !== undefined;
}

/**
 * A source notebook's wrapped job file (metadata.millrace.job, `millrace wrap`), read
 * leniently: prepareRun replaces the rest of a source's metadata.millrace without checking it.
 */
export function sourceJob(nb: Notebook): NotebookMillrace['job'] {
  const meta = nb.metadata['millrace'];
  return jobSchema.safeParse(meta !== null && typeof meta === 'object' ? (meta as Record<string, unknown>)['job'] : undefined).data;
}
