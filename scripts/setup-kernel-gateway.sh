#!/usr/bin/env bash
# Jupyter Kernel Gateway in a venv of its own (scripts/requirements-kernel-gateway.txt),
# for the gateway backend's tests and for operators who want one on this machine:
#   <cache>/kernel-gateway-<first 12 hex of the file's sha256>/bin/jupyter-kernelgateway
# Idempotent: an unchanged requirements file finds its venv and does nothing. Called by
# scripts/setup.sh; MILLRACE_GATEWAYS=0 there skips it.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/millrace"
LOGS="$CACHE/logs"
SCRIPT_NAME=setup-kernel-gateway
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"

requirements="$ROOT/scripts/requirements-kernel-gateway.txt"
hash="$(sha256sum "$requirements" | cut -c1-12)"
venv="$CACHE/kernel-gateway-$hash"
stamp="$venv/.millrace-complete"
[[ -f "$stamp" ]] && exit 0

mkdir -p "$CACHE"
# Two set-ups at once must not build into the same venv.
exec 8>"$CACHE/.kernel-gateway.lock"
flock 8
[[ -f "$stamp" ]] && exit 0
say "creating Jupyter Kernel Gateway's environment (first run only, about 15 s)..."
rm -rf "$venv"   # an interrupted install is redone from scratch
logged "$LOGS/kernel-gateway-venv.log" python3 -m venv "$venv" \
  || die "python3 -m venv failed (log: $LOGS/kernel-gateway-venv.log)"
# A complete lock (see the file's header): no resolver.
logged "$LOGS/kernel-gateway-pip.log" "$venv/bin/python" -m pip install --disable-pip-version-check --no-input --no-deps \
  -r "$requirements" || die "pip install -r $requirements failed (log: $LOGS/kernel-gateway-pip.log)"
logged "$LOGS/kernel-gateway-check.log" "$venv/bin/python" -c 'import kernel_gateway.gatewayapp, ipykernel.kernelapp, dill' \
  || die "Kernel Gateway's environment is incomplete: $requirements misses a dependency (log: $LOGS/kernel-gateway-check.log)"
printf '%s\n' "$hash" >"$stamp"
