/**
 * One code cell on a kernel: send it once, collect its outputs as nbclient does, keep the
 * record current in the store while it runs, and return a bounded result.
 */
import { ApplicationFailure, CancelledFailure, Context } from '@temporalio/activity';
import type { Kernel, KernelMessage, ServerConnection } from '@jupyterlab/services';
import { cellTags, isExecutable, sourceText, type CodeCell, type Notebook } from '../notebook/nbformat.js';
import { CellOutputCollector, type IopubMessage } from '../notebook/outputs.js';
import { cellStatus, markCellCompleted, markCellFailed, markCellRunning } from '../notebook/record.js';
import type { CellResult, ExecuteCellInput, RecordSavedInput, ReplayInput, ReplayResult } from '../workflows/contracts.js';
import { inCellChain, type Announce } from './cell-chain.js';
import { execute, type ExecuteOutcome, type ExecuteReply } from './execute-request.js';
import { parkSentAhead, sendRequest, takeSentAhead, wasAborted, wasSentAhead, type SentRequest } from './sent-ahead.js';
import { withHeartbeats } from './heartbeat.js';
import { connectKernel, KernelError } from './jupyter.js';
import { checkpointWanted, saveCheckpoint } from './checkpoint.js';
import { executionMsgId, lookUpExecution } from './execution-registry.js';
import { runRecordMillrace, withCellMillrace, withNotebookMillrace } from '../record/metadata.js';
import { openRecord, ownedRecord, recordInMemory, StaleRecordError, type RunRecord } from '../record/run-record.js';
import { store } from '../record/store/index.js';
import { lostSavedFileMessage, savedFileDeclared, savedFilePayload } from '../notebook/saved-files.js';
import { SavedFiles } from './saved-files.js';

/** What a result may carry of a kernel's error text: history stays small. */
const MAX_ERROR_TEXT = 2_000;
/** A cell that ends sooner costs one write; a longer one shows as running. */
const FIRST_WRITE_DELAY_MS = 250;
const LIVE_WRITE_INTERVAL_MS = 1_000;
/**
 * How long local cells may save the record write-behind after the workflow last waited for
 * it (RunRecord.syncedAt). Local activities keep one workflow task open, and the SDK's Core
 * heartbeats a task held open 8 s (80% of the 10 s task timeout) by completing it with the
 * results so far: by then every write is waited for again, so history never gets ahead of
 * the store.
 */
const WRITE_BEHIND_MS = 4_000;

export function clip(text: string, max = MAX_ERROR_TEXT): string {
  return text.length <= max ? text : `${text.slice(0, max)}… [${text.length - max} more characters]`;
}

/** What went wrong, as a result carries it: the kernel's error (clipped), or an aborted request; none when it ran ok. */
export function replyError(reply: ExecuteReply, maxEvalue = MAX_ERROR_TEXT): { ename: string; evalue: string } | undefined {
  if (reply.status === 'error') return { ename: clip(reply.ename, 200), evalue: clip(reply.evalue, maxEvalue) };
  if (reply.status === 'aborted') return { ename: 'ExecutionAborted', evalue: 'the kernel aborted this execution' };
  return undefined;
}

const now = () => new Date().toISOString();

/** An error output millrace adds itself (timeout, dead kernel), shaped like a kernel's. */
function errorMessage(ename: string, evalue: string): IopubMessage {
  return { header: { msg_type: 'error' }, content: { ename, evalue, traceback: [`${ename}: ${evalue}`] } };
}

/** papermill marks cells it does not send (markdown, raw, empty code) completed as it passes them. */
export function completePassedCells(nb: Notebook, beforeIndex: number): Notebook {
  let out = nb;
  for (let i = 0; i < beforeIndex; i++) {
    const cell = out.cells[i]!;
    if (!isExecutable(cell) && cellStatus(cell) === 'pending') {
      const t = now();
      out = markCellCompleted(markCellRunning(out, i, t), i, t);
    }
  }
  return out;
}

