import { describe, expect, it } from 'vitest';
import { gatewayRefusal, isContainerProxy, kernelStartVariables, sizeInBytes } from '../../activities/gateway-placement.js';

const URL = 'http://10.0.0.5:8888/';

describe("a placement as Enterprise Gateway's KERNEL_* variables", () => {
  it('carries the image, CPUs and memory (in bytes) as requests and limits, and the run\'s variables as they are', () => {
    expect(kernelStartVariables({ image: 'localhost/k:1', cpus: 0.5, memory: '512m', env: { REGION: 'eu' } })).toEqual({
      KERNEL_IMAGE: 'localhost/k:1',
      KERNEL_CPUS: '0.5',
      KERNEL_CPUS_LIMIT: '0.5',
      KERNEL_MEMORY: String(512 * 1024 * 1024),
      KERNEL_MEMORY_LIMIT: String(512 * 1024 * 1024),
      REGION: 'eu',
    });
    expect(kernelStartVariables({ image: 'k' })).toEqual({ KERNEL_IMAGE: 'k' });
  });

  it('reads sizes as podman does (binary units)', () => {
    expect(sizeInBytes('2g')).toBe(2 * 1024 ** 3);
    expect(sizeInBytes('1.5k')).toBe(1536);
    expect(sizeInBytes('4096')).toBe(4096);
    expect(() => sizeInBytes('2GiB')).toThrow('--memory 2GiB: expected a size such as 512m or 2g');
  });

  it('knows which process proxies start containers', () => {
    expect(isContainerProxy('enterprise_gateway.services.processproxies.docker_swarm.DockerProcessProxy')).toBe(true);
    expect(isContainerProxy('enterprise_gateway.services.processproxies.k8s.KubernetesProcessProxy')).toBe(true);
    expect(isContainerProxy('eg_process_proxies.LoopbackDockerProcessProxy')).toBe(true);
    expect(isContainerProxy('enterprise_gateway.services.processproxies.distributed.DistributedProcessProxy')).toBe(false);
    expect(isContainerProxy('enterprise_gateway.services.processproxies.processproxy.LocalProcessProxy')).toBe(false);
  });

  it('refuses a kernelspec that runs processes, and mounts, in one line', () => {
    expect(gatewayRefusal({ image: 'k' }, 'python3', 'enterprise_gateway.services.processproxies.distributed.DistributedProcessProxy', URL)).toBe(
      'kernel "python3" of the Enterprise Gateway at http://10.0.0.5:8888/ does not run in a container (its process proxy is DistributedProcessProxy): --image needs a kernelspec with a container process proxy (DockerProcessProxy, KubernetesProcessProxy)',
    );
    expect(gatewayRefusal({ image: 'k', mounts: ['/srv:/data'] }, 'py', 'x.DockerProcessProxy', URL)).toBe(
      "--mount does not apply to kernels of the Enterprise Gateway at http://10.0.0.5:8888/: its host folders are not the worker's (mount them in the kernelspec's launcher)",
    );
    expect(gatewayRefusal({ image: 'k', cpus: 1 }, 'py', 'x.DockerProcessProxy', URL)).toBeUndefined();
  });
});
