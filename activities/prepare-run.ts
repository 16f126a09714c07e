/**
 * The first step of a run: the source snapshot, parameterized and initialised as papermill
 * does, becomes the run's record in the store (with what a resume carries over).
 */
import { ApplicationFailure } from '@temporalio/activity';
import { createHash } from 'node:crypto';
import { cellSummary, cellTags, isExecutable, NotebookError, parseNotebook, type Cell, type Notebook } from '../notebook/nbformat.js';
import { inferParameters, parameterize } from '../notebook/parameterize.js';
import { paramsToJson, str, type Params } from '../notebook/params.js';
import { initRecord } from '../notebook/record.js';
import { wallClock } from '../notebook/time.js';
import { MILLRACE_VERSION } from '../notebook/version.js';
import type { KernelPlacement, PrepareResult, RunInput } from '../workflows/contracts.js';
import { EMPTY_ALLOW_LIST, mergePlacement, recordedPlacement, refusal, type AllowList } from './kernel-placement.js';
import { carryOver, linkEarlierRun, readEarlierRecord, resumeIndex } from './resume.js';
import { cellMillrace, replaceNotebookMillrace, sourceJob, type RunRecordMillrace } from '../record/metadata.js';
import { refuseOtherRunsRecord, rememberRecord, RunRecord } from '../record/run-record.js';
import { store } from '../record/store/index.js';

const now = () => new Date().toISOString();

/** Snapshot → parameterized, papermill-initialised output notebook in the store. */
export async function prepareRun(input: RunInput, allow: AllowList = EMPTY_ALLOW_LIST): Promise<PrepareResult> {
  try {
    return await prepare(input, allow);
  } catch (err) {
    // The notebook itself is wrong (e.g. metadata.millrace of the wrong type): no retry mends it.
    if (err instanceof NotebookError) throw ApplicationFailure.nonRetryable(err.message, 'BadNotebook');
    throw err;
  }
}

async function prepare(input: RunInput, allow: AllowList): Promise<PrepareResult> {
  const bytes = await store.read(input.source.location);
  const digest = createHash('sha256').update(bytes).digest('hex');
  if (digest !== input.source.sha256) {
    throw ApplicationFailure.nonRetryable(
      `source snapshot ${input.source.location} does not match its hash: the store was modified`,
      'SnapshotCorrupt',
    );
  }
  const source = parseNotebook(bytes.toString('utf8'), input.inputPath);
  const kernelName = input.kernelName ?? source.metadata.kernelspec?.name ?? 'python3';
  const placement = kernelPlacement(input, source, allow);
  let parameterized: Notebook;
  let warnings: string[];
  let parameters: Params = input.parameters;
  try {
    parameters = { ...parameters, ...nominalTimeParameters(input, source, kernelName) };
    ({ notebook: parameterized, warnings } = parameterize(source, parameters, { kernelName, ...(input.reportMode ? { reportMode: true } : {}) }));
  } catch (err) {
    throw ApplicationFailure.nonRetryable((err as Error).message, 'BadParameters');
  }
  const recordedParameters = paramsToJson(parameters);
  const initialNotebook = initRecord(parameterized, {
    inputPath: input.inputPath,
    outputPath: input.output,
    parameters: recordedParameters,
    startTime: now(),
    version: MILLRACE_VERSION,
    ...(input.reportMode ? { reportMode: true } : {}),
  });
  const codeCells = initialNotebook.cells.flatMap((cell, index) =>
    isExecutable(cell)
      ? [
          {
            index,
            summary: cellSummary(cell),
            raisesException: cellTags(cell).includes('raises-exception'),
            idempotent: cellTags(cell).includes('idempotent'),
            ...cellTimeout(cell, index),
          },
        ]
      : [],
  );
  // A wrapped job's file (path, sha256) stays in the record: it is what the run ran.
  const job = sourceJob(source);
  const millrace: RunRecordMillrace = {
    run_id: input.runId,
    revision: 0,
    ...(input.schedule ? { schedule: input.schedule.name } : {}),
    // A container kernel works in its image's WORKDIR: the caller's directory is not there.
    ...(input.cwd && !placement ? { cwd: input.cwd } : {}),
    ...(job ? { job } : {}),
    ...(input.startTimeoutS !== undefined ? { start_timeout: input.startTimeoutS } : {}),
    ...(placement ? { kernel: recordedPlacement(placement) } : {}),
  };
  let notebook: Notebook = initialNotebook;
  let startAt = 0;
  if (input.resume) {
    const { fromCell } = input.resume;
    const at = resumeIndex(initialNotebook, input.resume);
    if (at < 0) {
      throw ApplicationFailure.nonRetryable(`cell ${fromCell} of run ${input.resume.runId} is not in this notebook`, 'BadResume');
    }
    notebook = carryOver(initialNotebook, await readEarlierRecord(input.resume), input.resume);
    startAt = codeCells.filter((c) => c.index < at).length;
    const { checkpoint, reassign } = input.resume;
    millrace.resumed_from = {
      run_id: input.resume.runId,
      from_cell: fromCell,
      ...(input.resume.restore === 'checkpoint'
        ? {
            restore: 'checkpoint',
            // Which checkpoint: saved by the earlier run after this cell of its record.
            checkpoint: checkpoint ? { after_cell: checkpoint.cell, location: checkpoint.location, sha256: checkpoint.sha256, bytes: checkpoint.bytes } : null,
            replayed_cells: [],
            reassigned_parameters: reassign ?? [],
          }
        : { restore: 'replay', replayed_cells: codeCells.slice(0, startAt).map((c) => c.index) }),
    };
  }
  notebook = replaceNotebookMillrace(notebook, millrace);
  await refuseOtherRunsRecord(input.output, input.runId);
  const record = new RunRecord(input.output, notebook);
  await record.flush();
  record.owned = true;
  rememberRecord(record);
  if (input.resume) await linkEarlierRun(input.resume, input.runId, input.output);
  return {
    kernelName,
    startAt,
    totalCells: notebook.cells.length,
    codeCells,
    warnings,
    ...(input.schedule ? { parameters: recordedParameters } : {}),
    ...(placement ? { placement } : {}),
  };
}

