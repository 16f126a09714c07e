// SQL jobs (`millrace wrap`): the header's directives, splitting with sqlparse (the
// project venv's Python, as the CLI runs it), and the generated notebook.
import { describe, expect, it } from 'vitest';
import { splitSql } from '../../jobs/split-sql.js';
import { SQL_ENGINES } from '../../notebook/sql/engines.js';
import { generateSqlNotebook, requiredJobParameters, type SqlJobSpec } from '../../notebook/sql/generate.js';
import { parseSqlHeader, SqlJobError } from '../../notebook/sql/header.js';
import { sourceText } from '../../notebook/nbformat.js';
import { wrapSqlJob, type WrapOptions } from '../../jobs/wrap.js';

const texts = async (sql: string) => (await splitSql(sql)).map((s) => s.text);

describe('splitting SQL into statements', () => {
  it('does not split at a semicolon in a string, a quoted identifier or a comment', async () => {
    const sql = "SELECT 'a;b', 'it''s;' AS x;\nSELECT \"col;umn\" FROM t; -- c;d\n/* e;f */ SELECT 2;";
    expect(await texts(sql)).toEqual(["SELECT 'a;b', 'it''s;' AS x;", 'SELECT "col;umn" FROM t; -- c;d', '/* e;f */ SELECT 2;']);
  });

  it('does not split inside dollar quoting, plain or tagged', async () => {
    const sql = 'SELECT $$ a; b $$ AS x;\nCREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql;\nSELECT 3';
    expect(await texts(sql)).toEqual(['SELECT $$ a; b $$ AS x;', 'CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql;', 'SELECT 3']);
  });

  it('drops empty statements and takes a last statement without a semicolon', async () => {
    expect(await texts('SELECT 1;;\n ; \nSELECT 2')).toEqual(['SELECT 1;', 'SELECT 2']);
    expect(await texts('  \n')).toEqual([]);
  });

  it('keeps comments with their statement, and trailing comments with the last one', async () => {
    const sql = '-- first\nSELECT 1;\n\n-- second\n-- more\nSELECT 2; -- same line\n-- the end\n';
    const statements = await splitSql(sql);
    expect(statements.map((s) => s.text)).toEqual(['-- first\nSELECT 1;', '-- second\n-- more\nSELECT 2; -- same line\n-- the end']);
    // `start`: where the text starts; `line`: its first token that is not a comment.
    expect(statements.map((s) => [s.start, s.line, s.type])).toEqual([
      [1, 2, 'SELECT'],
      [4, 6, 'SELECT'],
    ]);
  });

  it('finds :name placeholders, not casts or strings, and refuses other styles', async () => {
    const [s] = await splitSql("SELECT a::int, ':no' FROM t WHERE r = :region AND d = :day");
    expect(s!.placeholders.map((p) => [s!.text.slice(p.offset, p.offset + p.name.length + 1), p.name])).toEqual([
      [':region', 'region'],
      [':day', 'day'],
    ]);
    await expect(splitSql('SELECT 1;\nSELECT * FROM t WHERE x = ?')).rejects.toThrow(new SqlJobError('line 2: placeholder ?: refer to parameters as :name'));
  });
});

describe('the header of a SQL job', () => {
  it('reads parameters, preview and connection, and keeps line numbers', () => {
    const h = parseSqlHeader("-- Sales.\n-- @param region: str = 'it''s'\n-- @param day: date\n-- @param n: int = 3\n-- @preview 5\n-- @connection wh\n\nSELECT 1");
    expect(h.params).toEqual([
      { name: 'region', type: 'str', default: "it's", line: 2 },
      { name: 'day', type: 'date', line: 3 },
      { name: 'n', type: 'int', default: '3', line: 4 },
    ]);
    expect(h).toMatchObject({ preview: 5, connection: 'wh', description: ['Sales.'] });
    expect(h.body.split('\n')).toEqual(['', '', '', '', '', '', '', 'SELECT 1']);
  });

  it('takes @param from the comments touching the first statement, leaving its other comments', () => {
    const h = parseSqlHeader('-- @param x: int = 1\n-- the query\nSELECT :x');
    expect(h.params.map((p) => p.name)).toEqual(['x']);
    expect(h.body).toBe('\n-- the query\nSELECT :x');
  });

  it('refuses what it cannot read, naming the line', () => {
    const bad = (sql: string) => () => parseSqlHeader(sql);
    expect(bad('-- @param x: money\nSELECT 1')).toThrow('line 1: @param x: unknown type money (one of str, int, float, bool, date, datetime)');
    expect(bad('-- @param x: int = ten\nSELECT 1')).toThrow('line 1: @param x: the default "ten" is not a int');
    expect(bad('-- @param x: date = 2024-13\nSELECT 1')).toThrow('is not a date');
    expect(bad('-- @param x\nSELECT 1')).toThrow("line 1: @param wants NAME: TYPE [= DEFAULT], e.g. -- @param region: str = 'eu'");
    expect(bad('-- @param x: int\n-- @param x: str\nSELECT 1')).toThrow('line 2: @param x is declared twice');
    expect(bad('-- @todo\n\nSELECT 1')).toThrow('line 1: unknown directive @todo (known: @param, @preview, @connection, @engine, @output, @name)');
    expect(bad('-- @output x.parquet\n\nSELECT 1')).toThrow('line 1: @output belongs in the comments right above its statement');
  });
});

const spec = async (sql: string, extra: Partial<SqlJobSpec> = {}): Promise<SqlJobSpec> => {
  const header = parseSqlHeader(sql);
  return { fileName: 'job.sql', path: '/p/job.sql', sha256: 'ab'.repeat(32), header, statements: await splitSql(header.body), engine: SQL_ENGINES['duckdb']!, runtime: '# runtime', ...extra };
};

