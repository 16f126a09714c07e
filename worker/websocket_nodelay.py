"""TCP_NODELAY on Jupyter Server's kernel websockets, for millrace's Jupyter Server
(worker/jupyter_server_config.py) and for Jupyter Kernel Gateway
(worker/kernel_gateway_config.py), whose kernel websocket is Jupyter Server's.

Jupyter Server never calls tornado's WebSocketHandler.set_nodelay(True). A cell's reply
is several small websocket frames (status busy, execute_input, the result, status idle,
execute_reply); with Nagle's algorithm each frame after the first waits for the client's
delayed ACK, which costs about 40 ms per executed cell. The handler's `open` runs once
the websocket handshake is done, when the stream exists and before any kernel message.
"""

from jupyter_server.services.kernels.websocket import KernelWebsocketHandler


def install():
    """Patches the handler class once (subclasses, like Kernel Gateway's, inherit it)."""
    if getattr(KernelWebsocketHandler, "_millrace_nodelay", False):
        return
    original_open = KernelWebsocketHandler.open

    async def open_with_nodelay(self, *args, **kwargs):
        self.set_nodelay(True)
        self.log.info("millrace: TCP_NODELAY on kernel websocket (kernel %s)", self.kernel_id)
        return await original_open(self, *args, **kwargs)

    KernelWebsocketHandler.open = open_with_nodelay
    KernelWebsocketHandler._millrace_nodelay = True