function nextRevision(record: RunRecord, revision: number): void {
  record.update((nb) => withNotebookMillrace(nb, { revision }));
}

/** The result of a cell that the record already shows finished. */
function resultFromRecord(record: RunRecord, index: number): CellResult {
  const cell = record.notebook.cells[index] as CodeCell;
  const error = cell.outputs.find((o) => o.output_type === 'error');
  const failed = cellStatus(cell) === 'failed';
  return {
    status: failed ? 'error' : 'ok',
    executionCount: cell.execution_count,
    ...(failed && error?.output_type === 'error' ? { ename: clip(error.ename, 200), evalue: clip(error.evalue) } : {}),
    outputCount: cell.outputs.length,
    durationMs: Math.round(((cell.metadata['papermill'] as { duration?: number } | undefined)?.duration ?? 0) * 1000),
  };
}

/** Marks a cell whose worker died mid-execution: what was saved stays, and says so. */
function recoveryNote(lostAt: string): IopubMessage {
  return {
    header: { msg_type: 'stream' },
    content: {
      name: 'stderr',
      text: `[millrace] the worker running this cell was lost at about ${lostAt}; output the cell produced while no worker was attached could not be recovered\n`,
    },
  };
}

/** An execution in the kernel, awaited by whichever activity owns it at the moment. */
interface Execution {
  kernel: Kernel.IKernelConnection;
  record: RunRecord;
  input: ExecuteCellInput;
  msgId: string;
  collector: CellOutputCollector;
  /** Files the cell saves to the run's folder: their parts never reach the collector. */
  files: SavedFiles;
  outcome: Promise<ExecuteOutcome>;
  started: number;
  /** Off between a hand-off and its adoption: only the activity that owns a cell writes its record. */
  saving: boolean;
}

/**
 * Cells a local activity handed off, still running, until the regular activity that
 * continues them adopts them. Eager activity dispatch brings that activity back to this
 * process at once; one that lands elsewhere recovers through the execution registry instead.
 */
const handedOff = new Map<string, { execution: Execution; expire: NodeJS.Timeout }>();
const ADOPTION_WINDOW_MS = 60_000;

/**
 * Runs one code cell, exactly once across attempts, workers and lost workflow tasks. As a
 * local activity (`handOffAfterMs`) a short cell costs no Temporal round trip of its own;
 * a cell still running after that long is handed off to a regular activity (`attach`)
 * with heartbeats, so long cells keep a live, cancellable activity in the UI.
 */
export async function executeCell(settings: ServerConnection.ISettings, input: ExecuteCellInput): Promise<CellResult> {
  // Pipelined cells: the next cell may be started, and sent, while this one runs (cell-chain.ts).
  const firstAttempt = Context.current().info.attempt === 1 && !input.attach;
  const result = await inCellChain<SentRequest>(input, firstAttempt, {
    sendAhead: (after, announce) => sendAhead(settings, input, after, announce),
    execute: (announce, ahead) => executeCellOnce(settings, input, announce, ahead),
    park: parkSentAhead,
  });
  // An ended cell was saved at the next revision; a handed-off or unsent one saved none.
  return result.status === 'running' || result.status === 'not-sent' ? result : { ...result, revision: input.revision + 1 };
}

/**
 * Whether the next cell may be sent behind this one, gated on it: only where the kernel's
 * verdict is the worker's. Not behind a cell whose failure the kernel does not see (a file it
 * saves that does not reach the store, a timeout the worker decides), one whose checkpoint
 * must be taken before anything else runs, or one allowed to raise.
 */
function mayLeadNext(input: ExecuteCellInput, code: string): boolean {
  return (
    input.kernel.cellGate === true &&
    !input.raisesException &&
    input.timeoutS === undefined &&
    !input.checkpoints &&
    savedFileDeclared(code) === undefined
  );
}

