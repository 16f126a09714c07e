"""Kernel provisioner of the embedded stack: Python kernels forked from a warm process.

worker/jupyter_server_config.py makes this the default provisioner. A kernel whose
command is this server's `python -m ipykernel_launcher ...` is forked from
worker/kernel_zygote.py, which has ipykernel imported already (about 0.1 s of CPU per
kernel instead of 0.6 s). Any other kernel, a Python kernel whose environment would
change how it starts (PYTHON*, PYDEVD_*, DEBUGPY_* variables), and any failure of the
warm process get LocalProvisioner's usual launch. Everything after the launch (signals to the
kernel's process group, kill, wait, cleanup) is LocalProvisioner's, on a process handle
that learns exit codes from the warm process, which is the kernel's parent.

Every IPython kernel it starts, forked or launched, keeps its history in memory, as
nbclient's do. MILLRACE_JUPYTER_FORK_KERNELS=0 turns forking off (the launch is then always
LocalProvisioner's), not that.

With a kernel user (`millrace dev --kernel-user`), every kernel, and the warm process it is
forked from, runs as that user, with its HOME, in its home directory (the run's directory
is entered later), reading a connection file only it can read.
"""

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import Any, NamedTuple

from jupyter_client.provisioning import LocalProvisioner

import container_provisioner
import kernel_ports
from kernel_start_watch import StderrTail, watch_start

ZYGOTE_SCRIPT = Path(__file__).with_name("kernel_zygote.py")
FORK_TIMEOUT_S = 60.0
# Launch options the fork reproduces; any other (stdin, stdout, ...) means a usual launch.
FORKABLE_OPTIONS = {"env", "cwd", "kernel_id", "extra_arguments"}


class KernelUser(NamedTuple):
    """Who kernels run as, set by jupyter_server_config.py from MILLRACE_KERNEL_USER."""

    name: str
    uid: int
    gid: int
    home: str
    # Connection files go here (the server's runtime directory is not the user's to read).
    connection_dir: str

    def environment(self, env: dict[str, str]) -> dict[str, str]:
        return {**env, "HOME": self.home, "USER": self.name, "LOGNAME": self.name}

    def cwd(self) -> str:
        return self.home if os.path.isdir(self.home) else "/"


KERNEL_USER: KernelUser | None = None


def as_kernel_user() -> dict[str, Any]:
    """Popen's arguments that start a process as the kernel user (none without one)."""
    if KERNEL_USER is None:
        return {}
    return {"user": KERNEL_USER.uid, "group": KERNEL_USER.gid, "extra_groups": []}


