"""Jupyter Server configuration for millrace's embedded stack (worker/jupyter-server.ts).

Operators of a production Jupyter Server can load it too (`--config=...`); the part that
matters for speed is the TCP_NODELAY patch below.
"""

import json
import os
import sys
from importlib.metadata import EntryPoint
from pathlib import Path

from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.provisioning.factory import KernelProvisionerFactory
from traitlets import default

c = get_config()  # noqa: F821 (provided by traitlets when it loads this file)

# --- Authentication ----------------------------------------------------------------------
# The token comes from the environment, never the command line (visible in `ps`). It is
# set explicitly, so that no other configuration can turn token auth off, and removed from
# the environment, so that kernels (user code) do not inherit it.
if "JUPYTER_TOKEN" in os.environ:
    token = os.environ.pop("JUPYTER_TOKEN")
    if not token:
        raise SystemExit("millrace: JUPYTER_TOKEN is empty")
    c.IdentityProvider.token = token

# --- Kernels: the user's environment ------------------------------------------------------
# worker/kernelspecs.ts builds the directories the user's own Jupyter would search (their
# JUPYTER_PATH, data dir, active virtualenv or conda env, the system's) and a `python3`
# kernelspec for their Python; this server runs from millrace's private venv, whose own
# share/jupyter and native kernel are left out.
# kernel_dirs is not a configurable trait, hence a subclass with its default replaced.
if "MILLRACE_KERNEL_DIRS" in os.environ:
    _kernel_dirs = json.loads(os.environ.pop("MILLRACE_KERNEL_DIRS"))

    class MillraceKernelSpecManager(KernelSpecManager):
        @default("kernel_dirs")
        def _millrace_kernel_dirs(self):
            return list(_kernel_dirs)

    c.ServerApp.kernel_spec_manager_class = MillraceKernelSpecManager
    c.KernelSpecManager.ensure_native_kernel = False

# --- Kernel websockets: TCP_NODELAY --------------------------------------------------------
# About 40 ms per executed cell without it: worker/websocket_nodelay.py.
# MILLRACE_JUPYTER_NODELAY=0 leaves the server as shipped (for benchmarks only).
sys.path.insert(0, str(Path(__file__).resolve().parent))
if os.environ.get("MILLRACE_JUPYTER_NODELAY", "1") != "0":
    import websocket_nodelay

    websocket_nodelay.install()

# --- Kernel websockets: the first contact with a new kernel --------------------------------
# Up to 0.5 s per new kernel without it (a status message that beat the websocket's
# subscription waits for the server's next nudge): worker/kernel_nudge.py.
# MILLRACE_JUPYTER_QUICK_NUDGE=0 leaves the server as shipped (for benchmarks only).
if os.environ.get("MILLRACE_JUPYTER_QUICK_NUDGE", "1") != "0":
    import kernel_nudge

    kernel_nudge.install()

# --- Kernel start: fork Python kernels from a warm process, history in memory --------------
# worker/forking_provisioner.py. The provisioner factory looks provisioners up by entry
# point; registering one here saves installing a package into the environment. Kernels
# it cannot fork are launched as usual. Every IPython kernel, forked or launched, gets
# nbclient's --HistoryManager.hist_file=:memory:. MILLRACE_JUPYTER_FORK_KERNELS=0 turns
# forking off (benchmarks; operators who load this file into a server of their own).
# A kernelspec that names a provisioner of its own keeps it (and the user's history file).
KernelProvisionerFactory.provisioners["millrace-forking-provisioner"] = EntryPoint(
    name="millrace-forking-provisioner",
    value="forking_provisioner:ForkingProvisioner",
    group=KernelProvisionerFactory.GROUP_NAME,
)
c.KernelProvisionerFactory.default_provisioner_name = "millrace-forking-provisioner"

# --- Container kernels ---------------------------------------------------------------------
# Where the worker leaves each run's placement (worker/container_provisioner.py); taken out
# of the environment so that kernels do not inherit it.
if "MILLRACE_KERNEL_PLACEMENTS" in os.environ:
    import container_provisioner  # beside forking_provisioner, which imports it

    container_provisioner.PLACEMENTS_DIR = os.environ.pop("MILLRACE_KERNEL_PLACEMENTS")

# --- Kernels as another user ---------------------------------------------------------------
# `millrace dev --kernel-user NAME` (worker/kernel-user.ts): the provisioner starts every
# kernel, and the warm process, as that user. The server runs as root and keeps the state
# directory, the token and the store to itself.
if "MILLRACE_KERNEL_USER" in os.environ:
    import forking_provisioner  # the module the entry point above loads

    forking_provisioner.KERNEL_USER = forking_provisioner.KernelUser(**json.loads(os.environ.pop("MILLRACE_KERNEL_USER")))
    if forking_provisioner.KERNEL_USER.uid == os.getuid():
        raise SystemExit("millrace: the kernel user must be another user than the server's")

