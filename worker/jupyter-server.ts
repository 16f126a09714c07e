/**
 * Jupyter Server from the project's virtualenv on 127.0.0.1, with a random token and
 * worker/jupyter_server_config.py (TCP_NODELAY on kernel websockets, Python kernels
 * forked from a warm process, no output rate limit, kernels shut down with the server),
 * offering the kernels of the user's environment (worker/kernelspecs.ts).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { kernelEnvironment } from './kernel-env.js';
import { checkKernelUserCanRun, kernelConnectionDir, type KernelUser } from './kernel-user.js';
import { fallbackNote, kernelDirPaths, kernelSearch, writeGeneratedKernelspec, type DefaultPython } from './kernelspecs.js';
import { packageRoot, venvPython } from './paths.js';
import { freePort } from './ports.js';
import { spawnSupervised, type ExitStatus, type SupervisedProcess } from './process.js';

export interface JupyterServerOptions {
  stateDir: string;
  /** Default 60 s. */
  readyTimeoutMs?: number;
  log?: (line: string) => void;
  /** TCP_NODELAY on kernel websockets (default true; false only to measure its effect). */
  nodelay?: boolean;
  /** Fork Python kernels from a warm process (default true; false only to measure its effect). */
  forkKernels?: boolean;
  /** Ask a new websocket's kernel again within the server's half-second nudge (worker/kernel_nudge.py; default true; false only to measure its effect). */
  quickNudge?: boolean;
  /** A restart keeps the address and the token, so workers and their settings carry on. */
  port?: number;
  token?: string;
  /** The operator's additions to the kernels' environment (worker/kernel-env.ts), over the defaults. */
  kernelEnv?: readonly string[];
  /** Run kernels as this user (worker/kernel-user.ts); the server must be root. */
  kernelUser?: KernelUser;
}

export interface JupyterServer {
  /** Base URL without a trailing slash, e.g. http://127.0.0.1:41234 */
  url: string;
  /** Secret: send it, never print or log it. */
  token: string;
  pid: number;
  logPath: string;
  /** Resolves when the server exits, stopped or not. */
  exited: Promise<ExitStatus>;
  /** The interpreter of its `python3` kernel, and where it comes from. */
  python3: DefaultPython;
  /** Set when an active virtualenv or conda env has no usable ipykernel, so python3 is millrace's Python: a note for stderr. */
  kernelNote?: string;
  /** SIGTERM (the server shuts its kernels down), SIGKILL after 15 s, then leftovers. Idempotent. */
  stop(): Promise<void>;
}

const HOST = '127.0.0.1';
const START_ATTEMPTS = 3;

export function jupyterConfigPath(): string {
  return join(packageRoot(), 'worker', 'jupyter_server_config.py');
}

export async function startJupyterServer(options: JupyterServerOptions): Promise<JupyterServer> {
  const python = venvPython();
  const rootDir = join(options.stateDir, 'jupyter-root');
  const runtimeDir = join(options.stateDir, 'jupyter-runtime');
  mkdirSync(rootDir, { recursive: true, mode: 0o700 });
  mkdirSync(runtimeDir, { recursive: true, mode: 0o700 });
  // The environment of the user's shell (the CLI's, `millrace dev`'s) decides the kernels.
  // The server starts at once with their directories; the probe of the user's Pythons
  // (which one gets the generated `python3` kernelspec) runs meanwhile, and is done,
  // its kernelspec written, before the server is handed over: no kernel starts before.
  const searching = kernelSearch(process.env, options.stateDir).then(async (kernels) => {
    await writeGeneratedKernelspec(kernels);
    if (options.kernelUser) checkKernelUserCanRun(options.kernelUser, kernels.python3.python);
    return kernels;
  });
  searching.catch(() => undefined); // awaited below; a server that fails to start must not leave it unhandled
  const kernelDirs = kernelDirPaths(process.env, options.stateDir);
  const connections = options.kernelUser ? kernelConnectionDir(options.kernelUser) : undefined;
  for (let attempt = 1; ; attempt++) {
    let server: Omit<JupyterServer, 'python3' | 'kernelNote'> | undefined;
    try {
      server = await startOnce(python, rootDir, runtimeDir, kernelDirs, options, connections?.dir);
      const kernels = await searching;
      const note = fallbackNote(kernels, 'active-env');
      const started = server;
      const stop = () => started.stop().finally(() => connections?.remove());
      return { ...server, stop, python3: kernels.python3, ...(note ? { kernelNote: note } : {}) };
    } catch (err) {
      await server?.stop();
      if (server || attempt >= START_ATTEMPTS || !(err instanceof PortTakenError)) {
        connections?.remove();
        throw err;
      }
      options.log?.('Jupyter Server: port taken, retrying');
    }
  }
}

