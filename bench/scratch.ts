import { mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import { startWarm } from './millrace.js';
import { writeNotebook, kernelTiming, median } from './notebooks.js';
import { historySize, profileCycles, medianOf } from './history.js';
import { CpuSampler, threadCpuMs, diffCounters } from './procmem.js';
import { store } from '../activities/store/index.js';

const dir = await mkdtemp('/tmp/bx/scr-');
const dyn = process.argv[2] ? JSON.parse(process.argv[2]) : undefined;
const w = await startWarm(join(dir, 'state'), { dynamicConfig: dyn });
const writes: number[] = [];
const orig = store.write;
store.write = async (loc, data, o) => { const t = performance.now(); await orig(loc, data, o); writes.push(performance.now() - t); };
try {
  const nb = await writeNotebook(dir, 'trivial', 100);
  for (let i = 0; i < 2; i++) {
    writes.length = 0;
    const cpu = new CpuSampler({ bench: { roots: () => [process.pid], tree: false }, jupyter: { roots: () => [w.stack.jupyterServer.pid] }, temporal: { roots: () => [w.stack.temporal.pid] } }).start();
    const th0 = threadCpuMs(process.pid);
    const r = await w.submit(nb);
    const c = cpu.stop();
    const th = diffCounters(threadCpuMs(process.pid), th0);
    const t = await kernelTiming(r.output);
    const { size, history } = await historySize(r.handle);
    const p = profileCycles(history, t);
    console.log(JSON.stringify({ wall: r.wallMs, kernel: t.kernelMs, span: t.spanMs, size, eager: p.eagerCount,
      cycle: medianOf(p.cycles, median), split: medianOf(p.splits, median), writeMed: median(writes), writes: writes.length, cpu: c, th }));
  }
} finally { await w.stop(); }