/**
 * The cell sent behind the cell before it, which still runs: gated on that one's request
 * `after`, so the kernel runs it only if that one passed. Its code comes from this worker's
 * copy of the record; undefined (sent later, as any cell) when there is none or no kernel.
 */
async function sendAhead(settings: ServerConnection.ISettings, input: ExecuteCellInput, after: string, announce: Announce): Promise<SentRequest | undefined> {
  const cell = recordInMemory(input.output)?.notebook.cells[input.cellIndex];
  if (cell?.cell_type !== 'code') return undefined;
  const kernel = await connectKernel(settings, { id: input.kernel.kernelId, name: input.kernel.kernelName }).catch(() => undefined);
  if (!kernel) return undefined;
  const code = sourceText(cell.source);
  const msgId = executionMsgId(input.runId, input.cellIndex, input.revision);
  const request = sendRequest(kernel, { code, msgId, after, timeoutMs: timeoutMsOf(input) });
  announce(mayLeadNext(input, code) ? msgId : undefined);
  return request;
}

const timeoutMsOf = (input: ExecuteCellInput) => (input.timeoutS === undefined ? undefined : input.timeoutS * 1000);

async function executeCellOnce(settings: ServerConnection.ISettings, input: ExecuteCellInput, announce: Announce, ahead?: SentRequest): Promise<CellResult> {
  const ctx = Context.current();
  const index = input.cellIndex;
  const msgId = executionMsgId(input.runId, index, input.revision);
  // Sent ahead, now or by an earlier activity of this cell: parked until taken over below,
  // so an attempt that fails before that leaves it to the next.
  if (ahead) parkSentAhead(ahead);
  const parked = input.attach && ctx.info.attempt === 1 ? adopt(msgId) : undefined;
  // Regular activities heartbeat (a dead worker is noticed, a cancel arrives); local ones cannot.
  const heartbeat = { kernelId: input.kernel.kernelId, msgId };
  if (parked) return withHeartbeats(() => awaitExecution(parked), heartbeat);

  // Only a record this process wrote itself proves that nobody has sent this cell yet. The
  // previous cell's revision, saved write-behind, is in the store before this one is sent.
  const trusted = ctx.info.attempt === 1 && !input.attach ? await ownedRecord(input.output, input.revision) : undefined;
  const record = trusted ?? (await openRecord(input.output, 'latest'));
  if (record.meta.revision > input.revision) {
    // Finished and saved already: its worker died after saving, or the workflow task that
    // recorded a local activity's result was lost.
    return resultFromRecord(record, index);
  }
  if (record.meta.revision !== input.revision) {
    throw new StaleRecordError(input.output, input.revision, record.meta.revision);
  }
  const cell = record.notebook.cells[index];
  if (!cell || cell.cell_type !== 'code') {
    throw ApplicationFailure.nonRetryable(`cell ${index} is not a code cell`, 'BadCellIndex');
  }
  const kernel = await connectKernel(settings, { id: input.kernel.kernelId, name: input.kernel.kernelName }).catch((err: unknown) =>
    failVanishedKernel(record, input, err),
  );
  const sentAhead = input.attach ? undefined : takeSentAhead(msgId);
  if (sentAhead) return withHeartbeats(() => awaitExecution(send(kernel, record, input, msgId, announce, sentAhead), input.handOffAfterMs), heartbeat);
  // A kernel without an execution registry cannot answer; its cells only ever run as
  // regular activities, whose first attempt is the first send. A request sent ahead here
  // and no longer kept may have run.
  const ask = (!trusted && (ctx.info.attempt > 1 || input.attach === true || input.kernel.outcomeRegistry === true)) || wasSentAhead(msgId);
  return withHeartbeats(async () => {
    if (ask) {
      const recovered = await recoverExecution(kernel, record, input, msgId);
      if (recovered) return recovered;
    }
    return awaitExecution(send(kernel, record, input, msgId, announce), input.handOffAfterMs);
  }, heartbeat);
}