class PortTakenError extends Error {}

async function startOnce(
  python: string,
  rootDir: string,
  runtimeDir: string,
  kernelDirs: string[],
  options: JupyterServerOptions,
  connectionDir: string | undefined,
): Promise<Omit<JupyterServer, 'python3' | 'kernelNote'>> {
  const port = options.port ?? (await freePort(HOST));
  const token = options.token ?? randomBytes(24).toString('hex');
  const url = `http://${HOST}:${port}`;
  options.log?.(`starting Jupyter Server on ${url}...`);
  const child = await spawnSupervised({
    name: 'jupyter',
    command: python,
    args: [
      '-m',
      'jupyter_server',
      `--ServerApp.ip=${HOST}`,
      `--ServerApp.port=${port}`,
      '--ServerApp.port_retries=0',
      '--ServerApp.open_browser=False',
      '--allow-root',
      `--ServerApp.root_dir=${rootDir}`,
      `--config=${jupyterConfigPath()}`,
    ],
    stateDir: options.stateDir,
    env: jupyterEnvironment(token, runtimeDir, kernelDirs, options, connectionDir),
    // Kernel shutdown takes up to shutdown_wait_time (5 s) per kernel, in parallel.
    stopGraceMs: 15_000,
  });
  try {
    await child.waitFor(() => statusAnswers(url, token), {
      timeoutMs: options.readyTimeoutMs ?? 60_000,
      what: `${url}/api/status to answer`,
      intervalMs: 150,
    });
  } catch (err) {
    await child.stop();
    if (/address already in use|Errno 98|Errno 48/i.test(child.logTail(50))) throw new PortTakenError((err as Error).message);
    throw err;
  }
  return describe(child, url, token);
}

function describe(child: SupervisedProcess, url: string, token: string): Omit<JupyterServer, 'python3' | 'kernelNote'> {
  return { url, token, pid: child.pid, logPath: child.logPath, exited: child.exited, stop: () => child.stop() };
}

async function statusAnswers(url: string, token: string): Promise<boolean> {
  const response = await fetch(`${url}/api/status`, {
    headers: { Authorization: `token ${token}` },
    signal: AbortSignal.timeout(2_000),
  });
  await response.body?.cancel();
  return response.status === 200;
}

/**
 * The kernels' environment (the allow-list of worker/kernel-env.ts: the server passes its
 * own to every kernel) plus the server's settings. The token travels in the environment
 * (the config file moves it into the server's configuration and deletes it, so kernels
 * do not inherit it).
 */
function jupyterEnvironment(token: string, runtimeDir: string, kernelDirs: string[], options: JupyterServerOptions, connectionDir?: string): NodeJS.ProcessEnv {
  const nodelay = options.nodelay ?? true;
  const forkKernels = options.forkKernels ?? true;
  const user = options.kernelUser;
  return {
    ...kernelEnvironment(process.env, options.kernelEnv ?? []),
    JUPYTER_TOKEN: token,
    // Connection files (kernel HMAC keys) and the server info file stay in the state
    // directory rather than the user's Jupyter runtime directory.
    JUPYTER_RUNTIME_DIR: runtimeDir,
    // The config file sets KernelSpecManager.kernel_dirs from it (and removes it).
    MILLRACE_KERNEL_DIRS: JSON.stringify(kernelDirs),
    // Where the worker leaves container placements (worker/container_provisioner.py).
    MILLRACE_KERNEL_PLACEMENTS: join(runtimeDir, 'placements'),
    // A configuration error (including in our config file) must stop the server, not
    // leave it running without the TCP_NODELAY patch.
    TRAITLETS_APPLICATION_RAISE_CONFIG_FILE_ERROR: '1',
    PYTHONUNBUFFERED: '1',
    ...(nodelay ? {} : { MILLRACE_JUPYTER_NODELAY: '0' }),
    ...(forkKernels ? {} : { MILLRACE_JUPYTER_FORK_KERNELS: '0' }),
    ...((options.quickNudge ?? true) ? {} : { MILLRACE_JUPYTER_QUICK_NUDGE: '0' }),
    // The config file hands it to the provisioner (and removes it).
    ...(user && connectionDir ? { MILLRACE_KERNEL_USER: JSON.stringify({ ...user, connection_dir: connectionDir }) } : {}),
  };
}
