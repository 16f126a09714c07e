/**
 * Cells sent ahead (activities/cell-chain.ts): the next cell is sent while the one before
 * it runs, gated in the kernel on that one's outcome (activities/execution-registry.ts).
 * Against a real kernel: the gate refuses a request behind one that did not pass, however
 * late the request comes; and through whole runs: a cell is sent early, never runs after a
 * cell that failed, and runs once, outputs kept, when the cell before was handed off.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { serverSettings, shutdownKernel } from '../../activities/jupyter.js';
import { startReadyKernel } from '../../activities/kernel-lifecycle.js';
import type { PooledKernel } from '../../activities/kernel-pool.js';
import { execute, silentExecute } from '../../activities/execute-request.js';
import { lookUpExecution } from '../../activities/execution-registry.js';
import { codeCell, failureMessage, notebook, startHarness, streamText, type Harness } from './harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

/** papermill's status of each code cell (a failed run's record also begins with papermill's error banner). */
const statuses = (cells: Array<Record<string, any>>): string[] => cells.filter((c) => c['cell_type'] === 'code').map((c) => c['metadata']['papermill']['status']);
const codeCells = (cells: Array<Record<string, any>>) => cells.filter((c) => c['cell_type'] === 'code');

/** A kernel started as a run's would be (registry and gate installed), shut down after `use`. */
async function withReadyKernel(name: string, use: (kernel: PooledKernel) => Promise<void>): Promise<void> {
  const stack = inject('stack');
  const settings = serverSettings({ url: stack.jupyterUrl, token: stack.jupyterToken });
  const kernel = await startReadyKernel(settings, 'python3', `${name}-${randomBytes(4).toString('hex')}`);
  try {
    await use(kernel);
  } finally {
    await shutdownKernel(settings, kernel.model.id);
  }
}

/** The text/plain of a user expression in a silent request's reply. */
const expressionText = (reply: Awaited<ReturnType<typeof silentExecute>>, name: string): string | undefined =>
  reply.status === 'ok' ? (reply.user_expressions[name] as { data: Record<string, string> }).data['text/plain'] : undefined;

describe('the kernel gate', () => {
  it('runs a request only behind one that passed, and answers any other aborted without running it', async () => {
    await withReadyKernel('gate', async (kernel) => {
      expect(kernel.cellGate).toBe(true);
      const conn = kernel.connection;
      const statuses = new Map<string, string[]>();
      const send = async (msgId: string, code: string, after?: string) => {
        const onIOPub = (msg: { header: { msg_type: string }; content: unknown }) => {
          const state = (msg.content as { execution_state?: string }).execution_state;
          if (msg.header.msg_type === 'status' && state) statuses.set(msgId, [...(statuses.get(msgId) ?? []), state]);
        };
        const outcome = await execute(conn, { code, msgId, onIOPub, ...(after ? { metadata: { millrace_after: after } } : {}) });
        return outcome.kind === 'reply' ? outcome.reply.content.status : outcome.kind;
      };
      const id = (name: string) => `gate-test-${name}-${randomBytes(3).toString('hex')}`;
      const [failed, plain, behindFailed, passed, behindPassed, behindUnknown] = ['a', 'b', 'c', 'd', 'e', 'f'].map(id);
      expect(await send(failed!, 'raise ValueError("first")')).toBe('error');
      // A request without a gate runs: ipykernel's own abort after the error is over, so only
      // the gate can refuse the next one.
      expect(await send(plain!, 'ran_plain = True')).toBe('ok');
      expect(await send(behindFailed!, 'ran_behind_failed = True', failed)).toBe('aborted');
      expect(await send(passed!, 'x = 1')).toBe('ok');
      expect(await send(behindPassed!, 'ran_behind_passed = True', passed)).toBe('ok');
      expect(await send(behindUnknown!, 'ran_behind_unknown = True', 'never-sent')).toBe('aborted');
      // A gated request that runs is held until the kernel's own busy status for it is out
      // (sent tracked): no second status message per cell for Jupyter Server and the worker.
      expect(statuses.get(behindPassed!)).toEqual(['busy', 'idle']);
      const ran = await silentExecute(conn, '', {
        purpose: 'test',
        expressions: Object.fromEntries(['plain', 'behind_failed', 'behind_passed', 'behind_unknown'].map((n) => [n, `'ran_${n}' in globals()`])),
      });
      expect(['plain', 'behind_failed', 'behind_passed', 'behind_unknown'].map((name) => expressionText(ran, name))).toEqual(['True', 'False', 'True', 'False']);
      // The registry agrees: a refused request never ran, so it may be sent again.
      expect(await lookUpExecution(conn, behindFailed!)).toEqual({ kind: 'never-ran' });
      expect(await lookUpExecution(conn, behindPassed!)).toMatchObject({ kind: 'finished', outcome: { ok: true } });
    });
  });
});

