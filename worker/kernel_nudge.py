"""Quicker first contact between Jupyter Server's kernel websockets and a new kernel.

When a websocket opens, Jupyter Server "nudges" the kernel: it sends kernel_info_request
until it has a reply and has seen at least one iopub message on the websocket's own iopub
subscription, which proves that subscription is live (no output of the first cell can be
lost). Its SUB socket is created a moment before the first nudge, and the kernel's status
messages for that nudge often beat the subscription to the kernel: dropped, as PUB drops
what no subscriber has asked for yet. The server asks again only 0.5 s later. Measured
here on an idle machine, with no kernel kept warm, three `millrace run`s of one trivial
cell in five took 0.77-0.87 s instead of 0.3 s; twenty kernels started at once lost the
half second on a quarter of them.

This asks the kernel again, on a shell channel of its own, a few times within that half
second while the server's nudge is still waiting; each request makes the kernel publish
its busy and idle status, and the first to reach the subscription ends the server's
nudge exactly as its own requests would. The server's nudge is otherwise untouched: its
checks, its timeout, its own requests. A kernel that is busy is not nudged at all (the
server's rule), and neither is it asked here.
"""

from tornado.ioloop import IOLoop

try:
    # Jupyter Server 2 (millrace's own server, Kernel Gateway 3): the websocket's connection
    # object nudges, and its kernel_manager is the kernel's own manager.
    from jupyter_server.services.kernels.connection.channels import ZMQChannelsWebsocketConnection as Nudger

    def kernel_of(nudger):
        return nudger.kernel_manager

except ImportError:
    # Jupyter Server 1 (Enterprise Gateway 3.3): the websocket handler nudges the same way,
    # and its kernel_manager is the server's manager of all kernels.
    from jupyter_server.services.kernels.handlers import ZMQChannelsHandler as Nudger

    def kernel_of(nudger):
        return nudger.kernel_manager.get_kernel(nudger.kernel_id)


# Seconds after the server's first nudge: close together while a new kernel's subscription
# is usually being established, none at or after the server's own second nudge.
EXTRA_ASKS_S = (0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4)


def install():
    """Patches the class that nudges, once."""
    if getattr(Nudger, "_millrace_quick_nudge", False):
        return
    original_nudge = Nudger.nudge

    def nudge(self):
        connected = original_nudge(self)
        if connected.done():
            return connected
        shell = kernel_of(self).connect_shell()
        loop = IOLoop.current()

        def ask():
            if not connected.done() and not shell.closed():
                self.session.send(shell, "kernel_info_request")

        handles = [loop.call_later(delay, ask) for delay in EXTRA_ASKS_S]

        def stop(_):
            for handle in handles:
                loop.remove_timeout(handle)
            # Its replies were never wanted: dropped with the socket.
            shell.close(linger=0)

        connected.add_done_callback(stop)
        return connected

    Nudger.nudge = nudge
    Nudger._millrace_quick_nudge = True
