/**
 * One cell numbering on every surface, parameters in `runs` and `show`, and one reader of
 * records: a failed cell behind papermill's error banner and injected-parameters cell has
 * the same number in `run --json`, --log-output, `show`, the inspector, the viewer's page
 * and `resume --from-cell`; a live run's journaled revision is what `show`, the inspector,
 * the viewer and `metrics` all read.
 */
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { temporalSource } from '../../cli/inspect/data.js';
import { cellRows, runHeader } from '../../cli/inspect/view-model.js';
import { buildRunInput } from '../../cli/submit.js';
import { recordRevision } from '../../record/metadata.js';
import { readRecord } from '../../record/run-record.js';
import { startViewer, type Viewer } from '../../viewer/server.js';
import { codeCell, markdownCell, notebook, runCli, startHarness, waitFor, type Harness } from './harness.js';

let h: Harness;
let viewer: Viewer;
beforeAll(async () => {
  h = await startHarness();
  viewer = await startViewer({ storeRoot: h.config.storeRoot, host: '127.0.0.1', port: 0, token: null, log: () => undefined });
});
afterAll(async () => {
  await viewer?.close();
  await h?.close();
});

async function viewerPage(runId: string): Promise<string> {
  const res = await fetch(`${viewer.url}runs/${runId}`);
  expect(res.status).toBe(200);
  return res.text();
}

/** The `<section>` of the viewer's page that carries `id="cell-N"`. */
function viewerSection(page: string, n: number): string {
  const at = page.indexOf(`id="cell-${n}"`);
  expect(at, `viewer section cell-${n}`).toBeGreaterThan(0);
  return page.slice(page.lastIndexOf('<section', at), page.indexOf('</section>', at));
}

describe('one cell numbering', () => {
  it('gives a failed cell behind the banner and the injected parameters one number on every surface', async () => {
    const flag = join(h.dir, `flag-${randomBytes(3).toString('hex')}`);
    // Record cells: 0 md, 1 parameters, 2 injected-parameters, 3 md, 4 code, 5 md, 6 fails, 7 code.
    // The output notebook adds papermill's banner (top) and anchor (before the failed cell): it is cell 8 there.
    const path = await h.writeNotebook(
      'numbers.ipynb',
      notebook([
        markdownCell('# Sales'),
        codeCell("flag = ''", ['parameters']),
        markdownCell('## Load'),
        codeCell('n = 1'),
        markdownCell('## Check'),
        codeCell("import os\nprint('checking', flush=True)\nif not os.path.exists(flag): raise FileNotFoundError(flag)\nprint('checked')"),
        codeCell('done = True'),
      ]),
    );
    const runId = `numbers-${randomBytes(3).toString('hex')}`;
    const run = await runCli(['run', path, '-p', 'flag', flag, '--id', runId, '--json'], h.cliEnv);
    expect(run.code).toBe(1);
    const report = JSON.parse(run.stdout);
    expect(report).toMatchObject({ status: 'failed', failed_cell: 6, error: { ename: 'FileNotFoundError' } });
    // --log-output (not with --json): papermill's banners, and the failure line, numbered the same way.
    const logged = await runCli(['run', path, '-p', 'flag', flag, '--log-output'], h.cliEnv);
    expect(logged.stderr).toContain(`Executing Cell 6${'-'.repeat(39)}\nchecking\n`);
    expect(logged.stderr).toContain('cell 6 failed: FileNotFoundError');
    expect(logged.stderr).not.toContain('Executing Cell 8');
    const file = JSON.parse(await readFile(report.output, 'utf8'));
    expect(file.cells[8].metadata.papermill.status).toBe('failed');

    const show = await runCli(['show', runId, '--json'], h.cliEnv);
    expect(show.code).toBe(0);
    const view = JSON.parse(show.stdout);
    expect(view.failed_cell).toBe(6);
    expect(view.cells[6]).toMatchObject({ index: 6, status: 'failed' });
    const showText = await runCli(['show', runId], h.cliEnv);
    expect(showText.stdout).toContain('failed:   cell 6: FileNotFoundError');

    // The inspector's data layer and view model.
    const detail = await temporalSource(h.client).loadRun(runId);
    expect(detail.failure?.failed_cell).toBe(6);
    expect(cellRows(detail.notebook, detail.progress).find((r) => r.status === 'failed')?.index).toBe(6);
    expect(runHeader(detail, new Date()).find((f) => f.label === 'failed')?.value).toMatch(/^cell 6: FileNotFoundError/);

    // The viewer's page: the failed cell's label, anchor, and the banner's link.
    const page = await viewerPage(runId);
    const failed = viewerSection(page, 6);
    expect(failed).toContain('status-failed');
    expect(failed).toContain('<a class="cell-link" href="#cell-6">cell 6</a>');
    expect(page).not.toContain('id="cell-8"');
    // The source as read: the page highlights it, so its tags are taken off first.
    expect(viewerSection(page, 7).replace(/<[^>]+>/g, '')).toContain('done = True');

    // resume --from-cell 6 starts at that cell: the cells before it are carried over, it runs again.
    await writeFile(flag, '');
    const resumed = await runCli(['resume', runId, '--from-cell', '6', '--id', `${runId}-2`, '--json'], h.cliEnv);
    expect(resumed.code, resumed.stderr).toBe(0);
    const again = (await readRecord(JSON.parse(resumed.stdout).output)).notebook;
    const carried = again.cells.map((c) => (c.metadata.millrace as { carried_over_from?: string } | undefined)?.carried_over_from ?? null);
    // The injected-parameters cell (2) is regenerated, so it runs again too.
    expect(carried).toEqual([runId, runId, null, runId, runId, runId, null, null]);
    const rerun = again.cells[6]!;
    expect(rerun.cell_type === 'code' && rerun.outputs.map((o) => (o.output_type === 'stream' ? o.text : '')).join('')).toBe('checking\nchecked\n');
  });
});

