#!/usr/bin/env bash
# Set-up for the tests of docker/ (test/deploy/docker-*.test.ts), run by scripts/test-deploy.sh
# after scripts/setup.sh (which makes the Debian base image and the project's venv). Each
# part is cached in the per-user cache, by version or by a hash of what it is made of:
#   - kubeconform, built from the Go module proxy (`go install ...@version`);
#   - Kubernetes' JSON schemas for it, made offline from the OpenAPI document inside the
#     k8s.io/kubernetes Go module (scripts/k8s-schemas.mjs), since kubeconform's own
#     schema download is not reachable here;
#   - the Compose Specification's JSON schema, from the compose-go Go module;
#   - podman-compose in its own venv (docker/podman-compose-requirements.txt);
#   - a runtime base image: the base image with this machine's Node.js, npm and Python copied in;
#   - the worker image (docker/worker/Dockerfile) built FROM it, tagged by a hash of its
#     inputs, its npm and pip installs served from this machine's npm and pip caches;
#   - for docker/compose.yaml brought up: podman's dnsname plugin (Debian's package), the
#     Temporal UI server (`go install`), and images FROM scratch holding the Go programs
#     built on this host (Temporal server, SQL tool and CLI; versitygw; the UI server).
# Prints KEY=VALUE lines on stdout (what the tests read); progress on stderr.
# --no-images: the tools only (docker/k8s's test and the compose file's validation need no image).
set -euo pipefail
images=1
[[ "${1:-}" == "--no-images" ]] && images=0

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/millrace"
LOGS="$CACHE/logs"
KUBECONFORM_VERSION="v0.8.0"
KUBERNETES_VERSION="v1.36.3"
# The Compose Specification's JSON schema ships in compose-go (schema/compose-spec.json).
# v2.16.2: the newest whose module builds with this machine's Go 1.26.8 (v2.17.0 needs 1.26.11).
COMPOSE_GO_VERSION="v2.16.2"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$ROOT/docker/containers.conf}"

SCRIPT_NAME=setup-docker
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

mkdir -p "$CACHE/bin" "$LOGS"
exec 9>"$CACHE/.setup-docker.lock"
flock -n 9 || { say "waiting for another set-up to finish..."; flock 9; }

timed() { # NAME START: how long a step took, for docs/deploy.md's figures
  say "$1 in $((SECONDS - $2)) s"
}

# --- kubeconform -------------------------------------------------------------------------

kubeconform="$CACHE/bin/kubeconform"
if [[ ! -x "$kubeconform" || "$(cat "$kubeconform.version" 2>/dev/null)" != "$KUBECONFORM_VERSION" ]]; then
  say "building kubeconform $KUBECONFORM_VERSION..."
  started=$SECONDS
  logged "$LOGS/kubeconform.log" env GOBIN="$CACHE/bin" GOFLAGS= GOWORK=off \
    go install "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION" \
    || die "could not build kubeconform (log: $LOGS/kubeconform.log)"
  printf '%s\n' "$KUBECONFORM_VERSION" >"$kubeconform.version"
  timed "kubeconform built" $started
fi

# module_file MODULE VERSION FILE DEST: copies FILE (a path inside the module) of a Go
# module to DEST. Only the module's zip is wanted: a private module cache, removed after.
module_file() {
  local modcache log="$LOGS/$(basename "$4").log"
  modcache="$(mktemp -d "$CACHE/go-mod.XXXXXX")"
  if logged "$log" env GOMODCACHE="$modcache" GOFLAGS=-modcacherw GOWORK=off go mod download "$1@$2"; then
    cp "$modcache/$1@$2/$3" "$4.tmp" && mv "$4.tmp" "$4"
  fi
  rm -rf "$modcache"
  [[ -f "$4" ]] || die "could not fetch $3 from $1 $2 (log: $log)"
}

# --- Kubernetes JSON schemas -------------------------------------------------------------

schemas="$CACHE/k8s-schemas-$KUBERNETES_VERSION-$(sha256sum scripts/k8s-schemas.mjs | cut -c1-12)"
if [[ ! -f "$schemas/.complete" ]]; then
  say "making Kubernetes $KUBERNETES_VERSION's JSON schemas..."
  started=$SECONDS
  openapi="$CACHE/k8s-openapi-$KUBERNETES_VERSION.json"
  [[ -f "$openapi" ]] || module_file k8s.io/kubernetes "$KUBERNETES_VERSION" api/openapi-spec/swagger.json "$openapi"
  rm -rf "$schemas"
  logged "$LOGS/k8s-schemas.log" node scripts/k8s-schemas.mjs "$openapi" "$schemas" \
    || die "could not convert the Kubernetes OpenAPI document (log: $LOGS/k8s-schemas.log)"
  touch "$schemas/.complete"
  timed "schemas made ($(du -sh "$schemas" | cut -f1))" $started
