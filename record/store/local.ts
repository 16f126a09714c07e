import { randomBytes } from 'node:crypto';
import { createReadStream, linkSync, mkdirSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { link, mkdir, readdir, readFile, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ObjectExistsError, ObjectNotFoundError, StoreError, type StoreBackend } from './errors.js';

/** The file-system calls an atomic write makes: asynchronous ones, or the same calls made synchronously. */
interface WriteCalls {
  mkdir(path: string, options: { recursive: true; mode: number }): unknown;
  writeFile(path: string, data: Buffer | string, options: { mode: number }): unknown;
  link(existing: string, path: string): unknown;
  rename(from: string, to: string): unknown;
  unlink(path: string): unknown;
}

const asyncCalls: WriteCalls = { mkdir, writeFile, link, rename, unlink };
const syncCalls: WriteCalls = { mkdir: mkdirSync, writeFile: writeFileSync, link: linkSync, rename: renameSync, unlink: unlinkSync };

/**
 * Objects up to this size (a record's journal entry per cell, a live entry) are written
 * with synchronous calls: on a local disk the six of them take tens of microseconds, while
 * their asynchronous forms took 0.4-0.9 ms of thread-pool round trips, and a local cell's
 * write is on the path to the next cell's send (docs/architecture.md, "Per-cell cost").
 * Larger objects (whole notebooks, saved files) stay asynchronous: they never hold the
 * worker's event loop.
 */
const SYNC_WRITE_MAX_BYTES = 64 * 1024;

/**
 * A temp file beside `location` holding `data`; none is left behind when writing it fails.
 * Records and sources are private to the user whose worker wrote them (0600 in folders of
 * 0700, whatever the umask): notebooks' outputs and parameters are nobody else's to read,
 * and a kernel run as another user cannot rewrite them.
 */
async function writeTemp(calls: WriteCalls, location: string, data: Buffer | string): Promise<string> {
  await calls.mkdir(dirname(location), { recursive: true, mode: 0o700 });
  const temp = `${location}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await calls.writeFile(temp, data, { mode: 0o600 });
  } catch (err) {
    await unlink(temp).catch(() => undefined);
    throw err;
  }
  return temp;
}

/**
 * A full disk (or quota) as one line naming the filesystem and the object, and not worth
 * retrying: an activity meeting it fails at once instead of filling the disk again.
 */
async function noSpaceError(err: unknown, location: string): Promise<unknown> {
  const code = (err as NodeJS.ErrnoException).code;
  if (code !== 'ENOSPC' && code !== 'EDQUOT') return err;
  const what = code === 'ENOSPC' ? 'no space left on' : 'disk quota exceeded on';
  return new StoreError(`${what} ${await filesystemOf(location)} writing ${location}`, 'no-space', location);
}

/** "/dev/sda1 (mounted at /data)": the mount holding `path`, from /proc/self/mounts (Linux). */
async function filesystemOf(path: string): Promise<string> {
  const mounts = await readFile('/proc/self/mounts', 'utf8').catch(() => '');
  let best: { device: string; at: string } | undefined;
  for (const line of mounts.split('\n')) {
    // Fields escape spaces and the like as octal: \040.
    const [device, at] = line.split(' ').map((f) => f.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))));
    if (!device || !at) continue;
    const inside = at === '/' || path === at || path.startsWith(at.endsWith('/') ? at : `${at}/`);
    if (inside && (!best || at.length >= best.at.length)) best = { device, at };
  }
  return best ? `${best.device} (mounted at ${best.at})` : 'device';
}

/** Temp file and rename (or, `ifAbsent`, an exclusive link): readers never see half a file. */
async function writeAtomically(location: string, data: Buffer | string, ifAbsent: boolean): Promise<void> {
  // A string's UTF-8 is at most 3 bytes per UTF-16 unit: no pass over a large one to size it.
  const calls = (typeof data === 'string' ? data.length * 3 : data.length) <= SYNC_WRITE_MAX_BYTES ? syncCalls : asyncCalls;
  const temp = await writeTemp(calls, location, data);
  try {
    if (ifAbsent) {
      // link() fails with EEXIST instead of replacing: an atomic create-if-absent.
      try {
        await calls.link(temp, location);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new ObjectExistsError(location);
        throw err;
      }
      await calls.unlink(temp);
    } else {
      await calls.rename(temp, location);
    }
  } catch (err) {
    await unlink(temp).catch(() => undefined);
    throw err;
  }
}

export const localBackend: StoreBackend = {
  async read(location) {
    try {
      return await readFile(location);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new ObjectNotFoundError(location);
      throw err;
    }
  },

  async readStream(location) {
    const info = await this.stat(location);
    if (!info) throw new ObjectNotFoundError(location);
    return createReadStream(location);
  },

  async write(location, data, options = {}) {
    try {
      await writeAtomically(location, data, options.ifAbsent === true);
    } catch (err) {
      throw await noSpaceError(err, location);
    }
  },

  async exists(location) {
    return stat(location).then(
      () => true,
      () => false,
    );
  },

  async stat(location) {
    const info = await stat(location, { bigint: true }).catch(() => undefined);
    if (!info?.isFile()) return undefined;
    return { location, size: Number(info.size), modified: modifiedTime(info.mtimeNs) };
  },

  async listFolder(folder) {
    const root = folder.replace(/\/+$/, '');
    const entries = await readdir(root, { withFileTypes: true }).catch(() => []);
    const folders: string[] = [];
    const files: string[] = [];
    for (const e of entries) {
      if (e.isDirectory()) folders.push(join(root, e.name));
      else if (e.isFile() && !e.name.endsWith('.tmp')) files.push(join(root, e.name));
    }
    const objects = (await Promise.all(files.sort().map((f) => this.stat(f)))).filter((o) => o !== undefined);
    return { folders: folders.sort(), objects };
  },

  async removeFolder(folder) {
    await rm(folder, { recursive: true, force: true });
  },

  async list(prefix) {
    const entries = await readdir(prefix, { recursive: true, withFileTypes: true }).catch(() => []);
    return entries
      .filter((e) => e.isFile() && !e.name.endsWith('.tmp'))
      .map((e) => join(e.parentPath ?? prefix, e.name))
      .sort();
  },
};

/**
 * The modification time as Jupyter reports it: Python rounds st_mtime to whole
 * microseconds, and a millisecond Date then drops the rest. Node's own `mtime` rounds to
 * the nearest millisecond, so a file written at .8106 s would read .811 here and .810
 * in jupyter_server.
 */
function modifiedTime(mtimeNs: bigint): Date {
  const micros = (mtimeNs + 500n) / 1000n;
  return new Date(Number(micros / 1000n));
}
