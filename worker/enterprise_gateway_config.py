"""Jupyter Enterprise Gateway configuration for serving millrace's workers (docs/kernels.md,
"Enterprise Gateway"): `jupyter-enterprisegateway --config=<this file>`, the token in
EG_AUTH_TOKEN. Loaded by the project's tests (bench/kernel-gateway.ts).
"""

import os
import sys
from pathlib import Path

c = get_config()  # noqa: F821 (provided by traitlets when it loads this file)

# --- Authentication (as worker/kernel_gateway_config.py) -----------------------------------
token = os.environ.pop("EG_AUTH_TOKEN", "")
if not token:
    raise SystemExit("millrace: EG_AUTH_TOKEN is empty: the gateway would accept anyone")
c.EnterpriseGatewayApp.auth_token = token

# --- Who kernels run as ----------------------------------------------------------------------
# A kernel runs as KERNEL_USERNAME, by default the gateway's own user, and Enterprise Gateway
# refuses the users in unauthorized_users, {"root"} by default. MILLRACE_EG_UNAUTHORIZED_USERS
# (comma-separated) replaces that set: the project's tests run as root in a sandbox.
if "MILLRACE_EG_UNAUTHORIZED_USERS" in os.environ:
    c.EnterpriseGatewayApp.unauthorized_users = set(filter(None, os.environ.pop("MILLRACE_EG_UNAUTHORIZED_USERS").split(",")))

# This folder: websocket_nodelay, kernel_nudge, and the process proxies kernelspecs may name
# (eg_process_proxies.LoopbackDockerProcessProxy, for worker/eg_docker_launcher.py).
sys.path.insert(0, str(Path(__file__).resolve().parent))

# --- Kernel websockets: TCP_NODELAY (worker/websocket_nodelay.py) ---------------------------
if os.environ.pop("MILLRACE_JUPYTER_NODELAY", "1") != "0":
    import websocket_nodelay

    websocket_nodelay.install()

# --- A new kernel's first contact: no lost half second (worker/kernel_nudge.py) -----------
# Enterprise Gateway 3.3 opens kernel websockets with Jupyter Server 1's handler, which
# nudges a new kernel as Jupyter Server 2 does: every run on a gateway starts a kernel of
# its own (no pool), and without it up to 0.5 s of its start is spent waiting for the
# second nudge. MILLRACE_JUPYTER_QUICK_NUDGE=0 leaves the gateway as shipped (for benchmarks only).
if os.environ.pop("MILLRACE_JUPYTER_QUICK_NUDGE", "1") != "0":
    import kernel_nudge

    kernel_nudge.install()

# --- Lifetime --------------------------------------------------------------------------------
c.MappingKernelManager.cull_idle_timeout = 0
