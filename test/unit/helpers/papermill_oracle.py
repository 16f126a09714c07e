"""Conformance oracle for the notebook/ unit tests.

Reads one JSON request {"op": ..., "cases": [...]} on stdin and writes a JSON list of
results (one per case) on stdout, using the real papermill / nbclient / nbformat /
PyYAML, so each TypeScript test compares against what Python actually does.
Values cross the boundary in the tagged ParamValue form of notebook/params.ts.
"""

import datetime
import importlib.util
import json
import keyword
import logging
import os
import struct
import sys
import tempfile

# papermill formats the injected cell with black when it can import it; the TS
# translator reproduces the unformatted output, so the oracle must not have black.
assert importlib.util.find_spec("black") is None, "black is installed in the oracle venv"

# Importing papermill/nbformat costs seconds; ops import what they use.


def from_tagged(v):
    t = v["t"]
    if t == "none":
        return None
    if t in ("bool", "str"):
        return v["v"]
    if t == "int":
        return int(v["v"])
    if t == "float":
        return float(v["v"])
    if t == "list":
        return [from_tagged(x) for x in v["v"]]
    if t == "dict":
        return {k: from_tagged(x) for k, x in v["v"]}
    raise ValueError(t)


def to_tagged(v):
    if v is None:
        return {"t": "none"}
    if isinstance(v, bool):
        return {"t": "bool", "v": v}
    if isinstance(v, int):
        return {"t": "int", "v": str(v)}
    if isinstance(v, float):
        return {"t": "float", "v": repr(v)}
    if isinstance(v, str):
        return {"t": "str", "v": v}
    if isinstance(v, list):
        return {"t": "list", "v": [to_tagged(x) for x in v]}
    if isinstance(v, dict):
        return {"t": "dict", "v": [[str(k), to_tagged(x)] for k, x in v.items()]}
    return {"t": "other", "v": repr(v)}


def op_codify(case):
    from papermill import translators

    params = {k: from_tagged(v) for k, v in case["params"]}
    return translators.PythonTranslator.codify(params, case.get("comment", "Parameters"))


def op_exec(case):
    ns = {}
    exec(case["code"], ns)  # noqa: S102 - this is the point: run the injected cell
    return {k: to_tagged(v) for k, v in ns.items() if k != "__builtins__"}


def op_resolve_type(text):
    from papermill.cli import _resolve_type

    return to_tagged(_resolve_type(text))


def op_float_repr(hexbits):
    return repr(struct.unpack(">d", bytes.fromhex(hexbits))[0])


def op_identifier(name):
    return name.isidentifier() and not keyword.iskeyword(name)


def op_inspect(source):
    from papermill import translators

    return [p._asdict() for p in translators.PythonTranslator.inspect({"source": source})]


def op_yaml(text):
    import yaml
    from papermill.iorw import NoDatesSafeLoader

    try:
        v = yaml.load(text, Loader=NoDatesSafeLoader)
        return {"value": to_tagged(v)}
    except RecursionError:  # a self-referencing alias: valid YAML, not a parameter value
        return {"error": "RecursionError"}
    except Exception as e:  # noqa: BLE001
        return {"error": type(e).__name__}


def op_writes(case):
    import nbformat

    # papermill's load_notebook_node: reads, then upgrades 4.x to 4.5 (random ids).
    nb = nbformat.v4.upgrade(nbformat.reads(case["text"], as_version=4))
    for cell, cid in zip(nb.cells, case.get("ids") or []):
        cell.id = cid
    return nbformat.writes(nb)


