"""A Python process that has already imported ipykernel, and forks a kernel on request.

Started by worker/forking_provisioner.py inside the embedded Jupyter Server. A Python
kernel spends about 0.6 s of CPU importing ipykernel, IPython, zmq, tornado and debugpy
before it runs a line of user code; twenty runs starting at once spend twenty of those
on a 2-core machine. Forked from here, a kernel starts in about 0.1 s of CPU.

What a forked kernel shares with a kernel started by `python -m ipykernel_launcher`:
the same interpreter and modules, its own process group (setsid), the requested
environment, working directory and arguments, stdin a pipe nobody writes to, stdout and
stderr on the server's, and death with the server (here through a death signal tied to
this process, which exits with the server: see die_with). What differs: modules imported here are already in sys.modules and
frozen for the garbage collector, and all forks share this process's hash seed
(PYTHONHASHSEED); `random` reseeds itself after a fork; and a kernel exits as
multiprocessing's forked children do (see exit_forked).

Protocol, JSON lines on the socket whose file descriptor is argv[1]:
  request  {"id": n, "argv": [...], "env": {...}, "cwd": "..."}
  reply    {"id": n, "pid": p}  or  {"id": n, "error": "..."}
  event    {"exited": p, "returncode": r}
The process exits when the socket closes (the server exited).
"""

import sys

# As ipykernel_launcher does: nothing from this file's folder may shadow a module.
del sys.path[0]

import atexit  # noqa: E402
import ctypes  # noqa: E402
import gc  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import selectors  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import threading  # noqa: E402

# Some of the imports below set environment variables (debugpy sets
# PYDEVD_USE_FRAME_EVAL); a kernel that imported them itself would have them too.
_ENV_BEFORE_IMPORTS = dict(os.environ)

# What ipykernel imports at start, including what it imports lazily while the kernel
# initialises (the debugger, IPython's completer and inspector, psutil, sqlite for
# history). None of them starts a thread at import; forking a threaded process would not
# be safe.
import IPython.core.completerlib  # noqa: E402,F401
import IPython.core.debugger  # noqa: E402,F401
import IPython.core.logger  # noqa: E402,F401
import IPython.core.oinspect  # noqa: E402,F401
import IPython.extensions.storemagic  # noqa: E402,F401
import ipykernel.debugger  # noqa: E402,F401
import ipykernel.ipkernel  # noqa: E402,F401
import ipykernel.zmqshell  # noqa: E402,F401
import psutil  # noqa: E402,F401
import sqlite3  # noqa: E402,F401
import tornado.locks  # noqa: E402,F401
import tornado.platform.asyncio  # noqa: E402,F401
import tornado.queues  # noqa: E402,F401
from ipykernel import kernelapp  # noqa: E402
from IPython.core.inputtransformer2 import TransformerManager  # noqa: E402

# Caches every kernel would fill on its first cell, filled once here: IPython's input
# transformers tokenize each cell, and tokenize compiles its pattern on first use
# (about 1.2 ms of CPU per kernel). Pure functions: no thread, no state but the caches.
TransformerManager().transform_cell("x = 1\n")

# What the imports left is shared with every fork, copy-on-write. Frozen, the collector in
# a kernel never walks it: no collection pays for it, and no page of it is copied for a
# reference count the collector would otherwise write (the gc module's advice for
# processes that fork without exec).
gc.collect()
gc.freeze()

ENV_SET_BY_IMPORTS = {k: v for k, v in os.environ.items() if _ENV_BEFORE_IMPORTS.get(k) != v}
# `python -m ipykernel_launcher` puts the module's path in argv[0].
LAUNCHER = importlib.util.find_spec("ipykernel_launcher").origin


def serve(control: socket.socket):
    """Answer fork requests until the socket closes. Returns a request only in a child."""
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    selector = selectors.DefaultSelector()
    selector.register(control, selectors.EVENT_READ, "control")
    selector.register(wake_read, selectors.EVENT_READ, "children")
    pending = b""
    stdin_pipes = {}  # pid of each live kernel -> write end of its stdin
    while True:
        for key, _ in selector.select():
            if key.data == "children":
                os.read(wake_read, 4096)
                reap(control, stdin_pipes)
                continue
            data = control.recv(65536)
            if not data:
                return None
            pending += data
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                request = json.loads(line)
                try:
                    pid = fork_kernel(request, stdin_pipes)
                except BaseException as err:  # noqa: BLE001 (the error goes back to the server)
                    send(control, {"id": request.get("id"), "error": f"{type(err).__name__}: {err}"})
                    continue
                if pid == 0:
                    # In the child: drop everything that belongs to this loop.
                    selector.close()
                    signal.set_wakeup_fd(-1)
                    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                    os.close(wake_read)
                    os.close(wake_write)
                    control.close()
                    return request
                send(control, {"id": request["id"], "pid": pid})


