"""A kernel that dies while starting says so in its model, within a second.

Without this, Jupyter Server restarts a kernel whose process exits at once (a broken
environment: `No module named ipykernel_launcher`) five times, 3 s apart, and the only
sign a client gets is the kernel vanishing some 18 s later, with its error in the
server's log. nbclient, which launches its own kernels, fails at once with the kernel's
output. Here the provisioner watches each launch for its first seconds: an exit sets the
kernel's `reason` (a field of the REST model, GET /api/kernels/ID), with the exit code
and the last lines the process wrote on stderr; the worker reads it while it waits for
the kernel's first reply (activities/jupyter.ts) and fails the run with it.
"""

import asyncio
import collections
import os
import sys
import threading
from typing import Any, Callable

# jupyter_client's KernelRestarter.stable_start_time: an exit within it is a failed start.
START_WINDOW_S = 10.0
POLL_S = 0.1
TAIL_BYTES = 4096
REASON_LINES = 3
REASON_CHARS = 500


class StderrTail:
    """A pipe for a launched kernel's stderr: copied on to the server's stderr (its log) as
    it comes, the last few KB kept for the reason of a failed start."""

    def __init__(self) -> None:
        self._read_fd, self.write_fd = os.pipe()
        self._tail: collections.deque[bytes] = collections.deque()
        self._size = 0
        self._lock = threading.Lock()
        self.drained = threading.Event()
        threading.Thread(target=self._copy, name="kernel-stderr", daemon=True).start()

    def launched(self) -> None:
        """The child holds its own copy of the write end now; ours would keep the pipe open."""
        os.close(self.write_fd)

    def _copy(self) -> None:
        out = getattr(sys.stderr, "buffer", None)
        with os.fdopen(self._read_fd, "rb", buffering=0) as pipe:
            while chunk := pipe.read(65536):
                if out is not None:
                    try:
                        out.write(chunk)
                        out.flush()
                    except (OSError, ValueError):
                        out = None
                with self._lock:
                    self._tail.append(chunk)
                    self._size += len(chunk)
                    while self._size - len(self._tail[0]) >= TAIL_BYTES:
                        self._size -= len(self._tail.popleft())
        self.drained.set()

    def last_lines(self) -> list[str]:
        with self._lock:
            text = b"".join(self._tail).decode("utf-8", "replace")
        return [line.strip() for line in text.splitlines() if line.strip()][-REASON_LINES:]


def start_failure_reason(code: int, stderr_lines: list[str]) -> str:
    reason = f"its process exited with code {code}"
    if stderr_lines:
        reason += ": " + " | ".join(stderr_lines)
    return reason[:REASON_CHARS]


async def watch_start(
    poll: Callable[[], int | None],
    kernel_manager: Any,
    tail: StderrTail | None,
) -> None:
    """Polls a just-launched kernel process for START_WINDOW_S. An exit that is not a
    shutdown sets the kernel's reason; a process still alive at the end clears a reason
    left by an earlier launch of the same kernel (Jupyter restarts it under the same id)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + START_WINDOW_S
    while loop.time() < deadline:
        code = poll()
        if code is not None:
            if not getattr(kernel_manager, "shutting_down", False):
                # What the process wrote just before it exited, once the pipe is drained
                # (its end of file; bounded: a child of the kernel may hold it open).
                if tail is not None:
                    await asyncio.to_thread(tail.drained.wait, 1.0)
                kernel_manager.reason = start_failure_reason(code, tail.last_lines() if tail else [])
            return
        await asyncio.sleep(POLL_S)
    if getattr(kernel_manager, "reason", ""):
        kernel_manager.reason = ""
