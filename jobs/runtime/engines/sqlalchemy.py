# Engine: any database SQLAlchemy reaches, by its URL: sqlite:///data.db (no driver to
# install), postgresql://USER:PASSWORD@HOST/DB (with its driver, e.g. psycopg), mysql://...
# Statements keep their :name markers, SQLAlchemy's own named style, and SQLAlchemy binds
# them through the driver (text() with bound parameters). Each statement is committed when it
# ends, as a SQL client in autocommit does, so later statements (and other sessions) see it.
class _MillraceEngine:
    name = "sqlalchemy"
    try:
        import sqlalchemy as _sqlalchemy
        import sqlalchemy.exc
    except ImportError:
        raise ImportError("the SQL job's engine sqlalchemy needs the Python package sqlalchemy in the kernel's environment: pip install sqlalchemy") from None
    Error = _sqlalchemy.exc.SQLAlchemyError

    @staticmethod
    def connect(url):
        sa = _MillraceEngine._sqlalchemy
        try:
            parsed = sa.engine.make_url(url)
        except sa.exc.ArgumentError:
            # SQLAlchemy's message quotes the URL, password and all.
            raise ValueError("the connection's URL is not a SQLAlchemy URL (dialect[+driver]://user:password@host/database)") from None
        return sa.create_engine(parsed).connect()

    @staticmethod
    def execute(conn, sql, params, preview, keep, kind):
        """Runs one statement once: (columns, first `preview` rows, row count, whole result
        as an Arrow table when `keep`). A change answers with the rows it changed."""
        sa = _MillraceEngine._sqlalchemy
        try:
            result = conn.execute(sa.text(sql), params or {})
            if not result.returns_rows:
                count = result.rowcount
                conn.commit()
                return [], [], max(count, 0), None
            columns = list(result.keys())
            rows = [tuple(r) for r in result.fetchmany(preview)] if preview > 0 else []
            count, table = _millrace_rest(result.fetchmany, rows, columns, keep)
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        return columns, rows, count, table

    @staticmethod
    def failure(e, sql, params):
        """The driver's own message (SQLAlchemy's adds the statement and its parameters, which
        the cell shows already), without SQLAlchemy's link to its error pages."""
        orig = getattr(e, "orig", None)
        return None, str(orig) if orig is not None else str(e).split("\n", 1)[0]