def fork_kernel(request, stdin_pipes: dict) -> int:
    """Fork; the parent returns once the child leads its own session (so signals to the
    kernel's process group cannot reach this process)."""
    # Popen fails at once on a missing working directory; so does this (the provisioner
    # then launches the usual way, which reports it).
    if not os.path.isdir(request["cwd"]):
        raise FileNotFoundError(f"no such directory: {request['cwd']}")
    ready_read, ready_write = os.pipe()
    # As jupyter_client's launcher does, stdin is a pipe nobody writes to: this process
    # holds its write end until the kernel exits.
    stdin_read, stdin_write = os.pipe()
    zygote = os.getpid()
    pid = os.fork()
    if pid == 0:
        die_with(zygote)
        os.close(ready_read)
        os.close(stdin_write)
        for fd in stdin_pipes.values():
            os.close(fd)
        os.setsid()
        os.dup2(stdin_read, 0)
        os.close(stdin_read)
        os.write(ready_write, b"1")
        os.close(ready_write)
        return 0
    os.close(ready_write)
    os.close(stdin_read)
    stdin_pipes[pid] = stdin_write
    os.read(ready_read, 1)
    os.close(ready_read)
    return pid


def die_with(parent: int) -> None:
    """The kernel dies with this process, which exits when the server does (its socket
    closes): a SIGKILLed server must not leave kernels behind. ipykernel's parent poller
    cannot do it for a fork: it reads JPY_PARENT_PID when ipykernel is imported, here,
    before any kernel's environment exists. (worker/tied_launcher.py says why a death
    signal.)"""
    if sys.platform.startswith("linux"):
        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != parent:
        os._exit(1)  # this process died before the death signal was set


def reap(control: socket.socket, stdin_pipes: dict) -> None:
    while stdin_pipes:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        stdin_write = stdin_pipes.pop(pid, None)
        if stdin_write is not None:
            os.close(stdin_write)
        send(control, {"exited": pid, "returncode": os.waitstatus_to_exitcode(status)})


def send(control: socket.socket, message) -> None:
    try:
        control.sendall(json.dumps(message).encode() + b"\n")
    except OSError:
        pass  # the server is gone; the next recv ends the loop


def become_kernel(request) -> None:
    """Turn this forked child into what `python -m ipykernel_launcher ARGS` would be."""
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    for key, value in ENV_SET_BY_IMPORTS.items():
        os.environ.setdefault(key, value)
    # The kernel's parent poller watches this process, which exits with the server.
    os.environ["JPY_PARENT_PID"] = str(os.getppid())
    sys.argv = [LAUNCHER, *request["argv"]]
    try:
        kernelapp.launch_new_instance()
    except SystemExit as stop:
        exit_forked(stop.code)
    exit_forked(0)


def exit_forked(code) -> None:
    """Exit as the interpreter would, without its teardown of what this process inherited.

    A normal exit waits for non-daemon threads, runs the atexit functions (ipykernel's
    flush its streams and close its sockets and connection file; IPython's clears the
    user's namespaces, so their objects are finalized and their files flushed) and then
    tears every module and object down. That last part touches every object this process
    inherited from the zygote, and each page it writes a reference count on is copied:
    about 3,500 page faults and 55 ms of CPU per kernel here, a third of a short run's
    kernel. multiprocessing ends its forked children the same way (threading._shutdown,
    its exit functions, os._exit). What is left out is only the teardown of module
    globals; cycles among the user's objects are still collected (the inherited objects
    are frozen, so that collection walks only the kernel's own).
    """
    threading._shutdown()  # noqa: SLF001 (as multiprocessing's forked children do)
    atexit._run_exitfuncs()  # noqa: SLF001
    gc.collect()
    if code is None:
        code = 0
    elif not isinstance(code, int):
        print(code, file=sys.__stderr__)  # as the interpreter does with sys.exit("message")
        code = 1
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def main() -> None:
    control = socket.socket(fileno=int(sys.argv[1]))
    request = serve(control)
    if request is None:
        return
    become_kernel(request)


if __name__ == "__main__":
    main()
