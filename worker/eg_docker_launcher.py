"""Enterprise Gateway's kernel launcher for container kernels through the Docker API
(dockerd, or podman's Docker-compatible service): the `argv` of a kernelspec whose process
proxy is worker/eg_process_proxies.py's LoopbackDockerProcessProxy (docs/kernels.md,
"Enterprise Gateway"). Run by the gateway with its own Python (docker and pycryptodomex are
Enterprise Gateway's dependencies):

    <gateway venv>/bin/python eg_docker_launcher.py --kernel-id {kernel_id}
        --response-address {response_address} --public-key {public_key}

Enterprise Gateway's own launchers (launch_docker.py, and launch_ipykernel.py inside the
image) ship only in its kernelspec archives, not in its Python package; this one keeps the
image plain: any image with ipykernel (docker/kernel/Containerfile) works, as for
millrace's local container kernels. It
- chooses the kernel's ports and key on the host and mounts the connection file read-only;
- starts the container `millrace-kernel-<kernel id>` of KERNEL_IMAGE, labelled kernel_id
  (how the proxy finds it), with --init, on the host's network (the kernel listens on
  127.0.0.1 only), limited by KERNEL_CPUS_LIMIT and KERNEL_MEMORY_LIMIT (bytes, no swap
  beyond), with the request's variables (KERNEL_* and what the gateway's client_envs let
  through), not the gateway's own;
- sends the connection information to the gateway's response address, encrypted as
  Enterprise Gateway's launchers do (payload version 1: an AES key under the gateway's RSA
  public key);
- stays as the kernel's communication port: {"signum": N} is sent into the container
  (interrupts), {"shutdown": 1} ends it. It also ends when the container is gone.
"""

import argparse
import base64
import json
import os
import re
import socket
import sys
import tempfile
import uuid
from pathlib import Path

import docker
from docker.errors import NotFound
from Cryptodome.Cipher import AES, PKCS1_v1_5
from Cryptodome.PublicKey import RSA
from Cryptodome.Random import get_random_bytes
from Cryptodome.Util.Padding import pad

CONNECTION_IN_CONTAINER = "/run/millrace/connection.json"
LOOPBACK = "127.0.0.1"
# The gateway's own variables, present when a request carries none: never the kernel's.
GATEWAY_OWN = re.compile(r"^(PATH|HOME|PWD|OLDPWD|SHLVL|_|USER|LOGNAME|SHELL|HOSTNAME|TERM|LANG|LC_\w+|PYTHON\w*|VIRTUAL_ENV|DOCKER_\w+|EG_\w+|JPY_\w+|JUPYTER_\w+|MILLRACE_\w+|CONTAINERS_\w+|XDG_\w+)$")


def free_ports(count: int) -> list[int]:
    sockets = []
    for _ in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind((LOOPBACK, 0))
        sockets.append(s)
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def encrypt(info: bytes, public_key: str) -> bytes:
    aes_key = get_random_bytes(16)
    conn_info = base64.b64encode(AES.new(aes_key, AES.MODE_ECB).encrypt(pad(info, 16)))
    rsa = PKCS1_v1_5.new(RSA.importKey(base64.b64decode(public_key.encode())))
    payload = {"version": 1, "key": base64.b64encode(rsa.encrypt(aes_key)).decode(), "conn_info": conn_info.decode()}
    return base64.b64encode(json.dumps(payload).encode())


def limits(env: dict[str, str]) -> dict:
    out: dict = {}
    cpus = env.get("KERNEL_CPUS_LIMIT") or env.get("KERNEL_CPUS")
    if cpus:
        out["nano_cpus"] = int(float(cpus) * 1e9)
    memory = env.get("KERNEL_MEMORY_LIMIT") or env.get("KERNEL_MEMORY")
    if memory:
        out["mem_limit"] = out["memswap_limit"] = int(memory)
    return out


def serve(listener: socket.socket, container) -> None:
    """The communication port, until a shutdown request or the container's end."""
    listener.settimeout(1.0)
    while True:
        try:
            conn, _ = listener.accept()
        except socket.timeout:
            try:
                container.reload()
            except NotFound:
                return
            if container.status in ("exited", "dead"):
                return
            continue
        with conn:
            conn.settimeout(5.0)
            data = b""
            while chunk := conn.recv(4096):
                data += chunk
        try:
            request = json.loads(data or b"{}")
        except ValueError:
            continue
        signum = int(request.get("signum", 0) or 0)
        if signum > 0:
            try:
                container.kill(signal=signum)
            except NotFound:
                return
        if request.get("shutdown"):
            return


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kernel-id", required=True)
    parser.add_argument("--response-address", required=True)
    parser.add_argument("--public-key", required=True)
    parser.add_argument("--port-range", default="")  # EG's substitution; ports are chosen free here
    args = parser.parse_args()
    env = dict(os.environ)
    image = env.get("KERNEL_IMAGE")
    if not image:
        sys.exit("millrace: KERNEL_IMAGE is not set: the kernel's start request names no image")

    shell, iopub, stdin, control, hb, comm = free_ports(6)
    key = str(uuid.uuid4())
    info = {
        "shell_port": shell, "iopub_port": iopub, "stdin_port": stdin, "control_port": control, "hb_port": hb,
        "ip": LOOPBACK, "key": key, "transport": "tcp", "signature_scheme": "hmac-sha256", "kernel_name": "",
    }
    state = Path(tempfile.mkdtemp(prefix=f"millrace-eg-{args.kernel_id}-"))  # 0700: only this user reaches the file
    connection = state / "connection.json"
    connection.write_text(json.dumps(info))
    connection.chmod(0o644)  # read through the bind mount by the image's user

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind((LOOPBACK, comm))
    listener.listen(4)
    client = docker.DockerClient.from_env()
    try:
        container = client.containers.run(
            image,
            ["python3", "-m", "ipykernel_launcher", "-f", CONNECTION_IN_CONTAINER],
            name=f"millrace-kernel-{args.kernel_id}",
            labels={"kernel_id": args.kernel_id, "app": "enterprise-gateway", "component": "kernel"},
            environment={k: v for k, v in env.items() if not GATEWAY_OWN.match(k)},
            network_mode="host",
            init=True,
            detach=True,
            remove=True,
            volumes={str(connection): {"bind": CONNECTION_IN_CONTAINER, "mode": "ro"}},
            **limits(env),
        )
        response_ip, response_port = args.response_address.rsplit(":", 1)
        reply = dict(info, comm_port=comm, kernel_id=args.kernel_id, pid=0, pgid=0)
        with socket.create_connection((response_ip, int(response_port)), timeout=30) as s:
            s.sendall(encrypt(json.dumps(reply).encode(), args.public_key))
        serve(listener, container)
    finally:
        listener.close()
        connection.unlink(missing_ok=True)
        state.rmdir()
    return 0


if __name__ == "__main__":
    sys.exit(main())
