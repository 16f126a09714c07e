/**
 * The CLI's side of the small local API `millrace dev` serves (cli/dev-server.ts): a Unix
 * socket in the state directory, mode 0600, so the file's mode is the authentication. A
 * command whose stack would be that dev asks it instead of loading the Temporal client,
 * which costs more than the command itself (docs/architecture.md, "Start-up"); the command's
 * logic is the same function either way, run by dev here or by the command on the fallback.
 * Kept light: node's http and nothing of Temporal or zod.
 */
import { request, type IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { findStateDir } from '../worker/paths.js';
import type { Config } from './config.js';
import { EXIT, UserError } from './errors.js';

/** Which dev a command would ask: that of its state directory, unless a cluster comes first. */
export type DevTarget = Pick<Config, 'stateDir' | 'temporalAddress'>;

/**
 * The dev a command called with `env` in `cwd` would ask, found without loading its
 * configuration (zod, cli/config.ts): the state directory as loadConfig finds it. undefined
 * when TEMPORAL_ADDRESS, TEMPORAL_PROFILE or TEMPORAL_CONFIG_FILE is set: whether a cluster
 * comes first is then the configuration's to say, so the command loads it.
 */
export function devTarget(env: NodeJS.ProcessEnv, cwd: string): DevTarget | undefined {
  if (env['TEMPORAL_ADDRESS'] || env['TEMPORAL_PROFILE'] || env['TEMPORAL_CONFIG_FILE']) return undefined;
  return { stateDir: findStateDir(env, cwd).dir };
}

/**
 * What of a `run` command's environment its run's input depends on (loadConfig and
 * findStateDir read these; the rest of building it reads none), sent to dev with the
 * command's options: no secret among them. MILLRACE_JUPYTER_TOKEN is left out, and with it
 * the token file, which loadConfig reads only when no token is set.
 */
const RUN_INPUT_ENV = [
  'MILLRACE_HOME',
  'MILLRACE_CEILING_DIRECTORIES',
  'MILLRACE_STORE',
  'MILLRACE_TASK_QUEUE',
  'MILLRACE_JUPYTER_URL',
  'MILLRACE_JUPYTER_TOKEN_FILE',
  'MILLRACE_KERNEL_ENV',
  'TEMPORAL_NAMESPACE',
] as const;

export function runInputEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  const names = env['MILLRACE_JUPYTER_TOKEN'] ? RUN_INPUT_ENV.filter((name) => name !== 'MILLRACE_JUPYTER_TOKEN_FILE') : RUN_INPUT_ENV;
  return Object.fromEntries(names.flatMap((name) => (env[name] === undefined ? [] : [[name, env[name]]])));
}

/** Where dev listens; a Unix socket path must fit in 107 bytes, else dev serves none. */
export function devApiSocket(stateDir: string): string {
  return join(stateDir, 'dev.sock');
}
export const MAX_SOCKET_PATH = 107;

/**
 * The version of this API, sent by the command and by dev with every request and answer.
 * Raise it when an operation, its request or its answer changes. A dev started by another
 * millrace (one upgraded while dev ran) is then refused with a line saying what to do,
 * instead of misreading a request or an answer. Unversioned (no header) is the first
 * version's.
 */
export const DEV_API_VERSION = '3';
export const DEV_API_HEADER = 'x-millrace-dev-api';

/** The command's line when the dev it reached speaks another version of this API. */
export function otherVersionError(stateDir: string): UserError {
  return new UserError(`millrace dev in ${stateDir} was started by another version of millrace: stop it (Ctrl-C where it runs) and start \`millrace dev\` again`, EXIT.environment);
}

/** What dev answers with when the operation itself failed: the command's one line, its exit code. */
export interface DevApiError {
  error: string;
  exitCode: number;
}

/**
 * Asks the running `millrace dev` of this state directory to do `operation`. undefined when
 * the command would not reach that dev (TEMPORAL_ADDRESS set: a cluster comes first, as in
 * cli/environment.ts) or no dev answers on the socket: the caller then does it itself.
 */
