/** The local store: its writes (small ones synchronous, large ones not), and its file times as Jupyter's contents API reports them. */
import { mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ObjectExistsError } from '../../record/store/errors.js';
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

describe('localBackend.write', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  // A journal entry (written with synchronous calls), and a string and a Buffer over 64 KiB (asynchronous ones).
  const sizes = [
    ['a small string', 'x'.repeat(100)],
    ['a large string', 'é'.repeat(100_000)],
    ['a large Buffer', Buffer.alloc(200_000, 7)],
  ] as const;

  for (const [what, data] of sizes) {
    it(`writes ${what} atomically and privately, creates it only if absent when asked, and leaves no temp file`, async () => {
      const dir = await mkdtemp(join(tmpdir(), 'millrace-store-'));
      dirs.push(dir);
      const file = join(dir, 'runs', 'r1', 'journal', '00001.json');
      await localBackend.write(file, data, { ifAbsent: true });
      expect(await readFile(file)).toEqual(Buffer.from(data));
      expect((await stat(file)).mode & 0o777).toBe(0o600);
      expect((await stat(join(dir, 'runs'))).mode & 0o777).toBe(0o700);

      await expect(localBackend.write(file, 'other', { ifAbsent: true })).rejects.toBeInstanceOf(ObjectExistsError);
      expect(await readFile(file)).toEqual(Buffer.from(data));

      await localBackend.write(file, 'replaced');
      expect(await readFile(file, 'utf8')).toBe('replaced');
      expect(await readdir(dirname(file))).toEqual(['00001.json']);
    });
  }
});