class CaptureWarnings(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def op_parameterize(case):
    from papermill.execute import execute_notebook

    handler = CaptureWarnings()
    logging.getLogger("papermill").addHandler(handler)
    logging.getLogger("papermill").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory() as d:
        src = os.path.join(d, "in.ipynb")
        out = os.path.join(d, "out.ipynb")
        with open(src, "w", encoding="utf-8") as f:
            f.write(case["text"])
        params = {k: from_tagged(v) for k, v in case["params"]}
        execute_notebook(src, out, parameters=params, prepare_only=True, progress_bar=False,
                         **({"report_mode": True} if case.get("reportMode") else {}))
        with open(out, encoding="utf-8") as f:
            text = f.read()
    logging.getLogger("papermill").removeHandler(handler)
    return {"text": text, "warnings": handler.messages}


def op_record(case):
    """Drive papermill's NotebookExecutionManager and raise_for_execution_errors with a fixed clock."""
    import nbformat
    from papermill.engines import NotebookExecutionManager
    from papermill.exceptions import PapermillExecutionError
    from papermill.execute import prepare_notebook_metadata, raise_for_execution_errors, remove_error_markers
    from papermill.iorw import load_notebook_node

    clock = {"now": None}

    class Manager(NotebookExecutionManager):
        def now(self):
            return clock["now"] or datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)

    def at(iso):
        clock["now"] = datetime.datetime.fromisoformat(iso.replace("Z", "+00:00"))

    with tempfile.TemporaryDirectory() as d:
        src = os.path.join(d, "in.ipynb")
        with open(src, "w", encoding="utf-8") as f:
            f.write(case["text"])
        nb = load_notebook_node(src)
        nb.metadata.papermill["parameters"] = case["parameters"]
        nb = prepare_notebook_metadata(nb, case["inputPath"], case["outputPath"], case.get("reportMode", False))
        nb = remove_error_markers(nb)
        man = Manager(nb, progress_bar=False)
        for ev in case["events"]:
            kind = ev[0]
            if kind == "notebook_start":
                at(ev[1])
                man.notebook_start()
            elif kind == "cell_start":
                at(ev[2])
                man.cell_start(man.nb.cells[ev[1]], ev[1])
            elif kind == "cell_complete":
                at(ev[2])
                man.cell_complete(man.nb.cells[ev[1]], ev[1])
            elif kind == "cell_exception":
                man.cell_exception(man.nb.cells[ev[1]], ev[1])
            elif kind == "set_outputs":
                cell = man.nb.cells[ev[1]]
                cell.outputs = [nbformat.from_dict(o) for o in ev[2]]
                cell.execution_count = ev[3]
            elif kind == "notebook_complete":
                at(ev[1])
                man.notebook_complete()
        nb = man.nb
        out = os.path.join(d, "out.ipynb")
        try:
            raise_for_execution_errors(nb, out)
            error = None
            text = nbformat.writes(nb)
        except PapermillExecutionError as e:
            error = {"cellIndex": e.cell_index, "ename": e.ename, "evalue": e.evalue}
            with open(out, encoding="utf-8") as f:
                written = nbformat.reads(f.read(), as_version=4)
            # The marker cells' ids are random; use the TS ones to compare the rest byte for byte.
            for cell in written.cells:
                if "papermill-error-cell-tag" in cell.metadata.get("tags", []):
                    anchor = 'id="papermill-error-cell"' in cell.source
                    cell.id = "papermill-error-anchor" if anchor else "papermill-error-banner"
            text = nbformat.writes(written)
    return {"text": text, "error": error}


def op_nbclient(case):
    """Feed iopub messages to nbclient's NotebookClient.process_message, cell by cell."""
    import nbformat
    from jupyter_client.jsonutil import extract_dates
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionComplete

    nb = nbformat.reads(case["text"], as_version=4)
    client = NotebookClient(nb)
    client.reset_execution_trackers()
    for step in case["cells"]:
        idx = step["index"]
        cell = nb.cells[idx]
        cell["metadata"]["execution"] = {}
        cell.outputs = []
        client.clear_before_next_output = False
        for msg in step["messages"]:
            msg = dict(msg)
            msg["header"] = extract_dates(dict(msg["header"]))
            msg["msg_type"] = msg["header"]["msg_type"]
            msg["parent_header"] = {"msg_id": "m"}
            msg.setdefault("metadata", {})
            try:
                client.process_message(msg, cell, idx)
            except CellExecutionComplete:
                pass
        if step.get("reply_date"):
            reply = {"header": extract_dates({"date": step["reply_date"]})}
            from nbclient.client import timestamp
            cell["metadata"]["execution"]["shell.execute_reply"] = timestamp(reply)
    return nbformat.writes(nb)


def op_fixture_notebooks(_case):
    """papermill's own test notebooks: a corpus of real-world files."""
    import papermill

    root = os.path.join(os.path.dirname(papermill.__file__), "tests", "notebooks")
    out = []
    for name in sorted(os.listdir(root)):
        if name.endswith(".ipynb"):
            with open(os.path.join(root, name), encoding="utf-8") as f:
                out.append({"name": name, "text": f.read()})
    return out


def op_batch(request):
    """Several ops in one process (importing papermill costs seconds)."""
    return [OPS[request["op"]](c) for c in request["cases"]]


OPS = {
    "batch": op_batch,
    "fixture_notebooks": op_fixture_notebooks,
    "codify": op_codify,
    "exec": op_exec,
    "resolve_type": op_resolve_type,
    "float_repr": op_float_repr,
    "identifier": op_identifier,
    "inspect": op_inspect,
    "yaml": op_yaml,
    "writes": op_writes,
    "parameterize": op_parameterize,
    "record": op_record,
    "nbclient": op_nbclient,
}


def main():
    req = json.loads(sys.stdin.buffer.read().decode("utf-8"))
    fn = OPS[req["op"]]
    results = [fn(c) for c in req["cases"]]
    sys.stdout.buffer.write(json.dumps(results, ensure_ascii=True).encode("ascii"))


if __name__ == "__main__":
    logging.basicConfig(level=logging.CRITICAL)
    main()