/**
 * The command line's placement over the notebook's metadata.millrace.kernel, refused before
 * the record is written or a kernel started when this worker does not allow it.
 */
function kernelPlacement(input: RunInput, source: Notebook, allow: AllowList): KernelPlacement | undefined {
  const ownMetadata = (source.metadata as Record<string, unknown>)['millrace'];
  let placement: KernelPlacement | undefined;
  try {
    placement = mergePlacement(input.placement, (ownMetadata as Record<string, unknown> | undefined)?.['kernel']);
  } catch (err) {
    throw ApplicationFailure.nonRetryable((err as Error).message, 'BadNotebook');
  }
  const refused = refusal(placement, allow, process.env);
  if (refused) throw ApplicationFailure.nonRetryable(refused, 'PlacementRefused');
  return placement;
}

/** A cell's own time limit: tag `timeout=SECONDS`, else metadata `millrace.timeout`. */
function cellTimeout(cell: Cell, index: number): { timeoutS?: number } {
  const tag = cellTags(cell).find((t) => t.startsWith('timeout='));
  const raw = tag ? Number(tag.slice('timeout='.length)) : cellMillrace(cell).timeout;
  if (raw === undefined) return {};
  if (typeof raw !== 'number' || !Number.isFinite(raw) || raw <= 0) {
    throw ApplicationFailure.nonRetryable(
      `cell ${index}: timeout must be a positive number of seconds (tag timeout=SECONDS or metadata millrace.timeout)`,
      'BadCellTimeout',
    );
  }
  return { timeoutS: raw };
}

/**
 * A scheduled run's nominal time, as the parameters its notebook declares for it (like
 * Airflow's logical date, so a backfill computes the right day): the time in ISO 8601 and
 * the date, both in the schedule's time zone.
 */
function nominalTimeParameters(input: RunInput, source: Notebook, kernelName: string): Params {
  const schedule = input.schedule;
  if (!schedule?.nominalTime) return {};
  const declared = new Set(inferParameters(source, { kernelName }).map((p) => p.name));
  const local = localIsoTime(new Date(schedule.nominalTime), schedule.timezone);
  const params: Params = {};
  if (declared.has(schedule.timeParameter)) params[schedule.timeParameter] = str(local);
  if (declared.has(schedule.dateParameter)) params[schedule.dateParameter] = str(local.slice(0, 10));
  return params;
}

/** `2024-01-01T06:00:00+01:00` (`Z` in UTC): the wall-clock time in `timeZone` and its offset. */
function localIsoTime(time: Date, timeZone: string): string {
  const wall = wallClock(time, timeZone);
  const offsetMin = Math.round((Date.parse(`${wall}Z`) - Math.floor(time.getTime() / 1000) * 1000) / 60_000);
  if (offsetMin === 0) return `${wall}Z`;
  const abs = Math.abs(offsetMin);
  return `${wall}${offsetMin < 0 ? '-' : '+'}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}