describe('the generated notebook', () => {
  const sql = "-- Daily totals.\n-- @param region: str = 'eu'\n-- @param day: date\n-- @param full: bool = true\n\n-- @output out/t.parquet\n-- @preview 3\nSELECT * FROM t WHERE r = :region AND d = :day AND r2 = :region;\nINSERT INTO u VALUES (1)";

  it("sqlalchemy keeps :name for text() to bind, and escapes any other :word text() would take for one", async () => {
    const job = "-- @param lo: int = 1\nSELECT '12:30' AS t, 'a :b' AS u, x::text, :lo AS lo -- note :c\nFROM t WHERE i >= :lo;";
    const nb = generateSqlNotebook(await spec(job, { engine: SQL_ENGINES['sqlalchemy']! }));
    expect(sourceText(nb.cells[3]!.source)).toBe(
      "%%millrace_sql line=2 name=s1 params=lo\nSELECT '12:30' AS t, 'a \\:b' AS u, x::text, :lo AS lo -- note \\:c\nFROM t WHERE i >= :lo;",
    );
    expect(sourceText(nb.cells[2]!.source)).toContain('_millrace_connection_url(None, "sqlite:///:memory:")');
  });

  it('has a parameters cell, a setup cell and one cell per statement, with :name bound by the engine', async () => {
    const nb = generateSqlNotebook(await spec(sql));
    const sources = nb.cells.map((c) => sourceText(c.source));
    expect(nb.cells.map((c) => c.cell_type)).toEqual(['markdown', 'code', 'code', 'code', 'code']);
    expect(sources[0]).toContain('Daily totals.');
    expect(nb.cells[1]!.metadata.tags).toEqual(['parameters']);
    expect(sources[1]).toBe('region = "eu"  # type: str\nday = None  # type: date (required)\nfull = True  # type: bool');
    expect(sources[2]).toContain('{"region": ("str", region), "day": ("date", day), "full": ("bool", full)}');
    expect(sources[3]).toBe(
      '%%millrace_sql line=8 name=s1 params=region,day preview=3 output=out/t.parquet\n-- @output out/t.parquet\n-- @preview 3\nSELECT * FROM t WHERE r = $region AND d = $day AND r2 = $region;',
    );
    expect(sources[4]).toBe('%%millrace_sql line=9 name=s2 kind=INSERT\nINSERT INTO u VALUES (1)');
    expect(nb.metadata['millrace']).toEqual({ job: { kind: 'sql', path: '/p/job.sql', sha256: 'ab'.repeat(32), engine: 'duckdb', required: ['day'] } });
    expect(requiredJobParameters(nb)).toEqual(['day']);
    expect(requiredJobParameters(generateSqlNotebook(await spec('-- @param a: int = 1\nSELECT :a')))).toEqual([]);
  });

  it('is the same notebook every time', async () => {
    expect(JSON.stringify(generateSqlNotebook(await spec(sql)))).toBe(JSON.stringify(generateSqlNotebook(await spec(sql))));
  });

  it('refuses a placeholder that is not a declared parameter, and a file without statements', async () => {
    expect(generateSqlNotebook.bind(null, await spec('-- @param a: int\nSELECT 1;\nSELECT\n  :b'))).toThrow(
      'line 4: :b is not a declared parameter (add -- @param b: TYPE to the header)',
    );
    expect(generateSqlNotebook.bind(null, await spec('-- only a comment\n'))).toThrow('job.sql has no SQL statement');
  });

  it('binds by position on trino: a `?` per use, the parameters listed in that order', async () => {
    const nb = generateSqlNotebook(await spec(sql, { engine: SQL_ENGINES['trino']! }));
    expect(sourceText(nb.cells[3]!.source)).toBe(
      '%%millrace_sql line=8 name=s1 params=region,day,region preview=3 output=out/t.parquet\n-- @output out/t.parquet\n-- @preview 3\nSELECT * FROM t WHERE r = ? AND d = ? AND r2 = ?;',
    );
    expect(nb.metadata['millrace']).toMatchObject({ job: { engine: 'trino' } });
  });

  it('takes the engine from --engine, else the header, else duckdb; an unknown one is refused', async () => {
    const engineOf = async (sql: string, options: WrapOptions = {}) => ((await wrapSqlJob('/p/j.sql', Buffer.from(sql), options)).metadata['millrace'] as any).job.engine;
    expect(await engineOf('-- @engine trino\nSELECT 1')).toBe('trino');
    expect(await engineOf('-- @engine trino\nSELECT 1', { engine: 'duckdb' })).toBe('duckdb');
    expect(await engineOf('SELECT 1')).toBe('duckdb');
    await expect(wrapSqlJob('/p/j.sql', Buffer.from('-- @engine presto\nSELECT 1'))).rejects.toThrow('@engine presto: this version runs SQL jobs on duckdb, trino');
    await expect(wrapSqlJob('/p/j.sql', Buffer.from('SELECT 1'), { engine: 'oracle' })).rejects.toThrow('--engine oracle: this version runs SQL jobs on duckdb, trino');
  });

  it('names the connection, never its URL: that is resolved in the kernel', async () => {
    const nb = generateSqlNotebook(await spec('-- @connection wh\nSELECT 1', { connection: 'other' }));
    expect(sourceText(nb.cells[2]!.source)).toContain('_millrace_connection_url("other", "duckdb:///:memory:")');
    expect(nb.metadata['millrace']).toMatchObject({ job: { connection: 'other' } });
  });
});
