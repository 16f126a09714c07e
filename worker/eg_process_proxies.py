"""Enterprise Gateway process proxies for millrace's container kernels (docs/kernels.md,
"Enterprise Gateway"), importable by the gateway once worker/enterprise_gateway_config.py
has put this folder on its path: a kernelspec names the class in
`metadata.process_proxy.class_name` as `eg_process_proxies.LoopbackDockerProcessProxy`.
"""

from enterprise_gateway.services.processproxies.docker_swarm import DockerProcessProxy


class LoopbackDockerProcessProxy(DockerProcessProxy):
    """Enterprise Gateway's DockerProcessProxy for kernels on the host's network
    (worker/eg_docker_launcher.py): the engine reports no address for such a container
    (podman's service reports none, dockerd an empty one), and the stock proxy would then
    connect to "". The kernel listens on the host's loopback: it is reached there.
    Everything else (finding the container by its kernel_id label, its states, removing it
    at shutdown) is the stock proxy's.
    """

    def get_container_status(self, iteration):
        status = super().get_container_status(iteration)
        if self.assigned_host and not self.assigned_ip:
            self.assigned_ip = "127.0.0.1"
        return status
