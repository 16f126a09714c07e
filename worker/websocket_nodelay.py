"""TCP_NODELAY on Jupyter Server's kernel websockets, for millrace's Jupyter Server
(worker/jupyter_server_config.py) and for Jupyter Kernel Gateway and Enterprise Gateway
(worker/kernel_gateway_config.py, worker/enterprise_gateway_config.py), whose kernel
websocket is Jupyter Server's (2.x: KernelWebsocketHandler; 1.x, under Enterprise
Gateway: ZMQChannelsHandler).

Jupyter Server never calls tornado's WebSocketHandler.set_nodelay(True). A cell's reply
is several small websocket frames (status busy, execute_input, the result, status idle,
execute_reply); with Nagle's algorithm each frame after the first waits for the client's
delayed ACK, which costs about 40 ms per executed cell. The handler's `open` runs once
the websocket handshake is done, when the stream exists and before any kernel message.
"""

try:
    from jupyter_server.services.kernels.websocket import KernelWebsocketHandler
except ImportError:  # Jupyter Server 1.x
    from jupyter_server.services.kernels.handlers import ZMQChannelsHandler as KernelWebsocketHandler


def install():
    """Patches the handler class once (subclasses, like the gateways', inherit it)."""
    if getattr(KernelWebsocketHandler, "_millrace_nodelay", False):
        return
    original_open = KernelWebsocketHandler.open

    # Not async: 1.x's `open` is a plain method, 2.x's a coroutine; tornado awaits either.
    def open_with_nodelay(self, *args, **kwargs):
        self.set_nodelay(True)
        self.log.info("millrace: TCP_NODELAY on kernel websocket (kernel %s)", self.kernel_id)
        return original_open(self, *args, **kwargs)

    KernelWebsocketHandler.open = open_with_nodelay
    KernelWebsocketHandler._millrace_nodelay = True
