"""Container kernels: a run that chose an image (`run --image`) gets its kernel in a podman
container, one per kernel, named after the kernel id.

The worker decides the placement (image, CPUs, memory, environment, mounts) after checking
its allow-list, and writes it to `$MILLRACE_KERNEL_PLACEMENTS/<run id>.json` before asking
for the kernel (activities/container-placement.ts). Jupyter Server knows nothing of runs,
but starts every kernel of session `millrace/<run id>` with JPY_SESSION_NAME ending in the
run id: that is how a launch finds its placement. Kernels without one are the forking
provisioner's (worker/forking_provisioner.py, which calls in here first).

Each container has a network namespace of its own, user-mode (slirp4netns): runc here has
no working CNI bridge (iptables is not available in every sandbox), and slirp4netns needs
neither. Only the kernel's five ports are published, each on the host's 127.0.0.1 at the
same number (the ones Jupyter chose, free on the host), so the kernel binds 0.0.0.0 in its
own namespace (the ip of its connection file's copy) and reaches nothing on the host's
loopback: not the Temporal server, the Jupyter Server, nor other runs' kernels. Without
slirp4netns the container falls back to the host's network, with a warning in the server's
log and the worker's (MILLRACE_CONTAINER_NETWORK tells it).

The podman client (`podman run`, foreground) is the kernel's process for LocalProvisioner:
its exit is the kernel's exit, and signals sent to it are proxied into the container
(--sig-proxy, the default), where --init forwards them to the kernel. Killing the client
leaves the container running, so kill and cleanup remove the container by name. A worker
that dies never runs cleanup: worker/orphans.ts removes containers labelled
millrace.kernel whose kernel Jupyter no longer knows.
"""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

CONTAINERS_CONF = Path(__file__).resolve().parent.parent / "docker" / "containers.conf"
LABEL = "millrace.kernel"
SERVER_LABEL = "millrace.placements"
# Where the connection file is mounted in the container (read-only).
CONNECTION_IN_CONTAINER = "/run/millrace/connection.json"
RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")


def podman_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("CONTAINERS_CONF", str(CONTAINERS_CONF))
    return env


# Placements by kernel id, read once: the worker removes its file once the kernel has
# started, and Jupyter's own restart of a dead kernel must still find it (a container
# kernel never comes back as a process on the host).
_placements: dict[str, dict[str, Any]] = {}

# Where the worker leaves placements: set by jupyter_server_config.py from
# MILLRACE_KERNEL_PLACEMENTS, which it removes from the server's environment so that no
# kernel inherits it (kernels see no MILLRACE_* variable: worker/kernel-env.ts).
PLACEMENTS_DIR: str | None = None


def placement_for(kernel_id: str, env: dict[str, str] | None) -> dict[str, Any] | None:
    """The placement the worker wrote for this kernel's run, or None (a process kernel)."""
    if kernel_id in _placements:
        return _placements[kernel_id]
    directory = PLACEMENTS_DIR
    session = (env or {}).get("JPY_SESSION_NAME", "")
    run_id = os.path.basename(session)
    if not directory or not RUN_ID.match(run_id):
        return None
    try:
        text = (Path(directory) / f"{run_id}.json").read_text()
    except FileNotFoundError:
        return None
    placement = json.loads(text)
    if not placement.get("image"):
        return None
    _placements[kernel_id] = placement
    return placement


def forget(kernel_id: str) -> None:
    _placements.pop(kernel_id, None)


def container_name(kernel_id: str) -> str:
    return f"millrace-kernel-{kernel_id}"


def podman_run_command(kernel_id: str, connection_file: str, kernel_cmd: list[str], placement: dict[str, Any], network: str) -> list[str]:
    """`podman run` for one kernel: the kernel's own argv after the interpreter, with the
    connection file (the copy for the container) replaced by its mount."""
    args = kernel_args(kernel_cmd)
    command = [
        "podman", "run", "--rm", "--init",
        "--name", container_name(kernel_id),
        "--label", f"{LABEL}={kernel_id}",
        # Whose kernel it is: the orphan reaper of this server's workers removes it when
        # the server no longer knows the kernel (worker/orphans.ts).
        "--label", f"{SERVER_LABEL}={PLACEMENTS_DIR or ''}",
        *network_args(network, connection_file),
        "--volume", f"{connection_file}:{CONNECTION_IN_CONTAINER}:ro",
    ]
    if placement.get("cpus") is not None:
        command += ["--cpus", str(placement["cpus"])]
    if placement.get("memory"):
        # No swap beyond the limit: the limit is what the run asked for.
        command += ["--memory", str(placement["memory"]), "--memory-swap", str(placement["memory"])]
    env_file = write_env_file(kernel_id, placement.get("env") or {})
    if env_file:
        # Written by podman once it has read the env file and created the container: the
        # provisioner then removes both (forking_provisioner.py, forget_env_file).
        cid = cid_file(kernel_id)
        Path(cid).unlink(missing_ok=True)
        command += ["--env-file", env_file, "--cidfile", cid]
    for name, value in sorted((placement.get("env") or {}).items()):
        if "\n" in value:
            # An env file holds one line per variable: a value of several lines goes on the
            # client's command line (visible to the host's users while the kernel runs).
            command += ["--env", f"{name}={value}"]
    for mount in placement.get("mounts") or []:
        spec = f"{mount['source']}:{mount['target']}" + (":ro" if mount.get("readOnly") else "")
        command += ["--volume", spec]
    # Last, so no --env can set them: the worker checks them to know the kernel is in a
    # container, and whether it shares the host's network (a warning).
    command += ["--env", "MILLRACE_CONTAINER=podman", "--env", f"MILLRACE_CONTAINER_NETWORK={network}"]
    command += [str(placement["image"]), "python3", "-m", "ipykernel_launcher", *args]
    return command


