/**
 * SQL jobs through `millrace run FILE.sql` on the real stack with DuckDB: the generated
 * notebook is the run's snapshot; parameters are bound, never pasted into SQL; each
 * statement's cell shows a preview and its row count, glued for `millrace metrics`; a
 * failing statement fails its own cell with the engine's message and its line; `resume`
 * continues from it; a schedule injects run_date; a named connection's secret stays out
 * of the record and the history.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertValidNotebook, cellText, codeCell, notebook, python, runCli, startHarness, streamText, waitFor, type Harness } from './harness.js';
import { startJupyterServer, type JupyterServer } from '../../worker/jupyter-server.js';
import { formatBytes } from '../../notebook/bytes.js';
import { html, inHarnessDir, record, statementCell } from './job-files.js';

let h: Harness;
const tag = randomBytes(3).toString('hex');
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.client.schedule.getHandle(`millrace-schedule-sqlday-${tag}`).delete().catch(() => undefined);
  await h?.close();
});

const { cli, write } = inHarnessDir(() => h);

/** Every string and payload of a run's Temporal history, decoded. */
async function historyText(client: Client, id: string): Promise<string> {
  const texts: string[] = [];
  const walk = (v: unknown): void => {
    if (v instanceof Uint8Array) texts.push(Buffer.from(v).toString('utf8'));
    else if (typeof v === 'string') texts.push(v);
    else if (v && typeof v === 'object') Object.values(v).forEach(walk);
  };
  walk(await client.workflow.getHandle(id).fetchHistory());
  return texts.join('\n');
}

/** A Parquet file's rows, read back with DuckDB. */
async function readParquet(path: string): Promise<unknown[][]> {
  const out = await python('import duckdb, json, sys\nprint(json.dumps(duckdb.sql(f"SELECT * FROM read_parquet(\'{sys.argv[1]}\')").fetchall(), default=str))', [path]);
  return JSON.parse(out);
}

const SALES = `-- Sales of one region on one day.
-- @param region: str = 'eu'
-- @param day: date
-- @param scale: int = 1

CREATE TABLE sales AS
SELECT * FROM (VALUES ('eu', DATE '2024-01-01', 10), ('eu', DATE '2024-01-01', 20), ('us', DATE '2024-01-01', 5),
  ('eu', DATE '2024-01-02', 7)) t(region, day, amount);

-- The region's rows; ';' in a string does not split.
-- @name picked
-- @preview 1
-- @output out/picked.parquet
SELECT region, day, amount * :scale AS amount, 'a;b' AS s FROM sales
WHERE region = :region AND day = :day ORDER BY amount;

SELECT :region AS region_value, :day AS day_value;

SELECT count(*) AS n FROM sales;
`;

