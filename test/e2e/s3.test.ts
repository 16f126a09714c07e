import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { store } from '../../activities/store/index.js';
import { codeCell, notebook, startHarness, type Harness } from './harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

it('measures record bytes for 1,000 cells', async () => {
  const original = store.write;
  let bytes = 0;
  let writes = 0;
  store.write = async (location, data, options) => {
    if (location.startsWith(h.config.storeRoot + '/runs/')) {
      bytes += Buffer.byteLength(data);
      writes++;
    }
    return original(location, data, options);
  };
  try {
    const cells = [];
    for (let i = 0; i < 1000; i++) cells.push(codeCell(`x = ${i}`));
    const path = await h.writeNotebook('thousand.ipynb', notebook(cells));
    const t = Date.now();
    const run = await h.runNotebook(path);
    expect(run.result?.status).toBe('completed');
    const size = (await readFile(run.input.output)).length;
    console.log(JSON.stringify({ bytes, writes, size, ratio: bytes / size, ms: Date.now() - t }));
  } finally {
    store.write = original;
  }
}, 600_000);
