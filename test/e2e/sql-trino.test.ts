/**
 * SQL jobs on a real Trino (test/e2e/trino-server.ts: Trino 476, HTTPS with a password)
 * through `millrace run FILE.sql`: the connection named in millrace.toml, its password in
 * neither the record nor the history; parameters bound by the client (an injection attempt
 * stays a value); previews and row counts, glued for `millrace metrics`; a failing
 * statement fails its own cell with Trino's message and its place in the file; `resume`
 * continues from it; presto:// URLs run with a note.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertValidNotebook, cellText, startHarness, streamText, type Harness } from './harness.js';
import { html, inHarnessDir, record, statementCell } from './job-files.js';
import { startTrino, type TrinoServer } from './trino-server.js';

let h: Harness;
let trino: TrinoServer;
const tag = randomBytes(3).toString('hex');

beforeAll(async () => {
  h = await startHarness();
  trino = await startTrino(join(h.dir, 'trino'));
  // The URL with the password sits in a file that millrace.toml names.
  await write('wh.url', `${trino.url('/memory/default')}\n`);
  await write('millrace.toml', `[connections.wh]\nurl_file = "${join(h.dir, 'wh.url')}"\n[connections.old]\nurl = "${trino.url('/tpch/tiny').replace(/^trino:/, 'presto:')}"\n`);
}, 180_000);
afterAll(async () => {
  await trino?.stop();
  await h?.close();
});

const { cli, write } = inHarnessDir(() => h);

/** Every string and payload of a run's Temporal history, decoded. */
async function historyText(id: string): Promise<string> {
  const texts: string[] = [];
  const walk = (v: unknown): void => {
    if (v instanceof Uint8Array) texts.push(Buffer.from(v).toString('utf8'));
    else if (typeof v === 'string') texts.push(v);
    else if (v && typeof v === 'object') Object.values(v).forEach(walk);
  };
  walk(await h.client.workflow.getHandle(id).fetchHistory());
  return texts.join('\n');
}

const ORDERS = `-- Orders of one nation since a day, from tpch into the memory catalog.
-- @param nation: str = 'FRANCE'
-- @param since: date = '1998-01-01'

DROP TABLE IF EXISTS picked_${tag};

CREATE TABLE picked_${tag} AS
SELECT o.orderkey, o.orderdate FROM tpch.tiny.orders o
JOIN tpch.tiny.customer c ON c.custkey = o.custkey
JOIN tpch.tiny.nation n ON n.nationkey = c.nationkey
WHERE n.name = :nation AND o.orderdate >= :since;

-- The other nations: ';' in a string does not split.
-- @name nations
-- @preview 2
SELECT name, 'a;b' AS s FROM tpch.tiny.nation WHERE name <> :nation ORDER BY name;

SELECT :nation AS nation_value, :since AS since_value, count(*) AS n FROM picked_${tag} WHERE orderdate >= :since;
`;