fi

# --- the Compose Specification's schema --------------------------------------------------

compose_schema="$CACHE/compose-spec-$COMPOSE_GO_VERSION.json"
if [[ ! -f "$compose_schema" ]]; then
  say "fetching the Compose Specification's schema (compose-go $COMPOSE_GO_VERSION)..."
  started=$SECONDS
  module_file github.com/compose-spec/compose-go/v2 "$COMPOSE_GO_VERSION" schema/compose-spec.json "$compose_schema"
  timed "Compose schema fetched" $started
fi

# --- podman-compose ----------------------------------------------------------------------

compose_venv="$CACHE/podman-compose-$(sha256sum docker/podman-compose-requirements.txt | cut -c1-12)"
if [[ ! -f "$compose_venv/.complete" ]]; then
  say "installing podman-compose..."
  started=$SECONDS
  rm -rf "$compose_venv"
  logged "$LOGS/podman-compose.log" python3 -m venv "$compose_venv" \
    && logged "$LOGS/podman-compose.log" "$compose_venv/bin/pip" install --disable-pip-version-check --no-input --no-deps \
         -r docker/podman-compose-requirements.txt \
    || die "could not install podman-compose (log: $LOGS/podman-compose.log)"
  touch "$compose_venv/.complete"
  timed "podman-compose installed" $started
fi

echo "KUBECONFORM=$kubeconform"
echo "K8S_SCHEMAS=$schemas"
echo "PODMAN_COMPOSE=$compose_venv/bin/podman-compose"
echo "COMPOSE_SCHEMA=$compose_schema"

# --- images ------------------------------------------------------------------------------

(( images )) || exit 0
# The tools are ready: tests that need only them need not wait for an image build.
flock -u 9
exec 8>"$CACHE/.setup-docker-images.lock"
flock -n 8 || { say "waiting for another image build to finish..."; flock 8; }
[[ "${MILLRACE_CONTAINERS:-1}" != "0" ]] && command -v podman >/dev/null 2>&1 || { say "note: no podman: the worker image is not built"; exit 0; }
base_image="$(cat "$CACHE/containers/base-image" 2>/dev/null || true)"
[[ -n "$base_image" ]] && podman image exists "$base_image" \
  || die "the base image is missing: run scripts/setup.sh (it makes it with debootstrap)"

# The runtime base: the base image with this machine's Node.js (the node binary and npm's
# folder: Debian's nodejs and Node's own tarball both put npm in <prefix>/lib/node_modules/npm)
# and, unless it is the base's own (/usr), this machine's Python: requirements.txt is locked
# for it (Debian 12's python3 is 3.11.2; the lock needs 3.11.5 or newer). Copied to
# /opt/python (its libpython found through ld.so's cache), without site-packages and the
# test suite.
node_bin="$(readlink -f "$(command -v node)")"
npm_dir="$(cd "$(dirname "$(readlink -f "$(command -v npm)")")/.." && pwd)"
[[ -f "$npm_dir/bin/npm-cli.js" ]] || die "cannot find npm's folder (looked at $npm_dir)"
python_prefix="$(python3 -c 'import sys; print(sys.base_prefix)')"
[[ "$python_prefix" == "/usr" ]] && python_prefix=""
# The base trusts what this machine trusts (setup.sh copies its extra CAs in): Node is told
# to use that bundle too, so npm in the worker image's build goes through a proxy's CA.
node_containerfile="ARG BASE
FROM \$BASE
COPY node /usr/local/bin/node
COPY npm /usr/local/lib/node_modules/npm
${python_prefix:+COPY python /opt/python
RUN echo /opt/python/lib >/etc/ld.so.conf.d/python.conf && ldconfig
ENV PATH=/opt/python/bin:\$PATH}
ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \\
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \\
 && node --version && npm --version && python3 -c 'import ssl, sqlite3, ctypes, venv'"
