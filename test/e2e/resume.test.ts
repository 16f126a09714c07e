/**
 * `millrace resume`: a run failing at cell 5 of 8 continues in a new run from that cell,
 * the earlier cells keep their recorded outputs and are replayed to rebuild the kernel,
 * and both records link to each other.
 */
import { WorkflowFailedError, type ActivityFailure, type ApplicationFailure } from '@temporalio/client';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertValidNotebook, codeCell, markdownCell, notebook, runCli, startHarness, streamText, type Harness } from './harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

async function failingRun(): Promise<{ runId: string; path: string; side: string; flag: string }> {
  const tag = randomBytes(3).toString('hex');
  const side = join(h.dir, `side-${tag}.txt`);
  const flag = join(h.dir, `fixed-${tag}`);
  const cells = [
    codeCell('total = 0\nlabel = "first"', ['parameters']),
    ...[1, 2, 3, 4].map((i) => codeCell(`total += ${i}\nopen(${JSON.stringify(side)}, "a").write("cell ${i}\\n")\nprint("cell ${i}", total)`)),
    codeCell(`import os\nif not os.path.exists(${JSON.stringify(flag)}):\n    raise RuntimeError("upstream data missing")\nprint(label, total)`),
    markdownCell('## after the failure'),
    codeCell('print("done", total)'),
  ];
  const path = await h.writeNotebook(`resumable-${tag}.ipynb`, notebook(cells));
  const runId = `resumable-${tag}`;
  const r = await runCli(['run', path, '--id', runId, '--json'], h.cliEnv);
  expect(r.code).toBe(1);
  expect(JSON.parse(r.stdout)).toMatchObject({ failed_cell: 5, error: { ename: 'RuntimeError' } });
  return { runId, path, side, flag };
}

describe('millrace resume', () => {
  it('continues from the failed cell, replaying earlier cells, keeping their outputs, linking both runs', async () => {
    const { runId, side, flag } = await failingRun();
    const { writeFile } = await import('node:fs/promises');
    await writeFile(flag, '');
    const r = await runCli(['resume', runId, '--id', `${runId}-2`, '--json', '-p', 'label', 'second'], h.cliEnv);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ run_id: `${runId}-2`, status: 'completed' });
    const nb = JSON.parse(await readFile(out.output, 'utf8'));
    await assertValidNotebook(out.output);
    // Replay rebuilt `total`; the override reached the regenerated parameters cell.
    const injected = nb.cells.findIndex((c: any) => c.metadata.tags?.includes('injected-parameters'));
    expect(injected).toBe(1);
    expect(streamText(nb.cells[6])).toBe('second 10\n');
    expect(streamText(nb.cells[8])).toBe('done 10\n');
    // Carried-over cells keep the earlier run's outputs and say where they came from.
    for (const i of [2, 3, 4, 5]) {
      expect(nb.cells[i].metadata.millrace.carried_over_from).toBe(runId);
      expect(streamText(nb.cells[i])).toMatch(/^cell \d \d+\n$/);
    }
    expect(nb.metadata.millrace.resumed_from).toMatchObject({ run_id: runId, from_cell: 5, restore: 'replay', replayed_cells: [0, 1, 2, 3, 4, 5] });
    // Replay runs side effects again, and the record says which cells were replayed.
    expect((await readFile(side, 'utf8')).split('\n').filter(Boolean)).toEqual([
      'cell 1', 'cell 2', 'cell 3', 'cell 4', 'cell 1', 'cell 2', 'cell 3', 'cell 4',
    ]);
    const earlier = await runCli(['show', runId, '--json'], h.cliEnv);
    expect(JSON.parse(earlier.stdout).resumed_as).toEqual([{ run_id: `${runId}-2`, output: out.output }]);
    const later = await runCli(['show', `${runId}-2`, '--json'], h.cliEnv);
    expect(JSON.parse(later.stdout).resumed_from).toEqual({ run_id: runId, from_cell: 5, restore: 'replay', checkpoint_after_cell: null });
  });

  it('fails, naming the replayed cell, when a carried-over cell fails as it is replayed', async () => {
    const gone = join(h.dir, `gone-${randomBytes(3).toString('hex')}`);
    const path = await h.writeNotebook(
      `replay-fails-${randomBytes(3).toString('hex')}.ipynb`,
      notebook([codeCell(`import os\nif os.path.exists(${JSON.stringify(gone)}):\n    raise RuntimeError("input gone")`), codeCell('raise ValueError("first failure")')]),
    );
    const runId = `replay-fails-${randomBytes(3).toString('hex')}`;
    const first = await runCli(['run', path, '--id', runId, '--json'], h.cliEnv);
    expect(first.code).toBe(1);
    const { writeFile } = await import('node:fs/promises');
    await writeFile(gone, '');
    const r = await runCli(['resume', runId, '--id', `${runId}-2`, '--json'], h.cliEnv);
    expect(r.code).toBe(1);
    // The activity's failure, as the run's history keeps it (a resume has no lost cell to name).
    const failure = await h.client.workflow.getHandle(`${runId}-2`).result().then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(failure).toBeInstanceOf(WorkflowFailedError);
    const cause = ((failure as WorkflowFailedError).cause as ActivityFailure).cause as ApplicationFailure;
    expect(cause.type).toBe('ReplayFailed');
    expect(cause.message).toBe('replaying cell 0 in a new kernel to resume the run failed: RuntimeError: input gone');
  });

  it('refuses runs that completed or do not exist', async () => {
    const ok = await h.writeNotebook('fine.ipynb', notebook([codeCell('x = 1')]));
    const done = await runCli(['run', ok, '--id', `fine-${randomBytes(3).toString('hex')}`, '--json'], h.cliEnv);
    const doneId = JSON.parse(done.stdout).run_id;
    const completed = await runCli(['resume', doneId], h.cliEnv);
    expect(completed.code).toBe(2);
    expect(completed.stderr.trim()).toBe(`millrace: run ${doneId} completed: there is nothing to resume (start a new run with \`millrace run\`)`);
    const missing = await runCli(['resume', 'no-such-run'], h.cliEnv);
    expect(missing.code).toBe(2);
    expect(missing.stderr.trim()).toBe('millrace: no run no-such-run: see `millrace runs`');
    // Checked before how the kernel would be restored (test/e2e/checkpoint.test.ts has the checkpoint refusals).
    const checkpoint = await runCli(['resume', doneId, '--restore', 'checkpoint'], h.cliEnv);
    expect(checkpoint.code).toBe(2);
    expect(checkpoint.stderr.trim()).toBe(completed.stderr.trim());
  });
});