describe('parameters in runs and show', () => {
  it('lists and shows the values a run was started with', async () => {
    const path = await h.writeNotebook('params.ipynb', notebook([codeCell("region = 'us'\nlimit = 5", ['parameters']), codeCell('print(region, limit)')]));
    const runId = `params-${randomBytes(3).toString('hex')}`;
    const run = await runCli(['run', path, '-p', 'region', 'amer', '-p', 'limit', '10', '--id', runId, '--json'], h.cliEnv);
    expect(run.code, run.stderr).toBe(0);
    const listed = JSON.parse((await runCli(['runs', '--json', '--limit', '100'], h.cliEnv)).stdout).find((r: { run_id: string }) => r.run_id === runId);
    expect(listed.parameters).toEqual({ region: 'amer', limit: 10 });
    const runsText = (await runCli(['runs', '--limit', '100'], h.cliEnv)).stdout;
    expect(runsText.split('\n')[0]).toMatch(/\bPARAMETERS$/);
    // Sorted by name, as papermill records them.
    expect(runsText.split('\n').find((l) => l.startsWith(runId))).toMatch(/limit=10, region=amer$/);
    const view = JSON.parse((await runCli(['show', runId, '--json'], h.cliEnv)).stdout);
    expect(view.parameters).toEqual({ region: 'amer', limit: 10 });
    expect((await runCli(['show', runId], h.cliEnv)).stdout).toContain('params:   limit=10, region=amer\n');
  });
});

describe('one reader of records', () => {
  it('reads a live run whose journal is ahead of its notebook object the same through show, the inspector, the viewer and metrics', async () => {
    const flag = join(h.dir, `go-${randomBytes(3).toString('hex')}`);
    const path = await h.writeNotebook(
      'live.ipynb',
      notebook([
        codeCell('a = 1'),
        codeCell('b = 2'),
        codeCell(`import os, time\nprint('waiting', flush=True)\nwhile not os.path.exists(${JSON.stringify(flag)}): time.sleep(0.05)`),
        codeCell('c = 3'),
      ]),
    );
    const runId = `live-${randomBytes(3).toString('hex')}`;
    const input = await buildRunInput(h.config, { notebookPath: path, params: {}, runId });
    const handle = await h.client.workflow.start('notebookRun', {
      taskQueue: h.taskQueue,
      workflowId: runId,
      args: [input],
      memo: { notebook: 'live.ipynb', output: input.output },
    });
    try {
      // The third cell waits on the flag with its output saved: the record stands still.
      const live = await waitFor('the waiting cell with its output in the record', async () => {
        const nb = (await readRecord(input.output)).notebook;
        const cell = nb.cells[2];
        return cell?.cell_type === 'code' && cell.outputs.some((o) => o.output_type === 'stream') ? nb : undefined;
      });
      const revision = recordRevision(live);
      const whole = JSON.parse(await readFile(input.output, 'utf8'));
      expect(whole.metadata.millrace.revision, 'the journal holds revisions newer than the notebook object').toBeLessThan(revision);
      const durations = live.cells.map((c) => (c.metadata.papermill as { duration?: number | null }).duration ?? null);
      expect(durations[0]).toEqual(expect.any(Number));
      expect(durations[1]).toEqual(expect.any(Number));

      const view = JSON.parse((await runCli(['show', runId, '--json'], h.cliEnv)).stdout);
      expect(view.cells.map((c: { status: string }) => c.status)).toEqual(['completed', 'completed', 'running', 'pending']);
      expect(view.cells.map((c: { duration_s: number | null }) => c.duration_s)).toEqual(durations);

      const detail = await temporalSource(h.client).loadRun(runId);
      expect(detail.notebook && recordRevision(detail.notebook)).toBe(revision);

      const page = await viewerPage(runId);
      expect(viewerSection(page, 0)).toContain(`completed ${durations[0]!.toFixed(2)} s`);
      expect(viewerSection(page, 1)).toContain(`completed ${durations[1]!.toFixed(2)} s`);
      expect(viewerSection(page, 2)).toContain('status-running');
      expect(viewerSection(page, 2)).toContain('waiting');

      const metrics = JSON.parse((await runCli(['metrics', '--json'], h.cliEnv)).stdout).find((r: { run_id: string }) => r.run_id === runId);
      expect(metrics).toMatchObject({ status: 'running', cell_durations: { '0': durations[0], '1': durations[1] } });

      // Nothing was written meanwhile: every surface read that one revision.
      expect(recordRevision((await readRecord(input.output)).notebook)).toBe(revision);
    } finally {
      await writeFile(flag, '');
      await handle.result();
    }
  });
});
