"""A local kernel's five ZeroMQ ports, chosen outside the system's ephemeral port range.

jupyter_client picks each port by binding a socket to port 0 and closing it: a port of the
ephemeral range (Linux: /proc/sys/net/ipv4/ip_local_port_range), free at that instant.
The kernel binds it a moment later. Any outgoing connection made in between may take the
same port as its source port, and with twenty runs starting at once there are hundreds:
the Jupyter Server's own ZeroMQ connections to other kernels, websockets, Temporal's gRPC.
Seen here: a kernel dying at start with "Address already in use", and then the server's
main thread blocked for good in the shutdown request it sent that dead kernel's control
socket, every run of the stack stuck (twenty concurrent runs, about one burst in seven on
a loaded 2-core machine; papermill's kernels fail the same way under the same load).
Connections never take a source port below the ephemeral range, so a port chosen there
stays free until the kernel binds it, unless some program binds it on purpose.
"""

import random
import socket
from typing import Any

from jupyter_client.connect import LocalPortCache
from jupyter_client.provisioning import LocalProvisioner

# The usual range's floor for our choice: clear of the well-known and most registered ports.
LOWEST = 10000
# Fewer free ports than this below the ephemeral range: keep jupyter_client's own choice.
MIN_SPAN = 2000


def ephemeral_floor() -> int | None:
    """The lowest port the system gives outgoing connections."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None  # not Linux, or not readable: nothing to stay out of that we know of


def choose_ports(ip: str, taken: set[int], count: int = 5) -> list[int] | None:
    """`count` ports between LOWEST and the ephemeral range that bind on `ip` now and are
    not in `taken` (ports already given to this server's kernels); None when there is no
    such range here (the caller keeps jupyter_client's choice)."""
    floor = ephemeral_floor()
    if floor is None or floor - LOWEST < MIN_SPAN:
        return None
    chosen: list[int] = []
    for _ in range(200 * count):
        if len(chosen) == count:
            return chosen
        port = random.randrange(LOWEST, floor)
        if port in taken or port in chosen or not bindable(ip, port):
            continue
        chosen.append(port)
    return chosen if len(chosen) == count else None


def bindable(ip: str, port: int) -> bool:
    probe = socket.socket()
    try:
        probe.bind((ip, port))
        return True
    except OSError:
        return False
    finally:
        probe.close()


def assign_ports(provisioner: LocalProvisioner) -> None:
    """Before a local kernel's launch (its provisioner's pre_launch): its ports, chosen
    here. The base class keeps ports it finds cached, and returns them to the server's
    cache when the kernel is gone."""
    km = provisioner.parent
    if km is None or km.transport != "tcp" or not km.cache_ports or provisioner.ports_cached:
        return
    cache = LocalPortCache.instance()
    ports = choose_ports(km.ip, cache.currently_used_ports)
    if ports is not None:
        km.shell_port, km.iopub_port, km.stdin_port, km.hb_port, km.control_port = ports
        cache.currently_used_ports.update(ports)
        provisioner.ports_cached = True


class PortedProvisioner(LocalProvisioner):
    """jupyter_client's local provisioner with the ports chosen here: for a server that
    launches its kernels without worker/forking_provisioner.py (Kernel Gateway)."""

    async def pre_launch(self, **kwargs: Any) -> dict[str, Any]:
        assign_ports(self)
        return await super().pre_launch(**kwargs)
