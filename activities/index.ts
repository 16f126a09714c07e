/**
 * The side effects of a notebook run, one function per step of the workflow. Created
 * per worker with its configuration (the Jupyter token never travels through history).
 */
import { Context, ApplicationFailure, CancelledFailure } from '@temporalio/activity';
import type { KernelMessage } from '@jupyterlab/services';
import { createHash, randomUUID } from 'node:crypto';
import { cellSummary, parseNotebook, type CodeCell, type Notebook } from '../notebook/nbformat.js';
import { parameterize } from '../notebook/parameterize.js';
import { paramsToJson } from '../notebook/params.js';
import {
  addErrorBanner,
  finishRecord,
  initRecord,
  markCellCompleted,
  markCellFailed,
  markCellRunning,
  recordExecutionTiming,
} from '../notebook/record.js';
import { CellOutputCollector } from '../notebook/outputs.js';
import type {
  CellResult,
  ExecuteCellInput,
  FinalizeInput,
  KernelHandle,
  PrepareResult,
  RunInput,
} from '../workflows/contracts.js';
import {
  connectKernel,
  execute,
  KernelError,
  serverSettings,
  shutdownKernel,
  startKernel,
  type JupyterConfig,
} from './jupyter.js';
import { forgetRecord, openRecord, rememberRecord, RunRecord } from './run-record.js';
import { store } from './store/index.js';
import { MILLRACE_VERSION } from '../notebook/version.js';

export interface ActivityDeps {
  jupyter: JupyterConfig;
}

/** What an activity result may carry of a kernel's error text: history stays small. */
const MAX_ERROR_TEXT = 2_000;
const FIRST_WRITE_DELAY_MS = 250;
const LIVE_WRITE_INTERVAL_MS = 1_000;

function clip(text: string, max = MAX_ERROR_TEXT): string {
  return text.length <= max ? text : `${text.slice(0, max)}… [${text.length - max} more characters]`;
}

function now(): string {
  return new Date().toISOString();
}

function tagsOf(cell: { metadata: Record<string, unknown> }): string[] {
  const tags = cell.metadata['tags'];
  return Array.isArray(tags) ? tags.filter((t): t is string => typeof t === 'string') : [];
}

