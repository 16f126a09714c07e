#!/usr/bin/env bash
# Idempotent set-up, cheap when everything is already there:
#   - checks Node.js >= 20.3, npm, Python >= 3.10 (and Go >= 1.22 when something must be built);
#   - `npm ci` when node_modules is missing or package-lock.json changed since the last one;
#   - `npm run build` when a source is newer than the last successful build;
#   - the Python virtualenv in the per-user cache, named after requirements.txt's hash;
#   - the Temporal CLI built from the Go module proxy into the per-user cache;
#   - versitygw (the S3-compatible server tests run against), built the same way.
# Only short progress lines go to stderr; tool output goes to log files, whose tail is
# shown when a step fails.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/millrace"
LOGS="$CACHE/logs"
TEMPORAL_BIN="$CACHE/bin/temporal"
TEMPORAL_MODULE="github.com/temporalio/cli/cmd/temporal"
# v1.5.1 first; newer tags carry a `replace` directive that `go install` refuses.
TEMPORAL_VERSIONS=(v1.5.1 v1.5.0 v1.4.1 v1.3.0)
VERSITYGW_BIN="$CACHE/bin/versitygw"
VERSITYGW_MODULE="github.com/versity/versitygw/cmd/versitygw"
VERSITYGW_VERSION="v1.7.0"

