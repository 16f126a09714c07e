/** `millrace serve` as its own process, and raw HTTP requests to it, for the viewer's e2e tests. */
import { spawn, type ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { join } from 'node:path';
import { packageRoot } from '../../worker/paths.js';

export interface Served {
  url: string;
  token: string;
  stdout: string;
  stderr: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** `millrace serve --port 0` as its own process; the URL and token come from its first lines. */
export async function serve(env: NodeJS.ProcessEnv, args: string[] = []): Promise<Served> {
  const child = spawn(process.execPath, [join(packageRoot(), 'bin', 'millrace.js'), 'serve', '--port', '0', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const served = { stdout: '', stderr: '', child } as Served;
  child.stdout!.on('data', (d) => (served.stdout += d));
  child.stderr!.on('data', (d) => (served.stderr += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 30_000;
  for (;;) {
    const m = /(http:\/\/127\.0\.0\.1:\d+\/)(?:\?token=([0-9a-f]+)|\S*)\n/.exec(served.stdout);
    if (m) {
      served.url = m[1]!;
      served.token = m[2] ?? '';
      break;
    }
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`millrace serve did not start: ${served.stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  served.stop = async () => {
    if (child.exitCode === null) child.kill('SIGINT');
    await exited;
  };
  return served;
}

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/**
 * A request whose path is sent byte for byte (fetch would resolve `..` before sending),
 * given up after `timeoutMs` if that is set.
 */
export function get(base: string, path: string, options: { method?: string; headers?: Record<string, string>; body?: string; timeoutMs?: number } = {}): Promise<Reply> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    // A timed request gets its own socket, so its timeout never applies to a later request.
    const timing = options.timeoutMs ? { timeout: options.timeoutMs, agent: false } : {};
    const req = request({ host: hostname, port, path, method: options.method ?? 'GET', headers: options.headers, ...timing }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    if (options.timeoutMs) req.on('timeout', () => req.destroy(new Error(`no answer to ${path} within ${options.timeoutMs} ms`)));
    req.end(options.body);
  });
}
