"""What millrace's Enterprise Gateway kernel launchers share (worker/eg_docker_launcher.py,
worker/eg_process_launcher.py): the kernel's connection information, answered to the
gateway's response address as its own launchers do (payload version 1: the information
under an AES key, the key under the gateway's RSA public key), and the communication port
through which the gateway sends signals ({"signum": N}) and the end ({"shutdown": 1}).
Run with the gateway's Python: pycryptodomex is Enterprise Gateway's dependency.
"""

import argparse
import base64
import json
import socket
import tempfile
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from Cryptodome.Cipher import AES, PKCS1_v1_5
from Cryptodome.PublicKey import RSA
from Cryptodome.Random import get_random_bytes
from Cryptodome.Util.Padding import pad


def arguments() -> argparse.Namespace:
    """The kernelspec's argv: --kernel-id {kernel_id} --response-address {response_address} --public-key {public_key}."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--kernel-id", required=True)
    parser.add_argument("--response-address", required=True)
    parser.add_argument("--public-key", required=True)
    parser.add_argument("--port-range", default="")  # EG's substitution; ports are chosen free here
    return parser.parse_args()


def free_ports(ip: str, count: int) -> list[int]:
    sockets = []
    for _ in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind((ip, 0))
        sockets.append(s)
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def connection_info(ip: str) -> tuple[dict, socket.socket]:
    """A kernel's connection information on `ip` (free ports, a new key), and the communication port's listener."""
    shell, iopub, stdin, control, hb = free_ports(ip, 5)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind((ip, 0))
    listener.listen(4)
    info = {
        "shell_port": shell, "iopub_port": iopub, "stdin_port": stdin, "control_port": control, "hb_port": hb,
        "ip": ip, "key": str(uuid.uuid4()), "transport": "tcp", "signature_scheme": "hmac-sha256", "kernel_name": "",
    }
    return info, listener


@contextmanager
def connection_file(kernel_id: str, info: dict, mode: int = 0o600) -> Iterator[Path]:
    """The kernel's connection file, in a folder of its own (0700: only this user reaches it), removed after."""
    folder = Path(tempfile.mkdtemp(prefix=f"millrace-eg-{kernel_id}-"))
    path = folder / "connection.json"
    try:
        path.write_text(json.dumps(info))
        path.chmod(mode)
        yield path
    finally:
        path.unlink(missing_ok=True)
        folder.rmdir()


def encrypt(info: bytes, public_key: str) -> bytes:
    aes_key = get_random_bytes(16)
    conn_info = base64.b64encode(AES.new(aes_key, AES.MODE_ECB).encrypt(pad(info, 16)))
    rsa = PKCS1_v1_5.new(RSA.importKey(base64.b64decode(public_key.encode())))
    payload = {"version": 1, "key": base64.b64encode(rsa.encrypt(aes_key)).decode(), "conn_info": conn_info.decode()}
    return base64.b64encode(json.dumps(payload).encode())


def answer(args: argparse.Namespace, info: dict, listener: socket.socket, pid: int = 0, pgid: int = 0) -> None:
    """Sends the gateway the kernel's connection information and communication port."""
    response_ip, response_port = args.response_address.rsplit(":", 1)
    reply = dict(info, comm_port=listener.getsockname()[1], kernel_id=args.kernel_id, pid=pid, pgid=pgid)
    with socket.create_connection((response_ip, int(response_port)), timeout=30) as s:
        s.sendall(encrypt(json.dumps(reply).encode(), args.public_key))


def serve(listener: socket.socket, signal_kernel: Callable[[int], bool], alive: Callable[[], bool]) -> None:
    """The communication port, until a shutdown request, a signal that finds no kernel, or the kernel's end."""
    listener.settimeout(1.0)
    while True:
        try:
            conn, _ = listener.accept()
        except socket.timeout:
            if not alive():
                return
            continue
        with conn:
            conn.settimeout(5.0)
            data = b""
            try:
                while chunk := conn.recv(4096):
                    data += chunk
            except socket.timeout:
                pass
        try:
            request = json.loads(data or b"{}")
        except ValueError:
            continue
        signum = int(request.get("signum", 0) or 0)
        if signum > 0 and not signal_kernel(signum):
            return
        if request.get("shutdown"):
            return
