import { mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import { startWarm } from './millrace.js';
import { writeNotebook } from './notebooks.js';
const dir = await mkdtemp('/tmp/bx/scr-');
const w = await startWarm(join(dir, 'state'));
try {
  const nb = await writeNotebook(dir, 'trivial', 5);
  const r = await w.submit(nb);
  const h = await r.handle.fetchHistory();
  let t0 = 0;
  for (const e of h.events ?? []) {
    const ms = Number(e.eventTime!.seconds!.toString()) * 1000 + e.eventTime!.nanos! / 1e6;
    if (!t0) t0 = ms;
    const attrs = Object.entries(e).find(([k, v]) => k.endsWith('Attributes') && v);
    console.log(String(e.eventId).padStart(3), (ms - t0).toFixed(3).padStart(9), e.eventType, attrs?.[0], JSON.stringify(attrs?.[1]).slice(0, 160));
  }
} finally { await w.stop(); }
