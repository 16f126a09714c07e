/**
 * A 2,000-cell notebook completes: the workflow continues as new when Temporal suggests
 * it, and the kernel, the record and the progress stay continuous across the hand-over.
 */
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildRunInput } from '../../cli/submit.js';
import type { RunProgress } from '../../workflows/contracts.js';
import { codeCell, notebook, startHarness, streamText, type Harness } from './harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

it('runs 2,000 cells across continue-as-new with one kernel and one record', async () => {
  const cells = [codeCell('counter = 0')];
  for (let i = 1; i < 2000; i++) cells.push(codeCell(`counter += 1\nprint(${i}, counter)`));
  const path = await h.writeNotebook('long.ipynb', notebook(cells));
  const input = await buildRunInput(h.config, { notebookPath: path, params: {} });
  const handle = await h.client.workflow.start('notebookRun', { taskQueue: h.taskQueue, workflowId: input.runId, args: [input] });
  const result = await handle.result();
  expect(result).toMatchObject({ status: 'completed', executedCells: 2000 });

  const executions = [];
  for await (const e of h.client.workflow.list({ query: `WorkflowId = '${input.runId}'` })) executions.push(e.status.name);
  expect(executions.filter((s) => s === 'CONTINUED_AS_NEW').length).toBeGreaterThan(0);

  // One kernel throughout: the counter kept counting across hand-overs.
  const nb = JSON.parse(await readFile(input.output, 'utf8'));
  expect(nb.cells).toHaveLength(2000);
  for (let i = 1; i < 2000; i++) expect(streamText(nb.cells[i])).toBe(`${i} ${i}\n`);
  expect(nb.cells.every((c: any) => c.metadata.papermill.status === 'completed')).toBe(true);

  const progress = await handle.query<RunProgress>('progress');
  expect(progress.cells).toHaveLength(2000);
  expect(progress.cells.every((c) => c.status === 'completed')).toBe(true);
}, 600_000);
