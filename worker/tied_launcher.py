"""Starts a server of the embedded stack so that it cannot outlive the millrace process
that started it, then becomes that server (exec: same pid, nothing left in between).

Usage: python -I -S tied_launcher.py PARENT_PID LOCK_FILE|- COMMAND [ARGS...]

Why a death signal: a SIGKILLed `millrace dev` (or `millrace run` with a one-shot stack)
runs no exit handler, so nothing it does in its own process can stop its servers; they
lived on, and the next `dev` started a second Temporal server on the same SQLite file.
On Linux the kernel itself delivers PR_SET_PDEATHSIG when the parent dies, however it
dies, and it survives exec, so the server needs no cooperation. (The alternative, a pipe
the child watches for EOF, needs a process that stays in between to watch it, since the
Temporal server would not; that process could itself be killed.) The signal is SIGKILL:
the Temporal server's SQLite database is consistent after a crash, and Jupyter Server's
kernels exit on their own when it goes (their parent poller, or the warm process they
were forked from, which exits when its socket to the server closes). Elsewhere (macOS)
there is no death signal and the stop on exit of worker/process.ts remains the only one.

LOCK_FILE: an exclusive flock held for the server's life (the open file stays open across
exec and closes when the server exits, however it exits), so that a second server on the
same state refuses to start, naming the holder, instead of sharing the database.
"""

import os
import signal
import sys

LOCKED_EXIT = 75  # EX_TEMPFAIL; worker/process.ts knows it


def tie_to_parent(parent: int) -> None:
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        if libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) != 0:
            err = ctypes.get_errno()
            sys.exit(f"millrace: cannot tie the server to its parent: {os.strerror(err)}")
    # The parent may have died before the death signal was set: nobody would deliver it.
    if os.getppid() != parent:
        sys.exit(f"millrace: the process that started this server (pid {parent}) is gone")


def describe_process(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return f"pid {pid}"
    # "node .../bin/millrace.js dev" reads best as "millrace dev".
    for i, arg in enumerate(argv):
        if os.path.basename(arg) in ("millrace", "millrace.js"):
            return f"pid {pid}: millrace {' '.join(argv[i + 1:])}".rstrip()
    return f"pid {pid}: {' '.join(argv)[:120]}"


def lock(path: str) -> None:
    import fcntl

    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 100).decode(errors="replace").split()
        server = f"pid {holder[0]}" if holder else "a process"
        started_by = f", started by {describe_process(int(holder[1]))}" if len(holder) > 1 and holder[1].isdigit() else ""
        database = path[: -len(".lock")] if path.endswith(".lock") else path
        print(
            f"millrace: {database} is in use by another Temporal server ({server}{started_by}); stop that one first",
            file=sys.stderr,
            flush=True,
        )
        os._exit(LOCKED_EXIT)
    # Who holds it, for the message above: this pid is the server's after exec.
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()} {os.getppid()}\n".encode())
    os.set_inheritable(fd, True)


def main() -> None:
    parent, lock_file, command = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
    tie_to_parent(parent)
    if lock_file != "-":
        lock(lock_file)
    os.execvp(command[0], command)


if __name__ == "__main__":
    main()
