/**
 * Starting one run's workflow, the one way: `millrace run` and `resume` call it with their
 * own client, and `millrace dev` with its long-lived one when `run --detach` asks it to
 * (cli/dev-server.ts), so a run started either way is the same workflow with the same memo.
 */
import { WorkflowExecutionAlreadyStartedError, type Client, type WorkflowHandleWithStartDetails } from '@temporalio/client';
import { WorkflowIdReusePolicy } from '@temporalio/common';
import { basename } from 'node:path';
import type { notebookRun } from '../workflows/index.js';
import type { RunInput } from '../workflows/contracts.js';
import { paramsToJson } from '../notebook/params.js';
import { UserError } from './errors.js';

/** Where runs start: a client and the task queue its runs go to. */
export interface RunTarget {
  client: Client;
  taskQueue: string;
  /**
   * The client shares its connection with a worker of that queue in this process (the
   * embedded stack's, `millrace dev`'s): the server hands the run's first workflow task to
   * that worker in its reply to the start (eager workflow start), not through matching.
   */
  eagerStart?: boolean;
}

export async function startRun({ client, taskQueue, eagerStart }: RunTarget, input: RunInput): Promise<WorkflowHandleWithStartDetails<typeof notebookRun>> {
  try {
    return await client.workflow.start<typeof notebookRun>('notebookRun', {
      taskQueue,
      workflowId: input.runId,
      args: [input],
      ...(eagerStart ? { requestEagerStart: true } : {}),
      // A resumed run names the run it continues (the earlier run's closed memo cannot
      // change: its link forward is resumed-as.json beside its record).
      // The parameters too, so `millrace runs` shows them without reading any record.
      memo: {
        notebook: basename(input.inputPath),
        output: input.output,
        parameters: paramsToJson(input.parameters),
        ...(input.resume ? { resumed_from: input.resume.runId } : {}),
      },
      workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
    });
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) {
      throw new UserError(`run id ${input.runId} is already taken: choose another --id`);
    }
    throw err;
  }
}
