"""Jupyter Kernel Gateway configuration for serving millrace's workers (docs/kernels.md,
"Kernel Gateway"): `jupyter-kernelgateway --config=<this file>`, the token in KG_AUTH_TOKEN.

Loaded by the project's tests (bench/kernel-gateway.ts); operators can load it as is or
copy the parts they want.
"""

import os
import sys
from importlib.metadata import EntryPoint
from pathlib import Path

from jupyter_client.provisioning.factory import KernelProvisionerFactory

c = get_config()  # noqa: F821 (provided by traitlets when it loads this file)
# The modules beside this file (worker/), which the gateway imports by name.
sys.path.insert(0, str(Path(__file__).resolve().parent))

# --- Authentication ----------------------------------------------------------------------
# The token comes from the environment, never the command line (visible in `ps`), and is
# removed from it: the gateway starts kernels with its own environment, so user code
# would otherwise read the token that controls every kernel on the gateway.
token = os.environ.pop("KG_AUTH_TOKEN", "")
if not token:
    raise SystemExit("millrace: KG_AUTH_TOKEN is empty: the gateway would accept anyone")
c.KernelGatewayApp.auth_token = token

# --- Kernel websockets: TCP_NODELAY --------------------------------------------------------
# The gateway relays kernel messages through Jupyter Server's websocket handler: about
# 40 ms per executed cell without it (worker/websocket_nodelay.py).
# MILLRACE_JUPYTER_NODELAY=0 leaves the gateway as shipped (for benchmarks only).
if os.environ.pop("MILLRACE_JUPYTER_NODELAY", "1") != "0":
    import websocket_nodelay

    websocket_nodelay.install()

# --- A new kernel's first contact: no lost half second (worker/kernel_nudge.py) -----------
# The gateway opens kernel websockets with Jupyter Server's connection class, and nudges a
# new kernel as it does: every run on a gateway starts a kernel of its own (no pool), and
# without it up to 0.5 s of its start is spent waiting for the second nudge.
# MILLRACE_JUPYTER_QUICK_NUDGE=0 leaves the gateway as shipped (for benchmarks only).
if os.environ.pop("MILLRACE_JUPYTER_QUICK_NUDGE", "1") != "0":
    import kernel_nudge

    kernel_nudge.install()

# --- Kernel ports: below the ephemeral range (worker/kernel_ports.py) ----------------------
# jupyter_client's own choice is a port of the ephemeral range that an outgoing connection
# may take before the kernel binds it: under a burst of starts a kernel dies with "Address
# already in use", and the server's shutdown request to it can block its event loop. The
# provisioner factory looks provisioners up by entry point (as in jupyter_server_config.py).
# A kernelspec that names a provisioner of its own keeps it.
KernelProvisionerFactory.provisioners["millrace-ported-provisioner"] = EntryPoint(
    name="millrace-ported-provisioner",
    value="kernel_ports:PortedProvisioner",
    group=KernelProvisionerFactory.GROUP_NAME,
)
c.KernelProvisionerFactory.default_provisioner_name = "millrace-ported-provisioner"

# --- Output fidelity and lifetime (as worker/jupyter_server_config.py) ----------------------
# No iopub messages dropped (the output notebook is the record), no idle kernel culled.
c.ZMQChannelsWebsocketConnection.limit_rate = False
c.MappingKernelManager.cull_idle_timeout = 0
c.KernelManager.shutdown_wait_time = 5.0
