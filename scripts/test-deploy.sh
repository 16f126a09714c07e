#!/usr/bin/env bash
# The deployment tests (issue 17), only when asked: a real Temporal server on PostgreSQL,
# two workers, the store on S3. Sets up what the normal suite needs, then the cluster's
# own tools (scripts/setup-cluster.sh) and docker/'s (scripts/setup-docker.sh), then runs
# test/deploy/. Extra arguments go to vitest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/setup-cluster.sh >/dev/null
scripts/setup-docker.sh >/dev/null   # kubeconform, schemas, podman-compose, the images compose needs
npx tsc -p test/tsconfig.json
MILLRACE_DEPLOY_TESTS=1 exec npx vitest run --project deploy "$@"
