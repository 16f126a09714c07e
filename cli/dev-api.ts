/**
 * The CLI's side of the small local API `millrace dev` serves (cli/dev-server.ts): a Unix
 * socket in the state directory, mode 0600, so the file's mode is the authentication. A
 * command whose stack would be that dev asks it instead of loading the Temporal client,
 * which costs more than the command itself (docs/architecture.md, "Start-up"); the command's
 * logic is the same function either way, run by dev here or by the command on the fallback.
 * Kept light: node's http and nothing of Temporal or zod.
 */
import { request } from 'node:http';
import { join } from 'node:path';
import type { Config } from './config.js';
import { EXIT, UserError } from './errors.js';

/** Where dev listens; a Unix socket path must fit in 107 bytes, else dev serves none. */
export function devApiSocket(stateDir: string): string {
  return join(stateDir, 'dev.sock');
}
export const MAX_SOCKET_PATH = 107;

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
export async function askDev<T>(config: Config, operation: string, body: unknown): Promise<T | undefined> {
  if (config.temporalAddress) return undefined;
  const socketPath = devApiSocket(config.stateDir);
  if (socketPath.length > MAX_SOCKET_PATH) return undefined;
  const payload = JSON.stringify(body);
  return new Promise<T | undefined>((resolve, reject) => {
    const req = request(
      { socketPath, path: `/${operation}`, method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          try {
            const answer = JSON.parse(Buffer.concat(chunks).toString('utf8')) as T | DevApiError;
            if (res.statusCode === 200) return resolve(answer as T);
            const failure = answer as DevApiError;
            reject(new UserError(String(failure.error), Number(failure.exitCode) || EXIT.internal));
          } catch {
            reject(new UserError(`millrace dev answered ${operation} with status ${res.statusCode} and no JSON`));
          }
        });
      },
    );
    // No socket, or one a dev killed without cleanup left behind: do it without dev.
    req.on('error', (err: NodeJS.ErrnoException) => (err.code === 'ENOENT' || err.code === 'ECONNREFUSED' ? resolve(undefined) : reject(err)));
    req.end(payload);
  });
}