/**
 * The run's kernel is gone from the Jupyter Server (it restarted under the run): a kernel
 * loss like a death, found when connecting. The cell is saved failed with the reason, and
 * the run goes on as --on-kernel-loss says. Any other error is rethrown as it is.
 */
async function failVanishedKernel(record: RunRecord, input: ExecuteCellInput, err: unknown): Promise<never> {
  if (!(err instanceof KernelError && err.kind === 'kernel-gone')) throw err;
  const index = input.cellIndex;
  const dead = { output_type: 'error' as const, ename: 'DeadKernelError', evalue: err.message, traceback: [`DeadKernelError: ${err.message}`] };
  record.update((nb) => {
    const t = now();
    const started = cellStatus(nb.cells[index]!) === 'running' ? nb : markCellRunning(completePassedCells(nb, index), index, t);
    const cell = started.cells[index] as CodeCell;
    const cells = [...started.cells];
    cells[index] = { ...cell, outputs: [...cell.outputs, dead] };
    return markCellFailed({ ...started, cells }, index, t);
  });
  nextRevision(record, input.revision + 1);
  await record.flush();
  record.owned = true;
  throw ApplicationFailure.nonRetryable(`kernel lost at cell ${index}: ${err.message}`, 'KernelLost', {
    cellIndex: index,
    ename: 'DeadKernelError',
    evalue: err.message,
  });
}

function adopt(msgId: string): Execution | undefined {
  const parked = handedOff.get(msgId);
  if (!parked) return undefined;
  handedOff.delete(msgId);
  clearTimeout(parked.expire);
  parked.execution.saving = true;
  parked.execution.record.saveSoon(LIVE_WRITE_INTERVAL_MS);
  return parked.execution;
}

function park(execution: Execution): void {
  const expire = setTimeout(() => handedOff.delete(execution.msgId), ADOPTION_WINDOW_MS);
  expire.unref();
  handedOff.set(execution.msgId, { execution, expire });
}

/**
 * A retried attempt: the request may have run, may still run, or never have reached the
 * kernel. Asks the kernel (waiting while the cell still runs) and only sends the code when
 * it never ran. Returns undefined when the code is to be sent now.
 */
