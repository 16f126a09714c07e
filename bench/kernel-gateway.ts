/**
 * Jupyter Kernel Gateway (or Enterprise Gateway, with its local process proxy) on
 * 127.0.0.1, from the venvs scripts/setup-gateways.sh makes, with
 * worker/kernel_gateway_config.py (enterprise_gateway_config.py): for the gateway
 * backends' end-to-end tests and benchmark. A free port, a random token (in the
 * environment, never in `ps`), stopped with every kernel it started.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { packageRoot, venvDir } from '../worker/paths.js';
import { freePort } from '../worker/ports.js';
import { spawnSupervised } from '../worker/process.js';

export interface KernelGateway {
  url: string;
  token: string;
  /** What the gateway logged so far. */
  logText(): string;
  stop(): Promise<void>;
}

export interface KernelGatewayOptions {
  /** Its runtime files, log and kernels' working directory go here. */
  stateDir: string;
  /** Jupyter Kernel Gateway (default) or Jupyter Enterprise Gateway. */
  kind?: GatewayKind;
  /** Listing kernels allowed (default true): without it, listing answers 403. */
  listKernels?: boolean;
  /** The TCP_NODELAY patch (default true); false only to measure what it saves. */
  nodelay?: boolean;
  /** Kernelspecs (kernel.json bodies by name) the gateway serves besides its own python3. */
  kernelspecs?: Record<string, object>;
  /** Variables for the gateway (DOCKER_HOST, EG_CLIENT_ENVS...). */
  env?: Record<string, string>;
}

export type GatewayKind = 'kernel-gateway' | 'enterprise-gateway';

const GATEWAYS = {
  'kernel-gateway': {
    title: 'Jupyter Kernel Gateway',
    executable: 'jupyter-kernelgateway',
    config: 'kernel_gateway_config.py',
    tokenVariable: 'KG_AUTH_TOKEN',
    listKernels: '--JupyterWebsocketPersonality.list_kernels',
    env: {},
  },
  'enterprise-gateway': {
    title: 'Jupyter Enterprise Gateway',
    executable: 'jupyter-enterprisegateway',
    config: 'enterprise_gateway_config.py',
    tokenVariable: 'EG_AUTH_TOKEN',
    listKernels: '--EnterpriseGatewayApp.list_kernels',
    // Kernels run as the gateway's user, refused when root (the default set); tests run as root.
    env: { MILLRACE_EG_UNAUTHORIZED_USERS: 'millrace-nobody' },
  },
} as const;

/** The gateway's executable; throws a one-line error when the set-up has not made it. */
export function gatewayBinary(kind: GatewayKind = 'kernel-gateway'): string {
  const gateway = GATEWAYS[kind];
  const venv = venvDir(join('scripts', `requirements-${kind}.txt`), kind);
  const binary = join(venv, 'bin', gateway.executable);
  if (!existsSync(join(venv, '.millrace-complete')) || !existsSync(binary)) {
    throw new Error(`${gateway.title} is not set up (expected at ${venv}): run scripts/setup-gateways.sh`);
  }
  return binary;
}

/** The Python of a gateway's venv: what its kernelspecs' launchers run with. */
export function gatewayPython(kind: GatewayKind = 'enterprise-gateway'): string {
  return join(dirname(gatewayBinary(kind)), 'python');
}

/**
 * A kernelspec for Enterprise Gateway whose kernels are containers started through the
 * Docker API (worker/eg_docker_launcher.py, worker/eg_process_proxies.py): what an operator
 * writes in the gateway's kernels folder (docs/kernels.md).
 */
export function dockerKernelspec(dockerHost: string): object {
  return {
    // The launcher gets the request's variables, not the gateway's: the engine is named here.
    env: { DOCKER_HOST: dockerHost },
    display_name: 'Python 3 (container)',
    language: 'python',
    interrupt_mode: 'signal',
    metadata: { process_proxy: { class_name: 'eg_process_proxies.LoopbackDockerProcessProxy' } },
    argv: [gatewayPython(), join(packageRoot(), 'worker', 'eg_docker_launcher.py'), '--kernel-id', '{kernel_id}', '--response-address', '{response_address}', '--public-key', '{public_key}'],
  };
}

