// The kernel side of a SQL job (jobs/runtime/): run in the project venv's Python, as a
// kernel runs it. Connection names resolve from the environment or a config file;
// parameters are coerced to their declared types; a missing engine library names the package.
import { execFile } from 'node:child_process';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot, venvPython } from '../../worker/paths.js';

const run = promisify(execFile);
const RUNTIME = join(packageRoot(), 'jobs', 'runtime', 'sql_runtime.py');
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'millrace-sql-runtime-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Runs `code` after the runtime, in `cwd`, with `env`; its stdout, or the exception's message. */
async function py(code: string, options: { cwd?: string; env?: Record<string, string>; args?: string[] } = {}): Promise<string> {
  const wrapper = `exec(open(${JSON.stringify(RUNTIME)}).read())\ntry:\n${code.replace(/^/gm, '    ')}\nexcept Exception as e:\n    print(type(e).__name__ + ': ' + str(e))`;
  const { stdout } = await run(venvPython(), [...(options.args ?? []), '-c', wrapper], { cwd: options.cwd ?? dir, env: { PATH: process.env['PATH'] ?? '', ...options.env } });
  return stdout.trim();
}

describe('connections', () => {
  it('come from MILLRACE_CONNECTION_<NAME> first, then millrace.toml up from the working directory', async () => {
    const sub = join(dir, 'a', 'b');
    await mkdir(sub, { recursive: true });
    await writeFile(join(dir, 'millrace.toml'), '[connections.wh]\nurl = "duckdb:///${WH_DB}?threads=1"\n[connections.filed]\nurl_file = "url.txt"\n');
    await writeFile(join(sub, 'url.txt'), 'duckdb:///from-file.db\n');
    expect(await py('print(_millrace_connection_url("wh", "d"))', { cwd: sub, env: { WH_DB: 'x.db' } })).toBe('duckdb:///x.db?threads=1');
    expect(await py('print(_millrace_connection_url("wh", "d"))', { cwd: sub, env: { MILLRACE_CONNECTION_WH: 'duckdb:///env.db' } })).toBe('duckdb:///env.db');
    expect(await py('print(_millrace_connection_url("filed", "d"))', { cwd: sub })).toBe('duckdb:///from-file.db');
    expect(await py('print(_millrace_connection_url(None, "duckdb:///:memory:"))')).toBe('duckdb:///:memory:');
    expect(await py('print(_millrace_connection_url("wh", "d"))', { cwd: sub })).toBe(
      `LookupError: connection 'wh' in ${join(dir, 'millrace.toml')} needs the environment variable WH_DB`,
    );
    expect(await py('print(_millrace_connection_url("nope", "d"))', { cwd: sub })).toBe(
      "LookupError: connection 'nope' is not defined: set MILLRACE_CONNECTION_NOPE or add [connections.nope] with a url to millrace.toml",
    );
  });

  it('also come from .millrace/connections.toml', async () => {
    const other = await mkdtemp(join(tmpdir(), 'millrace-sql-conn-'));
    await mkdir(join(other, '.millrace'));
    await writeFile(join(other, '.millrace', 'connections.toml'), '[lake]\nurl = "duckdb:///lake.db"\n');
    expect(await py('print(_millrace_connection_url("lake", "d"))', { cwd: other })).toBe('duckdb:///lake.db');
    await rm(other, { recursive: true, force: true });
  });
});