async function recoverExecution(
  kernel: Kernel.IKernelConnection,
  record: RunRecord,
  input: ExecuteCellInput,
  msgId: string,
): Promise<CellResult | undefined> {
  const index = input.cellIndex;
  const started = Date.now();
  const saved = (record.notebook.cells[index] as CodeCell).outputs;
  const collector = new CellOutputCollector(record.notebook, index);
  const listen = (_: unknown, msg: KernelMessage.IIOPubMessage) => {
    // Parts of a file the cell saves are never recorded; a file whose parts went to a lost worker is not saved.
    if (savedFilePayload(msg.header.msg_type, msg.content) !== undefined) return;
    if ((msg.parent_header as Partial<KernelMessage.IHeader>)?.msg_id === msgId) collector.apply(msg as unknown as IopubMessage);
  };
  kernel.iopubMessage.connect(listen);
  let answer;
  try {
    answer = await lookUpExecution(kernel, msgId);
  } finally {
    kernel.iopubMessage.disconnect(listen);
  }
  if (answer.kind === 'never-ran') return undefined;
  if (answer.kind === 'unknown') {
    if (input.idempotent) return undefined;
    throw ApplicationFailure.nonRetryable(
      `worker lost while cell ${index} was running; outcome unknown (${answer.why}); tag the cell "idempotent" to allow running it again`,
      'OutcomeUnknown',
    );
  }
  const found = answer.outcome;
  // A file the cell saved went, in parts, to the lost worker: the cell fails rather than
  // passing without it (a resume from this cell saves it).
  const lostFile = found.ok ? savedFileDeclared(sourceText((record.notebook.cells[index] as CodeCell).source)) : undefined;
  const outcome = lostFile ? { ...found, ok: false, ename: 'SavedFileError', evalue: lostSavedFileMessage(lostFile, index) } : found;
  const sawError = collector.outputs.some((o) => o.output_type === 'error');
  if (!outcome.ok && !sawError && outcome.ename) {
    // The kernel's own traceback went to the lost worker; a lost file's message is its own.
    const evalue = outcome.evalue ?? '';
    collector.apply({ header: { msg_type: 'error' }, content: { ename: outcome.ename, evalue, traceback: lostFile ? [`${outcome.ename}: ${evalue}`] : [] } });
  }
  record.includeLiveOutputs(collector);
  record.settle();
  const note = new CellOutputCollector(record.notebook, index);
  note.apply(recoveryNote(now()));
  record.update((nb) => {
    const target = nb.cells[index] as CodeCell;
    const cells = [...nb.cells];
    cells[index] = withCellMillrace(
      { ...target, execution_count: outcome.execution_count ?? target.execution_count, outputs: [...saved, ...note.outputs, ...target.outputs] },
      { recovered: true },
    );
    return { ...nb, cells };
  });
  const ok = outcome.ok;
  if (ok || input.raisesException) await checkpointAfter(kernel, record, input);
  record.update((nb) => (ok || input.raisesException ? markCellCompleted : markCellFailed)(nb, index, now()));
  nextRevision(record, input.revision + 1);
  await record.flush();
  // Not owned: the lost worker may have sent the next cell behind this one (cells sent
  // ahead) before it saved this revision, so the next cell asks the kernel too.
  record.owned = false;
  return {
    status: ok ? 'ok' : 'error',
    executionCount: outcome.execution_count,
    ...(ok ? {} : { ename: clip(outcome.ename ?? 'Error', 200), evalue: clip(outcome.evalue ?? '') }),
    outputCount: (record.notebook.cells[index] as CodeCell).outputs.length,
    durationMs: Date.now() - started,
  };
}

/** A cell sent ahead may have begun in the kernel already (after a hand-off, a while ago): its start is the kernel's. */
function startTime(sentAhead: SentRequest | undefined): string {
  const began = sentAhead?.beganAt();
  const at = began === undefined ? NaN : Date.parse(began);
  return at <= Date.now() ? began! : now();
}

/**
 * Sends the cell, or takes over the request sent ahead: the record shows it running soon
 * after, and its outputs as they come.
 */
function send(kernel: Kernel.IKernelConnection, record: RunRecord, input: ExecuteCellInput, msgId: string, announce: Announce, sentAhead?: SentRequest): Execution {
  const index = input.cellIndex;
  const code = sourceText((record.notebook.cells[index] as CodeCell).source);
  const sendNow = () => sendRequest(kernel, { code, msgId, timeoutMs: timeoutMsOf(input) });
  const request = sentAhead ?? sendNow();
  if (!sentAhead) announce(mayLeadNext(input, code) ? msgId : undefined);
  record.update((nb) => markCellRunning(completePassedCells(nb, index), index, startTime(sentAhead)));
  record.saveSoon(FIRST_WRITE_DELAY_MS);
  const collector = new CellOutputCollector(record.notebook, index);
  record.includeLiveOutputs(collector);
  // The run's folder: where its record is (runs/<run id>/ in the store, or beside --output).
  const files = new SavedFiles(input.output.replace(/\/[^/]*$/, ''), (location, data) => store.write(location, data));
  const execution: Execution = { kernel, record, input, msgId, collector, files, started: Date.now(), saving: true, outcome: request.outcome };
  /** The record follows the request from now on: its outputs, and its timeout. */
  const follow = (followed: SentRequest): Promise<ExecuteOutcome> => {
    followed.listen((msg) => {
      const instead = files.take(msg);
      for (const m of instead ?? [msg]) collector.apply(m);
      if (execution.saving) record.saveSoon(LIVE_WRITE_INTERVAL_MS);
    });
    followed.startTimeout();
    return followed.outcome;
  };
  follow(request);
  if (sentAhead) {
    // Refused by the kernel, so nothing ran (the gate, or ipykernel still aborting after
    // an earlier error): sent again, now that the cell before has passed.
    execution.outcome = sentAhead.outcome.then((outcome) => (wasAborted(outcome) ? follow(sendNow()) : outcome));
    // Whoever awaits the execution handles its failure; while parked nobody does.
    execution.outcome.catch(() => undefined);
  }
  return execution;
}

