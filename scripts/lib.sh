# Shared by the set-up scripts: `source` it after setting SCRIPT_NAME and LOGS.
# say/die print one line on stderr, prefixed with the script's name.

say() { printf '%s: %s\n' "$SCRIPT_NAME" "$*" >&2; }
die() { printf '%s: error: %s\n' "$SCRIPT_NAME" "$*" >&2; exit 1; }

# Runs a command with its output in a log file; on failure shows the log's tail.
logged() {
  local log="$1"; shift
  mkdir -p "$LOGS"
  if ! "$@" >"$log" 2>&1; then
    tail -n 25 "$log" | sed 's/^/  | /' >&2
    return 1
  fi
}