describe('parameters', () => {
  it('are coerced to their declared types, or refused naming the parameter', async () => {
    const out = await py(
      [
        'for kind, value in [("int", "3"), ("float", 2), ("bool", "False"), ("bool", True), ("date", "2024-02-29"), ("datetime", "2024-02-29T06:00:00"), ("str", 5)]:',
        '    print(repr(_millrace_coerce("p", kind, value)))',
        'for kind, value in [("int", True), ("date", "2024-02-30"), ("bool", "maybe")]:',
        '    try: _millrace_coerce("p", kind, value)',
        '    except ValueError as e: print(e)',
        '_millrace_coerce("day", "date", None)',
      ].join('\n'),
    );
    expect(out.split('\n')).toEqual([
      '3',
      '2.0',
      'False',
      'True',
      'datetime.date(2024, 2, 29)',
      'datetime.datetime(2024, 2, 29, 6, 0)',
      "'5'",
      'parameter p: True is not a int',
      "parameter p: '2024-02-30' is not a date",
      "parameter p: 'maybe' is not a bool",
      'ValueError: parameter day is required: pass -p day VALUE',
    ]);
  });
});

describe('a failing statement', () => {
  it('shows its message instead of a traceback through the runtime', async () => {
    expect(await py('print(SqlStatementError("job.sql, line 3: Parser Error")._render_traceback_())')).toBe("['SqlStatementError: job.sql, line 3: Parser Error']");
  });
});

