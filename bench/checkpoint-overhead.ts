/**
 * What `--checkpoint` costs a cell: a trivial cell executed on a kernel of the embedded
 * Jupyter Server, then the namespace saved to a local store as executeCell does, for a
 * small namespace (a few numbers, a function, a class and an instance) and bigger ones.
 * Run: `node dist/bench/checkpoint-overhead.js [cells]` after `npm run build`.
 */
import { KernelAPI } from '@jupyterlab/services';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { saveCheckpoint } from '../activities/checkpoint.js';
import { execute } from '../activities/execute-request.js';
import { connectKernel, serverSettings } from '../activities/jupyter.js';
import { startJupyterServer } from '../worker/jupyter-server.js';

const SETUPS: Array<[string, string]> = [
  ['small', 'import math\ntotal = 1\nnames = ["a", "b"]\ndef add(x):\n    return x + total\nclass Box:\n    pass\nbox = Box()'],
  ['1 MB', 'blob = bytes(1_000_000)'],
  ['10 MB', 'blob = bytes(10_000_000)'],
];

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const cells = Number(process.argv[2] ?? 30);
  const dir = await mkdtemp(join(tmpdir(), 'millrace-ckpt-bench-'));
  const server = await startJupyterServer({ stateDir: dir });
  try {
    const settings = serverSettings(server);
    for (const [label, setup] of SETUPS) {
      const model = await KernelAPI.startNew({ name: 'python3' }, settings);
      const kernel = await connectKernel(settings, model);
      await execute(kernel, { code: setup, onIOPub: () => undefined });
      const cellMs: number[] = [];
      const saveMs: number[] = [];
      let bytes = 0;
      for (let i = 0; i < cells; i++) {
        const t0 = performance.now();
        await execute(kernel, { code: `x = ${i}`, onIOPub: () => undefined });
        const t1 = performance.now();
        const manifest = await saveCheckpoint(kernel, { runId: 'bench', folder: join(dir, 'store', label), cell: i, cellId: null });
        const t2 = performance.now();
        if (manifest.error) throw new Error(manifest.error);
        bytes = manifest.bytes;
        if (i > 0) {
          cellMs.push(t1 - t0);
          saveMs.push(t2 - t1);
        }
      }
      console.log(`${label.padEnd(6)} namespace ${String(bytes).padStart(9)} B: cell ${median(cellMs).toFixed(1)} ms, checkpoint ${median(saveMs).toFixed(1)} ms (median of ${cells - 1})`);
      kernel.dispose();
      await KernelAPI.shutdownKernel(model.id, settings);
    }
  } finally {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