export async function askDev<T>(config: DevTarget, operation: string, body: unknown): Promise<T | undefined> {
  return requestDev<T>(config, operation, body, (res, resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('error', reject);
    res.on('end', () => {
      try {
        const answer = JSON.parse(Buffer.concat(chunks).toString('utf8')) as T | DevApiError;
        if (res.statusCode === 200) return resolve(answer as T);
        reject(devFailure(answer as DevApiError));
      } catch {
        reject(new UserError(`millrace dev answered ${operation} with status ${res.statusCode} and no JSON`));
      }
    });
  });
}

/** One line of a streamed answer (cli/dev-server.ts STREAMS): an event, then the answer or an error. */
export type DevStreamLine<E, T> = { event: E } | { answer: T } | DevApiError;

/**
 * Asks dev for an operation that answers with a stream (following a run): `onEvent` gets
 * each event as it comes, and the promise the final answer; undefined as for askDev when no
 * dev answers. A stream that ends before its answer (dev stopped or was killed) rejects
 * with `lost`.
 */
export async function followDev<E, T>(config: DevTarget, operation: string, body: unknown, onEvent: (event: E) => void, lost: () => Error): Promise<T | undefined> {
  return requestDev<T>(config, operation, body, (res, resolve, reject) => {
    let pending = '';
    let settled = false;
    const settle = (line: DevStreamLine<E, T>) => {
      if ('event' in line) return onEvent(line.event);
      settled = true;
      if ('answer' in line) resolve(line.answer);
      else reject(devFailure(line));
    };
    res.setEncoding('utf8');
    res.on('data', (text: string) => {
      pending += text;
      for (let newline = pending.indexOf('\n'); newline >= 0 && !settled; newline = pending.indexOf('\n')) {
        const line = pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        try {
          settle(JSON.parse(line) as DevStreamLine<E, T>);
        } catch (err) {
          settled = true;
          reject(err instanceof SyntaxError ? new UserError(`millrace dev answered ${operation} with a line that is not JSON`) : err);
        }
      }
    });
    const ended = () => {
      if (settled) return;
      settled = true;
      // Before any line: a refusal with a status of its own, in one JSON object.
      if (res.statusCode !== 200) {
        try {
          return reject(devFailure(JSON.parse(pending) as DevApiError));
        } catch {
          return reject(new UserError(`millrace dev answered ${operation} with status ${res.statusCode} and no JSON`));
        }
      }
      reject(lost());
    };
    res.on('end', ended);
    res.on('error', ended);
    res.on('close', ended);
  }, lost);
}

function devFailure(failure: DevApiError): UserError {
  return new UserError(String(failure.error), Number(failure.exitCode) || EXIT.internal);
}

function requestDev<T>(
  config: DevTarget,
  operation: string,
  body: unknown,
  onResponse: (res: IncomingMessage, resolve: (value: T) => void, reject: (err: unknown) => void) => void,
  lost?: () => Error,
): Promise<T | undefined> {
  if (config.temporalAddress) return Promise.resolve(undefined);
  const socketPath = devApiSocket(config.stateDir);
  if (socketPath.length > MAX_SOCKET_PATH) return Promise.resolve(undefined);
  const payload = JSON.stringify(body);
  return new Promise<T | undefined>((resolve, reject) => {
    const headers = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload), [DEV_API_HEADER]: DEV_API_VERSION };
    // Its own connection rather than `socketPath`: through http's agent, a request computes
    // a TLS server name from its host with net.isIP, whose first IPv6 check compiles a
    // regular expression for some 7 ms, on every command that asks dev.
    const createConnection = () => connect(socketPath);
    const req = request({ createConnection, path: `/${operation}`, method: 'POST', headers }, (res) => {
      if (res.headers[DEV_API_HEADER] === DEV_API_VERSION) return onResponse(res, resolve, reject);
      res.resume();
      reject(otherVersionError(config.stateDir));
    });
    // No socket, or one a dev killed without cleanup left behind: do it without dev.
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') resolve(undefined);
      // Dev went away after taking the request: a run may have started.
      else reject(lost && err.code === 'ECONNRESET' ? lost() : err);
    });
    req.end(payload);
  });
}