node_hash="$( { printf '%s\n' "$base_image" "$node_containerfile"; node --version; npm --version; python3 --version; } | sha256sum | cut -c1-12)"
node_image="localhost/millrace-runtime-base:$node_hash"
if ! podman image exists "$node_image"; then
  say "building the runtime base image $node_image (Node${python_prefix:+ and Python})..."
  started=$SECONDS
  ctx="$(mktemp -d)"
  cp "$node_bin" "$ctx/node"
  cp -R "$npm_dir" "$ctx/npm"
  if [[ -n "$python_prefix" ]]; then
    mkdir "$ctx/python"
    tar -C "$python_prefix" -c --exclude='./lib/python3*/site-packages/*' --exclude='./lib/python3*/test' . | tar -C "$ctx/python" -x
  fi
  printf '%s\n' "$node_containerfile" >"$ctx/Containerfile"
  logged "$LOGS/podman-build-node.log" podman build --ulimit nofile=4096:4096 --ulimit nproc=4096:4096 --build-arg BASE="$base_image" -t "$node_image" "$ctx" \
    || { rm -rf "$ctx"; die "podman build of the runtime base image failed (log: $LOGS/podman-build-node.log)"; }
  rm -rf "$ctx"
  timed "runtime base image built" $started
fi

# The worker image, tagged by a hash of everything its Dockerfile reads.
worker_inputs=(docker/worker/Dockerfile .dockerignore package.json package-lock.json tsconfig.json requirements.txt
  notebook workflows activities record worker cli bench viewer jobs bin docker/containers.conf)
worker_hash="$( { printf '%s\n' "$node_image"; find "${worker_inputs[@]}" -type f ! -path 'bench/results/*' -print0 | sort -z | xargs -0 sha256sum; } | sha256sum | cut -c1-12)"
worker_image="localhost/millrace-worker:$worker_hash"
if ! podman image exists "$worker_image"; then
  say "building the worker image $worker_image (docker/worker/Dockerfile)..."
  started=$SECONDS
  mkdir -p "$HOME/.npm" "$HOME/.cache/pip"
  # --format docker keeps the HEALTHCHECK; --network host: pip reaches the package index
  # without a CNI bridge (none works here); npm prefers this machine's cache
  # (filled by setup.sh's npm ci), pip from its cache where it can.
  logged "$LOGS/podman-build-worker.log" podman build --format docker --network host --ulimit nofile=4096:4096 --ulimit nproc=4096:4096 \
      -v "$HOME/.npm:/root/.npm" -v "$HOME/.cache/pip:/root/.cache/pip" \
      --build-arg BASE="$node_image" --build-arg npm_config_prefer_offline=true \
      -f docker/worker/Dockerfile -t "$worker_image" . \
    || die "podman build docker/worker failed (log: $LOGS/podman-build-worker.log)"
  timed "worker image built ($(podman image inspect "$worker_image" --format '{{.Size}}' | awk '{printf "%d MB", $1/1e6}'))" $started
  # Earlier builds' tags (their Python layer is shared while requirements.txt is the same).
  podman images --format '{{.Repository}}:{{.Tag}}' localhost/millrace-worker | grep -vxF "$worker_image" \
    | xargs -r podman rmi >/dev/null 2>&1 || true
fi
echo "WORKER_IMAGE=$worker_image"

# --- docker/compose.yaml brought up (test/deploy/docker-compose-up.test.ts) --------------
# Its services reach each other by name: podman 4.3's CNI networks resolve names with the
# dnsname plugin (Debian's package; netavark's aardvark-dns would mean switching backends,
# which podman refuses while containers of the other exist). podman-compose builds the
# images from the base image; the Go programs are not built in a Go image but come from
# the host's builds (scripts/setup.sh, setup-cluster.sh, the UI server below) in images
# FROM scratch that the Containerfiles' BINARIES argument names.
if [[ ! -x /usr/lib/cni/dnsname ]]; then
  [[ "$(id -u)" == "0" ]] && command -v apt-get >/dev/null 2>&1 \
    || die "podman's dnsname CNI plugin is missing (/usr/lib/cni/dnsname): install golang-github-containernetworking-plugin-dnsname"
  say "installing podman's dnsname plugin (Debian's package)..."
  started=$SECONDS
  if ! logged "$LOGS/dnsname.log" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends golang-github-containernetworking-plugin-dnsname; then
    logged "$LOGS/dnsname.log" apt-get update -qq \
      && logged "$LOGS/dnsname.log" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends golang-github-containernetworking-plugin-dnsname \
      || die "apt-get install golang-github-containernetworking-plugin-dnsname failed (log: $LOGS/dnsname.log)"
  fi
  timed "dnsname plugin installed" $started
