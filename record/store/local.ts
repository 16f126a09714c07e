import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { link, mkdir, readdir, readFile, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ObjectExistsError, ObjectNotFoundError, type StoreBackend } from './errors.js';

/**
 * Records and sources are private to the user whose worker wrote them (0600 in folders of
 * 0700, whatever the umask): notebooks' outputs and parameters are nobody else's to read,
 * and a kernel run as another user cannot rewrite them.
 */
async function writeTemp(location: string, data: Buffer | string): Promise<string> {
  await mkdir(dirname(location), { recursive: true, mode: 0o700 });
  const temp = `${location}.${randomBytes(6).toString('hex')}.tmp`;
  await writeFile(temp, data, { mode: 0o600 });
  return temp;
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
    const temp = await writeTemp(location, data);
    try {
      if (options.ifAbsent) {
        // link() fails with EEXIST instead of replacing: an atomic create-if-absent.
        await link(temp, location).catch((err: NodeJS.ErrnoException) => {
          if (err.code === 'EEXIST') throw new ObjectExistsError(location);
          throw err;
        });
        await unlink(temp);
      } else {
        await rename(temp, location);
      }
    } catch (err) {
      await unlink(temp).catch(() => undefined);
      throw err;
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
