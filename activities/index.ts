/**
 * The side effects of a notebook run, one function per step of the workflow. Created
 * per worker with its configuration (the Jupyter token never travels through history).
 */
import { ApplicationFailure, Context, log } from '@temporalio/activity';
import { createHash } from 'node:crypto';
import { cellSummary, cellTags, isExecutable, parseNotebook, type Cell, type Notebook } from '../notebook/nbformat.js';
import { inferParameters, parameterize } from '../notebook/parameterize.js';
import { paramsToJson, str, type Params } from '../notebook/params.js';
import { addErrorBanner, finishRecord, initRecord } from '../notebook/record.js';
import { wallClock } from '../notebook/time.js';
import { MILLRACE_VERSION } from '../notebook/version.js';
import type {
  CellResult,
  ExecuteCellInput,
  FinalizeInput,
  KernelHandle,
  PrepareResult,
  ReplayInput,
  RestoreInput,
  RunInput,
  StartedKernel,
} from '../workflows/contracts.js';
import type { BackgroundWork } from './background.js';
import { CheckpointError, requireCheckpointSupport, restoreNamespace } from './checkpoint.js';
import { executeCell, replayCells } from './execute-cell.js';
import { connectKernel, KernelError, serverSettings, shutdownKernel, startKernel, type JupyterConfig } from './jupyter.js';
import type { KernelPool, PooledKernel } from './kernel-pool.js';
import { notifyWebhook } from './notify.js';
import { installOutcomeRegistry } from './outcomes.js';
import { createRepairActivities } from './repair.js';
import { carryOver, linkEarlierRun, readEarlierRecord, resumeIndex } from './resume.js';
import { cellMillrace, replaceNotebookMillrace, withNotebookMillrace, type RunRecordMillrace } from '../record/metadata.js';
import { forgetRecord, journalFolder, openRecord, refuseOtherRunsRecord, rememberRecord, RunRecord } from '../record/run-record.js';
import { store } from '../record/store/index.js';

export interface ActivityDeps {
  jupyter: JupyterConfig;
  /** Kernels started ahead of runs (activities/kernel-pool.ts); none when absent. */
  kernelPool?: KernelPool;
  /** Where kernel shutdowns run without holding up the run's result; awaited when absent. */
  background?: BackgroundWork;
}

const now = () => new Date().toISOString();

