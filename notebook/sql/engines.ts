// The engines a SQL job can run on. Each is a kernel-side module, jobs/runtime/engines/
// <name>.py (connect, execute, Error), and these facts the generator needs: how a statement
// refers to a bound parameter, and the connection used when none is named. A new engine
// (Spark SQL) is one entry here and one module there.

export interface SqlEngine {
  name: string;
  /** The driver's placeholder for a parameter the file writes as `:name`. */
  placeholder: (name: string) => string;
  /** Placeholders bound by position (qmark): the cell lists parameters in their order, repeats included. */
  positional?: boolean;
  /** The connection URL when the job names none. */
  defaultUrl: string;
  /** The runtime module (jobs/runtime/engines/<module>.py) when not the engine's name. */
  module?: string;
  /** Modules of jobs/runtime/ the engine's module needs, placed before it. */
  requires?: string[];
  /** Escapes a `:word` that is not a parameter (in a string, a comment) as `\:word`, which SQLAlchemy's text() would bind. */
  escapeColons?: boolean;
}

export const SQL_ENGINES: Readonly<Record<string, SqlEngine>> = {
  // DuckDB binds `$name` from a dict (duckdb.execute(sql, {name: value})).
  duckdb: { name: 'duckdb', placeholder: (name) => `$${name}`, defaultUrl: 'duckdb:///:memory:' },
  // The trino client binds `?` from a list (EXECUTE IMMEDIATE ... USING, the values rendered
  // as Trino literals by the client). Without a named connection: a local server's tpch.
  trino: { name: 'trino', placeholder: () => '?', positional: true, defaultUrl: 'trino://millrace@localhost:8080/tpch/tiny' },
  // Spark SQL binds `:name` itself (spark.sql(query, args={name: value}), Spark 3.4+), on the
  // run's session: a master URL (local[*] by default), or Spark Connect's sc://.
  spark: { name: 'spark', placeholder: (name) => `:${name}`, defaultUrl: 'local[*]', requires: ['spark_runtime.py'] },
  'spark-connect': { name: 'spark-connect', placeholder: (name) => `:${name}`, defaultUrl: 'sc://localhost:15002', module: 'spark', requires: ['spark_runtime.py'] },
  // Any database SQLAlchemy reaches by URL (sqlite, postgresql, mysql, ...): text() binds
  // `:name` through the driver, whatever the driver's own style.
  sqlalchemy: { name: 'sqlalchemy', placeholder: (name) => `:${name}`, defaultUrl: 'sqlite:///:memory:', escapeColons: true },
};

export const DEFAULT_SQL_ENGINE = 'duckdb';