describe('engines', () => {
  it('name the package to install when the kernel lacks the library', async () => {
    const engine = join(packageRoot(), 'jobs', 'runtime', 'engines', 'duckdb.py');
    // -S: without site-packages, as in a kernel whose environment has no duckdb.
    expect(await py(`exec(open(${JSON.stringify(engine)}).read())`, { args: ['-S'] })).toBe(
      "ImportError: the SQL job's engine duckdb needs the Python package duckdb in the kernel's environment: pip install duckdb",
    );
  });

  it('duckdb: connects to memory or a file as SQLAlchemy URLs say, and binds named parameters', async () => {
    const engine = join(packageRoot(), 'jobs', 'runtime', 'engines', 'duckdb.py');
    const out = await py(
      [
        `exec(open(${JSON.stringify(engine)}).read())`,
        'c = _MillraceEngine.connect("duckdb:///rel.db?threads=1")',
        'print(c.execute("select current_setting(\'threads\')").fetchall())',
        'print(_MillraceEngine.execute(c, "create table t as select * from range(25) r(i)", {}, 10, False, "CREATE")[2])',
        'cols, rows, n, _ = _MillraceEngine.execute(c, "select i from t where i >= $lo", {"lo": 3}, 2, False, "SELECT")',
        'print(cols, rows, n)',
        'print(_MillraceEngine.execute(_MillraceEngine.connect("duckdb://"), "select 1", {}, 5, False, "SELECT")[2])',
      ].join('\n'),
    );
    expect(out.split('\n')).toEqual(['[(1,)]', '25', "['i'] [(3,), (4,)] 22", '1']);
  });

  it('sqlalchemy: any SQLAlchemy URL (sqlite here); :name bound by the driver, changes committed, the driver\'s message on failure', async () => {
    const engine = join(packageRoot(), 'jobs', 'runtime', 'engines', 'sqlalchemy.py');
    const out = await py(
      [
        `exec(open(${JSON.stringify(engine)}).read())`,
        'c = _MillraceEngine.connect("sqlite:///lite.db")',
        'print(_MillraceEngine.execute(c, "create table t (i integer, s text);", {}, 10, False, "CREATE")[2])',
        'print(_MillraceEngine.execute(c, "insert into t values (1, \'a\'), (2, \'b\'), (3, :s)", {"s": "x\'; drop table t; --"}, 10, False, "INSERT")[2])',
        'cols, rows, n, table = _MillraceEngine.execute(c, "-- @name q\\nselect i, s, \'12\\:30\' as t from t where i >= :lo order by i;", {"lo": 2}, 1, True, "SELECT")',
        'print(cols, rows, n, table.to_pylist()[-1])',
        // Committed: another connection to the same file sees the rows.
        'print(_MillraceEngine.execute(_MillraceEngine.connect("sqlite:///lite.db"), "select count(*) from t", {}, 5, False, "SELECT")[1])',
        'try:\n    _MillraceEngine.execute(c, "select nope from t", {}, 5, False, "SELECT")\nexcept _MillraceEngine.Error as e:\n    print(_MillraceEngine.failure(e, "", {}))',
        'try:\n    _MillraceEngine.connect("not a url p4ssw0rd")\nexcept ValueError as e:\n    print(e)',
      ].join('\n'),
    );
    expect(out.split('\n')).toEqual([
      '0',
      '3',
      "['i', 's', 't'] [(2, 'b', '12:30')] 2 {'i': 3, 's': \"x'; drop table t; --\", 't': '12:30'}",
      '[(3,)]',
      '(None, \'no such column: nope\')',
      "the connection's URL is not a SQLAlchemy URL (dialect[+driver]://user:password@host/database)",
    ]);
  });

  it("trino: reads trino:// and presto:// URLs as the client's SQLAlchemy dialect writes them", async () => {
    const engine = join(packageRoot(), 'jobs', 'runtime', 'engines', 'trino.py');
    const out = await py(
      [
        `exec(open(${JSON.stringify(engine)}).read())`,
        'for url in ["trino://ana@db.example:8443/hive/web?verify=false", "trino://bo%40x:p%3Aw@h/tpch", "presto://h", "trino://h?verify=/ca.pem&source=nightly"]:',
        '    c = _MillraceEngine.connect(url)',
        '    auth = c.auth and (c.auth._username, c.auth._password)',
        '    print(c.host, c.port, c.user, c.catalog, c.schema, c.http_scheme, auth, c._http_session.verify, c.source)',
        'for url in ["duckdb:///x", "trino://h?catalog=x", "trino://h/a/b/c"]:',
        '    try: _MillraceEngine.connect(url)',
        '    except ValueError as e: print(e)',
      ].join('\n'),
    );
    expect(out.split('\n')).toEqual([
      'db.example 8443 ana hive web http None False millrace',
      "h 443 bo@x tpch None https ('bo@x', 'p:w') True millrace",
      'note: presto:// runs on the Trino client: Trino is the maintained Presto',
      'h 8080 millrace None None http None True millrace',
      'h 8080 millrace None None http None /ca.pem nightly',
      "a trino connection URL starts with trino:// (the connection's URL has another scheme)",
      'a trino connection URL takes http_scheme, verify and source in its query string, not catalog',
      "a trino connection URL's path is /CATALOG or /CATALOG/SCHEMA",
    ]);
  });

  it("trino: places a failure in the file: Trino's place in the statement, the cell's comments, EXECUTE IMMEDIATE's prefix", async () => {
    const engine = join(packageRoot(), 'jobs', 'runtime', 'engines', 'trino.py');
    const out = await py(
      [
        `exec(open(${JSON.stringify(engine)}).read())`,
        'from trino.exceptions import TrinoUserError',
        'def err(line, column):',
        '    return TrinoUserError({"message": f"line {line}:{column}: Column \'x\' cannot be resolved", "errorName": "COLUMN_NOT_FOUND", "errorType": "USER_ERROR", "errorLocation": {"lineNumber": line, "columnNumber": column}}, "q1")',
        'class E(_MillraceEngine):',
        '    def connect(url): return None',
        '    def execute(conn, sql, params, preview, keep, kind): raise err(1, 29) if params else err(4, 3)',
        'sql = _MillraceSql(E, "job.sql", "trino://h", {}, 5)',
        'sql.params = {"a": 1}',
        'for args, cell in [("line=12 name=s", "-- about it\\n-- @name s\\nSELECT a,\\n  x FROM t"), ("line=7 name=s params=a", "SELECT ? + x FROM t")]:',
        '    try: sql.cell(args, cell)',
        '    except SqlStatementError as e: print(e)',
      ].join('\n'),
    );
    expect(out.split('\n')).toEqual([
      "job.sql, line 13, column 3: Column 'x' cannot be resolved (COLUMN_NOT_FOUND, query q1)",
      "job.sql, line 7, column 10: Column 'x' cannot be resolved (COLUMN_NOT_FOUND, query q1)",
    ]);
  });
});
