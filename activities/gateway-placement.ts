/**
 * A container placement (`run --image/--cpus/--memory/--env`) on Jupyter Enterprise
 * Gateway: carried by the `KERNEL_*` variables of the kernel start request, which the
 * kernelspec's container process proxy (Docker, Kubernetes...) turns into the kernel's
 * container (docs/kernels.md, "Enterprise Gateway"). A kernelspec without a process proxy
 * is left to the embedded server's provisioner (activities/kernel-placement.ts); one whose
 * proxy runs kernels as processes (local, SSH, YARN) is refused before anything starts.
 */
import { ServerConnection, type Kernel } from '@jupyterlab/services';
import { z } from 'zod';
import type { KernelPlacement } from '../workflows/contracts.js';
import { silentExecute } from './execute-request.js';

/** Enterprise Gateway's process proxies that start each kernel in a container of KERNEL_IMAGE. */
const CONTAINER_PROXY = /(Docker|DockerSwarm|Kubernetes|CustomResource|SparkOperator)ProcessProxy$/;

const kernelspecsSchema = z.object({
  kernelspecs: z.record(
    z.string(),
    z.looseObject({
      spec: z.looseObject({
        metadata: z.looseObject({ process_proxy: z.looseObject({ class_name: z.string() }).optional() }).optional(),
      }),
    }),
  ),
});

/** The kernelspec's process proxy class (Enterprise Gateway's `metadata.process_proxy`), if it has one. */
export async function processProxyOf(settings: ServerConnection.ISettings, kernelName: string): Promise<string | undefined> {
  const response = await ServerConnection.makeRequest(`${settings.baseUrl}api/kernelspecs`, {}, settings);
  if (response.status !== 200) {
    await response.text();
    throw new ServerConnection.ResponseError(response, `listing kernelspecs answered ${response.status}`);
  }
  const parsed = kernelspecsSchema.safeParse(await response.json());
  return parsed.success ? parsed.data.kernelspecs[kernelName]?.spec.metadata?.process_proxy?.class_name : undefined;
}

export function isContainerProxy(className: string): boolean {
  return CONTAINER_PROXY.test(className);
}

/** Why the gateway cannot place this kernel (one line), or undefined. */
export function gatewayRefusal(placement: KernelPlacement, kernelName: string, proxy: string, serverUrl: string): string | undefined {
  const short = proxy.split('.').pop();
  if (!isContainerProxy(proxy)) {
    return `kernel "${kernelName}" of the Enterprise Gateway at ${serverUrl} does not run in a container (its process proxy is ${short}): --image needs a kernelspec with a container process proxy (DockerProcessProxy, KubernetesProcessProxy)`;
  }
  if (placement.mounts?.length) {
    return `--mount does not apply to kernels of the Enterprise Gateway at ${serverUrl}: its host folders are not the worker's (mount them in the kernelspec's launcher)`;
  }
  return undefined;
}

const apiSchema = z.looseObject({ gateway_version: z.string().optional() });
/** Per server: whether it is Enterprise Gateway, asked once (a failed question is asked again). */
const enterpriseGateways = new WeakMap<ServerConnection.ISettings, Promise<boolean>>();

/** Whether the server is Jupyter Enterprise Gateway: its `/api` names its own version (`gateway_version`). */
export function isEnterpriseGateway(settings: ServerConnection.ISettings): Promise<boolean> {
  let known = enterpriseGateways.get(settings);
  if (!known) {
    known = ServerConnection.makeRequest(`${settings.baseUrl}api`, {}, settings).then(async (response) => {
      if (response.status !== 200) return (await response.text(), false);
      const parsed = apiSchema.safeParse(await response.json().catch(() => undefined));
      return parsed.success && parsed.data.gateway_version !== undefined;
    });
    known.catch(() => enterpriseGateways.delete(settings));
    enterpriseGateways.set(settings, known);
  }
  return known;
}

/**
 * The variables of a kernel start request: the placement's (`placementEnv`, on Enterprise
 * Gateway only), and on Enterprise Gateway the user the kernel starts for, KERNEL_USERNAME
 * (the worker's `--kernel-user`), last so a run cannot choose it.
 * Undefined when there is nothing to send: other servers ignore the variables.
 */
export async function startVariables(
  settings: ServerConnection.ISettings,
  kernelUsername: string | undefined,
  placementEnv?: Record<string, string>,
): Promise<Record<string, string> | undefined> {
  if (!kernelUsername || !(placementEnv || (await isEnterpriseGateway(settings)))) return placementEnv;
  return { ...placementEnv, KERNEL_USERNAME: kernelUsername };
}

const UNITS: Record<string, number> = { b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/** A size as podman takes it (`512m`, `2g`, binary units) in bytes: what Docker and Kubernetes both read the same. */
export function sizeInBytes(size: string): number {
  const match = /^(\d+(?:\.\d+)?)([bkmg]?)$/i.exec(size);
  if (!match) throw new Error(`--memory ${size}: expected a size such as 512m or 2g`);
  return Math.floor(Number(match[1]) * UNITS[(match[2] || 'b').toLowerCase()]!);
}

/**
 * The start request's variables: Enterprise Gateway's KERNEL_IMAGE, KERNEL_CPUS and
 * KERNEL_MEMORY (requests) with KERNEL_CPUS_LIMIT and KERNEL_MEMORY_LIMIT (limits: millrace's
 * are limits), and the run's own variables, which the gateway passes on only when its
 * `client_envs` lists them (checked in the kernel once it has started: requireVariables).
 */
export function kernelStartVariables(placement: KernelPlacement): Record<string, string> {
  const env: Record<string, string> = { ...placement.env };
  if (placement.image) env['KERNEL_IMAGE'] = placement.image;
  if (placement.cpus !== undefined) env['KERNEL_CPUS'] = env['KERNEL_CPUS_LIMIT'] = String(placement.cpus);
  if (placement.memory !== undefined) env['KERNEL_MEMORY'] = env['KERNEL_MEMORY_LIMIT'] = String(sizeInBytes(placement.memory));
  return env;
}

/**
 * The run's variables that did not reach the kernel (Python kernels; names only, the values
 * never leave the kernel): a gateway drops what its `client_envs` does not list, silently.
 */
export async function missingVariables(kernel: Kernel.IKernelConnection, names: string[]): Promise<string[]> {
  if (!names.length) return [];
  const reply = await silentExecute(kernel, '', {
    purpose: 'gateway-env-check',
    expressions: { missing: `[n for n in ${JSON.stringify(names)} if n not in __import__('os').environ]` },
  });
  const text = reply.status === 'ok' ? (reply.user_expressions['missing'] as { data?: Record<string, string> } | undefined)?.data?.['text/plain'] : undefined;
  if (text === undefined) return names;
  return names.filter((name) => text.includes(`'${name}'`));
}