describe('SQL jobs on Trino', () => {
  it('runs with --engine trino --connection: parameters bound, previews, row counts glued, no password anywhere', async () => {
    const job = await write('orders.sql', ORDERS);
    const wrapped = await cli('wrap', job, '--engine', 'trino', '--connection', 'wh', '-o', 'orders-wrapped.ipynb');
    expect(wrapped.code, wrapped.stderr).toBe(0);
    const generated = await record(join(h.dir, 'orders-wrapped.ipynb'));
    // qmark binding: one `?` per use, the parameters listed in the order they are bound.
    expect(cellText(generated.cells.at(-1))).toBe(
      `%%millrace_sql line=18 name=s4 params=nation,since,since\nSELECT ? AS nation_value, ? AS since_value, count(*) AS n FROM picked_${tag} WHERE orderdate >= ?;`,
    );
    const ids = [`orders-fr-${tag}`, `orders-de-${tag}`];
    for (const [id, nation] of [
      [ids[0]!, 'FRANCE'],
      [ids[1]!, 'GERMANY'],
    ] as const) {
      const r = await cli('run', job, '--engine', 'trino', '--connection', 'wh', '--id', id, '-p', 'nation', nation, '--json');
      expect(r.code, r.stderr + r.stdout).toBe(0);
    }
    const out = join(h.config.storeRoot, 'runs', ids[0]!, 'orders.ipynb');
    await assertValidNotebook(out);
    const nb = await record(out);
    expect(nb.metadata.millrace.job).toMatchObject({ kind: 'sql', path: job, engine: 'trino', connection: 'wh' });
    expect(streamText(statementCell(nb, 5))).toMatch(/^0 rows changed in \d+\.\d{3} s\n$/);
    const created = /^(\d+) rows changed in /.exec(streamText(statementCell(nb, 7)));
    expect(created).not.toBeNull();
    expect(html(statementCell(nb, 16))).toBe(
      '<table><thead><tr><th>name</th><th>s</th></tr></thead><tbody><tr><td>ALGERIA</td><td>a;b</td></tr><tr><td>ARGENTINA</td><td>a;b</td></tr></tbody></table><p>first 2 of 24 rows</p>',
    );
    // The date parameter is bound as a DATE: Trino shows it back as one.
    expect(html(statementCell(nb, 18))).toContain(`<tr><td>FRANCE</td><td>1998-01-01</td><td>${created![1]}</td></tr>`);

    const m = await cli('metrics', '--notebook', 'orders', '--format', 'json');
    expect(m.code, m.stderr).toBe(0);
    const rows = JSON.parse(m.stdout).filter((row: any) => row.run_id.endsWith(tag));
    expect(rows.map((row: any) => [row.parameters.nation, row.values.s1_rows, row.values.nations_rows, row.values.s4_rows])).toEqual([
      ['FRANCE', 0, 24, 1],
      ['GERMANY', 0, 24, 1],
    ]);
    expect(rows[0].values.s2_rows).toBe(Number(created![1]));
    expect(typeof rows[0].values.nations_seconds).toBe('number');

    // The password is the connection's: in neither the record nor the workflow history.
    expect(await readFile(out, 'utf8')).not.toContain(trino.password);
    const history = await historyText(ids[0]!);
    expect(history).toContain(job);
    expect(history).not.toContain(trino.password);
  });

  it('binds a parameter as a value: an injection attempt through -p stays a string', async () => {
    const job = await write('orders.sql', ORDERS);
    const evil = "FRANCE'; DROP TABLE tpch.tiny.nation; --";
    const r = await cli('run', job, '--engine', 'trino', '--connection', 'wh', '--id', `orders-evil-${tag}`, '-p', 'nation', evil, '--json');
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const nb = await record(JSON.parse(r.stdout).output);
    // No nation has that name: all 25 are "other", and the value comes back as it was given.
    expect(html(statementCell(nb, 16))).toContain('<p>first 2 of 25 rows</p>');
    expect(html(statementCell(nb, 18))).toContain('<td>FRANCE&#x27;; DROP TABLE tpch.tiny.nation; --</td><td>1998-01-01</td><td>0</td>');
  });

  it("fails a failing statement in its own cell with Trino's message and its place; resume continues from it", async () => {
    const upstream = `upstream_${tag}`;
    const job = await write(
      'load.sql',
      `-- @engine trino\n-- @connection wh\n-- @param n: int = 1\nSELECT :n AS n;\n\n-- read the upstream table\nSELECT x * :n AS y\nFROM ${upstream};\n\nSELECT 2 AS after;\n`,
    );
    const id = `load-${tag}`;
    const r = await cli('run', job, '--id', id, '--json');
    expect(r.code).toBe(1);
    const failed = JSON.parse(r.stdout);
    expect(failed.error.ename).toBe('SqlStatementError');
    expect(failed.error.evalue).toMatch(new RegExp(`^load\\.sql, line 8, column 6: Table 'memory\\.default\\.${upstream}' does not exist \\(TABLE_NOT_FOUND, query \\w+\\)$`));
    const nb = await record(failed.output);
    const cells = nb.cells.filter((c: any) => !(c.metadata.tags ?? []).includes('papermill-error-cell-tag'));
    expect(failed.failed_cell).toBe(cells.indexOf(statementCell(nb, 7)));
    expect(statementCell(nb, 10).outputs).toEqual([]);

    // The upstream table appears (made by another job on the same connection); resume runs the rest.
    const make = await cli('run', await write('make.sql', `CREATE TABLE ${upstream} AS SELECT * FROM (VALUES 1, 2, 3) t(x);\n`), '--engine', 'trino', '--connection', 'wh', '--id', `make-${tag}`, '--json');
    expect(make.code, make.stderr).toBe(0);
    const resumed = await cli('resume', id, '--id', `${id}-2`, '--json');
    expect(resumed.code, resumed.stderr).toBe(0);
    const after = await record(JSON.parse(resumed.stdout).output);
    expect(after.metadata.millrace.resumed_from).toMatchObject({ run_id: id, from_cell: failed.failed_cell });
    expect(streamText(statementCell(after, 7))).toMatch(/^3 rows in /);
    expect(html(statementCell(after, 10))).toContain('<tr><td>2</td></tr>');
  });

  it('places a failure in a statement with parameters where the file has it', async () => {
    const job = await write('typed.sql', "-- @engine trino\n-- @connection wh\n-- @param s: str = 'a'\nSELECT 'it''s', :s AS a,\n  :s + 1 AS b;\n");
    const r = await cli('run', job, '--id', `typed-${tag}`, '--json');
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout).error.evalue).toMatch(/^typed\.sql, line 5, column 5: Cannot apply operator: varchar\(1\) \+ integer \(TYPE_MISMATCH, query \w+\)$/);
  });

  it('runs a presto:// connection on Trino, with a note', async () => {
    const job = await write('presto.sql', '-- @engine trino\n-- @connection old\nSELECT count(*) AS n FROM region;\n');
    const r = await cli('run', job, '--id', `presto-${tag}`, '--json');
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const nb = await record(JSON.parse(r.stdout).output);
    const setup = nb.cells.find((c: any) => (c.metadata.tags ?? []).includes('millrace-sql-setup'));
    expect(streamText(setup)).toBe('note: presto:// runs on the Trino client: Trino is the maintained Presto\n');
    expect(html(statementCell(nb, 3))).toContain('<tr><td>5</td></tr>');
    expect(JSON.stringify(nb)).not.toContain(trino.password);
  });
});
