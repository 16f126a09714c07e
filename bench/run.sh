#!/usr/bin/env bash
# The benchmark of SPEC §6 in one command: set-up (idempotent; builds when sources
# changed), then bench/run.ts, then the CLI as users launch it, whole processes
# (bench/cli.ts). Options are passed on to bench/run.ts (see its header); `--cli-only
# [options]` runs the second part alone, with bench/cli.ts's options. Results go to
# bench/results/.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/setup.sh"
if [[ "${1:-}" == "--cli-only" ]]; then
  shift
  exec node "$ROOT/dist/bench/cli.js" "$@"
fi
node "$ROOT/dist/bench/run.js" "$@"
quick=()
for arg in "$@"; do [[ "$arg" == "--quick" ]] && quick=(--quick); done
exec node "$ROOT/dist/bench/cli.js" "${quick[@]}"
