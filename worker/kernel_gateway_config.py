"""Jupyter Kernel Gateway configuration for serving millrace's workers (docs/kernels.md,
"Kernel Gateway"): `jupyter-kernelgateway --config=<this file>`, the token in KG_AUTH_TOKEN.

Loaded by the project's tests (bench/kernel-gateway.ts); operators can load it as is or
copy the parts they want.
"""

import os
import sys
from pathlib import Path

c = get_config()  # noqa: F821 (provided by traitlets when it loads this file)

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
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import websocket_nodelay

    websocket_nodelay.install()

# --- Output fidelity and lifetime (as worker/jupyter_server_config.py) ----------------------
# No iopub messages dropped (the output notebook is the record), no idle kernel culled.
c.ZMQChannelsWebsocketConnection.limit_rate = False
c.MappingKernelManager.cull_idle_timeout = 0
c.KernelManager.shutdown_wait_time = 5.0
