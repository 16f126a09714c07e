/**
 * `millrace serve`: the read-only viewer and Jupyter contents API over the store, in the
 * foreground until Ctrl-C. Like Jupyter Server, it prints its URL with the token once at
 * start-up (a random token, unless MILLRACE_SERVE_TOKEN sets one, which is never printed).
 */
import { z } from 'zod';
import { startViewer } from '../../viewer/server.js';
import { newToken } from '../../viewer/auth.js';
import { storeToRead } from '../config.js';
import { EXIT, UserError } from '../errors.js';
import { waitForSignal } from '../signals.js';

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1']);

export const serveOptionsSchema = z.object({
  host: z.string().min(1).regex(/^[A-Za-z0-9.:-]+$/, 'must be a host name or IP address').default('127.0.0.1'),
  port: z.coerce.number().int().min(0).max(65535).default(8780),
  auth: z.boolean().default(true),
  store: z.string().min(1).optional(),
});

const envSchema = z.object({ MILLRACE_SERVE_TOKEN: z.string().min(16, 'MILLRACE_SERVE_TOKEN must be at least 16 characters').optional() });

export async function serveCommand(raw: unknown): Promise<number> {
  const parsed = serveOptionsSchema.safeParse(raw);
  if (!parsed.success) throw new UserError(`serve --${parsed.error.issues[0]?.path.join('.')}: ${parsed.error.issues[0]?.message}`);
  const options = parsed.data;
  const env = envSchema.safeParse(Object.fromEntries(Object.entries(process.env).filter(([k, v]) => k === 'MILLRACE_SERVE_TOKEN' && v !== '')));
  if (!env.success) throw new UserError(env.error.issues[0]!.message);
  if (!options.auth && !LOOPBACK.has(options.host)) {
    throw new UserError(`serve --no-auth is only allowed on a loopback address (127.0.0.1, ::1), not ${options.host}: keep the token on`);
  }
  const storeRoot = storeToRead(options.store);
  const fromEnv = env.data.MILLRACE_SERVE_TOKEN;
  const token = options.auth ? (fromEnv ?? newToken()) : null;
  let viewer;
  try {
    viewer = await startViewer({ storeRoot, host: options.host, port: options.port, token });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') throw new UserError(`serve: port ${options.port} on ${options.host} is in use; pick another with --port (0 = any free port)`, EXIT.environment);
    if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') throw new UserError(`serve: cannot listen on ${options.host}: not an address of this machine`, EXIT.environment);
    throw err;
  }
  const lines = [`millrace viewer (read-only) over ${storeRoot}; Ctrl-C stops it.`];
  if (token === null) {
    lines.push(`  ${viewer.url}`);
    process.stderr.write('millrace serve: authentication is off (--no-auth): anyone on this machine can read the store\n');
  } else if (fromEnv) {
    lines.push(`  ${viewer.url}?token=<MILLRACE_SERVE_TOKEN>`);
  } else {
    lines.push(`  ${viewer.url}?token=${token}`);
  }
  lines.push(`  Jupyter contents API: ${viewer.url}api/contents/ (header "Authorization: token ...")`);
  process.stdout.write(`${lines.join('\n')}\n`);
  await waitForSignal();
  await viewer.close();
  return EXIT.ok;
}
