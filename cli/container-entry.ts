/**
 * The worker image's entry point (docker/worker/Dockerfile): the `millrace` command line,
 * plus two things a container needs that a laptop does not:
 *   - `worker` without MILLRACE_JUPYTER_URL (or --jupyter-url) gets a Jupyter Server of
 *     its own on 127.0.0.1 for local kernels (worker/jupyter-server.ts, as `millrace dev`
 *     starts it), started before the worker and stopped after it has drained;
 *   - `healthcheck` (the image's HEALTHCHECK, a Kubernetes exec probe): exit 0 when the
 *     worker's Jupyter Server (its own, or MILLRACE_JUPYTER_URL's) answers with the token,
 *     1 with one line on stderr otherwise.
 * Any other command runs as `millrace` would run it.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from './config.js';
import { main } from './main.js';
import { startJupyterServer, type JupyterServer } from '../worker/jupyter-server.js';
import { makeStateDir, stateDir } from '../worker/paths.js';

/** Where `worker` leaves what `healthcheck` (another process, same container) needs: URL and token, mode 0600. */
function healthFile(): string {
  return join(stateDir(), 'container-health.json');
}

/** The Jupyter Server `worker` uses: its own (the health file), else MILLRACE_JUPYTER_URL's. */
function healthTarget(): { url: string; token: string } | undefined {
  try {
    return JSON.parse(readFileSync(healthFile(), 'utf8')) as { url: string; token: string };
  } catch {
    const config = loadConfig();
    return config.jupyterUrl ? { url: config.jupyterUrl, token: config.jupyterToken ?? '' } : undefined;
  }
}

async function healthcheck(): Promise<number> {
  const target = healthTarget();
  if (!target) {
    process.stderr.write(`unhealthy: no Jupyter Server yet (the worker writes ${healthFile()} when its own has started)\n`);
    return 1;
  }
  // The kernelspecs are what the worker asks for first; Jupyter Server, Kernel Gateway and
  // Enterprise Gateway all serve them, behind the token.
  try {
    const response = await fetch(`${target.url.replace(/\/$/, '')}/api/kernelspecs`, {
      headers: { Authorization: `token ${target.token}` },
      signal: AbortSignal.timeout(5_000),
    });
    if (response.ok) return 0;
    process.stderr.write(`unhealthy: ${target.url} answered ${response.status}\n`);
  } catch (err) {
    process.stderr.write(`unhealthy: ${target.url} does not answer: ${(err as Error).message}\n`);
  }
  return 1;
}

async function run(args: string[]): Promise<number> {
  if (args[0] === 'healthcheck') return healthcheck();
  let jupyter: JupyterServer | undefined;
  const external = process.env['MILLRACE_JUPYTER_URL'] || args.some((a) => a === '--jupyter-url' || a.startsWith('--jupyter-url='));
  if (args[0] === 'worker' && !external) {
    makeStateDir(stateDir());
    jupyter = await startJupyterServer({ stateDir: join(stateDir(), 'jupyter'), log: (line) => process.stderr.write(`${line}\n`) });
    process.env['MILLRACE_JUPYTER_URL'] = jupyter.url;
    process.env['MILLRACE_JUPYTER_TOKEN'] = jupyter.token;
    writeFileSync(healthFile(), JSON.stringify({ url: jupyter.url, token: jupyter.token }), { mode: 0o600 });
  } else if (args[0] === 'worker') {
    rmSync(healthFile(), { force: true }); // a previous container's, on a kept volume
  }
  try {
    return await main(['node', 'millrace', ...args]);
  } finally {
    await jupyter?.stop();
  }
}

// Exit explicitly, as bin/millrace.js does: gRPC and websocket handles would keep it alive.
process.exit(await run(process.argv.slice(2)));