export function createActivities(deps: ActivityDeps) {
  const settings = serverSettings(deps.jupyter);

  /** Starts a kernel and waits until it answers, with the outcome registry installed where it can be. */
  const startFreshKernel = async (request: { runId: string; kernelName: string }): Promise<PooledKernel> => {
    try {
      const model = await startKernel(settings, request.kernelName, request.runId);
      const connection = await connectKernel(settings, model);
      const info = await connection.info;
      const outcomeRegistry = await installOutcomeRegistry(connection, info.language_info.name);
      return { model, connection, languageInfo: info.language_info as unknown as Record<string, unknown>, outcomeRegistry };
    } catch (err) {
      if (err instanceof KernelError && err.kind === 'unknown-kernel') {
        throw ApplicationFailure.nonRetryable(err.message, 'UnknownKernel');
      }
      throw err;
    }
  };

  return {
    /** Snapshot → parameterized, papermill-initialised output notebook in the store. */
    async prepareRun(input: RunInput): Promise<PrepareResult> {
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
      let parameterized: Notebook;
      let warnings: string[];
      let parameters: Params = input.parameters;
      try {
        parameters = { ...parameters, ...nominalTimeParameters(input, source, kernelName) };
        ({ notebook: parameterized, warnings } = parameterize(source, parameters, { kernelName }));
      } catch (err) {
        throw ApplicationFailure.nonRetryable((err as Error).message, 'BadParameters');
      }
      const record0 = initRecord(parameterized, {
        inputPath: input.inputPath,
        outputPath: input.output,
        parameters: paramsToJson(parameters),
        startTime: now(),
        version: MILLRACE_VERSION,
      });
      const codeCells = record0.cells.flatMap((cell, index) =>
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
      const millrace: RunRecordMillrace = { run_id: input.runId, revision: 0, ...(input.schedule ? { schedule: input.schedule.name } : {}) };
      let notebook: Notebook = record0;
      let startAt = 0;
      if (input.resume) {
        const { fromCell } = input.resume;
        const at = resumeIndex(record0, input.resume);
        if (at < 0) {
          throw ApplicationFailure.nonRetryable(`cell ${fromCell} of run ${input.resume.runId} is not in this notebook`, 'BadResume');
        }
        notebook = carryOver(record0, await readEarlierRecord(input.resume), input.resume);
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
      return { kernelName, startAt, totalCells: notebook.cells.length, codeCells, warnings };
    },

    /** Starts a kernel and waits until it answers, returning its language_info for the record. */
    async startKernel(request: { runId: string; kernelName: string; checkpoint?: boolean }): Promise<StartedKernel> {
      const kernel = (await deps.kernelPool?.take(request.kernelName, request.runId)) ?? (await startFreshKernel(request));
      const { model, connection, languageInfo, outcomeRegistry } = kernel;
      if (request.checkpoint) {
        await requireCheckpointSupport(connection, String(languageInfo['name'])).catch(async (err: unknown) => {
          // The workflow never learns this kernel's id: shut it down here.
          await shutdownKernel(settings, model.id).catch(() => undefined);
          throw err instanceof CheckpointError ? ApplicationFailure.nonRetryable(err.message, 'CheckpointUnsupported') : err;
        });
      }
      return { kernel: { kernelId: model.id, kernelName: model.name, outcomeRegistry }, languageInfo };
    },

    executeCell(input: ExecuteCellInput): Promise<CellResult> {
      return executeCell(settings, input);
    },

    replayCells(input: ReplayInput): Promise<void> {
      return replayCells(settings, input);
    },

    /** `resume --restore checkpoint`: the earlier run's saved namespace, loaded into the new kernel. */
    async restoreCheckpoint(input: RestoreInput): Promise<{ names: number }> {
      const ctx = Context.current();
      const kernel = await connectKernel(settings, { id: input.kernel.kernelId, name: input.kernel.kernelName });
      const beat = () => ctx.heartbeat();
      const beating = setInterval(beat, 2_000);
      try {
        const plan = input.checkpoint
          ? { location: input.checkpoint.location, sha256: input.checkpoint.sha256, bytes: input.checkpoint.bytes }
          : undefined;
        const names = await restoreNamespace(kernel, plan, input.parameters, beat);
        return { names: names.length };
      } catch (err) {
        if (!(err instanceof CheckpointError)) throw err;
        const which = input.checkpoint ? `the checkpoint saved after cell ${input.checkpoint.cell}` : 'the new parameter values';
        throw ApplicationFailure.nonRetryable(`restoring ${which} failed: ${err.message}`, 'CheckpointRestoreFailed');
      } finally {
        clearInterval(beating);
      }
    },

    async finalizeRun(input: FinalizeInput): Promise<{ output: string }> {
      const record = await openRecord(input.output, 'latest');
      const languageInfo = input.languageInfo;
      const failed = input.status !== 'completed';
      record.update((nb) => {
        let out = finishRecord(nb, { endTime: now(), failed });
        if (languageInfo) out = { ...out, metadata: { ...out.metadata, language_info: languageInfo as Notebook['metadata']['language_info'] } };
        if (input.status === 'failed' && input.failedCell !== undefined) out = addErrorBanner(out, input.failedCell);
        return withNotebookMillrace(out, { revision: record.meta.revision + 1, status: input.status });
      });
      await record.flush();
      forgetRecord(input.output);
      // The whole record is written and final: its journal is no longer read by anyone.
      await store.removeFolder(journalFolder(input.output)).catch((err: unknown) =>
        log.warn('could not remove the record journal', { output: input.output, error: String(err) }),
      );
      return { output: input.output };
    },

    /**
     * Does nothing, on purpose: a workflow whose cells run as local activities schedules
     * it to end its workflow task (WORKFLOW_TASK_SLICE_MS in workflows/notebook-run.ts).
     * Dispatched eagerly, it costs one round trip through the server, where a timer
     * waited for the server's timer queue (about half a second on the dev server).
     */
    async sliceWorkflowTask(): Promise<void> {},

    /**
     * Asks Jupyter to shut the kernel down without waiting for its process to exit: the
     * run's record is final by now. A shutdown that fails is logged; the orphan reaper
     * (worker/orphans.ts) shuts down what is left of a finished run. With `wait`, returns
     * once Jupyter has shut it down: a run that replaces a dead kernel starts the new one
     * in the same session, which Jupyter would otherwise answer with the old kernel.
     */
    async shutdownKernel(kernel: KernelHandle, options: { wait?: boolean } = {}): Promise<void> {
      if (!deps.background || options.wait) return shutdownKernel(settings, kernel.kernelId);
      const logger = Context.current().log;
      deps.background.add(
        () => shutdownKernel(settings, kernel.kernelId),
        (err) => logger.warn('could not shut the kernel down', { kernelId: kernel.kernelId, error: String(err) }),
      );
    },

    notifyWebhook,

    // --on-failure pause: retry, exec and skip on a paused run.
    ...createRepairActivities(settings),
  };

}

export type MillraceActivities = ReturnType<typeof createActivities>;

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
