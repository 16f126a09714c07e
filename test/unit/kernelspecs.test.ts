/**
 * The kernel search path of the embedded server: jupyter_core's order over the user's
 * environment (worker/kernelspecs.ts), the first directory holding a name winning.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kernelSearch, listKernelspecs } from '../../worker/kernelspecs.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'millrace-kernelspecs-'));
  await mkdir(join(dir, 'empty-bin'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function spec(kernelsDir: string, name: string, displayName: string): Promise<void> {
  await mkdir(join(kernelsDir, name), { recursive: true });
  await writeFile(join(kernelsDir, name, 'kernel.json'), JSON.stringify({ argv: ['x', '{connection_file}'], display_name: displayName, language: 'x' }));
}

describe('kernelSearch', () => {
  const base = () => ({ HOME: join(dir, 'home'), PATH: join(dir, 'empty-bin'), JUPYTER_PATH: `${join(dir, 'a')}:${join(dir, 'b')}` });

  it('JUPYTER_PATH first, then the data dir, millrace\'s python3 and the environment, then the system', async () => {
    const search = await kernelSearch(base(), join(dir, 'state'));
    expect(search.dirs.map((d) => [d.path, d.source])).toEqual([
      [join(dir, 'a', 'kernels'), 'JUPYTER_PATH'],
      [join(dir, 'b', 'kernels'), 'JUPYTER_PATH'],
      [join(dir, 'home', '.local', 'share', 'jupyter', 'kernels'), 'Jupyter data dir'],
      [join(dir, 'state', 'jupyter-kernels'), "millrace's Python"],
      ['/usr/local/share/jupyter/kernels', 'system'],
      ['/usr/share/jupyter/kernels', 'system'],
    ]);
  });

  it('inside a virtualenv, the environment before the data dir, unless JUPYTER_PREFER_ENV_PATH=0', async () => {
    const venv = join(dir, 'venv');
    const env = { ...base(), VIRTUAL_ENV: venv, JUPYTER_DATA_DIR: join(dir, 'data') };
    const order = async (extra: Record<string, string>) =>
      (await kernelSearch({ ...env, ...extra }, join(dir, 'state'))).dirs.map((d) => d.source).slice(2, 5);
    expect(await order({})).toEqual(["millrace's Python", `virtualenv ${venv}`, 'Jupyter data dir']);
    expect(await order({ JUPYTER_PREFER_ENV_PATH: '0' })).toEqual(['Jupyter data dir', "millrace's Python", `virtualenv ${venv}`]);
  });

  it('lists the first spec of each name, lower-cased, skipping invalid names and broken kernel.json', async () => {
    await spec(join(dir, 'a', 'kernels'), 'Shared', 'from a');
    await spec(join(dir, 'b', 'kernels'), 'shared', 'from b');
    await spec(join(dir, 'b', 'kernels'), 'python3', 'shadows the generated one');
    await spec(join(dir, 'b', 'kernels'), 'bad name!', 'skipped');
    await mkdir(join(dir, 'b', 'kernels', 'broken'), { recursive: true });
    await writeFile(join(dir, 'b', 'kernels', 'broken', 'kernel.json'), '{"argv": []}');
    const kernels = await listKernelspecs(await kernelSearch(base(), join(dir, 'state')));
    expect(kernels.map((k) => [k.name, k.displayName, k.dir, k.isDefault])).toEqual([
      ['python3', 'shadows the generated one', join(dir, 'b', 'kernels', 'python3'), true],
      ['shared', 'from a', join(dir, 'a', 'kernels', 'Shared'), false],
    ]);
  });
});
