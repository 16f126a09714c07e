// runResult (cli/follow-run.ts): a followed run's result when the history long poll behind
// handle.result() is not woken by the run's end (seen on the Temporal CLI's dev server with
// twenty runs at once). The handle is a stand-in: the server's missed wake-up cannot be
// produced on demand.
import type { WorkflowHandle } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import { runResult } from '../../cli/follow-run.js';

type Handle = Pick<WorkflowHandle, 'result' | 'client' | 'workflowId'>;

/** A handle whose first result() call never answers; later calls answer `value`. `statuses` are what describe() says, in turn. */
function missedWakeUp(value: unknown, statuses: Array<string | Error>) {
  const asked = { results: 0, describes: [] as string[] };
  const handle = {
    workflowId: 'run-1',
    result: () => (asked.results++ === 0 ? new Promise(() => undefined) : Promise.resolve(value)),
    client: {
      getHandle: (id: string) => ({
        describe: async () => {
          asked.describes.push(id);
          const status = statuses.shift() ?? 'COMPLETED';
          if (status instanceof Error) throw status;
          return { status: { name: status } };
        },
      }),
    },
  } as unknown as Handle;
  return { handle, asked };
}

describe('runResult', () => {
  it('answers once the run has ended, though the long poll was never woken', async () => {
    const { handle, asked } = missedWakeUp({ status: 'completed' }, ['RUNNING', new Error('unavailable'), 'COMPLETED']);
    await expect(runResult(handle, 5)).resolves.toEqual({ status: 'completed' });
    // The run's latest execution, by its workflow id: one that continued as new is still going.
    expect(asked.describes).toEqual(['run-1', 'run-1', 'run-1']);
    expect(asked.results).toBe(2);
  });

  it('answers with the long poll when it is woken, and stops asking', async () => {
    let describes = 0;
    const handle = {
      workflowId: 'run-2',
      result: () => new Promise((resolve) => setTimeout(() => resolve('done'), 20)),
      client: { getHandle: () => ({ describe: async () => (describes++, { status: { name: 'RUNNING' } }) }) },
    } as unknown as Handle;
    await expect(runResult(handle, 1_000)).resolves.toBe('done');
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(describes).toBe(0);
  });

  it('stops asking once nobody follows the run', async () => {
    const { handle, asked } = missedWakeUp('never read', ['RUNNING', 'RUNNING', 'RUNNING']);
    const gone = new AbortController();
    void runResult(handle, 5, gone.signal);
    await new Promise((resolve) => setTimeout(resolve, 8));
    gone.abort();
    const after = asked.describes.length;
    await new Promise((resolve) => setTimeout(resolve, 40));
    expect(asked.describes.length).toBeLessThanOrEqual(after + 1);
    expect(after).toBeGreaterThan(0);
  });

  it('passes on the failure of a run that failed', async () => {
    const failure = new Error('WorkflowFailedError');
    const handle = { workflowId: 'run-3', result: () => Promise.reject(failure), client: { getHandle: () => ({ describe: async () => ({ status: { name: 'FAILED' } }) }) } } as unknown as Handle;
    await expect(runResult(handle, 5)).rejects.toBe(failure);
  });
});