fi

# The Temporal UI server, built on the host like the others (docker/temporal-ui/Containerfile
# names the same version: the newest whose module builds with Go 1.26.8).
TEMPORAL_UI_VERSION="v2.55.0"
ui_dir="$CACHE/temporal-ui-$TEMPORAL_UI_VERSION"
if [[ ! -f "$ui_dir/.complete" ]]; then
  say "building the Temporal UI server $TEMPORAL_UI_VERSION..."
  started=$SECONDS
  rm -rf "$ui_dir"
  mkdir -p "$ui_dir/bin"
  go_dir="$(mktemp -d "$CACHE/go-ui.XXXXXX")"
  logged "$LOGS/temporal-ui-$TEMPORAL_UI_VERSION.log" env GOBIN="$ui_dir/bin" GOFLAGS=-modcacherw GOWORK=off \
      GOMODCACHE="$go_dir/mod" GOCACHE="$go_dir/build" \
      go install "github.com/temporalio/ui-server/v2/cmd/server@$TEMPORAL_UI_VERSION" \
    || { rm -rf "$go_dir"; die "could not build the Temporal UI server (log: $LOGS/temporal-ui-$TEMPORAL_UI_VERSION.log)"; }
  mv "$ui_dir/bin/server" "$ui_dir/bin/temporal-ui-server"
  rm -rf "$go_dir"
  touch "$ui_dir/.complete"
  timed "Temporal UI server built" $started
fi

# binaries_image NAME DEST=SOURCE...: an image FROM scratch with each SOURCE (a file or a
# folder) at /out/DEST, tagged by a hash of the files' names, sizes and times.
binaries_image() {
  local name="$1" pair image ctx tag; shift
  tag="$( { for pair in "$@"; do printf '%s\n' "${pair%%=*}"; find "${pair#*=}" -type f -printf '%P %s %T@\n' | sort; done; } | sha256sum | cut -c1-12)"
  image="localhost/millrace-$name-binaries:$tag"
  if ! podman image exists "$image"; then
    say "making $image..."
    ctx="$(mktemp -d "$CACHE/binaries.XXXXXX")"
    mkdir "$ctx/out"
    for pair in "$@"; do cp -al "${pair#*=}" "$ctx/out/${pair%%=*}" 2>/dev/null || cp -a "${pair#*=}" "$ctx/out/${pair%%=*}"; done
    printf 'FROM scratch\nCOPY out /out\n' >"$ctx/Containerfile"
    logged "$LOGS/podman-build-binaries.log" podman build -t "$image" "$ctx" \
      || { rm -rf "$ctx"; die "podman build of $image failed (log: $LOGS/podman-build-binaries.log)"; }
    rm -rf "$ctx"
    podman images --format '{{.Repository}}:{{.Tag}}' "localhost/millrace-$name-binaries" | grep -vxF "$image" \
      | xargs -r podman rmi >/dev/null 2>&1 || true
  fi
  printf '%s\n' "$image"
}

server_version="$(sed -n 's/^TEMPORAL_SERVER_VERSION="\(.*\)"$/\1/p' scripts/setup-cluster.sh)"
server_dir="$CACHE/temporal-server-$server_version"
[[ -f "$server_dir/.complete" ]] || die "the Temporal server is not built: run scripts/setup-cluster.sh"
[[ -x "$CACHE/bin/temporal" && -x "$CACHE/bin/versitygw" ]] || die "the Temporal CLI or versitygw is missing: run scripts/setup.sh"
temporal_binaries="$(binaries_image temporal temporal-server="$server_dir/bin/temporal-server" \
  temporal-sql-tool="$server_dir/bin/temporal-sql-tool" temporal="$CACHE/bin/temporal" schema="$server_dir/schema")"
s3_binaries="$(binaries_image s3 versitygw="$CACHE/bin/versitygw")"
ui_binaries="$(binaries_image temporal-ui temporal-ui-server="$ui_dir/bin/temporal-ui-server")"
echo "BASE_IMAGE=$base_image"
echo "TEMPORAL_BINARIES_IMAGE=$temporal_binaries"
echo "S3_BINARIES_IMAGE=$s3_binaries"
echo "TEMPORAL_UI_BINARIES_IMAGE=$ui_binaries"
