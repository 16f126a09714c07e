/**
 * Spark jobs through `millrace run` (and a schedule) on the real stack: a PySpark script split at `# %%`
 * with parameters and sys.argv, on local Spark; a .sql job on Spark SQL, local and over
 * Spark Connect (a server from the venv's pyspark, started once for the file); a failing
 * statement attributed to its cell; a cancelled run cancelling its Spark job; the
 * application id in the record; the session stopped however the run ends. Spark's own
 * event logs (written by the driver, kept after it stops) are the evidence of what Spark did.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readRecord } from '../../record/run-record.js';
import { startSparkConnectServer, type SparkConnectServer } from '../../worker/spark-connect-server.js';
import { assertValidNotebook, cellText, startHarness, streamText, waitFor, type Harness } from './harness.js';
import { html, inHarnessDir, record, statementCell } from './job-files.js';

let h: Harness;
let connect: SparkConnectServer;
const tag = randomBytes(3).toString('hex');
let localEvents: string;
let connectEvents: string;
const eventConf = (dir: string) => ({
  'spark.eventLog.enabled': 'true',
  'spark.eventLog.dir': `file://${dir}`,
  'spark.eventLog.compress': 'false',
  'spark.eventLog.rolling.enabled': 'false',
});

beforeAll(async () => {
  h = await startHarness();
  localEvents = join(h.dir, 'events-local');
  connectEvents = join(h.dir, 'events-connect');
  await mkdir(localEvents);
  await mkdir(connectEvents);
  connect = await startSparkConnectServer({ stateDir: join(h.dir, 'spark-state'), conf: eventConf(connectEvents) });
  const local = `local[2]?${new URLSearchParams({ ...eventConf(localEvents), 'spark.driver.memory': '1g' })}`;
  // Connections as users name them; the kernel works in h.dir (the CLI's directory).
  await writeFile(join(h.dir, 'millrace.toml'), `[connections.local]\nurl = "${local}"\n[connections.connect]\nurl = "${connect.url}"\n`);
}, 240_000);
afterAll(async () => {
  await connect?.stop();
  await h?.close();
});

const { cli, write } = inHarnessDir(() => h);
const wrap = async (file: string, ...args: string[]): Promise<string> => {
  const out = join(h.dir, `${file}-${args.join('-').replace(/\W+/g, '_')}.ipynb`);
  const r = await cli('wrap', join(h.dir, file), '-o', out, ...args);
  expect(r.code, r.stderr).toBe(0);
  return out;
};
const withTag = (nb: any, t: string) => nb.cells.find((c: any) => (c.metadata.tags ?? []).includes(t));
/** metadata.millrace.spark of the setup cell's output: what the run's session was. */
const sparkInfo = (nb: any): any => (withTag(nb, 'millrace-spark-setup') ?? withTag(nb, 'millrace-sql-setup')).outputs.find((o: any) => o.metadata?.millrace?.spark)?.metadata.millrace.spark;
const scriptCell = (nb: any, line: number) => nb.cells.find((c: any) => c.metadata.millrace?.script_line === line);
/** The failed cell's index as `millrace show` counts (without papermill's error banner). */
const shownIndex = (nb: any, cell: any) => nb.cells.filter((c: any) => !(c.metadata.tags ?? []).includes('papermill-error-cell-tag')).indexOf(cell);

