/**
 * `millrace resume RUN`: a new run that continues a failed or cancelled one from its
 * first unfinished cell (or --from-cell N). The cells before it keep their recorded
 * outputs; a fresh kernel gets their state back by running them again (--restore replay)
 * or by loading the namespace the earlier run saved after the last of them (--restore
 * checkpoint, for runs started with --checkpoint). A checkpoint that is missing or
 * incomplete is refused here, before anything starts: never continue on a partial state.
 */
import { defaultPayloadConverter } from '@temporalio/client';
import { isExecutable, type Notebook } from '../../notebook/nbformat.js';
import type { Params } from '../../notebook/params.js';
import { cellStatus, removeErrorMarkers } from '../../notebook/record.js';
import { joinLocation, locationBasename, store } from '../../record/store/index.js';
import { readRecord } from '../../record/run-record.js';
import {
  checkpointCellFor,
  checkpointCells,
  checkpointUnusable,
  dataLocation,
  readManifest,
} from '../../activities/checkpoint.js';
import { checkpointFolder, runInputSchema, scheduledRunInput, type ResumeFrom, type RunInput } from '../../workflows/contracts.js';
import { UserError } from '../errors.js';
import { progressLog } from '../output.js';
import { checkRunArgument, withRunSession } from '../run-ids.js';
import { NEEDS_WORKER, type Session } from '../session.js';
import { checkParameters, newRunId, resolveParameters, submitWarnings, validateNewRunId, type ParameterArgs } from '../submit.js';
import { DETACHED } from '../run-here.js';
import { submitRun } from '../follow-run.js';

export interface ResumeOptions extends ParameterArgs {
  fromCell?: number;
  restore: 'replay' | 'checkpoint';
  id?: string;
  detach: boolean;
  json: boolean;
}

/** The input the earlier run was started with, from its history (exact, unlike the record). */
async function earlierInput(session: Pick<Session, 'client'>, runId: string): Promise<{ input: RunInput; status: string }> {
  const handle = session.client.workflow.getHandle(runId);
  const description = await handle.describe();
  const status = description.status.name;
  const raw = description.searchAttributes?.['TemporalScheduledStartTime']?.[0];
  const nominalTime = raw ? new Date(raw as string | Date).toISOString() : undefined;
  if (status === 'RUNNING') throw new UserError(`run ${runId} is still running: resume it once it has failed, or cancel it first`);
  if (status === 'COMPLETED') throw new UserError(`run ${runId} completed: there is nothing to resume (start a new run with \`millrace run\`)`);
  const history = await handle.fetchHistory();
  const payload = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
  const parsed = runInputSchema.safeParse(payload ? defaultPayloadConverter.fromPayload(payload) : undefined);
  if (!parsed.success) throw new UserError(`run ${runId} was not started by millrace run: it cannot be resumed`);
  // A scheduled run's history holds its schedule's shared input: resolve this run's own.
  return { input: scheduledRunInput(parsed.data, runId, nominalTime), status };
}

export async function resumeCommand(run: string, options: ResumeOptions): Promise<number> {
  checkRunArgument(run, 'resume');
  const overrides = await resolveParameters(options);
  const newId = options.id ? validateNewRunId(options.id) : undefined;
  const needs = options.detach ? DETACHED : NEEDS_WORKER;
  return withRunSession({ needs, json: options.json, run }, async (session, runId, config) => {
    const { input, warnings, fromCell } = await resumeInput(session, runId, config.storeRoot, { fromCell: options.fromCell, restore: options.restore, overrides, id: newId });
    const how = input.resume?.checkpoint ? `, restoring its checkpoint after cell ${input.resume.checkpoint.cell}` : '';
    for (const message of warnings) progressLog(options)(message);
    progressLog(options)(`resuming ${runId} from cell ${fromCell} as ${input.runId}${how}`);
    return submitRun(session, input, { ...options, warnings });
  });
}

/** What a resume of `runId` can change: the parameters it ran with, and whether it took checkpoints. */
export async function resumeOffer(session: Pick<Session, 'client'>, runId: string): Promise<{ parameters: Params; checkpoints: boolean }> {
  const { input } = await earlierInput(session, runId);
  return { parameters: input.parameters, checkpoints: input.checkpoint === true };
}

export interface ResumeRequest {
  /** Default: the first cell that did not complete. */
  fromCell?: number;
  restore: 'replay' | 'checkpoint';
  overrides: Params;
  /** The new run's id (checked already); default a fresh one. */
  id?: string;
}

