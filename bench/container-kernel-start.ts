/**
 * Kernel start in a podman container against a forked process kernel (issue 16): the time
 * from asking Jupyter Server for a kernel in a run's session to the kernel's answer to
 * kernel_info, then a trivial cell's round trip on it (`1`, sequentially, as millrace
 * sends cells: per-cell overhead), then to its shutdown (the container removed). Needs
 * the image scripts/setup.sh builds.
 *
 *   npm run build && node dist/bench/container-kernel-start.js [kernels=5] [cells=50]
 */
import { KernelAPI, SessionAPI } from '@jupyterlab/services';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectKernel, serverSettings } from '../activities/jupyter.js';
import { placementsDir } from '../activities/kernel-placement.js';
import { startJupyterServer } from '../worker/jupyter-server.js';

console.debug = () => undefined;
const kernels = Number(process.argv[2] ?? 5);
const cells = Number(process.argv[3] ?? 50);
const image = readFileSync(join(process.env['XDG_CACHE_HOME'] ?? join(homedir(), '.cache'), 'millrace', 'containers', 'kernel-image'), 'utf8').trim();
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const stateDir = await mkdtemp(join(tmpdir(), 'millrace-bench-'));
const server = await startJupyterServer({ stateDir });
const settings = serverSettings(server);
mkdirSync(placementsDir(stateDir), { recursive: true });
try {
  for (const mode of ['process', 'container'] as const) {
    const starts: number[] = [];
    const stops: number[] = [];
    const cellTimes: number[] = [];
    for (let i = 0; i <= kernels; i++) {
      const runId = `bench-${mode}-${i}`;
      if (mode === 'container') writeFileSync(join(placementsDir(stateDir), `${runId}.json`), JSON.stringify({ image, cpus: 1, memory: '512m' }));
      const t0 = performance.now();
      const session = await SessionAPI.startSession({ path: `millrace/${runId}`, name: runId, type: 'notebook', kernel: { name: 'python3' } }, settings);
      const connection = await connectKernel(settings, session.kernel!);
      await connection.info;
      const t1 = performance.now();
      for (let c = 0; c < cells; c++) {
        const sent = performance.now();
        const reply = await connection.requestExecute({ code: '1', stop_on_error: true }).done;
        if (reply.content.status !== 'ok') throw new Error(`cell failed: ${JSON.stringify(reply.content)}`);
        if (i > 0) cellTimes.push(performance.now() - sent);
      }
      const t1Cells = performance.now();
      connection.dispose();
      await KernelAPI.shutdownKernel(session.kernel!.id, settings);
      const t2 = performance.now();
      // The first start warms the server (and the fork server, or podman's caches).
      if (i > 0) {
        starts.push(t1 - t0);
        stops.push(t2 - t1Cells);
      }
    }
    console.log(
      `${mode}: start to kernel_info median ${median(starts).toFixed(0)} ms (${starts.map((x) => x.toFixed(0)).join(', ')}); ` +
        `a trivial cell median ${median(cellTimes).toFixed(2)} ms (${cellTimes.length} cells); shutdown median ${median(stops).toFixed(0)} ms`,
    );
  }
} finally {
  await server.stop();
  await rm(stateDir, { recursive: true, force: true });
}