export function createActivities(deps: ActivityDeps) {
  const settings = serverSettings(deps.jupyter);

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
      const { notebook: parameterized, warnings } = parameterize(source, input.parameters);
      const kernelName =
        input.kernelName ?? (parameterized.metadata.kernelspec as { name?: string } | undefined)?.name ?? 'python3';
      const notebook = initRecord(parameterized, {
        inputPath: input.inputPath,
        outputPath: input.output,
        parameters: paramsToJson(input.parameters),
        startTime: now(),
        version: MILLRACE_VERSION,
      });
      notebook.metadata['millrace'] = { run_id: input.runId, revision: 0 };
      await guardAgainstOverwrite(input.output, input.runId);
      const record = new RunRecord(input.output, notebook);
      await record.flush();
      rememberRecord(record);

      const codeCells = notebook.cells.flatMap((cell, index) =>
        cell.cell_type === 'code'
          ? [
              {
                index,
                summary: cellSummary(cell),
                raisesException: tagsOf(cell).includes('raises-exception'),
                idempotent: tagsOf(cell).includes('idempotent'),
              },
            ]
          : [],
      );
      return { kernelName, totalCells: notebook.cells.length, codeCells, warnings };
    },

    async startKernel(kernelName: string): Promise<KernelHandle> {
      try {
        const model = await startKernel(settings, kernelName);
        return { kernelId: model.id, kernelName: model.name };
      } catch (err) {
        if (err instanceof KernelError && err.kind === 'unknown-kernel') {
          throw ApplicationFailure.nonRetryable(err.message, 'UnknownKernel');
        }
        throw err;
      }
    },

    async executeCell(input: ExecuteCellInput): Promise<CellResult> {
      const ctx = Context.current();
      if (ctx.info.attempt > 1 && !input.idempotent) {
        // The code may already have run once: sending it again could repeat its side effects.
        throw ApplicationFailure.nonRetryable(
          `worker lost while cell ${input.cellIndex} was running; outcome unknown (tag the cell "idempotent" to allow re-running it)`,
          'OutcomeUnknown',
        );
      }
      const record = await openRecord(input.output, input.revision);
      const nb = record.notebook;
      const cell = nb.cells[input.cellIndex];
      if (!cell || cell.cell_type !== 'code') {
        throw ApplicationFailure.nonRetryable(`cell ${input.cellIndex} is not a code cell`, 'BadCellIndex');
      }
      completeSkippedNonCodeCells(nb, input.cellIndex);
      const started = Date.now();
      markCellRunning(nb, input.cellIndex, now());
      record.saveSoon(FIRST_WRITE_DELAY_MS);

      const kernel = await connectKernel(settings, { id: input.kernel.kernelId, name: input.kernel.kernelName });
      const collector = new CellOutputCollector(nb, input.cellIndex);
      const msgId = randomUUID();
      ctx.heartbeat({ kernelId: input.kernel.kernelId, msgId });
      const beat = setInterval(() => ctx.heartbeat({ kernelId: input.kernel.kernelId, msgId }), 2_000);

      const onIOPub = (msg: KernelMessage.IIOPubMessage) => {
        collector.apply(msg as never);
        record.saveSoon(LIVE_WRITE_INTERVAL_MS);
      };

      let result: CellResult;
      try {
        const outcome = await Promise.race([
          execute(kernel, {
            code: sourceOf(cell as CodeCell),
            msgId,
            timeoutMs: input.timeoutS === undefined ? undefined : input.timeoutS * 1000,
            onIOPub,
          }),
          ctx.cancelled,
        ]);
        const durationMs = Date.now() - started;
        if (outcome.kind === 'timeout') {
          await kernel.interrupt().catch(() => undefined);
          const evalue = `Cell execution timed out after ${input.timeoutS} s`;
          collector.apply({
            header: { msg_type: 'error' },
            content: { ename: 'CellTimeoutError', evalue, traceback: [`CellTimeoutError: ${evalue}`] },
          } as never);
          markCellFailed(nb, input.cellIndex, now());
          result = { status: 'timeout', executionCount: null, ename: 'CellTimeoutError', evalue, outputCount: (cell as CodeCell).outputs.length, durationMs };
        } else {
          const reply = outcome.reply;
          const executionCount = 'execution_count' in reply ? (reply.execution_count as number | null) : null;
          recordExecutionTiming(cell as CodeCell, 'shell.execute_reply', now());
          if (reply.status === 'ok' || input.raisesException) {
            markCellCompleted(nb, input.cellIndex, now());
          } else {
            markCellFailed(nb, input.cellIndex, now());
          }
          const error =
            reply.status === 'error'
              ? { ename: clip(reply.ename, 200), evalue: clip(reply.evalue) }
              : reply.status === 'aborted'
                ? { ename: 'ExecutionAborted', evalue: 'the kernel aborted this execution' }
                : {};
          result = {
            status: reply.status === 'ok' ? 'ok' : 'error',
            executionCount,
            ...error,
            outputCount: (cell as CodeCell).outputs.length,
            durationMs,
          };
        }
      } catch (err) {
        clearInterval(beat);
        if (err instanceof CancelledFailure) {
          await kernel.interrupt().catch(() => undefined);
          markCellFailed(nb, input.cellIndex, now());
          await record.flush();
          throw err;
        }
        if (err instanceof KernelError) {
          markCellFailed(nb, input.cellIndex, now());
          collector.apply({
            header: { msg_type: 'error' },
            content: { ename: 'DeadKernelError', evalue: err.message, traceback: [`DeadKernelError: ${err.message}`] },
          } as never);
          nb.metadata['millrace'] = { ...record.meta, revision: input.revision + 1 };
          await record.flush();
          throw ApplicationFailure.nonRetryable(`kernel lost at cell ${input.cellIndex}: ${err.message}`, 'KernelLost', {
            cellIndex: input.cellIndex,
            ename: 'DeadKernelError',
            evalue: err.message,
          });
        }
        throw err;
      }
      clearInterval(beat);
      nb.metadata['millrace'] = { ...record.meta, revision: input.revision + 1 };
      await record.flush();
      return result;
    },

    async finalizeRun(input: FinalizeInput): Promise<{ output: string }> {
      const record = await openRecord(input.output, 'latest');
      let nb = record.notebook;
      if (input.kernel) {
        const languageInfo = await languageInfoOf(input.kernel).catch(() => undefined);
        if (languageInfo) nb.metadata['language_info'] = languageInfo;
      }
      if (input.status === 'completed') completeSkippedNonCodeCells(nb, nb.cells.length);
      const failed = input.status !== 'completed';
      finishRecord(nb, { endTime: now(), failed });
      if (input.status === 'failed' && input.failedCell !== undefined) nb = addErrorBanner(nb, input.failedCell);
      nb.metadata['millrace'] = { ...record.meta, revision: record.meta.revision + 1, status: input.status };
      record.notebook = nb;
      await record.flush();
      forgetRecord(input.output);
      return { output: input.output };
    },

    async shutdownKernel(kernel: KernelHandle): Promise<void> {
      await shutdownKernel(settings, kernel.kernelId);
    },
  };

  async function languageInfoOf(kernel: KernelHandle): Promise<unknown> {
    const connection = await connectKernel(settings, { id: kernel.kernelId, name: kernel.kernelName });
    const info = await connection.info;
    return info.language_info;
  }
}

export type MillraceActivities = ReturnType<typeof createActivities>;

function sourceOf(cell: CodeCell): string {
  return Array.isArray(cell.source) ? cell.source.join('') : cell.source;
}

/** papermill marks markdown and raw cells completed as execution passes them. */
function completeSkippedNonCodeCells(nb: Notebook, beforeIndex: number): void {
  for (let i = 0; i < beforeIndex; i++) {
    const cell = nb.cells[i]!;
    const status = (cell.metadata['papermill'] as { status?: string } | undefined)?.status;
    if (cell.cell_type !== 'code' && status === 'pending') {
      const t = now();
      markCellRunning(nb, i, t);
      markCellCompleted(nb, i, t);
    }
  }
}

/** A run never overwrites another run's record. */
async function guardAgainstOverwrite(location: string, runId: string): Promise<void> {
  if (!(await store.exists(location))) return;
  let owner: unknown;
  try {
    const existing = parseNotebook((await store.read(location)).toString('utf8'), location);
    owner = (existing.metadata['millrace'] as { run_id?: unknown } | undefined)?.run_id;
  } catch {
    owner = undefined;
  }
  if (owner !== undefined && owner !== runId) {
    throw ApplicationFailure.nonRetryable(
      `${location} is the record of run ${String(owner)}; a run never overwrites another run's record`,
      'RecordExists',
    );
  }
}
