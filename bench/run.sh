#!/usr/bin/env bash
# The benchmark of SPEC §6 in one command: set-up (idempotent; builds when sources
# changed), then bench/run.ts. Options are passed on (see the header of bench/run.ts);
# results go to bench/results/.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/setup.sh"
exec node "$ROOT/dist/bench/run.js" "$@"
