#!/usr/bin/env bash
# The whole test suite on a fresh machine: set everything up, then unit and end-to-end
# tests against real servers the tests start themselves. Extra arguments go to vitest
# (e.g. `npm test -- test/e2e/run.test.ts`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# The tests are type-checked too (setup's build covers the product only).
npx tsc -p test/tsconfig.json
exec npx vitest run "$@"