/** Waits for the execution to end (or, given `handOffAfterMs`, hands it off) and saves the cell. */
async function awaitExecution(execution: Execution, handOffAfterMs?: number): Promise<CellResult> {
  const ctx = Context.current();
  const { kernel, record, input, collector } = execution;
  const index = input.cellIndex;

  const finish = async (mark: typeof markCellCompleted, writeBehind = false): Promise<void> => {
    record.settle();
    record.update((nb) => mark(nb, index, now()));
    nextRevision(record, input.revision + 1);
    if (writeBehind) {
      // The next local cell waits for this write before it is sent (ownedRecord), and the
      // workflow for all of them (recordSaved) before anything else.
      record.save();
    } else {
      await record.flush();
    }
    record.owned = true;
  };

  let budget: NodeJS.Timeout | undefined;
  const handOff = new Promise<'hand-off'>((resolve) => {
    if (handOffAfterMs !== undefined) budget = setTimeout(() => resolve('hand-off'), handOffAfterMs);
  });
  try {
    const outcome = await Promise.race([execution.outcome, ctx.cancelled, handOff]);
    const durationMs = Date.now() - execution.started;
    if (outcome === 'hand-off') {
      execution.saving = false;
      await record.flush();
      park(execution);
      return { status: 'running', executionCount: null, outputCount: collector.outputs.length, durationMs };
    }
    if (outcome.kind === 'timeout') {
      await kernel.interrupt().catch(() => undefined);
      const evalue = `Cell execution timed out after ${input.timeoutS} s`;
      collector.apply(errorMessage('CellTimeoutError', evalue));
      await finish(markCellFailed);
      return { status: 'timeout', executionCount: null, ename: 'CellTimeoutError', evalue, outputCount: collector.outputs.length, durationMs };
    }
    const reply = outcome.reply;
    collector.applyExecuteReply(reply as never);
    const content = reply.content;
    // A file the cell saved that did not reach the store fails the cell, after its own outputs.
    const unsaved = await execution.files.settle();
    if (unsaved) collector.apply(errorMessage('SavedFileError', unsaved));
    const ok = content.status === 'ok' && !unsaved;
    if (ok || input.raisesException) await checkpointAfter(kernel, record, input);
    // Write-behind only where the workflow waits for it (input.writeBehind): a passed local cell.
    const writeBehind = ok && input.writeBehind === true && ctx.info.isLocal && Date.now() - record.syncedAt < WRITE_BEHIND_MS;
    await finish(ok || input.raisesException ? markCellCompleted : markCellFailed, writeBehind);
    const error = replyError(content) ?? (unsaved ? { ename: 'SavedFileError', evalue: clip(unsaved) } : {});
    return {
      status: ok ? 'ok' : 'error',
      executionCount: collector.executionCount,
      ...error,
      outputCount: collector.outputs.length,
      durationMs,
    };
  } catch (err) {
    if (err instanceof CancelledFailure) {
      await kernel.interrupt().catch(() => undefined);
      collector.apply(errorMessage('RunCancelled', 'the run was cancelled while this cell was running'));
      await finish(markCellFailed);
      throw err;
    }
    if (err instanceof KernelError) {
      collector.apply(errorMessage('DeadKernelError', err.message));
      await finish(markCellFailed);
      throw ApplicationFailure.nonRetryable(`kernel lost at cell ${index}: ${err.message}`, 'KernelLost', {
        cellIndex: index,
        ename: 'DeadKernelError',
        evalue: err.message,
      });
    }
    throw err;
  } finally {
    clearTimeout(budget);
  }
}

