"""papermill inside one Python process: the import cost once, an untimed warm-up run, then
execute_notebook timed per call (each call starts and shuts down its own kernel, as
papermill always does).

    python bench/papermill_inprocess.py OUT_DIR NOTEBOOK:REPS [NOTEBOOK:REPS ...]

Prints one JSON object on the last line of stdout:
{"import_s": float, "runs": [{"notebook": path, "output": path, "wall_s": float}, ...]}
"""
import json
import logging
import os
import sys
import time

started = time.perf_counter()
import papermill  # noqa: E402

import_s = time.perf_counter() - started
# papermill logs every cell at INFO through its own logger; the CLI with --no-progress-bar
# and default log level prints a line or two. Keep the process quiet alike.
logging.getLogger("papermill").setLevel(logging.WARNING)


def main() -> None:
    out_dir = sys.argv[1]
    # One untimed run first: the first kernel start pays for cold caches (ipykernel's imports).
    first = sys.argv[2].rsplit(":", 1)[0]
    papermill.execute_notebook(first, os.path.join(out_dir, "warm-up.ipynb"), kernel_name="python3", progress_bar=False)
    runs = []
    for spec in sys.argv[2:]:
        path, reps = spec.rsplit(":", 1)
        stem = os.path.splitext(os.path.basename(path))[0]
        for rep in range(int(reps)):
            output = os.path.join(out_dir, f"{stem}-inproc-{rep}.ipynb")
            t0 = time.perf_counter()
            papermill.execute_notebook(path, output, kernel_name="python3", progress_bar=False)
            runs.append({"notebook": path, "output": output, "wall_s": time.perf_counter() - t0})
    print(json.dumps({"import_s": import_s, "runs": runs}))


main()
