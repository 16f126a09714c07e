/** The local store's file times, as Jupyter's contents API reports them. */
import { mkdtemp, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { localBackend } from '../../record/store/local.js';

describe('localBackend.stat', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('drops sub-millisecond time like jupyter_server does, instead of rounding up', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'millrace-store-'));
    dirs.push(dir);
    const file = join(dir, 'a.ipynb');
    await writeFile(file, '{}');
    // .8106 s: Node's Stats.mtime rounds this to .811; Python's datetime keeps .810600.
    for (const [seconds, millis] of [
      [1795704905.8106, 1795704905810],
      [1795704905.0004, 1795704905000],
      [1795704905.9996, 1795704905999], // Node's mtime would say the next second
    ] as const) {
      await utimes(file, seconds, seconds);
      const ns = (await stat(file, { bigint: true })).mtimeNs;
      // The file system keeps the time we set, to within a microsecond.
      expect(Math.abs(Number(ns) / 1e9 - seconds)).toBeLessThan(1e-6);
      expect((await localBackend.stat(file))?.modified.getTime()).toBe(millis);
    }
    expect(await localBackend.stat(dir)).toBeUndefined();
  });
});
