#!/usr/bin/env bash
# Trino for the tests of SQL jobs on the trino engine (test/e2e/sql-trino.test.ts): the
# server io.trino:trino-server (fetched by its Maven coordinates with `mvn dependency:copy`),
# unpacked into the per-user cache with only the plugins the tests use (tpch, memory,
# password-authenticators), plus a file naming the Java 22+ it runs on. Idempotent: an
# unchanged set-up finds the stamp and does nothing. Called by scripts/setup.sh;
# MILLRACE_TRINO=0 skips it.
#   scripts/setup-trino.sh        installs when missing
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/millrace"
LOGS="$CACHE/logs"
SCRIPT_NAME=setup-trino
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"

TRINO_VERSION=476
# What the tests load: the catalogs tpch and memory, and the password file authenticator.
TRINO_PLUGINS=(tpch memory password-authenticators)
TRINO_HOME="$CACHE/trino-server-$TRINO_VERSION"
STAMP="$TRINO_HOME/.millrace-complete"
WANT="$TRINO_VERSION ${TRINO_PLUGINS[*]}"

[[ -f "$STAMP" && "$(cat "$STAMP")" == "$WANT" ]] && exit 0
# Two set-ups at once install once: the second waits, then finds the stamp.
if command -v flock >/dev/null 2>&1; then
  mkdir -p "$CACHE"
  exec 8>"$CACHE/.setup-trino.lock"
  flock -n 8 || { say "waiting for another Trino install to finish..."; flock 8; }
  [[ -f "$STAMP" && "$(cat "$STAMP")" == "$WANT" ]] && exit 0
fi

# Trino 476 needs Java 22 or newer (Temurin 25 on the project's machines); the JDK the
# server runs on is written beside it, for the test harness.
java_home=""
for candidate in ${MILLRACE_TRINO_JAVA_HOME:-} /usr/lib/jvm/temurin-25-jdk-amd64 /usr/lib/jvm/temurin-2[2-9]* /usr/lib/jvm/java-2[2-9]-* ${JAVA_HOME:-}; do
  [[ -x "$candidate/bin/java" ]] || continue
  major="$("$candidate/bin/java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java\.specification\.version = //p')"
  if [[ "${major%%.*}" =~ ^[0-9]+$ ]] && (( ${major%%.*} >= 22 )); then java_home="$candidate"; break; fi
done
if [[ -z "$java_home" ]]; then
  say "note: no Java 22+ found (set MILLRACE_TRINO_JAVA_HOME); test/e2e/sql-trino.test.ts needs it for Trino $TRINO_VERSION"
  exit 0
fi
command -v mvn >/dev/null 2>&1 || { say "note: mvn is not installed; test/e2e/sql-trino.test.ts needs it to fetch Trino (apt-get install maven)"; exit 0; }

say "installing Trino $TRINO_VERSION (first run only: a large download, about 110 MB kept)..."
mkdir -p "$CACHE" "$LOGS"
work="$(mktemp -d "$CACHE/trino-download.XXXXXX")"
trap 'rm -rf "$work"' EXIT
logged "$LOGS/trino-fetch.log" mvn -q -B dependency:copy \
  "-Dartifact=io.trino:trino-server:$TRINO_VERSION:tar.gz" "-DoutputDirectory=$work" \
  || die "mvn dependency:copy io.trino:trino-server:$TRINO_VERSION:tar.gz failed (log: $LOGS/trino-fetch.log)"
archive="$work/trino-server-$TRINO_VERSION.tar.gz"
[[ -f "$archive" ]] || die "mvn dependency:copy did not produce $archive"
download_mb="$(du -m "$archive" | cut -f1)"
top="trino-server-$TRINO_VERSION"
members=("$top/bin" "$top/lib")
for plugin in "${TRINO_PLUGINS[@]}"; do members+=("$top/plugin/$plugin"); done
rm -rf "$TRINO_HOME" "$work/unpacked"
mkdir -p "$work/unpacked"
logged "$LOGS/trino-unpack.log" tar -xzf "$archive" -C "$work/unpacked" "${members[@]}" \
  || die "unpacking $archive failed (log: $LOGS/trino-unpack.log)"
mv "$work/unpacked/$top" "$TRINO_HOME"
# The archive is kept by Maven in its local repository too: that copy is not needed.
rm -rf "${HOME}/.m2/repository/io/trino/trino-server"
printf '%s\n' "$java_home" >"$TRINO_HOME/java-home"
printf '%s\n' "$WANT" >"$STAMP"
say "Trino $TRINO_VERSION installed in $TRINO_HOME (${download_mb} MB downloaded, $(du -sm "$TRINO_HOME" | cut -f1) MB kept)"
