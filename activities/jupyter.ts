/**
 * Kernels on a Jupyter Server (or Kernel Gateway) reached over the Jupyter protocol with
 * `@jupyterlab/services`. One connection per kernel per worker process, shared by every
 * cell activity of the run that this worker executes; the requests sent on it are in
 * execute-request.ts.
 */
import {
  KernelAPI,
  KernelConnection,
  KernelSpecAPI,
  ServerConnection,
  SessionAPI,
  type Kernel,
} from '@jupyterlab/services';
import WebSocket from 'ws';

export interface JupyterConfig {
  url: string;
  /** Secret: only ever sent to the server, never logged or returned. */
  token: string;
}

export class KernelError extends Error {
  constructor(
    message: string,
    readonly kind: 'unknown-kernel' | 'kernel-died' | 'kernel-lost' | 'kernel-gone' | 'server-unreachable' | 'start-timeout' | 'start-failed' | 'start-refused',
  ) {
    super(message);
    this.name = 'KernelError';
  }
}

/**
 * The token goes in an Authorization header on REST calls and on the websocket upgrade,
 * never in a URL: Jupyter Server logs the URLs of failed requests.
 */
function authenticatedWebSocket(token: string): typeof globalThis.WebSocket {
  class TokenWebSocket extends WebSocket {
    constructor(url: string, protocols?: string | string[]) {
      super(url, protocols, { headers: { Authorization: `token ${token}` } });
    }
  }
  return TokenWebSocket as unknown as typeof globalThis.WebSocket;
}

export function serverSettings(config: JupyterConfig): ServerConnection.ISettings {
  const baseUrl = config.url.endsWith('/') ? config.url : `${config.url}/`;
  return ServerConnection.makeSettings({
    baseUrl,
    wsUrl: baseUrl.replace(/^http/, 'ws'),
    token: config.token,
    appendToken: false,
    WebSocket: authenticatedWebSocket(config.token),
  });
}

export async function kernelNames(settings: ServerConnection.ISettings): Promise<string[]> {
  const specs = await KernelSpecAPI.getSpecs(settings);
  return Object.keys(specs.kernelspecs).sort();
}

/**
 * Kernels are started through a Jupyter session at `millrace/<run id>`: the server then
 * knows which run a kernel belongs to (JupyterLab shows it by that name), and the orphan
 * reaper can find kernels whose run is over. Servers without the sessions API (some
 * gateways) get a bare kernel.
 */
export const SESSION_PREFIX = 'millrace/';

/** A started kernel and, when the server has the sessions API, its session's id. */
export interface StartedKernelModel {
  model: Kernel.IModel;
  sessionId?: string;
}

/**
 * With `env`, the kernel is started with those variables in its start request (Enterprise
 * Gateway's KERNEL_* placement: activities/gateway-placement.ts), which the sessions API
 * does not carry, and then given its session.
 */
export async function startKernel(settings: ServerConnection.ISettings, name: string, runId: string, env?: Record<string, string>): Promise<StartedKernelModel> {
  const available = await kernelNames(settings).catch((err: Error) => {
    throw new KernelError(`Jupyter Server at ${settings.baseUrl} is unreachable: ${err.message}`, 'server-unreachable');
  });
  if (!available.includes(name)) {
    throw new KernelError(
      `no kernel named "${name}"; available: ${available.join(', ') || 'none'} (choose one with --kernel)`,
      'unknown-kernel',
    );
  }
  if (env) return startKernelWithEnv(settings, name, runId, env);
  try {
    const session = await SessionAPI.startSession(
      { path: `${SESSION_PREFIX}${runId}`, name: runId, type: 'notebook', kernel: { name } },
      settings,
    );
    if (session.kernel) return { model: session.kernel, sessionId: session.id };
  } catch (err) {
    if (!(err instanceof ServerConnection.ResponseError && err.response.status === 404)) throw err;
  }
  return { model: await KernelAPI.startNew({ name }, settings) };
}