/**
 * The input of a run that resumes `runId`, refused in one line when it cannot (still
 * running, completed, no such cell, a cell past an unfinished one, no usable checkpoint).
 * `millrace resume` and the inspector's resume key (cli/inspect/actions.ts) both start it.
 */
export async function resumeInput(
  session: Pick<Session, 'client'>,
  runId: string,
  storeRoot: string,
  request: ResumeRequest,
): Promise<{ input: RunInput; warnings: string[]; fromCell: number }> {
  const { overrides } = request;
  const earlier = await earlierInput(session, runId);
  const record = removeErrorMarkers((await readRecord(earlier.input.output)).notebook);
  const firstUnfinished = record.cells.findIndex((c) => isExecutable(c) && cellStatus(c) !== 'completed');
  const fromCell = request.fromCell ?? firstUnfinished;
  if (fromCell < 0) throw new UserError(`run ${runId} has no unfinished cell to resume from: pass --from-cell N`);
  if (fromCell >= record.cells.length) {
    throw new UserError(`--from-cell ${fromCell}: run ${runId}'s notebook has cells 0 to ${record.cells.length - 1}`);
  }
  if (request.fromCell !== undefined && firstUnfinished >= 0 && request.fromCell > firstUnfinished) {
    throw new UserError(`--from-cell ${request.fromCell}: cell ${firstUnfinished} did not complete in run ${runId}; resume from it or an earlier cell`);
  }
  const id = request.id ?? newRunId(earlier.input.inputPath);
  const input: RunInput = {
    ...earlier.input,
    runId: id,
    parameters: checkParameters({ ...earlier.input.parameters, ...overrides }),
    output: joinLocation(storeRoot, 'runs', id, locationBasename(earlier.input.output)),
    resume: {
      runId,
      record: earlier.input.output,
      fromCell,
      fromCellId: record.cells[fromCell]!.id,
      ...(request.restore === 'checkpoint' ? await chooseCheckpoint(runId, earlier.input, record, fromCell, overrides) : {}),
    },
  };
  // Names the earlier run's notebook does not declare, as `run` warns of them.
  return { input, warnings: submitWarnings(record, overrides, earlier.input.kernelName), fromCell };
}

/**
 * --restore checkpoint: the checkpoint the earlier run saved after its last code cell
 * before the resume point, refused (one line, naming what is wrong) when the run took no
 * checkpoints, none covers the resume point, or it lacks objects dill could not serialise.
 */
async function chooseCheckpoint(
  runId: string,
  earlier: RunInput,
  record: Notebook,
  fromCell: number,
  overrides: Params,
): Promise<Pick<ResumeFrom, 'restore' | 'checkpoint' | 'reassign'>> {
  if (!earlier.checkpoint) {
    throw new UserError(`run ${runId} was not started with --checkpoint, so it has no checkpoints: resume it with --restore replay`);
  }
  // The checkpoint holds the earlier values of every parameter: the changed ones are assigned again.
  const reassign = Object.keys(overrides).filter((name) => JSON.stringify(overrides[name]) !== JSON.stringify(earlier.parameters[name]));
  const cell = checkpointCellFor(record, fromCell);
  // No code cell before the resume point: the fresh kernel already is the state to start from.
  if (cell === undefined) return { restore: 'checkpoint', reassign };
  const folder = checkpointFolder(earlier);
  const manifest = await readManifest(folder, cell).catch((err: Error) => {
    throw new UserError(`run ${runId}'s checkpoint after cell ${cell} is unreadable (${err.message}): resume with --restore replay`);
  });
  if (!manifest) {
    const before = (await checkpointCells(folder)).filter((c) => c < cell).pop();
    const hint =
      before === undefined
        ? 'resume with --restore replay'
        : `the latest before it was saved after cell ${before}: resume with --from-cell ${before + 1}, or with --restore replay`;
    throw new UserError(`no checkpoint of run ${runId} covers cell ${fromCell}: none was saved after cell ${cell}; ${hint}`);
  }
  const unusable = checkpointUnusable(manifest);
  if (unusable) {
    throw new UserError(`run ${runId}'s checkpoint after cell ${cell} cannot be restored: ${unusable}; resume with --restore replay`);
  }
  const location = dataLocation(folder, cell);
  if (!(await store.exists(location))) {
    throw new UserError(`run ${runId}'s checkpoint after cell ${cell} has a manifest but no data (${location}): resume with --restore replay`);
  }
  return { restore: 'checkpoint', checkpoint: { cell, location, sha256: manifest.sha256!, bytes: manifest.bytes }, reassign };
}