describe("the registry's start-up request", () => {
  it("also spares ipykernel work per request that changes nothing: its logger at its handlers' level, its signature check cached", async () => {
    await withReadyKernel('lighten', async (kernel) => {
      const expressions = {
        // traitlets leaves it at DEBUG (10), filtering in its handler (WARNING here).
        level: "(lambda log: (log.level, min(h.level for h in log.handlers)))(get_ipython().kernel.log)",
        cached: "getattr(__import__('ipykernel.ipkernel').ipkernel._accepts_parameters, '_millrace_cached', False)",
        // A debug line the handler would print still gets through.
        debug_passes: "get_ipython().kernel.log.isEnabledFor(min(h.level for h in get_ipython().kernel.log.handlers))",
      };
      const reply = await silentExecute(kernel.connection, '', { purpose: 'test', expressions });
      expect(expressionText(reply, 'level')).toBe('(30, 30)');
      expect(expressionText(reply, 'cached')).toBe('True');
      expect(expressionText(reply, 'debug_passes')).toBe('True');
      // Cells still run and say what ipykernel says.
      const outcome = await execute(kernel.connection, { code: 'x = 1', msgId: `lighten-${randomBytes(3).toString('hex')}`, onIOPub: () => undefined });
      expect(outcome.kind === 'reply' ? outcome.reply.content.status : outcome.kind).toBe('ok');
    });
  });
});

describe('cells sent ahead in a run', () => {
  it('sends the next cell while the one before still runs, gated on it', async () => {
    const path = await h.writeNotebook(
      'early.ipynb',
      notebook([
        codeCell('import time\nbegan = time.time()\ntime.sleep(1)'),
        codeCell(
          "request = get_ipython().kernel.get_parent('shell')\n" +
            "print(request['metadata'].get('millrace_after') is not None, request['header']['date'].timestamp() < began + 1)",
        ),
        codeCell('print("third")'),
      ]),
    );
    const run = await h.runNotebook(path);
    expect(run.error).toBeUndefined();
    // Cell 1's request carried the gate and left the worker before cell 0 ended.
    expect(streamText(run.output.cells[1]!)).toBe('True True\n');
    expect(streamText(run.output.cells[2]!)).toBe('third\n');
    expect(statuses(run.output.cells)).toEqual(['completed', 'completed', 'completed']);
  });

  it('never runs a cell after one that failed at once', async () => {
    const mark = join(h.dir, `fast-${randomBytes(3).toString('hex')}`);
    const path = await h.writeNotebook(
      'fast-failure.ipynb',
      notebook([codeCell('x = 1'), codeCell('raise ValueError("at once")'), codeCell(`open(${JSON.stringify(mark)}, 'w').write('ran')`), codeCell('y = 2')]),
    );
    const run = await h.runNotebook(path);
    expect(run.result).toBeUndefined();
    expect(statuses(run.output.cells)).toEqual(['completed', 'failed', 'pending', 'pending']);
    expect(codeCells(run.output.cells)[2]!['outputs']).toEqual([]);
    expect(existsSync(mark)).toBe(false);
  });

  it('runs the cell sent behind a handed-off cell once, with its outputs, when that cell passes', async () => {
    const mark = join(h.dir, `once-${randomBytes(3).toString('hex')}`);
    const path = await h.writeNotebook(
      'behind-handoff.ipynb',
      notebook([
        // Past the local activity's 2 s: handed off to a regular activity while cell 1 waits in the kernel.
        codeCell('import time\ntime.sleep(2.5)'),
        codeCell(`with open(${JSON.stringify(mark)}, 'a') as f:\n    f.write('ran\\n')\nprint('second')`),
        codeCell('print("third")'),
      ]),
    );
    const run = await h.runNotebook(path);
    expect(run.error).toBeUndefined();
    expect(await readFile(mark, 'utf8')).toBe('ran\n');
    expect(streamText(run.output.cells[1]!)).toBe('second\n');
    expect(streamText(run.output.cells[2]!)).toBe('third\n');
    expect(run.output.cells.map((c) => c['execution_count'])).toEqual([1, 2, 3]);
    // Its start is when the kernel began it (its execute_input), not when the worker took
    // it over: that came after cell 0's regular activity ended and a workflow task later.
    const second = run.output.cells[1]!;
    const started = Date.parse(second['metadata']['papermill']['start_time']);
    expect(Math.abs(started - Date.parse(second['metadata']['execution']['iopub.execute_input']))).toBeLessThan(2);
  });

  it('blames the cell that killed the kernel, not the one it was sent behind', async () => {
    // Cell 1 waits in the kernel behind cell 0 and kills it the moment cell 0 ends: cell
    // 0's reply may die unsent with the kernel; its idle status says it had ended.
    const path = await h.writeNotebook('killer.ipynb', notebook([codeCell('x = 1'), codeCell('import os\nos._exit(1)'), codeCell('y = 2')]));
    const run = await h.runNotebook(path);
    expect(run.result).toBeUndefined();
    expect(statuses(run.output.cells)).toEqual(['completed', 'failed', 'pending']);
    expect(codeCells(run.output.cells)[1]!['outputs'].at(-1)).toMatchObject({ output_type: 'error', ename: 'DeadKernelError' });
    expect(failureMessage(run.error)).toMatch(/^kernel lost at cell 1: /);
  });

  it('never runs the cell sent behind a handed-off cell that fails', async () => {
    const mark = join(h.dir, `never-${randomBytes(3).toString('hex')}`);
    const path = await h.writeNotebook(
      'behind-failed-handoff.ipynb',
      notebook([codeCell('import time\ntime.sleep(2.5)\nraise ValueError("late")'), codeCell(`open(${JSON.stringify(mark)}, 'w').write('ran')`)]),
    );
    const run = await h.runNotebook(path);
    expect(run.result).toBeUndefined();
    expect(statuses(run.output.cells)).toEqual(['failed', 'pending']);
    expect(existsSync(mark)).toBe(false);
  });
});
