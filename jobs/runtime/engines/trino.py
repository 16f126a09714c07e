# Engine: Trino, through its Python client (trino.dbapi). Connection URLs as the client's
# SQLAlchemy dialect writes them: trino://USER[:PASSWORD]@HOST[:PORT][/CATALOG[/SCHEMA]],
# with an optional query string: http_scheme=http|https (https when a password is given),
# verify=false|PATH (a CA bundle for a self-signed server), source=NAME. presto:// URLs are
# accepted the same way: Trino is the maintained Presto (PrestoSQL, renamed in 2020).
class _MillraceEngine:
    name = "trino"
    # Parameters are bound positionally (the client's qmark style, EXECUTE IMMEDIATE ... USING).
    positional = True
    try:
        import trino as _trino
        import trino.dbapi
        import trino.exceptions
    except ImportError:
        raise ImportError("the SQL job's engine trino needs the Python package trino in the kernel's environment: pip install trino") from None
    Error = (_trino.exceptions.TrinoQueryError, _trino.exceptions.DatabaseError, _trino.exceptions.HttpError)

    @staticmethod
    def connect(url):
        from urllib.parse import parse_qsl, unquote, urlsplit

        parts = urlsplit(url)
        if parts.scheme not in ("trino", "presto"):
            raise ValueError("a trino connection URL starts with trino:// (the connection's URL has another scheme)")
        if parts.scheme == "presto":
            print("note: presto:// runs on the Trino client: Trino is the maintained Presto")
        options = dict(parse_qsl(parts.query))
        unknown = set(options) - {"http_scheme", "verify", "source"}
        if unknown:
            raise ValueError(f"a trino connection URL takes http_scheme, verify and source in its query string, not {', '.join(sorted(unknown))}")
        password = unquote(parts.password) if parts.password is not None else None
        scheme = options.get("http_scheme", "https" if password is not None else "http")
        path = [unquote(p) for p in parts.path.split("/") if p]
        if len(path) > 2:
            raise ValueError("a trino connection URL's path is /CATALOG or /CATALOG/SCHEMA")
        t = _MillraceEngine._trino
        session = None
        if "verify" in options:
            import requests

            class Session(requests.Session):
                # requests lets REQUESTS_CA_BUNDLE (set on many machines) override a session's
                # verify: the connection's own verify= must win.
                def merge_environment_settings(self, *args):
                    settings = super().merge_environment_settings(*args)
                    settings["verify"] = self.verify
                    return settings

            session = Session()
            session.verify = {"true": True, "false": False}.get(options["verify"].lower(), options["verify"])
        return t.dbapi.connect(
            host=parts.hostname or "localhost",
            port=parts.port or (443 if scheme == "https" else 8080),
            user=unquote(parts.username) if parts.username else "millrace",
            catalog=path[0] if path else None,
            schema=path[1] if len(path) > 1 else None,
            http_scheme=scheme,
            auth=t.auth.BasicAuthentication(unquote(parts.username or "millrace"), password) if password is not None else None,
            http_session=session,
            source=options.get("source", "millrace"),
            # Trino 418 and later run EXECUTE IMMEDIATE: no probe, no PREPARE/DEALLOCATE round trips.
            legacy_prepared_statements=False,
        )

    @staticmethod
    def execute(conn, sql, params, preview, keep, kind):
        """Runs one statement once: (columns, first `preview` rows, row count, whole result
        as an Arrow table when `keep`). `kind` is sqlparse's statement type (SELECT, INSERT...)."""
        import re

        # Trino takes one statement without its `;` (a trailing comment may follow it).
        sql = re.sub(r";(\s|--[^\n]*)*$", "", sql.rstrip())
        cur = conn.cursor()
        cur.execute(sql, list(params) or None)
        rows = cur.fetchmany(preview) if preview > 0 else []
        if cur.update_type is not None:
            # A change (INSERT, CREATE TABLE AS, ...) answers with the rows it changed; DDL with none.
            rest = rows + cur.fetchall()
            return [], [], rest[0][0] if rest and rest[0] and isinstance(rest[0][0], int) else max(cur.rowcount, 0), None
        columns = [d[0] for d in cur.description or []]
        count, table = _millrace_rest(cur.fetchmany, rows, columns, keep)
        return columns, rows, count, table

    @staticmethod
    def failure(e, sql, params):
        """(line, column) of the failure within `sql` when Trino gives one, and its message."""
        import re

        if not isinstance(e, _MillraceEngine._trino.exceptions.TrinoQueryError):
            return None, str(e)
        # Trino's message starts with its own "line L:C: ", which error_location carries too.
        text = re.sub(r"^line \d+:\d+: ", "", e.message or "")
        message = f"{text} ({e.error_name}, query {e.query_id})"
        place = e.error_location
        if place is None or not params:
            return place, message
        # With parameters the client sent EXECUTE IMMEDIATE '<sql>' USING ...: Trino places a
        # failure in the statement's text, shifted by the 19 characters before it on line 1.
        return (place[0], place[1] - len("EXECUTE IMMEDIATE '") if place[0] == 1 else place[1]), message
