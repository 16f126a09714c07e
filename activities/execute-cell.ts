/**
 * One code cell on a kernel: send it once, collect its outputs as nbclient does, keep the
 * record current in the store while it runs, and return a bounded result.
 */
import { ApplicationFailure, CancelledFailure, Context } from '@temporalio/activity';
import type { KernelMessage, ServerConnection } from '@jupyterlab/services';
import { randomUUID } from 'node:crypto';
import { isExecutable, sourceText, type CodeCell, type Notebook } from '../notebook/nbformat.js';
import { CellOutputCollector, type IopubMessage } from '../notebook/outputs.js';
import { cellStatus, markCellCompleted, markCellFailed, markCellRunning } from '../notebook/record.js';
import type { CellResult, ExecuteCellInput } from '../workflows/contracts.js';
import { connectKernel, execute, KernelError } from './jupyter.js';
import { openRecord, type RunRecord } from './run-record.js';

/** What a result may carry of a kernel's error text: history stays small. */
const MAX_ERROR_TEXT = 2_000;
/** A cell that ends sooner costs one write; a longer one shows as running. */
const FIRST_WRITE_DELAY_MS = 250;
const LIVE_WRITE_INTERVAL_MS = 1_000;
const HEARTBEAT_MS = 2_000;

export function clip(text: string, max = MAX_ERROR_TEXT): string {
  return text.length <= max ? text : `${text.slice(0, max)}… [${text.length - max} more characters]`;
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
  record.update((nb) => ({ ...nb, metadata: { ...nb.metadata, millrace: { ...record.meta, revision } } }));
}

export async function executeCell(settings: ServerConnection.ISettings, input: ExecuteCellInput): Promise<CellResult> {
  const ctx = Context.current();
  if (ctx.info.attempt > 1 && !input.idempotent) {
    // The code may already have run once: sending it again could repeat its side effects.
    throw ApplicationFailure.nonRetryable(
      `worker lost while cell ${input.cellIndex} was running; outcome unknown (tag the cell "idempotent" to allow running it again)`,
      'OutcomeUnknown',
    );
  }
  const record = await openRecord(input.output, input.revision);
  const index = input.cellIndex;
  const cell = record.notebook.cells[index];
  if (!cell || cell.cell_type !== 'code') {
    throw ApplicationFailure.nonRetryable(`cell ${index} is not a code cell`, 'BadCellIndex');
  }
  const started = Date.now();
  record.update((nb) => markCellRunning(completePassedCells(nb, index), index, now()));
  record.saveSoon(FIRST_WRITE_DELAY_MS);

  const kernel = await connectKernel(settings, { id: input.kernel.kernelId, name: input.kernel.kernelName });
  const collector = new CellOutputCollector(record.notebook, index);
  record.follow(collector);
  const msgId = randomUUID();
  const beat = () => ctx.heartbeat({ kernelId: input.kernel.kernelId, msgId });
  beat();
  const beating = setInterval(beat, HEARTBEAT_MS);

  const finish = async (mark: typeof markCellCompleted): Promise<void> => {
    record.settle();
    record.update((nb) => mark(nb, index, now()));
    nextRevision(record, input.revision + 1);
    await record.flush();
  };

  try {
    const outcome = await Promise.race([
      execute(kernel, {
        code: sourceText((cell as CodeCell).source),
        msgId,
        timeoutMs: input.timeoutS === undefined ? undefined : input.timeoutS * 1000,
        onIOPub: (msg: KernelMessage.IIOPubMessage) => {
          collector.apply(msg as unknown as IopubMessage);
          record.saveSoon(LIVE_WRITE_INTERVAL_MS);
        },
      }),
      ctx.cancelled,
    ]);
    const durationMs = Date.now() - started;
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
    const ok = content.status === 'ok';
    await finish(ok || input.raisesException ? markCellCompleted : markCellFailed);
    const error =
      content.status === 'error'
        ? { ename: clip(content.ename, 200), evalue: clip(content.evalue) }
        : content.status === 'aborted'
          ? { ename: 'ExecutionAborted', evalue: 'the kernel aborted this execution' }
          : {};
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
    clearInterval(beating);
  }
}
