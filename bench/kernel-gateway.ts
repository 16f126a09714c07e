/**
 * Jupyter Kernel Gateway on 127.0.0.1, from the venv scripts/setup-kernel-gateway.sh
 * makes, with worker/kernel_gateway_config.py: for the gateway backend's end-to-end tests
 * and its benchmark. A free port, a random token (in the environment, never in `ps`),
 * stopped with every kernel it started.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
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
  /** --JupyterWebsocketPersonality.list_kernels (default true): without it, listing answers 403. */
  listKernels?: boolean;
  /** The TCP_NODELAY patch (default true); false only to measure what it saves. */
  nodelay?: boolean;
}

/** The gateway's executable; throws a one-line error when the set-up has not made it. */
export function kernelGatewayBinary(): string {
  const venv = venvDir(join('scripts', 'requirements-kernel-gateway.txt'), 'kernel-gateway');
  const binary = join(venv, 'bin', 'jupyter-kernelgateway');
  if (!existsSync(join(venv, '.millrace-complete')) || !existsSync(binary)) {
    throw new Error(`Jupyter Kernel Gateway is not set up (expected at ${venv}): run scripts/setup-kernel-gateway.sh`);
  }
  return binary;
}

export async function startKernelGateway(options: KernelGatewayOptions): Promise<KernelGateway> {
  const binary = kernelGatewayBinary();
  const token = randomBytes(24).toString('hex');
  // A port free a moment ago may be taken before the gateway binds it: try another.
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const child = await spawnSupervised({
      name: 'kernel-gateway',
      command: binary,
      args: [
        '--ip=127.0.0.1',
        `--port=${port}`,
        '--port_retries=0',
        `--config=${join(packageRoot(), 'worker', 'kernel_gateway_config.py')}`,
        `--JupyterWebsocketPersonality.list_kernels=${options.listKernels ?? true ? 'True' : 'False'}`,
      ],
      stateDir: options.stateDir,
      cwd: options.stateDir,
      env: {
        ...process.env,
        KG_AUTH_TOKEN: token,
        JUPYTER_RUNTIME_DIR: join(options.stateDir, 'kernel-gateway-runtime'),
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
