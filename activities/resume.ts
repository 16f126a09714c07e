/**
 * Resuming a failed run: the new record starts as any run's does, then takes over the
 * earlier run's cells before the resume point (outputs, timing, status), matched by cell
 * id and marked as carried over. The earlier record is never modified: the link back to
 * the new run goes into a file beside it (`resumed-as.json`).
 */
import type { Cell, Notebook } from '../notebook/nbformat.js';
import { removeErrorMarkers } from '../notebook/record.js';
import { INJECTED_PARAMETERS_TAG } from '../notebook/parameterize.js';
import type { ResumeFrom } from '../workflows/contracts.js';
import { withCellMillrace } from '../record/metadata.js';
import { readRecord } from '../record/run-record.js';
import { ObjectExistsError, ObjectNotFoundError, store } from '../record/store/index.js';

export async function readEarlierRecord(resume: ResumeFrom): Promise<Notebook> {
  // The earlier run may have crashed mid-way: its journal holds what the notebook does not.
  return removeErrorMarkers((await readRecord(resume.record)).notebook);
}

/** Where the resumed run starts in its own notebook: the earlier run's cell, found by id. */
export function resumeIndex(fresh: Notebook, resume: ResumeFrom): number {
  return fresh.cells.findIndex((cell) => cell.id === resume.fromCellId);
}

/** Copies the earlier run's execution of every cell before the resume point into `fresh`. */
export function carryOver(fresh: Notebook, earlier: Notebook, resume: ResumeFrom): Notebook {
  const earlierById = new Map(earlier.cells.map((cell) => [cell.id, cell]));
  const start = resumeIndex(fresh, resume);
  const cells = fresh.cells.map((cell, index): Cell => {
    if (index >= start) return cell;
    const old = earlierById.get(cell.id);
    // A regenerated parameters cell is new: it runs (is replayed) with the new values.
    if (!old || old.cell_type !== cell.cell_type || cell.metadata.tags?.includes(INJECTED_PARAMETERS_TAG)) return cell;
    const metadata = {
      ...cell.metadata,
      papermill: old.metadata['papermill'],
      ...(old.metadata['execution'] ? { execution: old.metadata['execution'] } : {}),
    };
    const carried = { carried_over_from: resume.runId };
    if (cell.cell_type === 'code' && old.cell_type === 'code') {
      return withCellMillrace({ ...cell, metadata, outputs: old.outputs, execution_count: old.execution_count }, carried);
    }
    return withCellMillrace({ ...cell, metadata } as Cell, carried);
  });
  return { ...fresh, cells };
}

/** `resumed-as.json` beside the earlier record: every run that resumed it. */
export async function linkEarlierRun(resume: ResumeFrom, runId: string, output: string): Promise<void> {
  const location = resume.record.replace(/[^/]*$/, 'resumed-as.json');
  for (let attempt = 0; attempt < 5; attempt++) {
    let links: Array<{ run_id: string; output: string }> = [];
    try {
      links = JSON.parse((await store.read(location)).toString('utf8'));
    } catch (err) {
      if (!(err instanceof ObjectNotFoundError)) throw err;
    }
    if (links.some((l) => l.run_id === runId)) return;
    links.push({ run_id: runId, output });
    try {
      // Create-if-absent for the first link; later links replace the list they extend.
      await store.write(location, JSON.stringify(links, null, 1), links.length === 1 ? { ifAbsent: true } : {});
      return;
    } catch (err) {
      if (!(err instanceof ObjectExistsError)) throw err;
    }
  }
}
