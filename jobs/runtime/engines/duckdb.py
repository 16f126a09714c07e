# Engine: DuckDB, embedded. Connection URLs as SQLAlchemy writes them: duckdb:// or
# duckdb:///:memory: for an in-memory database, duckdb:///data.db for a file relative to
# the working directory, duckdb:////abs/data.db for an absolute one; a query string sets
# DuckDB options, e.g. ?threads=2. Every engine module defines one class, _MillraceEngine, with the same
# three members: Error, connect(url) and execute(conn, sql, params, preview, keep).
class _MillraceEngine:
    name = "duckdb"
    try:
        import duckdb as _duckdb
    except ImportError:
        raise ImportError("the SQL job's engine duckdb needs the Python package duckdb in the kernel's environment: pip install duckdb") from None
    Error = _duckdb.Error

    @staticmethod
    def connect(url):
        from urllib.parse import parse_qsl, unquote, urlsplit

        parts = urlsplit(url)
        if parts.scheme != "duckdb":
            raise ValueError("a duckdb connection URL starts with duckdb:// (the connection's URL has another scheme: wrap the job with --engine sqlalchemy for another database)")
        path = unquote(parts.netloc + parts.path)
        database = path[1:] if path.startswith("/") else path
        return _MillraceEngine._duckdb.connect(database or ":memory:", config=dict(parse_qsl(parts.query)))

    @staticmethod
    def execute(conn, sql, params, preview, keep, kind):
        """Runs one statement once: (columns, first `preview` rows, row count, whole result
        as an Arrow table when `keep`). `kind` is sqlparse's statement type (SELECT, INSERT...)."""
        cur = conn.execute(sql, params or None)
        columns = [d[0] for d in cur.description or []]
        if kind not in ("SELECT", "UNKNOWN") and columns == ["Count"] and not keep:
            # DuckDB answers a change (INSERT, CREATE TABLE AS, ...) with the rows it changed.
            rows = cur.fetchall()
            return [], [], rows[0][0] if rows else 0, None
        if keep:
            import warnings

            with warnings.catch_warnings():
                # "makes an extra copy of the rows": the price of running the statement once.
                warnings.simplefilter("ignore")
                table = cur.to_arrow_table()
            return columns, [tuple(r.values()) for r in table.slice(0, preview).to_pylist()], table.num_rows, table
        rows = cur.fetchmany(preview) if preview > 0 else []
        count = len(rows)
        while True:
            batch = cur.fetchmany(10000)
            if not batch:
                return columns, rows, count, None
            count += len(batch)