/** The events of one application's Spark event log; `finished`: the log is closed (the application ended). */
function events(dir: string, appId: string): { finished: boolean; list: any[] } {
  const name = readdirSync(dir).find((f) => f === appId || f === `${appId}.inprogress`);
  if (!name) return { finished: false, list: [] };
  const list = readFileSync(join(dir, name), 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .flatMap((l) => {
      try {
        return [JSON.parse(l)];
      } catch {
        return []; // a line being written
      }
    });
  return { finished: name === appId, list };
}
const jobsOfGroup = (list: any[], group: RegExp) =>
  // Local: the job group; Connect: the operation's tags hold the cell's tag.
  list.filter((e) => e.Event === 'SparkListenerJobStart' && group.test(JSON.stringify(e.Properties ?? {}))).map((e) => e['Job ID']);
const jobEnd = (list: any[], id: number) => list.find((e) => e.Event === 'SparkListenerJobEnd' && e['Job ID'] === id);

const SCRIPT = `# %% [markdown]
# # Daily counts
# Counts a range of rows for one day.

# %%
import argparse
from pyspark.sql import SparkSession

# %% tags=["parameters"]
n = 10

# %%
parser = argparse.ArgumentParser()
parser.add_argument("--day", required=True)
day = parser.parse_args().day
spark = SparkSession.builder.getOrCreate()
print("rows", spark.range(n).count(), "day", day, "app", spark.sparkContext.appName)
`;

const SALES = `-- @param region: str = 'eu'
-- @param day: date

CREATE OR REPLACE TEMP VIEW sales AS
SELECT * FROM VALUES ('eu', DATE '2024-01-01', 10), ('eu', DATE '2024-01-01', 20), ('us', DATE '2024-01-01', 5) AS t(region, day, amount);

-- @name picked
-- @preview 1
SELECT region, day, amount FROM sales
WHERE region = :region AND day = :day ORDER BY amount;

SELECT :region AS region_value, :day AS day_value;

-- a typo
SELECT amont FROM sales;
`;

describe('PySpark scripts', () => {
  it('wrap splits the script at # %% with its parameters, argv and the session around it', async () => {
    await write('daily.py', SCRIPT);
    const nb = await record(await wrap('daily.py'));
    expect(nb.cells.map((c: any) => [c.cell_type, c.metadata.tags ?? []])).toEqual([
      ['markdown', []],
      ['markdown', []],
      ['code', []],
      ['code', ['parameters']],
      ['code', ['millrace-spark-setup']],
      ['code', []],
      ['code', ['millrace-spark-teardown']],
    ]);
    expect(cellText(nb.cells[1])).toBe('# Daily counts\nCounts a range of rows for one day.');
    expect(cellText(nb.cells[3])).toBe('n = 10\nargv = []  # sys.argv[1:] for the job: a list, or one string split like a shell command line');
    expect(nb.cells[5].metadata.millrace).toEqual({ script_line: 13 });
    expect(nb.metadata.millrace.job).toMatchObject({ kind: 'pyspark', engine: 'spark' });
    const p = await cli('params', join(h.dir, 'daily.py'));
    expect(p.code, p.stderr).toBe(0);
    expect(p.stdout).toMatch(/\bn\b[\s\S]*\bargv\b/);
    const bad = await cli('wrap', join(h.dir, 'daily.py'), '--engine', 'duckdb');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe(`millrace: ${join(h.dir, 'daily.py')}: --engine duckdb: a PySpark script runs on spark or spark-connect\n`);
  });

  it('runs on local Spark with parameters and sys.argv; app name = run id, app id in the record', async () => {
    const job = await write('daily.py', SCRIPT);
    const id = `daily-${tag}`;
    const r = await cli('run', job, '--id', id, '-p', 'n', '7', '-p', 'argv', '--day 2024-01-01', '--json');
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout).output;
    await assertValidNotebook(out);
    const nb = await record(out);
    expect(streamText(scriptCell(nb, 13))).toBe(`rows 7 day 2024-01-01 app ${id}\n`);
    const info = sparkInfo(nb);
    expect(info).toMatchObject({ master: 'local[*]', app_name: id });
    expect(info.application_id).toMatch(/^local-\d+$/);
    expect(info.ui_url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect([withTag(nb, 'millrace-spark-setup').outputs.find((o: any) => o.metadata?.millrace?.spark).data['text/plain']].flat().join('')).toContain(`Spark application ${info.application_id} (local[*]), app name ${id}`);
    expect(withTag(nb, 'millrace-spark-teardown').outputs).toEqual([]);
    expect(nb.metadata.millrace.job).toMatchObject({ kind: 'pyspark', path: job, engine: 'spark' });
  });

  it('a failing cell fails the run at that cell; the session is stopped', async () => {
    await write('fails.py', '# %%\nx = 1\n\n# %%\nspark.sql("SELECT nope").collect()\n\n# %%\nprint("not reached")\n');
    const r = await cli('run', await wrap('fails.py', '--connection', 'local'), '--id', `fails-${tag}`, '--json');
    expect(r.code).toBe(1);
    const failed = JSON.parse(r.stdout);
    expect(failed.error.ename).toBe('AnalysisException');
    const nb = await record(failed.output);
    expect(failed.failed_cell).toBe(shownIndex(nb, scriptCell(nb, 5)));
    expect(scriptCell(nb, 8).outputs).toEqual([]);
    const app = sparkInfo(nb).application_id;
    // Stopped when the kernel exited: the event log is closed with the application's end.
    const log = await waitFor('the event log to close', async () => (events(localEvents, app).finished ? events(localEvents, app) : undefined));
    expect(log.list.at(-1).Event).toBe('SparkListenerApplicationEnd');
  });
  it('runs a scheduled script with run_date in its parameters cell', async () => {
    const job = await write('nightly.py', '# %% tags=["parameters"]\nrun_date = "1970-01-01"\n\n# %%\nprint("day", run_date, spark.range(3).count())\n');
    const name = `nightly-${tag}`;
    const created = await cli('schedule', 'create', name, job, '--cron', '0 6 * * *', '--timezone', 'UTC', '--json');
    expect(created.code, created.stderr).toBe(0);
    try {
      const backfill = await cli('schedule', 'backfill', name, '--start', '2024-02-28', '--end', '2024-02-28', '--json');
      expect(backfill.code, backfill.stderr).toBe(0);
      const schedule = h.client.schedule.getHandle(`millrace-schedule-${name}`);
      const id = await waitFor('the scheduled run', async () => (await schedule.describe()).info.recentActions[0]?.action.workflow.workflowId);
      const result = await h.client.workflow.getHandle(id).result();
      expect(result.status).toBe('completed');
      const nb = await record(result.output);
      expect(nb.metadata.millrace).toMatchObject({ schedule: name, job: { kind: 'pyspark', path: job } });
      expect(streamText(scriptCell(nb, 5))).toBe('day 2024-02-28 3\n');
      expect(sparkInfo(nb).app_name).toBe(id);
    } finally {
      await h.client.schedule.getHandle(`millrace-schedule-${name}`).delete().catch(() => undefined);
    }
  });
});

describe('Spark SQL', () => {
  for (const [engine, connection] of [
    ['spark', 'local'],
    ['spark-connect', 'connect'],
  ] as const) {
    it(`runs a .sql job on ${engine}: bound parameters, previews, the failing statement in its cell`, async () => {
      await write('sales.sql', SALES);
      const id = `sales-${engine}-${tag}`;
      const r = await cli('run', await wrap('sales.sql', '--engine', engine, '--connection', connection), '--id', id, '-p', 'day', '2024-01-01', '--json');
      expect(r.code).toBe(1);
      const failed = JSON.parse(r.stdout);
      const nb = await record(failed.output);
      expect(nb.metadata.millrace.job).toMatchObject({ kind: 'sql', engine, connection });
      // :name stays in the statement: Spark binds it.
      expect(cellText(statementCell(nb, 9))).toContain('WHERE region = :region AND day = :day');
      expect(streamText(statementCell(nb, 4))).toMatch(/^done in \d+\.\d{3} s\n$/);
      expect(html(statementCell(nb, 9))).toBe(
        '<table><thead><tr><th>region</th><th>day</th><th>amount</th></tr></thead><tbody><tr><td>eu</td><td>2024-01-01</td><td>10</td></tr></tbody></table><p>first 1 of 2 rows</p>',
      );
      expect(streamText(statementCell(nb, 9))).toMatch(/^2 rows in /);
      expect(html(statementCell(nb, 12))).toContain('<tr><td>eu</td><td>2024-01-01</td></tr>');
      expect(failed.error.ename).toBe('SqlStatementError');
      expect(failed.error.evalue).toMatch(/^sales\.sql, line 15: \[UNRESOLVED_COLUMN\.WITH_SUGGESTION\] A column, variable, or function parameter with name `amont` cannot be resolved\. .*SQLSTATE: 42703; line 2 pos 7;$/);
      expect(failed.failed_cell).toBe(shownIndex(nb, statementCell(nb, 15)));
      const info = sparkInfo(nb);
      if (engine === 'spark-connect') {
        expect(info).toMatchObject({ master: connect.url });
        expect(typeof info.session_id).toBe('string');
      } else expect(info).toMatchObject({ master: 'local[2]', app_name: id });
      expect(info.application_id).toMatch(/^local-\d+$/);
    });
  }
});

describe('cancellation', () => {
  const SLOW = `# %%\nx = 1\n\n# %%\nspark.sql("SELECT reflect('java.lang.Thread', 'sleep', CAST(600000 AS BIGINT)) FROM range(0, 2, 1, 2)").collect()\n`;
  for (const [engine, connection] of [
    ['spark', 'local'],
    ['spark-connect', 'connect'],
  ] as const) {
    it(`millrace cancel cancels the running Spark job (${engine})`, async () => {
      await write('slow.py', SLOW);
      const id = `slow-${engine}-${tag}`;
      const wrapped = await wrap('slow.py', '--engine', engine, '--connection', connection);
      const started = await cli('run', wrapped, '--id', id, '--detach');
      expect(started.code, started.stderr).toBe(0);
      const out = join(h.config.storeRoot, 'runs', id, basename(wrapped));
      // The application, from the setup cell's output in the record (journal included).
      const appId: string = await waitFor('the setup cell in the record', async () => sparkInfo((await readRecord(out)).notebook)?.application_id, 120_000);
      const dir = engine === 'spark' ? localEvents : connectEvents;
      const group = new RegExp(`millrace-${id}-c`);
      const jobs = await waitFor('the slow job to start', async () => {
        const js = jobsOfGroup(events(dir, appId).list, group);
        return js.length ? js : undefined;
      }, 120_000);
      const cancel = await cli('cancel', id);
      expect(cancel.code, cancel.stderr).toBe(0);
      await expect(h.client.workflow.getHandle(id).result()).rejects.toThrow();
      const end = await waitFor('the job to end', async () => jobEnd(events(dir, appId).list, jobs[0]), 60_000);
      expect(end['Job Result'].Result).toBe('JobFailed');
      // Local: the cell's job group; Connect: the cell's operation, interrupted by its tag.
      expect(end['Job Result'].Exception.Message).toMatch(engine === 'spark' ? new RegExp(`cancelled part of cancelled job group millrace-${id}-c\\d+-r\\d+`) : /^\[SPARK_JOB_CANCELLED\] .*SparkConnect_OperationTag_/);
      if (engine === 'spark') {
        // And the session was stopped: the application ended.
        await waitFor('the application to end', async () => events(dir, appId).finished || undefined);
      }
    }, 240_000);
  }
});
