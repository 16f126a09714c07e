# The runtime of a SQL job wrapped by `millrace wrap`: the same in every run of the job.
# The connection is resolved here, in the kernel, from the environment or a config file,
# so no credential is ever written into the notebook, its record or the workflow history.
import datetime as _dt
import html as _html
import os as _os
import re as _re
import shlex as _shlex
import time as _time


class SqlStatementError(Exception):
    """A statement failed: the engine's message, with where the statement is in the job file."""

    def _render_traceback_(self):
        # IPython shows these lines instead of a traceback through this runtime's frames.
        return [f"{type(self).__name__}: {self}"]


def _millrace_connection_url(name, default):
    """MILLRACE_CONNECTION_<NAME>, else [connections.<name>] in the nearest millrace.toml or
    .millrace/connections.toml from the working directory up. A `url` there may name
    environment variables as ${VAR}; `url_file` reads the URL from a file instead."""
    if name is None:
        return default
    variable = "MILLRACE_CONNECTION_" + _re.sub(r"\W", "_", name).upper()
    if _os.environ.get(variable):
        return _os.environ[variable]
    here = _os.getcwd()
    while True:
        for relative, nested in (("millrace.toml", True), (_os.path.join(".millrace", "connections.toml"), False)):
            path = _os.path.join(here, relative)
            if _os.path.isfile(path):
                import tomllib

                with open(path, "rb") as f:
                    tables = tomllib.load(f)
                entry = (tables.get("connections", {}) if nested else tables).get(name)
                if entry is not None:
                    return _millrace_url_of(entry, name, path)
        if _os.path.dirname(here) == here:
            raise LookupError(f"connection {name!r} is not defined: set {variable} or add [connections.{name}] with a url to millrace.toml")
        here = _os.path.dirname(here)


def _millrace_url_of(entry, name, path):
    if "url_file" in entry:
        with open(_os.path.expanduser(entry["url_file"]), encoding="utf-8") as f:
            return f.read().strip()
    if "url" not in entry:
        raise LookupError(f"connection {name!r} in {path} has neither url nor url_file")

    def variable(m):
        if m.group(1) not in _os.environ:
            raise LookupError(f"connection {name!r} in {path} needs the environment variable {m.group(1)}")
        return _os.environ[m.group(1)]

    return _re.sub(r"\$\{(\w+)\}", variable, entry["url"])


def _millrace_coerce(name, kind, value):
    """A parameter's value as its declared type (-p and schedules pass dates as text)."""
    if value is None:
        raise ValueError(f"parameter {name} is required: pass -p {name} VALUE")
    try:
        if kind == "str":
            return str(value)
        if kind in ("int", "float"):
            if isinstance(value, bool):
                raise ValueError
            return int(value) if kind == "int" else float(value)
        if kind == "bool":
            if isinstance(value, bool):
                return value
            return {"true": True, "false": False, "1": True, "0": False}[str(value).lower()]
        if kind == "date":
            if isinstance(value, _dt.datetime):
                return value.date()
            return value if isinstance(value, _dt.date) else _dt.date.fromisoformat(str(value))
        if kind == "datetime":
            return value if isinstance(value, _dt.datetime) else _dt.datetime.fromisoformat(str(value))
    except (ValueError, TypeError, KeyError):
        pass
    raise ValueError(f"parameter {name}: {value!r} is not a {kind}")


class _MillraceSql:
    def __init__(self, engine, job, url, params, preview):
        self.engine, self.job, self.preview = engine, job, preview
        self.params = {name: _millrace_coerce(name, kind, value) for name, (kind, value) in params.items()}
        self.conn = engine.connect(url)

    def cell(self, line, cell):
        """%%millrace_sql line=N name=NAME [kind=TYPE] [params=a,b] [preview=N] [output=PATH]: runs one statement."""
        __tracebackhide__ = True
        args = dict(word.split("=", 1) for word in _shlex.split(line))
        names = [name for name in args.get("params", "").split(",") if name]
        # A positional engine's cell lists its parameters in the order of its placeholders.
        values = [self.params[n] for n in names] if getattr(self.engine, "positional", False) else {n: self.params[n] for n in names}
        preview = int(args.get("preview", self.preview))
        output = args.get("output")
        started = _time.perf_counter()
        try:
            columns, rows, count, table = self.engine.execute(self.conn, cell, values, preview, output is not None, args.get("kind", "SELECT"))
        except self.engine.Error as e:
            raise SqlStatementError(self._failure(e, cell, values, int(args["line"]))) from None
        seconds = _time.perf_counter() - started
        if columns:
            _millrace_show(columns, rows, count)
        if count is None:
            # A command the engine reports no row count for (Spark's INSERT, CREATE...).
            print(f"done in {seconds:.3f} s")
        else:
            print(f"{_millrace_rows(count)}{'' if columns else ' changed'} in {seconds:.3f} s")
        if output is not None:
            try:
                _millrace_save(table, output, count)
            except ValueError as e:
                raise SqlStatementError(f"{self.job}, line {args['line']}: @output {e}") from None
        try:
            import scrapbook as sb
        except ImportError:
            return
        if count is not None:
            sb.glue(f"{args['name']}_rows", count)
        sb.glue(f"{args['name']}_seconds", seconds)


    def _failure(self, e, cell, values, line):
        """The engine's message, after the job file and the line (and column, when the engine
        gives the failure's place within the statement) in that file."""
        failure = getattr(self.engine, "failure", None)
        place, message = failure(e, cell, values) if failure else (None, str(e))
        if place is None:
            return f"{self.job}, line {line}: {message}"
        # The cell holds the statement's comments above it; `line` is its first line of SQL.
        lines = cell.split("\n")
        first = next((i for i, text in enumerate(lines) if text.strip() and not text.strip().startswith("--")), 0)
        return f"{self.job}, line {line - first + place[0] - 1}, column {place[1]}: {message}"


