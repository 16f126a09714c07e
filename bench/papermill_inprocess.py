"""papermill inside one long-lived Python process: the import cost once, then
papermill.execute_notebook timed per request (each call still starts and shuts down its
own kernel, as papermill always does). The benchmark drives it over stdin/stdout so that
its runs interleave with the other engines' runs:

    python bench/papermill_inprocess.py
    < {"notebook": "...", "output": "..."}      one JSON request per line
    > {"wall_s": 1.23}                          one JSON answer per line

The first line it prints is {"ready": true, "import_s": ...}.
"""
import json
import logging
import sys
import time

started = time.perf_counter()
import papermill  # noqa: E402

import_s = time.perf_counter() - started
# papermill logs every cell at INFO; the CLI with --no-progress-bar prints a line or two.
logging.getLogger("papermill").setLevel(logging.WARNING)


def main() -> None:
    print(json.dumps({"ready": True, "import_s": import_s}), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        try:
            t0 = time.perf_counter()
            papermill.execute_notebook(request["notebook"], request["output"], kernel_name="python3", progress_bar=False)
            answer = {"wall_s": time.perf_counter() - t0}
        except Exception as err:  # reported to the benchmark, which fails the run
            answer = {"error": f"{type(err).__name__}: {err}"}
        print(json.dumps(answer), flush=True)


main()