class Zygote:
    """The warm process and the socket to it. Its reader thread resolves fork requests
    and records exit codes, so handles can be polled from any thread or event loop."""

    def __init__(self, env: dict[str, str]) -> None:
        ours, theirs = socket.socketpair()
        self.env = env
        try:
            self.process = subprocess.Popen(
                [sys.executable, str(ZYGOTE_SCRIPT), str(theirs.fileno())],
                pass_fds=[theirs.fileno()],
                env=env,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                **({"cwd": KERNEL_USER.cwd()} if KERNEL_USER else {}),
                **as_kernel_user(),
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        self._socket = ours
        self._send_lock = threading.Lock()
        self._changed = threading.Condition()
        self._requests: dict[int, Future] = {}
        self._exits: dict[int, int] = {}
        self._next_id = 0
        self.closed = False
        # Whether it ever forked a kernel: one that exits before it has is broken (an
        # import failed), and starting another for each kernel would only add a delay.
        self.forked_any = False
        threading.Thread(target=self._read, name="millrace-kernel-zygote", daemon=True).start()

    def fork(self, argv: list[str], env: dict[str, str], cwd: str) -> Future:
        future: Future = Future()
        with self._changed:
            if self.closed:
                raise RuntimeError("the warm kernel process has exited")
            self._next_id += 1
            request_id = self._next_id
            self._requests[request_id] = future
        message = {"id": request_id, "argv": argv, "env": env, "cwd": cwd}
        with self._send_lock:
            self._socket.sendall(json.dumps(message).encode() + b"\n")
        return future

    def returncode(self, pid: int) -> int | None:
        with self._changed:
            if pid in self._exits:
                return self._exits[pid]
            if not self.closed:
                return None
        # The warm process is gone, so the kernel's exit was never reported: it is an
        # orphan now (its parent poller ends it), or already gone.
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return -signal.SIGKILL
        return None

    def wait(self, pid: int, timeout: float | None = None) -> int:
        with self._changed:
            if not self._changed.wait_for(lambda: pid in self._exits or self.closed, timeout):
                raise subprocess.TimeoutExpired(str(pid), timeout or 0)
        code = self.returncode(pid)
        return -signal.SIGKILL if code is None else code

    def _read(self) -> None:
        pending = b""
        while True:
            try:
                data = self._socket.recv(65536)
            except OSError:
                data = b""
            if not data:
                break
            pending += data
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                self._handle(json.loads(line))
        with self._changed:
            self.closed = True
            requests, self._requests = self._requests, {}
            self._changed.notify_all()
        for future in requests.values():
            future.set_exception(RuntimeError("the warm kernel process exited"))
        self.process.wait()

    def _handle(self, message: dict[str, Any]) -> None:
        with self._changed:
            if "exited" in message:
                self._exits[message["exited"]] = message["returncode"]
                self._changed.notify_all()
                return
            future = self._requests.pop(message["id"], None)
        if future is None:
            return
        if "pid" in message:
            self.forked_any = True
            future.set_result(message["pid"])
        else:
            future.set_exception(RuntimeError(message.get("error", "fork failed")))


class ForkedKernel:
    """The subset of subprocess.Popen that LocalProvisioner uses, for a forked kernel."""

    stdin = stdout = stderr = None

    def __init__(self, zygote: Zygote, pid: int) -> None:
        self._zygote = zygote
        self.pid = pid

    def poll(self) -> int | None:
        return self._zygote.returncode(self.pid)

    def wait(self, timeout: float | None = None) -> int:
        return self._zygote.wait(self.pid, timeout)

    def send_signal(self, signum: int) -> None:
        # Like Popen: never signal a process that has been reaped (its pid may be reused).
        if self.poll() is None:
            os.kill(self.pid, signum)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


_zygote: Zygote | None = None
_zygote_lock = threading.Lock()


def zygote_for(cmd: list[str], options: dict[str, Any]) -> Zygote | None:
    """The warm process that can fork this kernel, started on first use; None when the
    kernel must be launched the usual way."""
    global _zygote
    if not set(options) <= FORKABLE_OPTIONS or "env" not in options:
        return None
    if len(cmd) < 3 or cmd[0] != sys.executable or cmd[1:3] != ["-m", "ipykernel_launcher"]:
        return None
    with _zygote_lock:
        if _zygote is not None and _zygote.closed and not _zygote.forked_any:
            return None
        if _zygote is None or _zygote.closed:
            try:
                _zygote = Zygote(interpreter_environment(dict(os.environ)))
            except OSError:
                return None  # the usual launch reports why (an interpreter the kernel user cannot run)
        zygote = _zygote
    if interpreter_settings(options["env"]) != interpreter_settings(zygote.env):
        return None
    return zygote


def interpreter_environment(env: dict[str, str]) -> dict[str, str]:
    env = {key: value for key, value in env.items() if key != "JUPYTER_TOKEN"}
    return KERNEL_USER.environment(env) if KERNEL_USER else env


# Variables read as the interpreter starts (PYTHONPATH, PYTHONHASHSEED, ...) or as the
# debugger the warm process has imported loads (PYDEVD_*, DEBUGPY_*).
READ_AT_START = ("PYTHON", "PYDEVD_", "DEBUGPY_")


def interpreter_settings(env: dict[str, str]) -> dict[str, str]:
    """A forked kernel has started already, so it can only be forked when the variables
    its start would have read agree with the warm process's."""
    return {key: value for key, value in env.items() if key.startswith(READ_AT_START)}


# What nbclient (papermill's executor) passes every IPython kernel it starts (its
# ipython_hist_file trait): history in memory, so that concurrent kernels never write to,
# or lock, the user's ~/.ipython SQLite history, and a run leaves nothing there.
MEMORY_HISTORY_ARG = "--HistoryManager.hist_file=:memory:"


def runs_ipykernel(cmd: list[str]) -> bool:
    """`python -m ipykernel_launcher ...` or `python -m ipykernel ...`, whatever the
    kernel's name (nbclient asks the name; a user's venv kernel runs IPython too)."""
    return any(cmd[i] == "-m" and cmd[i + 1] in ("ipykernel_launcher", "ipykernel") for i in range(len(cmd) - 1))


def with_memory_history(cmd: list[str]) -> list[str]:
    """nbclient's rule: added unless the command sets a history file itself."""
    if not runs_ipykernel(cmd) or any(arg.startswith("--HistoryManager.hist_file") for arg in cmd):
        return cmd
    return [*cmd, MEMORY_HISTORY_ARG]


def forking_enabled() -> bool:
    return os.environ.get("MILLRACE_JUPYTER_FORK_KERNELS", "1") != "0"


class ForkingProvisioner(LocalProvisioner):
    # The container of a kernel that runs in one (worker/container_provisioner.py), else None.
    container_kernel_id: str | None = None
    # A launched (not forked) kernel's stderr, for the reason of a failed start.
    stderr_tail: StderrTail | None = None
    # Held so the task is not collected while it watches (worker/kernel_start_watch.py).
    start_watch: "asyncio.Future[None] | None" = None

    async def pre_launch(self, **kwargs: Any) -> dict[str, Any]:
        user = KERNEL_USER
        km = self.parent
        if user is not None and km is not None:
            km.connection_file = os.path.join(user.connection_dir, os.path.basename(km.connection_file))
        # Ports no outgoing connection can take before the kernel binds them.
        kernel_ports.assign_ports(self)
        kwargs = await super().pre_launch(**kwargs)
        if user is not None:
            # The connection file holds the kernel's HMAC key: its user's alone (0600).
            if km is not None:
                os.chown(km.connection_file, user.uid, user.gid)
            kwargs["env"] = user.environment(kwargs["env"])
            # The server's root directory is in the state directory, closed to the kernel user.
            kwargs["cwd"] = user.cwd()
        # Which kernelspec this kernel is, for the run's record (activities/kernel-environment.ts).
        spec_dir = getattr(self.kernel_spec, "resource_dir", None)
        if spec_dir and isinstance(kwargs.get("env"), dict):
            kwargs["env"]["MILLRACE_KERNELSPEC_DIR"] = spec_dir
        return kwargs

    async def launch_kernel(self, cmd: list[str], **kwargs: Any):
        self.stderr_tail = None
        cmd = with_memory_history(cmd)
        placement = container_provisioner.placement_for(str(self.kernel_id), kwargs.get("env"))
        if placement is not None:
            return await self.launch_container(cmd, placement, **kwargs)
        zygote = zygote_for(cmd, kwargs) if forking_enabled() else None
        if zygote is None:
            return await self.launch_with_tail(cmd, **kwargs, **as_kernel_user())
        cwd = str(kwargs.get("cwd") or os.getcwd())
        try:
            pid = await asyncio.wait_for(asyncio.wrap_future(zygote.fork(cmd[3:], kwargs["env"], cwd)), FORK_TIMEOUT_S)
        except Exception as err:  # noqa: BLE001 (a usual launch still works)
            self.log.warning("millrace: could not fork kernel %s (%s); launching it the usual way", self.kernel_id, err)
            return await self.launch_with_tail(cmd, **kwargs)
        self.process = ForkedKernel(zygote, pid)
        # The child called setsid before the warm process answered: it leads its group.
        self.pid = self.pgid = pid
        self.cwd = cwd
        self.log.debug("millrace: forked kernel %s as pid %d", self.kernel_id, pid)
        return self.connection_info

    async def launch_container(self, cmd: list[str], placement: dict[str, Any], **kwargs: Any):
        kernel_id = str(self.kernel_id)
        network = container_provisioner.container_network()
        if network == "host":
            self.log.warning("millrace: slirp4netns is not installed: kernel %s's container shares the host's network (install slirp4netns to give it its own)", kernel_id)
        connection_file = container_provisioner.container_connection_file(kernel_id, str(self.parent.connection_file), network)
        podman = container_provisioner.podman_run_command(kernel_id, connection_file, cmd, placement, network)
        # The container gets only the placement's variables (--env); the podman client
        # runs with the server's environment and the project's containers.conf.
        kwargs["env"] = container_provisioner.podman_env()
        self.container_kernel_id = kernel_id
        self.log.info("millrace: kernel %s in container %s (image %s)", kernel_id, container_provisioner.container_name(kernel_id), placement["image"])
        connection = await self.launch_with_tail(podman, **kwargs)
        if "--env-file" in podman:
            self._env_file_task = asyncio.ensure_future(self.forget_env_file(kernel_id))
        return connection

    async def forget_env_file(self, kernel_id: str) -> None:
        """Removes the run's variables from disk once podman has read them (it wrote the
        container's id), or has exited; cleanup removes them in any case."""
        deadline = asyncio.get_running_loop().time() + FORK_TIMEOUT_S
        while asyncio.get_running_loop().time() < deadline:
            if container_provisioner.env_file_read(kernel_id) or (self.process is not None and self.process.poll() is not None):
                break
            await asyncio.sleep(0.05)
        container_provisioner.remove_env_file(kernel_id)

    async def launch_with_tail(self, cmd: list[str], **kwargs: Any):
        """LocalProvisioner's launch, the process's stderr copied to the server's through a
        StderrTail that keeps its last lines."""
        tail = self.stderr_tail = StderrTail()
        try:
            return await super().launch_kernel(cmd, **kwargs, stderr=tail.write_fd)
        finally:
            tail.launched()

    async def post_launch(self, **kwargs: Any) -> None:
        await super().post_launch(**kwargs)
        # Each launch, restarts included: a kernel that exits while starting says why at once.
        if self.process is not None:
            self.start_watch = asyncio.ensure_future(watch_start(self.process.poll, self.parent, self.stderr_tail))

    async def send_signal(self, signum: int) -> None:
        if self.container_kernel_id is None:
            return await super().send_signal(signum)
        # To the podman client only, which proxies it to the container's init and so to
        # the kernel; its process group also holds podman's helpers, which must not get it.
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signum)

    async def kill(self, restart: bool = False) -> None:
        if self.container_kernel_id is not None:
            await asyncio.to_thread(container_provisioner.remove_container, self.container_kernel_id)
        await super().kill(restart)

    async def cleanup(self, restart: bool = False) -> None:
        await super().cleanup(restart)
        if self.container_kernel_id is not None:
            # A kernel that exited by itself took its container with it (--rm); one whose
            # podman client was killed did not.
            await asyncio.to_thread(container_provisioner.remove_container, self.container_kernel_id)
            container_provisioner.remove_connection_copy(self.container_kernel_id)
            if not restart:
                container_provisioner.forget(self.container_kernel_id)
            self.container_kernel_id = None