PORTS = ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port")


def container_network() -> str:
    """slirp4netns when it is installed, else the host's network (the fallback, warned of)."""
    return "slirp4netns" if shutil.which("slirp4netns") else "host"


def network_args(network: str, connection_file: str) -> list[str]:
    """The container's network: its own namespace with the kernel's ports published on the
    host's 127.0.0.1 (slirp4netns's own port handler: rootlesskit's needs a rootless podman;
    no way back to the host's loopback), or the host's."""
    if network == "host":
        return ["--network", "host"]
    info = json.loads(Path(connection_file).read_text())
    args = ["--network", "slirp4netns:port_handler=slirp4netns,allow_host_loopback=false"]
    for key in PORTS:
        port = int(info[key])
        args += ["--publish", f"127.0.0.1:{port}:{port}/tcp"]
    return args


def kernel_args(kernel_cmd: list[str]) -> list[str]:
    """The arguments after `-m ipykernel_launcher`, `-f <file>` pointing at the mount."""
    try:
        start = kernel_cmd.index("ipykernel_launcher") + 1
    except ValueError:
        start = len(kernel_cmd)
    args = list(kernel_cmd[start:])
    out: list[str] = []
    skip = False
    for i, arg in enumerate(args):
        if skip:
            skip = False
            continue
        if arg == "-f":
            out += ["-f", CONNECTION_IN_CONTAINER]
            skip = True
        elif arg.startswith("--f=") or arg.startswith("-f="):
            out.append(f"--f={CONNECTION_IN_CONTAINER}")
        else:
            out.append(arg)
    if "-f" not in out and not any(a.startswith("--f=") for a in out):
        out += ["-f", CONNECTION_IN_CONTAINER]
    return out


def container_connection_file(kernel_id: str, connection_file: str, network: str) -> str:
    """A copy of the connection file that the container's user (not root) can read: mode
    0644, in the placements folder, which only its owner can enter (0700). In a network of
    its own the kernel binds every interface of it (the published ports arrive from outside
    its loopback); on the host's it keeps Jupyter's 127.0.0.1."""
    assert PLACEMENTS_DIR is not None, "a container kernel without a placements folder"
    directory = Path(PLACEMENTS_DIR)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    copy = directory / f"connection-{kernel_id}.json"
    temp = copy.with_suffix(".tmp")
    info = json.loads(Path(connection_file).read_text())
    if network != "host":
        info["ip"] = "0.0.0.0"
    temp.write_text(json.dumps(info))
    temp.chmod(0o644)
    temp.replace(copy)
    return str(copy)


def write_env_file(kernel_id: str, env: dict[str, str]) -> str | None:
    """The run's variables for `podman run --env-file`, so that their values (a secret given
    with `--env NAME`, the worker's own) are not on the podman client's command line, which
    every user of the host can read for as long as the kernel runs. Mode 0600 in the
    placements folder (0700), like the connection file; removed as soon as podman has read
    it (forking_provisioner.py), else with the kernel."""
    lines = [f"{name}={value}\n" for name, value in sorted(env.items()) if "\n" not in value]
    if not lines:
        return None
    assert PLACEMENTS_DIR is not None, "a container kernel without a placements folder"
    directory = Path(PLACEMENTS_DIR)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = directory / f"env-{kernel_id}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("".join(lines))
    return str(path)


def cid_file(kernel_id: str) -> str:
    assert PLACEMENTS_DIR is not None, "a container kernel without a placements folder"
    return str(Path(PLACEMENTS_DIR) / f"cid-{kernel_id}")


def env_file_read(kernel_id: str) -> bool:
    """Whether podman has created the container, so has read the env file."""
    return Path(cid_file(kernel_id)).exists()


def remove_env_file(kernel_id: str) -> None:
    directory = PLACEMENTS_DIR
    if directory:
        (Path(directory) / f"env-{kernel_id}").unlink(missing_ok=True)
        (Path(directory) / f"cid-{kernel_id}").unlink(missing_ok=True)


def remove_connection_copy(kernel_id: str) -> None:
    """The kernel's files in the placements folder: its connection file's copy and env file."""
    directory = PLACEMENTS_DIR
    if directory:
        (Path(directory) / f"connection-{kernel_id}.json").unlink(missing_ok=True)
    remove_env_file(kernel_id)


def remove_container(kernel_id: str) -> None:
    """Removes the kernel's container whatever state it is in; gone already is fine."""
    subprocess.run(
        ["podman", "rm", "--force", "--time", "0", container_name(kernel_id)],
        env=podman_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False,
    )