async function startKernelWithEnv(settings: ServerConnection.ISettings, name: string, runId: string, env: Record<string, string>): Promise<StartedKernelModel> {
  const response = await ServerConnection.makeRequest(`${settings.baseUrl}api/kernels`, { method: 'POST', body: JSON.stringify({ name, env }) }, settings);
  // Enterprise Gateway refuses a user (KERNEL_USERNAME) it does not authorize with a 403: final.
  if (response.status === 403) {
    const user = env['KERNEL_USERNAME'];
    const reason = refusalReason(await response.text());
    throw new KernelError(`the Jupyter server at ${settings.baseUrl} refused to start kernel "${name}"${user ? ` for user "${user}" (KERNEL_USERNAME)` : ''}: ${reason}`, 'start-refused');
  }
  if (response.status !== 201 && response.status !== 200) {
    throw new ServerConnection.ResponseError(response, `starting kernel "${name}" answered ${response.status}: ${(await response.text()).slice(0, 500)}`);
  }
  const model = (await response.json()) as Kernel.IModel;
  // Its session names the run, for the orphan reaper; a server without sessions has none.
  const session = await ServerConnection.makeRequest(
    `${settings.baseUrl}api/sessions`,
    { method: 'POST', body: JSON.stringify({ path: `${SESSION_PREFIX}${runId}`, name: runId, type: 'notebook', kernel: { id: model.id } }) },
    settings,
  );
  const body = (await session.json().catch(() => undefined)) as { id?: string; kernel?: { id?: string } } | undefined;
  if (session.status === 201 && body?.id && body.kernel?.id && body.kernel.id !== model.id) {
    // Enterprise Gateway 3.3 ignores a new session's kernel id and starts a kernel of its own
    // (and cannot re-point a session: PATCH fails): deleting the session shuts that one down.
    // Our kernel goes without a session, so the orphan reaper cannot see it (docs/kernels.md).
    await SessionAPI.shutdownSession(body.id, settings).catch(() => shutdownKernel(settings, body.kernel!.id!).catch(() => undefined));
    return { model };
  }
  return { model, ...(session.status === 201 && body?.id ? { sessionId: body.id } : {}) };
}

/** A refusal's reason in one line: Jupyter's JSON error body (`reason`, else `message`), else its text. */
function refusalReason(body: string): string {
  let reason = body;
  try {
    const parsed = JSON.parse(body) as { reason?: unknown; message?: unknown };
    reason = String(parsed.reason || parsed.message || body);
  } catch {
    // not JSON: the text as it is
  }
  return reason.replace(/\s+/g, ' ').trim().slice(0, 500) || 'forbidden (403)';
}

/**
 * Moves a kernel's session to run `runId` (a pooled kernel joining its run), by the
 * session's id: a Kernel Gateway that does not list sessions (403) still updates one.
 */
export async function moveSession(settings: ServerConnection.ISettings, kernelId: string, sessionId: string | undefined, runId: string): Promise<void> {
  if (!sessionId) throw new KernelError(`kernel ${kernelId} has no session to move`, 'kernel-lost');
  // Not SessionAPI.updateSession: it prints a failing server's Python traceback on stderr
  // (Kernel Gateway 3.0.1 fails every such request), and the caller says what matters.
  const response = await ServerConnection.makeRequest(
    `${settings.baseUrl}api/sessions/${encodeURIComponent(sessionId)}`,
    { method: 'PATCH', body: JSON.stringify({ path: `${SESSION_PREFIX}${runId}`, name: runId }) },
    settings,
  );
  await response.text();
  if (response.status !== 200) throw new ServerConnection.ResponseError(response, `moving session ${sessionId} answered ${response.status}`);
}

export async function shutdownKernel(settings: ServerConnection.ISettings, kernelId: string): Promise<void> {
  const live = connections.get(kernelId);
  connections.delete(kernelId);
  // Close our websocket first, or it keeps reconnecting to a kernel that is gone.
  await live?.then((k) => k.dispose()).catch(() => undefined);
  // Not KernelAPI.shutdownKernel: it prints "The kernel … does not exist on the server" to the
  // console for a kernel already gone (it died, or its server restarted), which is the
  // outcome wanted here, and the line would land in the user's terminal.
  const response = await ServerConnection.makeRequest(`${settings.baseUrl}api/kernels/${encodeURIComponent(kernelId)}`, { method: 'DELETE' }, settings);
  await response.text();
  if (response.status !== 204 && response.status !== 404) throw new ServerConnection.ResponseError(response, `shutting kernel ${kernelId} down answered ${response.status}`);
}