SCRIPT_NAME=setup
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# version_at_least HAVE WANT: dotted numeric comparison (major.minor[.patch]).
version_at_least() {
  local IFS=.
  local -a have=($1) want=($2)
  local i h w
  for i in 0 1 2; do
    h="${have[i]:-0}"; w="${want[i]:-0}"
    h="${h%%[!0-9]*}"; w="${w%%[!0-9]*}"
    if (( 10#${h:-0} > 10#${w:-0} )); then return 0; fi
    if (( 10#${h:-0} < 10#${w:-0} )); then return 1; fi
  done
  return 0
}

sha256_of() {
  if command -v sha256sum >/dev/null 2>&1; then sha256sum "$1" | cut -d' ' -f1
  else shasum -a 256 "$1" | cut -d' ' -f1
  fi
}

# --- prerequisites -----------------------------------------------------------------

command -v node >/dev/null 2>&1 || die "Node.js >= 20.3 is required: node is not on PATH"
node_version="$(node --version)"; node_version="${node_version#v}"
version_at_least "$node_version" 20.3 || die "Node.js >= 20.3 is required, found $node_version"
command -v npm >/dev/null 2>&1 || die "npm is required: npm is not on PATH"
command -v python3 >/dev/null 2>&1 || die "Python >= 3.10 is required: python3 is not on PATH"
python_version="$(python3 -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')"
version_at_least "$python_version" 3.10 || die "Python >= 3.10 is required, found python3 $python_version"

# versitygw is rebuilt when the pinned version changes.
versitygw_current() { [[ -x "$VERSITYGW_BIN" && "$(cat "$CACHE/bin/versitygw.version" 2>/dev/null)" == "$VERSITYGW_VERSION" ]]; }

# Go is needed only to build the Temporal CLI and versitygw, but checked before any long step.
if [[ ! -x "$TEMPORAL_BIN" ]] || ! versitygw_current; then
  command -v go >/dev/null 2>&1 || die "Go >= 1.22 is required to build the Temporal CLI and versitygw: go is not on PATH"
  go_version="$(go version)"
  [[ "$go_version" =~ go([0-9]+\.[0-9]+(\.[0-9]+)?) ]] || die "cannot read the Go version from: $go_version"
  go_version="${BASH_REMATCH[1]}"
  version_at_least "$go_version" 1.22 || die "Go >= 1.22 is required to build the Temporal CLI and versitygw, found $go_version"
fi

# --- Node packages ----------------------------------------------------------------------

# node_modules installed without this script (a plain `npm ci`/`npm install`) is adopted
# when npm's own record of it (node_modules/.package-lock.json) matches the lockfile:
# every locked package installed as locked, only optional (other-platform) ones missing.
node_modules_match_lock() {
  [[ -f node_modules/.package-lock.json ]] || return 1
  node -e '
    const locked = require("./package-lock.json").packages ?? {};
    const installed = require("./node_modules/.package-lock.json").packages ?? {};
    const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
    const ok = Object.entries(locked).every(([k, v]) => !k || (k in installed ? same(v, installed[k]) : v.optional))
      && Object.keys(installed).every((k) => k in locked);
    process.exit(ok ? 0 : 1);
  ' 2>/dev/null
}

lock_hash="$(sha256_of package-lock.json)"
npm_stamp="node_modules/.millrace-npm-ci"
if [[ -d node_modules && "$(cat "$npm_stamp" 2>/dev/null)" != "$lock_hash" ]] && node_modules_match_lock; then
  printf '%s\n' "$lock_hash" >"$npm_stamp"
fi
if [[ ! -d node_modules || ! -f "$npm_stamp" || "$(cat "$npm_stamp")" != "$lock_hash" ]]; then
  say "installing Node packages (npm ci)..."
  logged "$LOGS/npm-ci.log" npm ci --no-audit --no-fund --loglevel=error \
    || die "npm ci failed (log: $LOGS/npm-ci.log)"
  printf '%s\n' "$lock_hash" >"$npm_stamp"
fi

# --- Python environment --------------------------------------------------------------

req_hash="$(sha256_of requirements.txt)"
venv="$CACHE/venv-${req_hash:0:12}"
venv_stamp="$venv/.millrace-complete"

# Two set-ups at once (two shells, parallel CI jobs) must not build into the same cache:
# the slow path holds a lock, and each step below re-checks its stamp after getting it.
if [[ ! -f "$venv_stamp" || ! -x "$TEMPORAL_BIN" ]] || ! versitygw_current; then
  needs_lock=1
else
  needs_lock=0
fi
if (( needs_lock )) && command -v flock >/dev/null 2>&1; then
  mkdir -p "$CACHE"
  exec 9>"$CACHE/.setup.lock"
  flock -n 9 || { say "waiting for another set-up to finish..."; flock 9; }
fi
if [[ ! -f "$venv_stamp" ]]; then
  say "creating the Python environment (first run only, about a minute)..."
  rm -rf "$venv"   # an interrupted install is redone from scratch
  mkdir -p "$CACHE"
  logged "$LOGS/venv.log" python3 -m venv "$venv" \
    || die "python3 -m venv failed (on Debian/Ubuntu: apt-get install python3-venv; log: $LOGS/venv.log)"
  # requirements.txt is a complete lock (see its header): no resolver, no extras.
  logged "$LOGS/pip.log" "$venv/bin/python" -m pip install --disable-pip-version-check --no-input --no-deps \
    -r requirements.txt || die "pip install -r requirements.txt failed (log: $LOGS/pip.log)"
  # With --no-deps nothing checked that the lock is complete: import what we run.
  logged "$LOGS/venv-check.log" "$venv/bin/python" -c \
    'import jupyter_server.serverapp, ipykernel.kernelapp, nbformat, papermill, dill, scrapbook, pandas, pyarrow, duckdb, sqlparse' \
    || die "the Python environment is incomplete: requirements.txt misses a dependency (log: $LOGS/venv-check.log)"
  printf '%s\n' "$req_hash" >"$venv_stamp"
fi

# --- Temporal CLI ---------------------------------------------------------------------

if [[ ! -x "$TEMPORAL_BIN" ]]; then
  say "building the Temporal CLI (first run only, a few minutes)..."
  mkdir -p "$CACHE/bin"
  built=""
  for version in "${TEMPORAL_VERSIONS[@]}"; do
    say "  go install $TEMPORAL_MODULE@$version ..."
    # A user's GOFLAGS (e.g. -mod=vendor) or go.work must not leak into this build.
    if logged "$LOGS/temporal-$version.log" env GOBIN="$CACHE/bin" GOFLAGS= GOWORK=off \
        go install "$TEMPORAL_MODULE@$version"; then
      built="$version"
      break
    fi
    say "  $version failed to build (log: $LOGS/temporal-$version.log); trying the next version"
  done
  [[ -n "$built" && -x "$TEMPORAL_BIN" ]] \
    || die "could not build the Temporal CLI (${TEMPORAL_VERSIONS[*]}); logs in $LOGS"
  printf '%s\n' "$built" >"$CACHE/bin/temporal.version"
  say "Temporal CLI $built built"
fi

# --- Chromium and tmux, for the viewer's browser test and the inspector's terminal test ---

# test_package PKG TEST: Debian's PKG, which only TEST needs. Installed with apt-get when
# missing and we may (root); otherwise a note, since the rest of the suite runs without it.
test_package() {
  local pkg="$1" test="$2"
  command -v "$pkg" >/dev/null 2>&1 && return 0
  if [[ "$(id -u)" == "0" ]] && command -v apt-get >/dev/null 2>&1; then
    say "installing $pkg (for $test)..."
    mkdir -p "$LOGS"
    local install=(env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$pkg")
    if ! logged "$LOGS/$pkg.log" "${install[@]}"; then
      logged "$LOGS/$pkg.log" apt-get update -qq && logged "$LOGS/$pkg.log" "${install[@]}" \
        || die "apt-get install $pkg failed (log: $LOGS/$pkg.log)"
    fi
  else
    say "note: $pkg is not installed; $test needs it (apt-get install $pkg)"
  fi
}

# test/e2e/viewer*.test.ts drive Debian's chromium with playwright-core;
# test/e2e/inspect-tmux.test.ts drives `millrace inspect` in tmux.
test_package chromium test/e2e/viewer.test.ts
test_package tmux test/e2e/inspect-tmux.test.ts

# --- versitygw (S3-compatible server for tests) ----------------------------------------

if ! versitygw_current; then
  say "building versitygw $VERSITYGW_VERSION (first run only, a few minutes)..."
  mkdir -p "$CACHE/bin"
  logged "$LOGS/versitygw-$VERSITYGW_VERSION.log" env GOBIN="$CACHE/bin" GOFLAGS= GOWORK=off \
    go install "$VERSITYGW_MODULE@$VERSITYGW_VERSION" \
    || die "could not build versitygw $VERSITYGW_VERSION (log: $LOGS/versitygw-$VERSITYGW_VERSION.log)"
  [[ -x "$VERSITYGW_BIN" ]] || die "go install did not produce $VERSITYGW_BIN"
  printf '%s\n' "$VERSITYGW_VERSION" >"$CACHE/bin/versitygw.version"
  say "versitygw $VERSITYGW_VERSION built"
fi

# --- Container kernels (podman) for the container backend's tests -----------------------

# test/e2e/containers.test.ts runs kernels in podman containers (docs/kernels.md). podman,
# runc, catatonit (podman's --init), slirp4netns (each kernel's own network) and
# debootstrap come from Debian's packages when we may
# install them (root with apt-get); MILLRACE_CONTAINERS=0 skips all of this. Images are
# built here, none pulled (no registry is reachable from CI): a Debian minbase with
# python3 (debootstrap + podman import), then docker/kernel/Containerfile FROM it. Each is
# tagged by a hash of what it is made of, so an unchanged set-up finds both and does nothing.
CONTAINERS_DIR="$CACHE/containers"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$ROOT/docker/containers.conf}"
BASE_SUITE="bookworm"
BASE_PACKAGES="python3,python3-venv,ca-certificates"
if [[ "${MILLRACE_CONTAINERS:-1}" != "0" ]]; then
  missing_debs=()
  for tool in podman:podman runc:runc debootstrap:debootstrap /usr/libexec/podman/catatonit:catatonit slirp4netns:slirp4netns; do
    command -v "${tool%%:*}" >/dev/null 2>&1 || [[ -x "${tool%%:*}" ]] || missing_debs+=("${tool##*:}")
  done
  if (( ${#missing_debs[@]} )); then
    if [[ "$(id -u)" == "0" ]] && command -v apt-get >/dev/null 2>&1; then
      say "installing ${missing_debs[*]} (for container kernels)..."
      mkdir -p "$LOGS"
      if ! logged "$LOGS/podman.log" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing_debs[@]}"; then
        logged "$LOGS/podman.log" apt-get update -qq \
          && logged "$LOGS/podman.log" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing_debs[@]}" \
          || die "apt-get install ${missing_debs[*]} failed (log: $LOGS/podman.log)"
      fi
    else
      say "note: ${missing_debs[*]} not installed; test/e2e/containers.test.ts needs them (apt-get install ${missing_debs[*]})"
    fi
  fi
  if command -v podman >/dev/null 2>&1 && command -v debootstrap >/dev/null 2>&1; then
    # The base trusts what this machine trusts (a proxy's CA, in CI): pip in the image build
    # reaches PyPI through it.
    extra_cas=(/usr/local/share/ca-certificates/*.crt)
    [[ -e "${extra_cas[0]}" ]] || extra_cas=()
    base_hash="$( { printf '%s\n' "$BASE_SUITE" "$BASE_PACKAGES"; (( ${#extra_cas[@]} )) && cat "${extra_cas[@]}"; } | sha256sum | cut -c1-12)"
    base_image="localhost/millrace-base:$base_hash"
    if ! podman image exists "$base_image"; then
      say "building the base image $base_image (debootstrap, first run only, about a minute)..."
      rootfs="$CONTAINERS_DIR/rootfs-$base_hash"
      rm -rf "$rootfs"; mkdir -p "$rootfs"
      logged "$LOGS/debootstrap.log" debootstrap --variant=minbase --include="$BASE_PACKAGES" "$BASE_SUITE" "$rootfs" http://deb.debian.org/debian \
        || die "debootstrap failed (log: $LOGS/debootstrap.log)"
      if (( ${#extra_cas[@]} )); then
        cp "${extra_cas[@]}" "$rootfs/usr/local/share/ca-certificates/"
        logged "$LOGS/debootstrap.log" chroot "$rootfs" update-ca-certificates || die "update-ca-certificates failed in the base (log: $LOGS/debootstrap.log)"
        printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' >"$rootfs/etc/pip.conf"
      fi
      rm -rf "$rootfs"/var/cache/apt/archives/*.deb
      tar -C "$rootfs" -c . | logged "$LOGS/podman-import.log" podman import - "$base_image" \
        || die "podman import failed (log: $LOGS/podman-import.log)"
      rm -rf "$rootfs"
    fi
    kernel_hash="$( { printf '%s\n' "$base_image"; cat docker/kernel/Containerfile requirements.txt; } | sha256sum | cut -c1-12)"
    kernel_image="localhost/millrace-kernel:$kernel_hash"
    if ! podman image exists "$kernel_image"; then
      say "building the kernel image $kernel_image (docker/kernel, first run only)..."
      # --network host: the build's pip reaches PyPI without a CNI bridge (none works here).
      logged "$LOGS/podman-build.log" podman build --network host -f docker/kernel/Containerfile \
        --build-arg BASE="$base_image" -t "$kernel_image" . \
        || die "podman build docker/kernel failed (log: $LOGS/podman-build.log)"
    fi
    # What the container tests run their kernels in.
    mkdir -p "$CONTAINERS_DIR"
    printf '%s\n' "$kernel_image" >"$CONTAINERS_DIR/kernel-image"
    printf '%s\n' "$base_image" >"$CONTAINERS_DIR/base-image"   # scripts/setup-docker.sh builds on it
  fi
fi

# --- Trino (the server SQL jobs on the trino engine are tested against) ------------------

# scripts/setup-trino.sh: Trino by its Maven coordinates into the cache, trimmed to the
# plugins the tests load; it only notes what is missing when there is no Java 22+ or mvn.
if [[ "${MILLRACE_TRINO:-1}" != "0" ]]; then
  bash "$ROOT/scripts/setup-trino.sh"
fi

# --- Jupyter Kernel Gateway and Enterprise Gateway (the gateway backends' tests) ------------

# test/e2e/backends.test.ts runs the same runs through Jupyter Kernel Gateway in a venv of
# its own, and Enterprise Gateway in another (docs/kernels.md); MILLRACE_GATEWAYS=0 skips both.
if [[ "${MILLRACE_GATEWAYS:-1}" != "0" ]]; then
  "$ROOT/scripts/setup-gateways.sh" || die "could not set up the Jupyter gateways"
fi

# --- build (last: sources change most often, and the tools above are useful anyway) ---

# Rebuild when anything the build reads is newer than the last successful build.
build_stamp="dist/.millrace-build"
build_inputs=(notebook workflows activities worker cli bench viewer jobs tsconfig.json package.json "$npm_stamp")
needs_build=1
if [[ -f "$build_stamp" ]]; then
  existing_inputs=()
  for input in "${build_inputs[@]}"; do [[ -e "$input" ]] && existing_inputs+=("$input"); done
  if [[ -z "$(find "${existing_inputs[@]}" -newer "$build_stamp" -print -quit 2>/dev/null)" ]]; then
    needs_build=0
  fi
fi
if (( needs_build )); then
  say "building (tsc)..."
  mkdir -p dist
  started_stamp="$(mktemp "dist/.millrace-build.XXXXXX")"   # the build's start time
  if [[ -f worker/bundle-workflows.ts ]]; then
    build=(npm run --silent build)
  else
    build=(node_modules/.bin/tsc -p tsconfig.json)
  fi
  if ! logged "$LOGS/build.log" "${build[@]}"; then
    rm -f "$started_stamp"
    die "the build failed (log: $LOGS/build.log)"
  fi
  mv -f "$started_stamp" "$build_stamp"
fi
