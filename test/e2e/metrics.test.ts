/**
 * `millrace metrics` over real runs that glue known values with scrapbook (installed in
 * the project venv): plain runs with different parameters, a failed run, another
 * notebook, and two backfilled runs of a schedule; every format and filter, with values,
 * parameters and cell durations checked against the records the runs wrote.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codeCell, notebook, runCli, startHarness, type Harness, type NotebookJson, type RunOutcomeForTest } from './harness.js';

let h: Harness;
const tag = randomBytes(3).toString('hex');
const schedule = `mx-${tag}`;
let plain: RunOutcomeForTest[] = [];
let other: RunOutcomeForTest;
let scheduledIds: string[] = [];

const cli = (...args: string[]) => runCli(['metrics', ...args], h.cliEnv);

async function metricsJson(...args: string[]): Promise<any[]> {
  const r = await cli(...args, '--format', 'json');
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
}

/** Per-cell durations as the record holds them: what metrics must report. */
async function durations(output: string): Promise<Record<string, number>> {
  const nb = JSON.parse(await readFile(output, 'utf8')) as NotebookJson;
  const out: Record<string, number> = {};
  // Numbered as `millrace show` numbers them: without papermill's error banner and anchor.
  const cells = nb.cells.filter((c) => !(c['metadata']?.['tags'] ?? []).includes('papermill-error-cell-tag'));
  cells.forEach((c, i) => {
    const d = c['metadata']?.['papermill']?.['duration'];
    if (c['cell_type'] === 'code' && typeof d === 'number') out[String(i)] = d;
  });
  return out;
}

const GLUE = 'import scrapbook as sb\nsb.glue("rows", 100 * scale)\nsb.glue("label", f"{region}-{scale}")\nsb.glue("stats", {"mean": scale / 4, "ok": scale < 3})';

