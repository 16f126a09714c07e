#!/usr/bin/env bash
# Jupyter Kernel Gateway and Jupyter Enterprise Gateway, each in a venv of its own made
# from its pinned file (scripts/requirements-kernel-gateway.txt,
# scripts/requirements-enterprise-gateway.txt), for the gateway backends' tests and for
# operators who want one on this machine:
#   <cache>/kernel-gateway-<first 12 hex of the file's sha256>/bin/jupyter-kernelgateway
#   <cache>/enterprise-gateway-<...>/bin/jupyter-enterprisegateway
# Also Debian's openssh-server (sshd), for Enterprise Gateway's DistributedProcessProxy test
# (an sshd on 127.0.0.2 that the test starts and stops: bench/sshd.ts), when root with apt-get.
# Idempotent: an unchanged requirements file finds its venv and does nothing. Called by
# scripts/setup.sh; MILLRACE_GATEWAYS=0 there skips it.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/millrace"
LOGS="$CACHE/logs"
SCRIPT_NAME=setup-gateways
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"

# gateway_venv NAME WHAT IMPORTS: the venv of scripts/requirements-NAME.txt, checked by importing IMPORTS.
gateway_venv() {
  local name="$1" what="$2" imports="$3"
  local requirements="$ROOT/scripts/requirements-$name.txt"
  local hash venv stamp
  hash="$(sha256sum "$requirements" | cut -c1-12)"
  venv="$CACHE/$name-$hash"
  stamp="$venv/.millrace-complete"
  [[ -f "$stamp" ]] && return 0
  mkdir -p "$CACHE"
  # Two set-ups at once must not build into the same venv.
  (
    flock 8
    [[ -f "$stamp" ]] && exit 0
    say "creating $what's environment (first run only, under a minute)..."
    rm -rf "$venv"   # an interrupted install is redone from scratch
    logged "$LOGS/$name-venv.log" python3 -m venv "$venv" \
      || die "python3 -m venv failed (log: $LOGS/$name-venv.log)"
    # A complete lock (see the file's header): no resolver.
    logged "$LOGS/$name-pip.log" "$venv/bin/python" -m pip install --disable-pip-version-check --no-input --no-deps \
      -r "$requirements" || die "pip install -r $requirements failed (log: $LOGS/$name-pip.log)"
    logged "$LOGS/$name-check.log" "$venv/bin/python" -c "import $imports" \
      || die "$what's environment is incomplete: $requirements misses a dependency (log: $LOGS/$name-check.log)"
    printf '%s\n' "$hash" >"$stamp"
  ) 8>"$CACHE/.$name.lock"
}

gateway_venv kernel-gateway "Jupyter Kernel Gateway" "kernel_gateway.gatewayapp, ipykernel.kernelapp, dill"
gateway_venv enterprise-gateway "Jupyter Enterprise Gateway" "enterprise_gateway.enterprisegatewayapp, ipykernel.kernelapp, dill"

# sshd for test/e2e/enterprise-gateway.test.ts's SSH case (about 1.6 MB to fetch).
if [[ ! -x /usr/sbin/sshd ]]; then
  if [[ "$(id -u)" == "0" ]] && command -v apt-get >/dev/null 2>&1; then
    say "installing openssh-server (for Enterprise Gateway's SSH test)..."
    mkdir -p "$LOGS"
    install=(env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openssh-server)
    if ! logged "$LOGS/openssh-server.log" "${install[@]}"; then
      logged "$LOGS/openssh-server.log" apt-get update -qq && logged "$LOGS/openssh-server.log" "${install[@]}" \
        || die "apt-get install openssh-server failed (log: $LOGS/openssh-server.log)"
    fi
  else
    say "note: openssh-server is not installed; test/e2e/enterprise-gateway.test.ts needs it (apt-get install openssh-server)"
  fi
fi