/**
 * A kernelspec for Enterprise Gateway whose kernels are processes on another host, started
 * over SSH by its DistributedProcessProxy (worker/eg_process_launcher.py, with this venv's
 * Python, which the remote host has at the same path).
 */
export function sshKernelspec(): object {
  return {
    display_name: 'Python 3 (over SSH)',
    language: 'python',
    interrupt_mode: 'signal',
    metadata: { process_proxy: { class_name: 'enterprise_gateway.services.processproxies.distributed.DistributedProcessProxy' } },
    argv: [gatewayPython(), join(packageRoot(), 'worker', 'eg_process_launcher.py'), '--kernel-id', '{kernel_id}', '--response-address', '{response_address}', '--public-key', '{public_key}'],
  };
}

/** podman's Docker-compatible API on a socket in `stateDir`, for Enterprise Gateway's Docker proxy (DOCKER_HOST). */
export async function startPodmanService(stateDir: string): Promise<{ dockerHost: string; stop(): Promise<void> }> {
  const socket = join(stateDir, 'podman.sock');
  const dockerHost = `unix://${socket}`;
  const child = await spawnSupervised({
    name: 'podman-service',
    command: 'podman',
    args: ['system', 'service', '--time=0', dockerHost],
    stateDir,
    env: { ...process.env, CONTAINERS_CONF: process.env['CONTAINERS_CONF'] ?? join(packageRoot(), 'docker', 'containers.conf') },
    stopGraceMs: 5_000,
  });
  await child.waitFor(async () => existsSync(socket), { timeoutMs: 30_000, what: `${socket} to exist`, intervalMs: 100 });
  return { dockerHost, stop: () => child.stop() };
}

export async function startKernelGateway(options: KernelGatewayOptions): Promise<KernelGateway> {
  const kind = options.kind ?? 'kernel-gateway';
  const gateway = GATEWAYS[kind];
  const binary = gatewayBinary(kind);
  const token = randomBytes(24).toString('hex');
  const dataDir = join(options.stateDir, `${kind}-data`);
  for (const [name, spec] of Object.entries(options.kernelspecs ?? {})) {
    mkdirSync(join(dataDir, 'kernels', name), { recursive: true });
    writeFileSync(join(dataDir, 'kernels', name, 'kernel.json'), JSON.stringify(spec, null, 1));
  }
  // A port free a moment ago may be taken before the gateway binds it: try another.
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const child = await spawnSupervised({
      name: kind,
      command: binary,
      args: [
        '--ip=127.0.0.1',
        `--port=${port}`,
        '--port_retries=0',
        `--config=${join(packageRoot(), 'worker', gateway.config)}`,
        `${gateway.listKernels}=${options.listKernels ?? true ? 'True' : 'False'}`,
      ],
      stateDir: options.stateDir,
      cwd: options.stateDir,
      env: {
        ...process.env,
        ...gateway.env,
        [gateway.tokenVariable]: token,
        ...options.env,
        JUPYTER_RUNTIME_DIR: join(options.stateDir, `${kind}-runtime`),
        ...(options.kernelspecs ? { JUPYTER_PATH: dataDir } : {}),
        ...(options.nodelay ?? true ? {} : { MILLRACE_JUPYTER_NODELAY: '0' }),
      },
      stopGraceMs: 15_000,
    });
    try {
      await child.waitFor(() => apiAnswers(url, token), { timeoutMs: 60_000, what: `${url}/api to answer`, intervalMs: 150 });
    } catch (err) {
      await child.stop();
      if (attempt < 3 && /address already in use|Errno 98/i.test(child.logTail(50))) continue;
      throw err;
    }
    return { url, token, logText: () => child.logText(), stop: () => child.stop() };
  }
}

async function apiAnswers(url: string, token: string): Promise<boolean> {
  const response = await fetch(`${url}/api/kernelspecs`, { headers: { Authorization: `token ${token}` }, signal: AbortSignal.timeout(2_000) });
  await response.body?.cancel();
  return response.status === 200;
}
