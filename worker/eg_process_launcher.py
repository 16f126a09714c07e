"""Enterprise Gateway's kernel launcher for kernels as processes on another host, started
over SSH by its DistributedProcessProxy (docs/kernels.md, "Enterprise Gateway"): the `argv`
of such a kernelspec, run on the remote host with a Python that has ipykernel and
pycryptodomex (the gateway's venv, installed there too):

    <venv>/bin/python eg_process_launcher.py --kernel-id {kernel_id}
        --response-address {response_address} --public-key {public_key}

Enterprise Gateway's own launch_ipykernel.py ships only in its kernelspec archives, not in
its Python package. This one starts `python -m ipykernel_launcher` on the address the SSH
connection came in on (SSH_CONNECTION; the kernel listens there only), answers the gateway
with the connection information (worker/eg_launch.py) and stays as the kernel's
communication port: signals go to the kernel's process, and it ends with the kernel.
"""

import os
import subprocess
import sys

from eg_launch import answer, arguments, connection_file, connection_info, serve


def main() -> int:
    args = arguments()
    os.setpgrp()  # a group of its own: the gateway may signal the group it is told
    # "client-ip client-port server-ip server-port": this host's address as the gateway reached it.
    ip = (os.environ.get("SSH_CONNECTION", "").split() or ["", "", "127.0.0.1"])[2]
    info, listener = connection_info(ip)
    with listener, connection_file(args.kernel_id, info) as connection:
        kernel = subprocess.Popen([sys.executable, "-m", "ipykernel_launcher", "-f", str(connection)], stdin=subprocess.DEVNULL)
        try:
            answer(args, info, listener, pid=os.getpid(), pgid=os.getpgid(0))

            def signal_kernel(signum: int) -> bool:
                if kernel.poll() is not None:
                    return False
                kernel.send_signal(signum)
                return True

            serve(listener, signal_kernel, lambda: kernel.poll() is None)
            kernel.wait(timeout=10)
        finally:
            if kernel.poll() is None:
                kernel.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
