/**
 * Repairing a run paused by `--on-failure pause`: the record changes a person asks for
 * (new source for a retried cell, a skipped cell), scratch code run in the paused kernel,
 * and the text excerpt each answer carries. Every change is saved as one record revision,
 * like a cell's, so the next cell's activity finds the record where the workflow expects it.
 */
import { ApplicationFailure, CancelledFailure, Context } from '@temporalio/activity';
import type { KernelMessage, ServerConnection } from '@jupyterlab/services';
import { cellSummary, sourceText, type CodeCell, type JsonObject, type Notebook, type Output } from '../notebook/nbformat.js';
import { outputFromMsg } from '../notebook/outputs.js';
import { cellStatus } from '../notebook/record.js';
import {
  MAX_EXCERPT_CHARS,
  type PrepareRetryInput,
  type PrepareRetryResult,
  type RepairExecution,
  type ScratchInput,
  type ScratchResult,
  type SkipCellInput,
  type SkipCellResult,
} from '../workflows/contracts.js';
import { clip, replyError } from './execute-cell.js';
import { execute } from './execute-request.js';
import { withHeartbeats } from './heartbeat.js';
import { connectKernel, KernelError } from './jupyter.js';
import { cellMillrace, notebookMillrace, withCellMillrace, withNotebookMillrace } from '../record/metadata.js';
import { openRecord, type RunRecord } from '../record/run-record.js';

/** What the record keeps of each scratch execution's code: the log is for people, not replay. */
const MAX_LOGGED_CODE = 16_000;

const now = () => new Date().toISOString();

