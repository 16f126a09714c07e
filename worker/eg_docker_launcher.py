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
  through), not the gateway's own; as the user KERNEL_UID:KERNEL_GID (the proxy's);
- sends the connection information to the gateway's response address, encrypted as
  Enterprise Gateway's launchers do (payload version 1: an AES key under the gateway's RSA
  public key: worker/eg_launch.py);
- stays as the kernel's communication port: {"signum": N} is sent into the container
  (interrupts), {"shutdown": 1} ends it. It also ends when the container is gone.
"""

import os
import re
import sys

import docker
from docker.errors import NotFound

from eg_launch import answer, arguments, connection_file, connection_info, serve

CONNECTION_IN_CONTAINER = "/run/millrace/connection.json"
LOOPBACK = "127.0.0.1"
# The gateway's own variables, present when a request carries none: never the kernel's.
GATEWAY_OWN = re.compile(r"^(PATH|HOME|PWD|OLDPWD|SHLVL|_|USER|LOGNAME|SHELL|HOSTNAME|TERM|LANG|LC_\w+|PYTHON\w*|VIRTUAL_ENV|DOCKER_\w+|EG_\w+|JPY_\w+|JUPYTER_\w+|MILLRACE_\w+|CONTAINERS_\w+|XDG_\w+)$")


def limits(env: dict[str, str]) -> dict:
    out: dict = {}
    cpus = env.get("KERNEL_CPUS_LIMIT") or env.get("KERNEL_CPUS")
    if cpus:
        out["nano_cpus"] = int(float(cpus) * 1e9)
    memory = env.get("KERNEL_MEMORY_LIMIT") or env.get("KERNEL_MEMORY")
    if memory:
        out["mem_limit"] = out["memswap_limit"] = int(memory)
    return out


def user(env: dict[str, str]) -> dict:
    """The container's user, as Enterprise Gateway's own Docker launcher and Kubernetes pod
    template take it: KERNEL_UID (and KERNEL_GID), which its container process proxy sets
    (1000 and 100 unless the request or kernelspec says otherwise) after refusing the ids in
    EG_PROHIBITED_UIDS/GIDS (root by default)."""
    uid, gid = env.get("KERNEL_UID"), env.get("KERNEL_GID")
    if not uid:
        return {}
    return {"user": f"{uid}:{gid}" if gid else uid}


def main() -> int:
    args = arguments()
    env = dict(os.environ)
    image = env.get("KERNEL_IMAGE")
    if not image:
        sys.exit("millrace: KERNEL_IMAGE is not set: the kernel's start request names no image")

    client = docker.DockerClient.from_env()
    info, listener = connection_info(LOOPBACK)
    # 0644: read through the bind mount by the image's user.
    with listener, connection_file(args.kernel_id, info, 0o644) as connection:
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
            **user(env),
        )
        answer(args, info, listener)

        def signal_kernel(signum: int) -> bool:
            try:
                container.kill(signal=signum)  # to --init, which hands it to the kernel
                return True
            except NotFound:
                return False

        def alive() -> bool:
            try:
                container.reload()
            except NotFound:
                return False
            return container.status not in ("exited", "dead")

        serve(listener, signal_kernel, alive)
    return 0


if __name__ == "__main__":
    sys.exit(main())