const connections = new Map<string, Promise<Kernel.IKernelConnection>>();

/**
 * Closes every kernel connection this process holds, leaving the kernels running: for a
 * process whose one worker has stopped and whose Jupyter Server stops next (`millrace dev`
 * stopped while runs go on). Left open, each would try to reconnect to the stopped server
 * and say so on the user's terminal ("Connection lost, reconnecting").
 */
export function closeKernelConnections(): void {
  for (const live of connections.values()) void live.then((kernel) => kernel.dispose()).catch(() => undefined);
  connections.clear();
}

/**
 * The shared connection to a running kernel, opened on first use and kept; opening waits
 * `answerWithinMs` for the kernel's kernel_info reply. `justStarted`: the server created
 * the kernel a moment ago, so it is not asked at once whether it still has it.
 */
export function connectKernel(
  settings: ServerConnection.ISettings,
  model: Kernel.IModel,
  answerWithinMs = 60_000,
  justStarted = false,
): Promise<Kernel.IKernelConnection> {
  let pending = connections.get(model.id);
  if (!pending) {
    pending = openConnection(settings, model, answerWithinMs, justStarted);
    connections.set(model.id, pending);
    pending.catch(() => connections.delete(model.id));
  }
  return pending;
}

async function openConnection(
  settings: ServerConnection.ISettings,
  model: Kernel.IModel,
  answerWithinMs: number,
  justStarted: boolean,
): Promise<Kernel.IKernelConnection> {
  const kernel = new KernelConnection({ model, serverSettings: settings, handleComms: false });
  kernel.disposed.connect(() => connections.delete(model.id));
  // A kernel the server no longer has (it restarted) would only be waited for in vain.
  const watch = watchForVanishing(settings, model.id, justStarted ? VANISHED_CHECK_INTERVAL_MS : 0);
  try {
    // `info` resolves once the websocket is up and the kernel answered kernel_info.
    await withTimeout(Promise.race([kernel.info, watch.vanished]), answerWithinMs, () => {
      return new KernelError(`kernel ${model.id} did not answer within ${answerWithinMs / 1000} s`, 'kernel-lost');
    });
  } catch (err) {
    kernel.dispose();
    throw err;
  } finally {
    watch.stop();
  }
  return kernel;
}

const VANISHED_CHECK_INTERVAL_MS = 500;

/**
 * Rejects with a 'kernel-gone' KernelError once the server answers 404 for the kernel,
 * asked after `firstCheckMs` (a forked kernel usually answers before: no request at all)
 * and then every 0.5 s until stopped, and with a 'start-failed' one once
 * the kernel's model carries a `reason`: millrace's provisioner sets it when the kernel's
 * process exits while starting (worker/kernel_start_watch.py), which Jupyter would
 * otherwise retry five times over some 18 s. A server that does not answer proves
 * nothing: that stays a wait (and a retry) for the server.
 */
function watchForVanishing(settings: ServerConnection.ISettings, kernelId: string, firstCheckMs: number): { vanished: Promise<never>; stop(): void } {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const vanished = new Promise<never>((_, reject) => {
    const check = async () => {
      const model = await KernelAPI.getKernelModel(kernelId, settings).catch(() => null);
      if (stopped) return;
      if (model === undefined) reject(new KernelError(`kernel ${kernelId} no longer exists on the Jupyter Server (restarted?)`, 'kernel-gone'));
      else if (model && typeof model.reason === 'string' && model.reason) reject(new KernelError(model.reason, 'start-failed'));
      else timer = setTimeout(() => void check(), VANISHED_CHECK_INTERVAL_MS);
    };
    if (firstCheckMs > 0) timer = setTimeout(() => void check(), firstCheckMs);
    else void check();
  });
  vanished.catch(() => undefined);
  return {
    vanished,
    stop: () => {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

export async function withTimeout<T>(promise: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(onTimeout()), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
