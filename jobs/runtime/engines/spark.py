# Engine: Spark SQL, on the run's Spark session (jobs/runtime/spark_runtime.py): the engines
# spark (connection = a master URL, local[*] by default) and spark-connect (an sc:// URL).
# Statements keep their :name markers and Spark binds them (spark.sql(query, args=...)).
class _MillraceEngine:
    name = "spark"
    try:
        from pyspark.errors import PySparkException as _PySparkException
    except ImportError:
        raise ImportError("the SQL job's engine spark needs the Python package pyspark in the kernel's environment: pip install 'pyspark[connect]'") from None

    class Error(Exception):
        """Spark's error, its first line: the condition, the message and the position."""

    @staticmethod
    def connect(url):
        import logging

        # Spark Connect logs each failed query's message with its JVM stack trace to stderr;
        # the failed cell already says it (Error), once.
        logging.getLogger("SQLQueryContextLogger").disabled = True
        spark = _MillraceSpark(url, "spark-sql")
        spark.show()
        return spark.session

    @staticmethod
    def execute(conn, sql, params, preview, keep, kind):
        """Runs one statement once: (columns, first `preview` rows, row count, whole result as
        an Arrow table when `keep`). A command (INSERT, CREATE...) runs when spark.sql is
        called and has no result columns: its count is None, as Spark does not report one."""
        try:
            return _MillraceEngine._execute(conn, sql, params, preview, keep)
        except _MillraceEngine._PySparkException as e:
            raise _MillraceEngine.Error(str(e).strip().split("\n", 1)[0]) from None

    @staticmethod
    def _execute(conn, sql, params, preview, keep):
        df = conn.sql(sql, args=params or None)
        columns = df.columns
        if not columns:
            return [], [], None, None
        if keep:
            table = df.toArrow()
            return columns, [tuple(r.values()) for r in table.slice(0, preview).to_pylist()], table.num_rows, table
        # Cached, so counting and previewing read one execution of the query.
        df = df.persist()
        try:
            count = df.count()
            rows = [tuple(r) for r in df.limit(preview).collect()] if preview > 0 else []
        finally:
            df.unpersist()
        return columns, rows, count, None