def _millrace_rest(fetchmany, rows, columns, keep):
    """A DB-API result after its previewed `rows`, fetched to the end: (the row count, the
    whole result as an Arrow table when `keep`, for @output, else None). For engines whose
    client gives rows, not Arrow (trino, sqlalchemy); called when a statement runs, after
    this module is defined."""
    kept = list(rows)
    count = len(rows)
    while True:
        batch = fetchmany(10000)
        if not batch:
            break
        count += len(batch)
        if keep:
            kept.extend(tuple(r) for r in batch)
    if not keep:
        return count, None
    import pyarrow

    return count, pyarrow.Table.from_arrays([pyarrow.array([r[i] for r in kept]) for i in range(len(columns))], names=columns)


def _millrace_rows(n):
    return f"{n} row{'' if n == 1 else 's'}"


def _millrace_show(columns, rows, count):
    from IPython.display import display

    cells = [[str(v) for v in row] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    text = "\n".join("  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in [list(columns)] + cells)
    head = "".join(f"<th>{_html.escape(str(c))}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{_html.escape(v)}</td>" for v in r) + "</tr>" for r in cells)
    shown = f"first {len(rows)} of {_millrace_rows(count)}" if len(rows) < count else _millrace_rows(count)
    html = f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table><p>{shown}</p>"
    display({"text/plain": text, "text/html": html}, raw=True)


# The same limits as notebook/saved-files.ts (test/unit/saved-files.test.ts checks).
_MILLRACE_FILE_MAX_BYTES = 64 * 1024 * 1024
_MILLRACE_FILE_PART_BYTES = 1024 * 1024


def _millrace_save(table, output, rows):
    """The whole result as .parquet or .csv. In a millrace run the file goes to the run's
    folder in the store: the kernel has no store credentials, so it sends the bytes to the
    worker in parts (display_data whose only payload is transient, never recorded) and the
    worker writes them and records where the file went. Elsewhere (the notebook run by
    another Jupyter tool) it is written to `output`, relative to the working directory."""
    try:
        import pyarrow.csv
        import pyarrow.parquet
    except ImportError:
        raise ImportError("-- @output needs the Python package pyarrow in the kernel's environment: pip install pyarrow") from None
    import tempfile

    def write(path):
        if output.endswith(".csv"):
            pyarrow.csv.write_csv(table, path)
        else:
            pyarrow.parquet.write_table(table, path)

    try:
        msg_id = get_ipython().kernel.get_parent("shell")["header"]["msg_id"] or ""
    except Exception:
        msg_id = ""
    if _re.match(r"^millrace-.+-replay\d+-c\d+$", msg_id):
        return  # a resumed run replaying this cell: the run it resumes saved the file
    if not _re.match(r"^millrace-.+-c\d+-r\d+$", msg_id):
        _os.makedirs(_os.path.dirname(_os.path.abspath(output)), exist_ok=True)
        write(output)
        print(f"saved to {output}")
        return
    import base64
    import hashlib

    with tempfile.TemporaryDirectory(prefix="millrace-output-") as folder:
        path = _os.path.join(folder, "result")
        write(path)
        size = _os.path.getsize(path)
        if size > _MILLRACE_FILE_MAX_BYTES:
            raise ValueError(
                f"{output}: the result is {size / 2**20:.1f} MB, more than the {_MILLRACE_FILE_MAX_BYTES // 2**20} MB "
                "a job saves to its run's folder: select fewer rows, or write the file from the job itself (e.g. COPY ... TO)"
            )
        with open(path, "rb") as f:
            data = f.read()
    digest = hashlib.sha256(data).hexdigest()
    parts = max(1, -(-size // _MILLRACE_FILE_PART_BYTES))
    publish = get_ipython().display_pub.publish
    for part in range(parts):
        chunk = data[part * _MILLRACE_FILE_PART_BYTES : (part + 1) * _MILLRACE_FILE_PART_BYTES]
        file = {"path": output, "part": part, "parts": parts, "bytes": size, "sha256": digest, "rows": rows, "data": base64.b64encode(chunk).decode()}
        publish(data={}, metadata={}, transient={"millrace_file": file})