/** ANSI colour codes of IPython tracebacks: noise in a terminal answer and in JSON. */
const ANSI = /\x1b\[[0-9;]*[A-Za-z]/g;

/**
 * The text of outputs as a person reads them in a terminal: streams, text/plain, error
 * tracebacks; other mime types are named. Clipped in the middle, keeping the end, where
 * the exception is.
 */
export function outputsText(outputs: readonly Output[], max = MAX_EXCERPT_CHARS): string {
  const parts = outputs.map((o) => {
    switch (o.output_type) {
      case 'stream':
        return sourceText(o.text);
      case 'error':
        return `${o.traceback.length ? o.traceback.join('\n') : `${o.ename}: ${o.evalue}`}\n`;
      default: {
        const plain = o.data['text/plain'];
        if (plain !== undefined) return `${sourceText(plain as string | string[])}\n`;
        return `[${Object.keys(o.data).join(', ') || 'empty output'}]\n`;
      }
    }
  });
  const text = parts.join('').replace(ANSI, '');
  if (text.length <= max) return text;
  const head = Math.floor(max / 4);
  const tail = max - head;
  return `${text.slice(0, head)}\n… [${text.length - max} characters left out] …\n${text.slice(text.length - tail)}`;
}

function codeCellAt(record: RunRecord, index: number): CodeCell {
  const cell = record.notebook.cells[index];
  if (!cell || cell.cell_type !== 'code') throw ApplicationFailure.nonRetryable(`cell ${index} is not a code cell`, 'BadCellIndex');
  return cell;
}

/** Saves the change as the next revision of the record. */
async function saveRevision(record: RunRecord, revision: number, change: (nb: Notebook) => Notebook): Promise<void> {
  record.update((nb) => {
    const changed = change(nb);
    return withNotebookMillrace(changed, { revision: revision + 1 });
  });
  await record.flush();
}

/**
 * An activity saved its revision and its worker died before reporting: the record is
 * already one revision ahead, and the change is not made twice.
 */
async function openForRepair(output: string, revision: number): Promise<RunRecord | undefined> {
  const record = await openRecord(output, Context.current().info.attempt > 1 ? 'latest' : revision);
  return record.meta.revision === revision + 1 ? undefined : record;
}

export function createRepairActivities(settings: ServerConnection.ISettings) {
  return {
    /**
     * Before a retried cell runs again: its new source, if any (the first original kept in
     * metadata.millrace.original_source), and the error it is retried after, which the
     * new execution's outputs replace. Returns the cell's summary for progress views.
     */
    async prepareRetry(input: PrepareRetryInput): Promise<PrepareRetryResult> {
      const index = input.cellIndex;
      const revision = input.revision + 1;
      const record = await openForRepair(input.output, input.revision);
      if (!record) return { summary: cellSummary((await openRecord(input.output, 'latest')).notebook.cells[index]!), revision };
      const cell = codeCellAt(record, index);
      const millrace = cellMillrace(cell);
      const error = cell.outputs.find((o) => o.output_type === 'error');
      const retried = [
        ...(millrace.retried_after ?? []),
        { time: now(), ename: error?.output_type === 'error' ? clip(error.ename, 200) : null, evalue: error?.output_type === 'error' ? clip(error.evalue, 500) : null },
      ];
      let changed: CodeCell = withCellMillrace(cell, { retried_after: retried });
      if (input.source !== undefined) {
        changed = withCellMillrace({ ...changed, source: input.source }, {
          original_source: millrace.original_source ?? sourceText(cell.source),
        });
      }
      await saveRevision(record, input.revision, (nb) => {
        const cells = [...nb.cells];
        cells[index] = changed;
        // The notebook's exception flag comes back if the cell fails again (markCellFailed).
        const othersFailed = cells.some((c, i) => i !== index && cellStatus(c) === 'failed');
        const papermill = othersFailed ? nb.metadata.papermill : { ...(nb.metadata.papermill ?? {}), exception: null };
        return { ...nb, cells, metadata: { ...nb.metadata, papermill } };
      });
      return { summary: cellSummary(changed), revision };
    },

    /**
     * `millrace exec`: scratch code in the paused kernel, outside the notebook's cells
     * (store_history off, so the kernel's execution count and history stay the notebook's).
     * Sent at most once (the workflow does not retry it); logged in
     * metadata.millrace.scratch; answers with a bounded excerpt of its outputs.
     */
    async execScratch(input: ScratchInput): Promise<ScratchResult> {
      const ctx = Context.current();
      const record = await openRecord(input.output, input.revision);
      const kernel = await connectKernel(settings, { id: input.kernel.kernelId, name: input.kernel.kernelName });
      const outputs: Output[] = [];
      const result = await withHeartbeats(async (): Promise<Pick<RepairExecution, 'status' | 'ename' | 'evalue'>> => {
        try {
          const outcome = await Promise.race([
            execute(kernel, {
              code: input.code,
              msgId: `millrace-${input.runId}-scratch-r${input.revision}`,
              storeHistory: false,
              timeoutMs: input.timeoutS * 1000,
              onIOPub: (msg: KernelMessage.IIOPubMessage) => {
                const output = outputFromMsg(msg.header.msg_type, msg.content as JsonObject);
                if (output) outputs.push(output);
              },
            }),
            ctx.cancelled,
          ]);
          if (outcome.kind === 'timeout') {
            await kernel.interrupt().catch(() => undefined);
            return { status: 'timeout', ename: 'ScratchTimeout', evalue: `interrupted after ${input.timeoutS} s` };
          }
          const error = replyError(outcome.reply.content, 500);
          return error ? { status: 'error', ...error } : { status: 'ok' };
        } catch (err) {
          if (err instanceof CancelledFailure) await kernel.interrupt().catch(() => undefined);
          if (err instanceof KernelError) {
            throw ApplicationFailure.nonRetryable(`kernel lost while running scratch code: ${err.message}`, 'KernelLost');
          }
          throw err;
        }
      });
      const entry = { cell: input.cellIndex, time: now(), code: clip(input.code, MAX_LOGGED_CODE), ...result };
      await saveRevision(record, input.revision, (nb) => {
        return withNotebookMillrace(nb, { scratch: [...(notebookMillrace(nb).scratch ?? []), entry] });
      });
      return { runId: input.runId, cell: input.cellIndex, ...result, output: outputsText(outputs), paused: true, revision: input.revision + 1 };
    },

    /**
     * `millrace skip`: the failed cell stays failed in papermill's metadata, keeps its
     * error outputs, and says it was skipped (metadata.millrace.skipped).
     */
    async skipCell(input: SkipCellInput): Promise<SkipCellResult> {
      const revision = input.revision + 1;
      const record = await openForRepair(input.output, input.revision);
      if (!record) return { revision };
      const cell = codeCellAt(record, input.cellIndex);
      await saveRevision(record, input.revision, (nb) => {
        const cells = [...nb.cells];
        cells[input.cellIndex] = withCellMillrace(cell, { skipped: true, skipped_at: now() });
        return { ...nb, cells };
      });
      return { revision };
    },

    /** The text a retried cell printed, for the answer to `millrace retry`. */
    async cellOutputExcerpt(input: { output: string; cellIndex: number }): Promise<string> {
      const record = await openRecord(input.output, 'latest');
      return outputsText(codeCellAt(record, input.cellIndex).outputs);
    },
  };
}