# --- Output fidelity -----------------------------------------------------------------------
# By default the server drops iopub messages beyond 1,000 msgs/s or 1 MB/s, replacing them
# with a warning. papermill (talking ZMQ directly) never drops output, and neither may we:
# the output notebook is the record.
c.ZMQChannelsWebsocketConnection.limit_rate = False

# --- Many kernels at once -------------------------------------------------------------------
# Each kernel costs the server about five ZeroMQ sockets (a websocket's four channels and
# the activity watcher's iopub), each an open file or two. Two limits stopped kernel starts
# at about 200 kernels with "Too many open files": the soft RLIMIT_NOFILE (1024 on many
# machines; the hard limit is usually far higher), raised here to the hard limit, which the
# kernels inherit; and ZeroMQ's 1,023 sockets per context (ZMQ_MAX_SOCKETS, whatever the
# rlimit), raised on the one context the kernel manager shares between its kernels.
import resource

_soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
# An unlimited hard limit is still capped by the kernel's nr_open: ask for a finite one.
_wanted = _hard if _hard != resource.RLIM_INFINITY else max(_soft, 1 << 16)
if _soft != resource.RLIM_INFINITY and _soft < _wanted:
    resource.setrlimit(resource.RLIMIT_NOFILE, (_wanted, _hard))

# A kernel manager class of the operator's, or a gateway's (which has no ZeroMQ), is kept.
if "kernel_manager_class" not in c.ServerApp and not (os.environ.get("JUPYTER_GATEWAY_URL") or "url" in c.GatewayClient):
    import zmq
    from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager

    class MillraceKernelManager(AsyncMappingKernelManager):
        @default("context")
        def _millrace_context(self):
            context = super()._context_default()
            # Before its first socket: libzmq reads the option when the context starts.
            context.set(zmq.MAX_SOCKETS, context.get(zmq.SOCKET_LIMIT))
            return context

        def start_watching_activity(self, kernel_id):
            """jupyter_server's activity watcher (last_activity, execution_state: the orphan
            reaper reads the first), reading each IOPub message's header instead of decoding
            all of it: jupyter_server checks its signature and parses its dates, twice for a
            status message, some 0.2 ms of the server's CPU per cell of a run. A forged
            message could only come from the kernel's own publisher, so the signature
            guards nothing here."""
            super().start_watching_activity(kernel_id)
            kernel = self._kernels[kernel_id]
            stream = getattr(kernel, "_activity_stream", None)
            if stream is None:
                return
            from jupyter_server._tz import utcnow

            def record_activity(msg_list):
                try:
                    idents_end = msg_list.index(b"<IDS|MSG>")
                    header, parent = json.loads(msg_list[idents_end + 2]), json.loads(msg_list[idents_end + 3])
                except (ValueError, IndexError):
                    return
                msg_type = header.get("msg_type")
                parent_msg_type = parent.get("msg_type")
                if self.track_message_type(msg_type) or self.track_message_type(parent_msg_type) or kernel.execution_state == "busy":
                    self.last_kernel_activity = kernel.last_activity = utcnow()
                if msg_type == "status":
                    try:
                        execution_state = json.loads(msg_list[idents_end + 5])["execution_state"]
                    except (ValueError, IndexError, KeyError, TypeError):
                        return
                    if self.track_message_type(parent_msg_type):
                        kernel.execution_state = execution_state
                    elif kernel.execution_state == "starting" and execution_state != "starting":
                        kernel.execution_state = "idle"

            stream.on_recv(record_activity)

    c.ServerApp.kernel_manager_class = MillraceKernelManager

# --- Lifetime -------------------------------------------------------------------------------
# Kernels live as long as their run needs them, however idle: no culling, no self-shutdown
# of an idle server (these are the defaults, pinned here on purpose).
c.MappingKernelManager.cull_idle_timeout = 0
c.ServerApp.shutdown_no_activity_timeout = 0
# On SIGTERM the server shuts every kernel down (shutdown_request, then a kill after this
# many seconds) before exiting; worker/process.ts waits for that before its SIGKILL.
c.KernelManager.shutdown_wait_time = 5.0

# --- Surface --------------------------------------------------------------------------------
# Only the kernels and contents APIs are needed; no terminals, no browser.
c.ServerApp.terminals_enabled = False
c.ServerApp.jpserver_extensions = {"jupyter_server_terminals": False}
c.ServerApp.open_browser = False
