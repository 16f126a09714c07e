#!/usr/bin/env bash
# Set-up for the deployment tests (`npm run test:deploy`), run only when asked:
#   - the Temporal server and its SQL tool (go.temporal.io/server v1.32.1), built from the
#     Go module proxy into the per-user cache, once per version (about 4-6 min on 2 cores;
#     the module and build caches, about 3.5 GB, live under the cache dir during the build
#     and are removed after it: what stays is the two binaries and the schema, 260 MB);
#   - PostgreSQL's server programs from Debian's packages when missing (root + apt-get);
#   - openssl when missing (the TLS test's certificates), likewise.
# The tests themselves start a private PostgreSQL cluster and Temporal server on spare ports.
# Prints the directory holding the PostgreSQL programs (initdb, pg_ctl) on stdout's last line.
set -euo pipefail

CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/millrace"
LOGS="$CACHE/logs"
# v1.32.1: the newest server release that builds with Go 1.26.8 (v1.32.2 needs 1.26.10).
TEMPORAL_SERVER_VERSION="v1.32.1"
SERVER_DIR="$CACHE/temporal-server-$TEMPORAL_SERVER_VERSION"
GO_DIR="$CACHE/go-server"

SCRIPT_NAME=setup-cluster
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

mkdir -p "$CACHE"
if command -v flock >/dev/null 2>&1; then
  exec 9>"$CACHE/.setup-cluster.lock"
  flock -n 9 || { say "waiting for another set-up to finish..."; flock 9; }
fi

# --- Temporal server + SQL tool -----------------------------------------------------------

if [[ ! -f "$SERVER_DIR/.complete" ]]; then
  command -v go >/dev/null 2>&1 || die "Go is required to build the Temporal server: go is not on PATH"
  say "building the Temporal server $TEMPORAL_SERVER_VERSION (first run only, about 6 minutes)..."
  rm -rf "$SERVER_DIR"
  mkdir -p "$SERVER_DIR/bin"
  started=$SECONDS
  # A private module and build cache: a user's GOFLAGS or go.work must not leak in, and the
  # whole cost is in one folder a user can remove.
  logged "$LOGS/temporal-server-$TEMPORAL_SERVER_VERSION.log" env GOBIN="$SERVER_DIR/bin" \
      GOFLAGS=-modcacherw GOWORK=off GOMODCACHE="$GO_DIR/mod" GOCACHE="$GO_DIR/build" \
      go install "go.temporal.io/server/cmd/server@$TEMPORAL_SERVER_VERSION" \
      "go.temporal.io/server/cmd/tools/sql@$TEMPORAL_SERVER_VERSION" \
    || die "could not build the Temporal server (log: $LOGS/temporal-server-$TEMPORAL_SERVER_VERSION.log)"
  # `go install` names them after their folders: give them the names Temporal's docs use.
  mv "$SERVER_DIR/bin/server" "$SERVER_DIR/bin/temporal-server"
  mv "$SERVER_DIR/bin/sql" "$SERVER_DIR/bin/temporal-sql-tool"
  # The SQL schema ships in the module: copy the PostgreSQL one next to the binaries.
  src="$GO_DIR/mod/go.temporal.io/server@$TEMPORAL_SERVER_VERSION/schema/postgresql/v12"
  [[ -d "$src" ]] || die "the module has no schema folder at $src"
  mkdir -p "$SERVER_DIR/schema"
  cp -R "$src/." "$SERVER_DIR/schema/"
  touch "$SERVER_DIR/.complete"
  # The binaries are kept by version, so the module and build caches (about 3.5 GB) are
  # of no further use: a new version is built from scratch anyway.
  say "Temporal server built in $((SECONDS - started)) s; removing $(du -sh "$GO_DIR" | cut -f1) of Go caches"
  rm -rf "$GO_DIR"
fi

# --- PostgreSQL ------------------------------------------------------------------------------

pg_bindir() {
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [[ -x "$d/initdb" && -x "$d/pg_ctl" ]] && { echo "$d"; return 0; }
  done
  command -v initdb >/dev/null 2>&1 && { dirname "$(command -v initdb)"; return 0; }
  return 1
}

if ! pg_bindir >/dev/null; then
  [[ "$(id -u)" == "0" ]] && command -v apt-get >/dev/null 2>&1 \
    || die "PostgreSQL's server programs (initdb, pg_ctl) are missing: install PostgreSQL 12 or newer"
  say "installing PostgreSQL (Debian's packages)..."
  if ! logged "$LOGS/postgresql.log" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql; then
    logged "$LOGS/postgresql.log" apt-get update -qq \
      && logged "$LOGS/postgresql.log" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql \
      || die "apt-get install postgresql failed (log: $LOGS/postgresql.log)"
  fi
fi

# --- openssl: the TLS test makes its CA and certificates with it ------------------------------

if ! command -v openssl >/dev/null 2>&1; then
  [[ "$(id -u)" == "0" ]] && command -v apt-get >/dev/null 2>&1 \
    || die "openssl is missing: install it (the TLS deployment test makes its certificates with it)"
  say "installing openssl (Debian's package)..."
  logged "$LOGS/openssl.log" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openssl \
    || die "apt-get install openssl failed (log: $LOGS/openssl.log)"
fi

pg_bindir || die "PostgreSQL was installed but initdb was not found"