/**
 * The workflow's barrier after local cells that saved the record write-behind: returns once
 * the record at `revision` is in the store (openRecord writes this process's copy, or
 * reads the store's), before a step that may run on another worker or end the workflow task.
 */
export async function recordSaved(input: RecordSavedInput): Promise<void> {
  try {
    const record = await openRecord(input.output, input.revision);
    record.syncedAt = Date.now();
  } catch (err) {
    // The store ahead of history is not what this barrier guards against: a workflow task
    // lost with its local cells' results (a Temporal outage) left a cell saved past the
    // revision history knows, and that cell, run again, finds itself finished
    // (executeCellOnce). Only a store behind history fails here.
    if (err instanceof StaleRecordError && err.found > err.expected) return;
    throw err;
  }
}

/**
 * --checkpoint: the namespace as the completed cell left it, saved before the record says
 * the cell completed, so a record showing it completed means its checkpoint exists (a
 * retried attempt that finds the cell finished saves it on its recovery path).
 */
async function checkpointAfter(kernel: Kernel.IKernelConnection, record: RunRecord, input: ExecuteCellInput): Promise<void> {
  if (!input.checkpoints || !checkpointWanted(record.notebook, input.cellIndex)) return;
  const cellId = record.notebook.cells[input.cellIndex]?.id ?? null;
  await saveCheckpoint(kernel, { runId: input.runId, folder: input.checkpoints, cell: input.cellIndex, cellId });
}

/**
 * --on-kernel-loss restart: executes the cells before the lost one again in a fresh
 * kernel (their outputs are not recorded again: the record keeps the first run's), and
 * notes the restart in the notebook's metadata. Side effects of those cells happen again,
 * which is what the user asked for with this option.
 */
export async function replayCells(settings: ServerConnection.ISettings, input: ReplayInput): Promise<ReplayResult> {
  const ctx = Context.current();
  const record = await openRecord(input.output, 'latest');
  const kernel = await connectKernel(settings, { id: input.kernel.kernelId, name: input.kernel.kernelName });
  const restarts = (record.meta.kernel_restarts ?? []).length;
  for (const index of input.cellIndices) {
    ctx.heartbeat(index);
    const cell = record.notebook.cells[index] as CodeCell;
    const outcome = await execute(kernel, {
      code: sourceText(cell.source),
      msgId: `millrace-${input.runId}-replay${restarts + 1}-c${index}`,
      onIOPub: () => undefined,
    });
    const reply = outcome.kind === 'reply' ? outcome.reply.content : undefined;
    if (reply?.status !== 'ok' && !cellTags(cell).includes('raises-exception')) {
      const why = reply?.status === 'error' ? `${reply.ename}: ${reply.evalue}` : 'no reply';
      // Replays rebuild a lost kernel (lostAtCell) or a resumed run's kernel.
      const occasion = input.lostAtCell === undefined ? 'to resume the run' : `after the kernel was lost at cell ${input.lostAtCell}`;
      throw ApplicationFailure.nonRetryable(`replaying cell ${index} in a new kernel ${occasion} failed: ${clip(why)}`, 'ReplayFailed');
    }
  }
  if (input.lostAtCell === undefined) return {};
  const revision = record.meta.revision + 1;
  record.update((nb) => {
    const meta = runRecordMillrace(nb);
    const restart = { lost_at_cell: input.lostAtCell, time: now(), replayed_cells: input.cellIndices };
    return withNotebookMillrace(nb, { kernel_restarts: [...(meta.kernel_restarts ?? []), restart], revision });
  });
  await record.flush();
  return { revision };
}
