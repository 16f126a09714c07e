#!/usr/bin/env bash
# First contact: set everything up, then run the example notebook with parameters on the
# embedded stack (Temporal dev server, Jupyter Server and a worker, started and stopped
# by millrace itself) and print where the output notebook is.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec bin/millrace.js run examples/report.ipynb -p region eu -p limit 10 "$@"