beforeAll(async () => {
  h = await startHarness();
  const nb = await h.writeNotebook(
    'metrics.ipynb',
    notebook([codeCell('region = "us"\nscale = 1', ['parameters']), codeCell(GLUE), codeCell('1 / scale'), codeCell('print("done")')]),
  );
  // One at a time: start times, and so the order of rows, follow this list.
  for (const [region, scale] of [
    ['eu', '1'],
    ['us', '2'],
    ['a,"b"', '3'],
    ['zero', '0'],
  ] as const) {
    plain.push(await h.runNotebook(nb, { parameters: [['scale', scale]], raw: [['region', region]] }));
  }
  other = await h.runNotebook(await h.writeNotebook('other.ipynb', notebook([codeCell('import scrapbook as sb\nsb.glue("x", 1)\nsb.glue("note", "from other")')])));

  const sched = await h.writeNotebook(
    'daily-metrics.ipynb',
    notebook([codeCell('scheduled_time = ""\nrun_date = ""\nscale = 1', ['parameters']), codeCell('import scrapbook as sb\nsb.glue("day", run_date)\nsb.glue("rows", 7 * scale)')]),
  );
  const env = h.cliEnv;
  const created = await runCli(['schedule', 'create', schedule, sched, '--cron', '0 6 * * *', '--timezone', 'UTC', '-p', 'scale', '5', '--json'], env);
  expect(created.code, created.stderr).toBe(0);
  const backfill = await runCli(['schedule', 'backfill', schedule, '--start', '2024-01-01', '--end', '2024-01-02', '--json'], env);
  expect(backfill.code, backfill.stderr).toBe(0);
  const deadline = Date.now() + 60_000;
  for (;;) {
    const d = await h.client.schedule.getHandle(`millrace-schedule-${schedule}`).describe();
    scheduledIds = d.info.recentActions.map((a) => a.action.workflow.workflowId);
    if (scheduledIds.length === 2 || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  for (const id of scheduledIds) await h.client.workflow.getHandle(id).result();
});

afterAll(async () => {
  await h?.client.schedule.getHandle(`millrace-schedule-${schedule}`).delete().catch(() => undefined);
  await h?.close();
});

describe('millrace metrics', () => {
  it('collects glued values with status, parameters and cell durations (json)', async () => {
    expect(plain.map((r) => r.result?.status ?? 'failed')).toEqual(['completed', 'completed', 'completed', 'failed']);
    const rows = await metricsJson('--notebook', 'metrics.ipynb');
    expect(rows.map((r) => r.run_id)).toEqual(plain.map((r) => r.input.runId));
    const expected = [
      { region: 'eu', scale: 1, label: 'eu-1', stats: { mean: 0.25, ok: true } },
      { region: 'us', scale: 2, label: 'us-2', stats: { mean: 0.5, ok: true } },
      { region: 'a,"b"', scale: 3, label: 'a,"b"-3', stats: { mean: 0.75, ok: false } },
      { region: 'zero', scale: 0, label: 'zero-0', stats: { mean: 0, ok: true } },
    ];
    for (const [i, row] of rows.entries()) {
      const e = expected[i]!;
      const record = JSON.parse(await readFile(plain[i]!.input.output, 'utf8')) as NotebookJson;
      expect(row).toEqual({
        run_id: plain[i]!.input.runId,
        status: i === 3 ? 'failed' : 'completed',
        notebook: 'metrics.ipynb',
        schedule: null,
        start_time: record.metadata['papermill']['start_time'],
        end_time: record.metadata['papermill']['end_time'],
        duration_s: record.metadata['papermill']['duration'],
        parameters: { scale: e.scale, region: e.region },
        values: { rows: 100 * e.scale, label: e.label, stats: e.stats },
        cell_durations: await durations(plain[i]!.input.output),
      });
    }
    // Code cells: parameters, injected parameters, glue, divide, print.
    expect(Object.keys(rows[0].cell_durations)).toEqual(['0', '1', '2', '3', '4']);
    // The failed run stopped at `1 / scale`: the cells after it have no duration.
    expect(Object.keys(rows[3].cell_durations)).toEqual(['0', '1', '2', '3']);
  });

  it('writes RFC 4180 CSV with one column per value, parameter and cell', async () => {
    const json = await metricsJson('--notebook', 'metrics');
    const r = await cli('--notebook', 'metrics', '--format', 'csv');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.endsWith('\r\n')).toBe(true);
    const lines = r.stdout.split('\r\n').slice(0, -1);
    expect(lines[0]).toBe('run_id,status,notebook,schedule,start_time,duration_s,rows,label,stats,param.region,param.scale,cell0_s,cell1_s,cell2_s,cell3_s,cell4_s');
    expect(lines).toHaveLength(5);
    const quote = (s: string) => (/[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
    json.forEach((row, i) => {
      const cells = ['0', '1', '2', '3', '4'].map((k) => (k in row.cell_durations ? String(row.cell_durations[k]) : ''));
      const expected = [
        row.run_id,
        row.status,
        'metrics.ipynb',
        '',
        row.start_time,
        String(row.duration_s),
        String(row.values.rows),
        row.values.label,
        JSON.stringify(row.values.stats),
        row.parameters.region,
        String(row.parameters.scale),
        ...cells,
      ].map(quote);
      expect(lines[i + 1]).toBe(expected.join(','));
    });
    expect(lines[3]).toContain(',"a,""b""-3","{""mean"":0.75,""ok"":false}","a,""b""",3,');
  });

  it('prints an aligned text table', async () => {
    const r = await cli('--notebook', 'metrics.ipynb');
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(5);
    const header = lines[0]!;
    const labelAt = header.indexOf('label');
    expect(labelAt).toBeGreaterThan(0);
    expect(lines.slice(1).map((l) => l.slice(labelAt).split(/\s{2,}/)[0])).toEqual(['eu-1', 'us-2', 'a,"b"-3', 'zero-0']);
    const statusAt = header.indexOf('status');
    expect(lines.slice(1).map((l) => l.slice(statusAt).split(/\s+/)[0])).toEqual(['completed', 'completed', 'completed', 'failed']);
  });

  it('chooses runs by start time: --since inclusive, --until exclusive', async () => {
    const all = await metricsJson('--notebook', 'metrics.ipynb');
    const since = await metricsJson('--notebook', 'metrics.ipynb', '--since', all[1].start_time);
    expect(since.map((r) => r.run_id)).toEqual(all.slice(1).map((r) => r.run_id));
    const window = await metricsJson('--notebook', 'metrics.ipynb', '--since', all[1].start_time, '--until', all[3].start_time);
    expect(window.map((r) => r.run_id)).toEqual([all[1].run_id, all[2].run_id]);
    expect(await metricsJson('--notebook', 'metrics.ipynb', '--since', '1h')).toHaveLength(4);
    expect(await metricsJson('--notebook', 'metrics.ipynb', '--until', '2000-01-01')).toEqual([]);
  });

  it('chooses runs by notebook and by schedule (recorded by prepareRun)', async () => {
    const others = await metricsJson('--notebook', 'other');
    expect(others).toEqual([expect.objectContaining({ run_id: other.input.runId, status: 'completed', values: { x: 1, note: 'from other' }, parameters: {} })]);
    expect(scheduledIds).toHaveLength(2);
    const scheduled = await metricsJson('--schedule', schedule);
    expect(scheduled.map((r) => r.run_id).sort()).toEqual([...scheduledIds].sort());
    expect(scheduled.map((r) => [r.schedule, r.values, r.parameters.scale, r.notebook])).toEqual([
      [schedule, { day: '2024-01-01', rows: 35 }, 5, 'daily-metrics.ipynb'],
      [schedule, { day: '2024-01-02', rows: 35 }, 5, 'daily-metrics.ipynb'],
    ]);
    const record = JSON.parse(await readFile(scheduled[0].run_id && `${h.config.storeRoot}/runs/${scheduled[0].run_id}/daily-metrics.ipynb`, 'utf8')) as NotebookJson;
    expect(record.metadata['millrace']['schedule']).toBe(schedule);
    expect(await metricsJson('--schedule', `${schedule}x`)).toEqual([]);
    // All runs in the store: the plain ones, the other notebook, the scheduled ones.
    expect(await metricsJson()).toHaveLength(7);
  });

  it('refuses bad input with one line and exit code 2', async () => {
    for (const args of [
      ['--since', 'yesterday'],
      ['--until', '2024-13-45'],
      ['--format', 'xml'],
      ['--schedule', '../x'],
      ['--since', '2024-01-02', '--until', '2024-01-01'],
    ]) {
      const r = await cli(...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr.trim().split('\n')).toHaveLength(r.stderr.includes('add --help') ? 2 : 1);
    }
    const empty = await cli('--notebook', 'nothing-like-this');
    expect(empty).toMatchObject({ code: 0, stdout: 'no runs match\n' });
  });

  it('neutralises glued values a spreadsheet would run as formulas, unless --no-csv-escape (issue 14 item 11)', async () => {
    const glue = 'import scrapbook as sb\nsb.glue("link", \'=HYPERLINK("http://evil.example","click")\')\nsb.glue("at", "@SUM(1)")\nsb.glue("neg", -2.5)';
    const nb = await h.writeNotebook(`formula-${tag}.ipynb`, notebook([codeCell(glue)]));
    const run = await h.runNotebook(nb);
    expect(run.error).toBeUndefined();
    const r = await cli('--notebook', `formula-${tag}`, '--format', 'csv');
    expect(r.code, r.stderr).toBe(0);
    const [header, row] = r.stdout.split('\r\n');
    expect(header).toBe('run_id,status,notebook,schedule,start_time,duration_s,link,at,neg,cell0_s');
    expect(row).toContain(`,"'=HYPERLINK(""http://evil.example"",""click"")",'@SUM(1),-2.5,`);
    const raw = await cli('--notebook', `formula-${tag}`, '--format', 'csv', '--no-csv-escape');
    expect(raw.code, raw.stderr).toBe(0);
    expect(raw.stdout.split('\r\n')[1]).toContain(`,"=HYPERLINK(""http://evil.example"",""click"")",@SUM(1),-2.5,`);
  });
});