describe('SQL jobs on DuckDB', () => {
  it('wrap writes the notebook that run runs', async () => {
    const job = await write('sales.sql', SALES);
    const r = await cli('wrap', job, '-o', 'sales-wrapped.ipynb');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(join(h.dir, 'sales-wrapped.ipynb'));
    await assertValidNotebook(join(h.dir, 'sales-wrapped.ipynb'));
    const nb = await record(join(h.dir, 'sales-wrapped.ipynb'));
    expect(nb.cells.map((c: any) => c.cell_type)).toEqual(['markdown', 'code', 'code', 'code', 'code', 'code', 'code']);
    expect(cellText(nb.cells[5])).toBe('%%millrace_sql line=17 name=s3 params=region,day\nSELECT $region AS region_value, $day AS day_value;');
    const bad = await cli('wrap', await write('bad.sql', 'SELECT :nope'));
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe(`millrace: ${join(h.dir, 'bad.sql')}: line 1: :nope is not a declared parameter (add -- @param nope: TYPE to the header)\n`);
  });

  it('runs with parameters: previews, row counts glued, the whole result saved, the file in the record', async () => {
    const job = await write('sales.sql', SALES);
    for (const [id, region] of [
      [`sales-eu-${tag}`, 'eu'],
      [`sales-us-${tag}`, 'us'],
    ] as const) {
      const r = await cli('run', job, '--id', id, '-p', 'region', region, '-p', 'day', '2024-01-01', '-p', 'scale', '3', '--json');
      expect(r.code, r.stderr).toBe(0);
    }
    const out = join(h.config.storeRoot, 'runs', `sales-eu-${tag}`, 'sales.ipynb');
    await assertValidNotebook(out);
    const nb = await record(out);
    expect(nb.metadata.millrace.job).toEqual({ kind: 'sql', path: job, sha256: createHash('sha256').update(SALES).digest('hex'), engine: 'duckdb', required: ['day'] });
    expect(nb.metadata.papermill.input_path).toBe(job);
    expect(nb.metadata.papermill.parameters).toEqual({ region: 'eu', day: '2024-01-01', scale: 3 });
    // CREATE TABLE AS: the rows it wrote.
    expect(streamText(statementCell(nb, 6))).toMatch(/^4 rows changed in \d+\.\d{3} s\n$/);
    // @preview 1 of the two rows, times the parameter; the whole result in the Parquet file.
    const picked = statementCell(nb, 14);
    expect(html(picked)).toBe(
      '<table><thead><tr><th>region</th><th>day</th><th>amount</th><th>s</th></tr></thead><tbody><tr><td>eu</td><td>2024-01-01</td><td>30</td><td>a;b</td></tr></tbody></table><p>first 1 of 2 rows</p>',
    );
    expect(streamText(picked)).toMatch(/^2 rows in \d+\.\d{3} s\n$/);
    // The whole result went to the run's folder in the store (the worker wrote it: the kernel
    // has no store credentials), not to the kernel's working directory; the record says where.
    const saved = join(h.config.storeRoot, 'runs', `sales-eu-${tag}`, 'out', 'picked.parquet');
    expect(existsSync(join(h.dir, 'out', 'picked.parquet'))).toBe(false);
    const savedLine = [picked.outputs.find((o: any) => o.metadata?.millrace?.saved_file).data['text/plain']].flat().join('');
    expect(savedLine).toBe(`saved out/picked.parquet to ${saved} (2 rows, ${formatBytes(statSync(saved).size)})`);
    expect(await readParquet(saved)).toEqual([['eu', '2024-01-01', 30, 'a;b'], ['eu', '2024-01-01', 60, 'a;b']]);
    // The file's parts were never recorded.
    const outputs = JSON.stringify(nb.cells.map((c: any) => c.outputs ?? []));
    expect(outputs).not.toContain('millrace_file');
    expect(outputs).not.toContain(readFileSync(saved).toString('base64').slice(0, 40));
    const show = await cli('show', `sales-eu-${tag}`);
    expect(show.stdout).toContain(`saved:    cell ${nb.cells.indexOf(picked)}: ${saved} (2 rows, `);
    // Bound as typed values: the date parameter is a DATE.
    expect(html(statementCell(nb, 17))).toContain('<tr><td>eu</td><td>2024-01-01</td></tr>');

    const m = await cli('metrics', '--notebook', 'sales', '--format', 'json');
    expect(m.code, m.stderr).toBe(0);
    const rows = JSON.parse(m.stdout).filter((row: any) => row.run_id.endsWith(tag));
    expect(rows.map((row: any) => [row.parameters.region, row.values.s1_rows, row.values.picked_rows, row.values.s3_rows, row.values.s4_rows])).toEqual([
      ['eu', 4, 2, 1, 1],
      ['us', 4, 1, 1, 1],
    ]);
    expect(typeof rows[0].values.picked_seconds).toBe('number');
  });

  it('refuses a result past the size limit in its cell, and a file part naming a path outside the run folder', async () => {
    // About 80 MB of CSV: more than the 64 MB a job saves to its run's folder.
    const job = await write('big.sql', '-- @output big.csv\nSELECT i, i * 7 AS j FROM range(5000000) t(i);\n');
    const r = await cli('run', job, '--id', `big-${tag}`, '--json');
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout).error).toMatchObject({
      ename: 'SqlStatementError',
      evalue: expect.stringMatching(
        /^big\.sql, line 2: @output big\.csv: the result is \d+\.\d MB, more than the 64 MB a job saves to its run's folder: select fewer rows, or write the file from the job itself \(e\.g\. COPY \.\.\. TO\)$/,
      ),
    });
    expect(existsSync(join(h.config.storeRoot, 'runs', `big-${tag}`, 'big.csv'))).toBe(false);
    // Any cell may send parts; the worker writes only inside the run's folder.
    const part = { path: '../escaped.csv', part: 0, parts: 1, bytes: 1, sha256: createHash('sha256').update('x').digest('hex'), rows: 1, data: 'eA==' };
    const nbPath = await write('escape.ipynb', JSON.stringify(notebook([codeCell(`get_ipython().display_pub.publish(data={}, metadata={}, transient={"millrace_file": ${JSON.stringify(part)}})`)])));
    const e = await cli('run', nbPath, '--id', `escape-${tag}`, '--json');
    expect(e.code).toBe(1);
    expect(JSON.parse(e.stdout).error).toEqual({
      ename: 'SavedFileError',
      evalue: '../escaped.csv was not saved: its path must be a path inside the run\'s folder (relative, no "..")',
    });
    expect(existsSync(join(h.config.storeRoot, 'runs', 'escaped.csv'))).toBe(false);
  });

  it('binds a parameter as a value: an injection attempt through -p stays a string', async () => {
    const job = await write('sales.sql', SALES);
    const evil = "eu'; DROP TABLE sales; --";
    const r = await cli('run', job, '--id', `sales-evil-${tag}`, '-p', 'region', evil, '-p', 'day', '2024-01-01', '--json');
    expect(r.code, r.stderr).toBe(0);
    const nb = await record(JSON.parse(r.stdout).output);
    expect(streamText(statementCell(nb, 14))).toMatch(/^0 rows in /);
    expect(html(statementCell(nb, 17))).toContain("<td>eu&#x27;; DROP TABLE sales; --</td>");
    // The table is still there, all of it.
    expect(html(statementCell(nb, 19))).toContain('<tr><td>4</td></tr>');
  });

  it('fails a failing statement in its own cell, with the engine message and its line; resume continues from it', async () => {
    const input = join(h.dir, `input-${tag}.csv`);
    const job = await write(
      'load.sql',
      `-- @param n: int = 1\nCREATE TABLE a AS SELECT :n AS n;\n\n-- read the upstream file\nSELECT *\nFROM read_csv('${input}');\n\nSELECT n + 1 AS m FROM a;\n`,
    );
    const id = `load-${tag}`;
    const r = await cli('run', job, '--id', id, '--json');
    expect(r.code).toBe(1);
    const failed = JSON.parse(r.stdout);
    expect(failed.error.ename).toBe('SqlStatementError');
    expect(failed.error.evalue).toMatch(/^load\.sql, line 5: IO Error: No files found that match the pattern/);
    const nb = await record(failed.output);
    // Numbered as `millrace show` numbers cells: without papermill's error banner.
    const cells = nb.cells.filter((c: any) => !(c.metadata.tags ?? []).includes('papermill-error-cell-tag'));
    expect(failed.failed_cell).toBe(cells.indexOf(statementCell(nb, 5)));
    // The statements after it did not run.
    expect(statementCell(nb, 8).outputs).toEqual([]);

    await writeFile(input, 'x,y\n1,2\n3,4\n');
    const resumed = await cli('resume', id, '--id', `${id}-2`, '--json');
    expect(resumed.code, resumed.stderr).toBe(0);
    const after = await record(JSON.parse(resumed.stdout).output);
    expect(after.metadata.millrace.resumed_from).toMatchObject({ run_id: id, from_cell: failed.failed_cell });
    expect(streamText(statementCell(after, 5))).toMatch(/^2 rows in /);
    // Replaying the earlier cells rebuilt table a in the new kernel.
    expect(html(statementCell(after, 8))).toContain('<tr><td>2</td></tr>');
  });

  it('refuses a missing required parameter before submitting, naming it; the kernel checks it too', async () => {
    const job = await write('sales.sql', SALES);
    const r = await cli('run', job, '--id', `sales-noday-${tag}`, '--json');
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`millrace: ${job}: parameter day is required: pass -p day VALUE\n`);
    expect(await h.client.workflow.getHandle(`sales-noday-${tag}`).describe().catch(() => 'none')).toBe('none');
    // The notebook `wrap` wrote is refused the same way.
    await cli('wrap', job, '-o', 'sales-plain.ipynb');
    const plain = await cli('run', join(h.dir, 'sales-plain.ipynb'), '--id', `sales-plain-${tag}`, '--json');
    expect(plain.code).toBe(2);
    expect(plain.stderr).toBe(`millrace: ${join(h.dir, 'sales-plain.ipynb')}: parameter day is required: pass -p day VALUE\n`);
    // Given as None, it reaches the kernel, whose setup cell refuses it.
    const none = await cli('run', job, '--id', `sales-none-${tag}`, '-p', 'day', 'None', '--json');
    expect(none.code).toBe(1);
    expect(JSON.parse(none.stdout).error).toMatchObject({ ename: 'ValueError', evalue: 'parameter day is required: pass -p day VALUE' });
  });

  it('runs a scheduled .sql job with run_date as its date parameter', async () => {
    const job = await write('daily.sql', '-- @param run_date: date\n-- @param region: str = \'eu\'\nSELECT :run_date + 1 AS next_day, :region AS region;\n');
    const name = `sqlday-${tag}`;
    const created = await cli('schedule', 'create', name, job, '--cron', '0 6 * * *', '--timezone', 'UTC', '-p', 'region', 'us', '--json');
    expect(created.code, created.stderr).toBe(0);
    const backfill = await cli('schedule', 'backfill', name, '--start', '2024-02-28', '--end', '2024-02-29', '--json');
    expect(backfill.code, backfill.stderr).toBe(0);
    let ids: string[] = [];
    const deadline = Date.now() + 60_000;
    while (ids.length < 2 && Date.now() < deadline) {
      const d = await h.client.schedule.getHandle(`millrace-schedule-${name}`).describe();
      ids = d.info.recentActions.map((a) => a.action.workflow.workflowId);
      if (ids.length < 2) await new Promise((r) => setTimeout(r, 200));
    }
    expect(ids).toHaveLength(2);
    const previews: string[] = [];
    for (const id of ids) {
      const result = await h.client.workflow.getHandle(id).result();
      expect(result.status).toBe('completed');
      const nb = await record(result.output);
      expect(nb.metadata.millrace).toMatchObject({ schedule: name, job: { kind: 'sql', path: job } });
      previews.push(html(statementCell(nb, 3)));
    }
    expect(previews.sort()).toEqual([
      '<table><thead><tr><th>next_day</th><th>region</th></tr></thead><tbody><tr><td>2024-02-29</td><td>us</td></tr></tbody></table><p>1 row</p>',
      '<table><thead><tr><th>next_day</th><th>region</th></tr></thead><tbody><tr><td>2024-03-01</td><td>us</td></tr></tbody></table><p>1 row</p>',
    ]);
  });

  it('schedule create --connection: a scheduled .sql job with run_date on a connection only the Jupyter Server environment names', async () => {
    // MILLRACE_CONNECTION_<NAME> is read by the kernel, so it belongs in the environment of
    // the process that starts the Jupyter Server (`millrace worker`, `dev`, or a CLI running
    // its embedded stack): here a server of this test's own. The CLI that creates the
    // schedule and the worker never see it.
    const secret = `planted-secret-${tag}`;
    const variable = `MILLRACE_CONNECTION_DAILY_${tag.toUpperCase()}`;
    process.env[variable] = `duckdb:///:memory:?threads=3&custom_user_agent=${secret}`;
    let server: JupyterServer | undefined;
    let own: Harness | undefined;
    try {
      server = await startJupyterServer({ stateDir: join(h.dir, `jupyter-${tag}`) });
      delete process.env[variable];
      own = await startHarness({ jupyter: { url: server.url, token: server.token } });
      expect(own.cliEnv[variable]).toBeUndefined();
      const job = join(own.dir, 'daily.sql');
      await writeFile(
        job,
        "-- @param run_date: date\nSELECT current_setting('threads') AS threads, :run_date AS day;\n",
      );
      const cliOwn = (...args: string[]) => runCli(args, own!.cliEnv, own!.dir);
      const bad = await cliOwn('schedule', 'create', `bad-${tag}`, job, '--cron', '0 6 * * *', '--engine', 'nope');
      expect(bad.code).toBe(2);
      expect(bad.stderr).toBe(`millrace: ${job}: --engine nope: this version runs SQL jobs on duckdb, trino, spark, spark-connect, sqlalchemy\n`);
      const name = `sqlconn-${tag}`;
      const connection = `daily_${tag}`;
      const created = await cliOwn('schedule', 'create', name, job, '--cron', '0 6 * * *', '--timezone', 'UTC', '--engine', 'duckdb', '--connection', connection, '--json');
      expect(created.code, created.stderr).toBe(0);
      try {
        const backfill = await cliOwn('schedule', 'backfill', name, '--start', '2024-02-28', '--end', '2024-02-29', '--json');
        expect(backfill.code, backfill.stderr).toBe(0);
        const ids = await waitFor('two runs', async () => {
          const d = await own!.client.schedule.getHandle(`millrace-schedule-${name}`).describe();
          const started = d.info.recentActions.map((a) => a.action.workflow.workflowId);
          return started.length === 2 ? started : undefined;
        });
        const texts: string[] = [];
        const previews: string[] = [];
        for (const id of ids) {
          const result = await own.client.workflow.getHandle(id).result();
          expect(result.status).toBe('completed');
          const text = await readFile(result.output, 'utf8');
          expect(text).not.toContain(secret);
          expect(JSON.parse(text).metadata.millrace.job).toMatchObject({ kind: 'sql', engine: 'duckdb', connection });
          previews.push(html(statementCell(JSON.parse(text), 2)));
          texts.push(await historyText(own.client, id));
        }
        expect(texts.join('\n')).toContain(job);
        expect(texts.join('\n')).not.toContain(secret);
        // The connection's URL set DuckDB's threads; each run got its nominal date.
        expect(previews.sort()).toEqual([
          '<table><thead><tr><th>threads</th><th>day</th></tr></thead><tbody><tr><td>3</td><td>2024-02-28</td></tr></tbody></table><p>1 row</p>',
          '<table><thead><tr><th>threads</th><th>day</th></tr></thead><tbody><tr><td>3</td><td>2024-02-29</td></tr></tbody></table><p>1 row</p>',
        ]);
      } finally {
        await own.client.schedule.getHandle(`millrace-schedule-${name}`).delete().catch(() => undefined);
      }
    } finally {
      delete process.env[variable];
      await own?.close();
      await server?.stop();
    }
  });

  it('runs on any SQLAlchemy URL (sqlite): parameters bound, preview and counts, @output saved, the failing statement named, the URL kept out', async () => {
    const secret = `lite-secret-${tag}`;
    const urlFile = await write(`lite-${tag}.url`, `sqlite:///${join(h.dir, `${secret}.db`)}\n`);
    await mkdir(join(h.dir, '.millrace'), { recursive: true });
    await write('.millrace/connections.toml', `[lite]\nurl_file = "${urlFile}"\n`);
    const job = await write(
      'lite.sql',
      [
        '-- @engine sqlalchemy',
        '-- @connection lite',
        "-- @param region: str = 'eu'",
        "-- @param probe: str = 'x'",
        '',
        'CREATE TABLE IF NOT EXISTS sales (region TEXT, amount INTEGER);',
        'DELETE FROM sales;',
        "INSERT INTO sales VALUES ('eu', 10), ('eu', 20), ('us', 5);",
        '',
        '-- @name picked',
        '-- @output picked.csv',
        "SELECT region, amount, '06:30' AS at FROM sales WHERE region = :region ORDER BY amount;",
        '',
        'SELECT :probe AS probe, count(*) AS n FROM sales;',
        '',
        'SELECT nope FROM sales;',
        '',
      ].join('\n'),
    );
    const id = `lite-${tag}`;
    const r = await cli('run', job, '--id', id, '-p', 'probe', "x'; DROP TABLE sales; --", '--json');
    expect(r.code).toBe(1);
    const failed = JSON.parse(r.stdout);
    expect(failed.error).toEqual({ ename: 'SqlStatementError', evalue: 'lite.sql, line 16: no such column: nope' });
    const nb = await record(failed.output);
    expect(nb.metadata.millrace.job).toMatchObject({ kind: 'sql', engine: 'sqlalchemy', connection: 'lite' });
    expect(streamText(statementCell(nb, 8))).toMatch(/^3 rows changed in \d+\.\d{3} s\n$/);
    const picked = statementCell(nb, 12);
    expect(html(picked)).toBe(
      '<table><thead><tr><th>region</th><th>amount</th><th>at</th></tr></thead><tbody><tr><td>eu</td><td>10</td><td>06:30</td></tr><tr><td>eu</td><td>20</td><td>06:30</td></tr></tbody></table><p>2 rows</p>',
    );
    expect((await readFile(join(h.config.storeRoot, 'runs', id, 'picked.csv'), 'utf8'))).toBe('"region","amount","at"\n"eu",10,"06:30"\n"eu",20,"06:30"\n');
    // The injection attempt is a value; the table is all there.
    expect(html(statementCell(nb, 14))).toContain("<tr><td>x&#x27;; DROP TABLE sales; --</td><td>3</td></tr>");
    const m = await cli('metrics', '--notebook', 'lite', '--format', 'json');
    expect(JSON.parse(m.stdout).find((row: any) => row.run_id === id).values.picked_rows).toBe(2);
    expect(JSON.stringify(nb)).not.toContain(secret);
    const history = await historyText(h.client, id);
    expect(history).toContain(job);
    expect(history).not.toContain(secret);
  });

  it('resolves a named connection in the kernel: its secret is in neither the record nor the history', async () => {
    const secret = `planted-secret-${tag}`;
    // The URL (with a DuckDB option carrying the secret) sits in a file millrace.toml names.
    const urlFile = await write(`wh-${tag}.url`, `duckdb:///wh-${tag}.db?custom_user_agent=${secret}\n`);
    await write('millrace.toml', `[connections.wh]\nurl_file = "${urlFile}"\n`);
    const job = await write('wh.sql', "-- @connection wh\nCREATE TABLE IF NOT EXISTS kept AS SELECT 42 AS answer;\nSELECT answer FROM kept;\n");
    const id = `wh-${tag}`;
    const r = await cli('run', job, '--id', id, '--json');
    expect(r.code, r.stderr).toBe(0);
    const text = await readFile(JSON.parse(r.stdout).output, 'utf8');
    expect(text).toContain('<td>42</td>');
    expect(text).not.toContain(secret);
    // The database file is the connection's: the table is in it.
    expect(existsSync(join(h.dir, `wh-${tag}.db`))).toBe(true);
    const history = await historyText(h.client, id);
    expect(history).toContain(job);
    expect(history).not.toContain(secret);
  });
});
