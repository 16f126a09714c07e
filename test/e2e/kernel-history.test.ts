/**
 * Kernels keep their IPython history in memory, as nbclient's (papermill's) do: a run
 * leaves nothing in the user's history database, and concurrent kernels never share
 * (or lock) it. Forked and launched kernels alike.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { startJupyterServer } from '../../worker/jupyter-server.js';
import { codeCell, notebook, python, startHarness, streamText } from './harness.js';

/** The inputs recorded in IPYTHONDIR's default history database (none when it was never created). */
async function historyInputs(ipythonDir: string): Promise<string[]> {
  const db = join(ipythonDir, 'profile_default', 'history.sqlite');
  if (!existsSync(db)) return [];
  const out = await python('import json, sqlite3, sys\nprint(json.dumps([r[0] for r in sqlite3.connect(sys.argv[1]).execute("select source from history")]))', [db]);
  return JSON.parse(out) as string[];
}

for (const forkKernels of [true, false]) {
  it(`leaves the user's IPython history untouched (${forkKernels ? 'forked' : 'launched'} kernels)`, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'millrace-history-'));
    const ipythonDir = join(dir, 'ipython');
    const saved = process.env['IPYTHONDIR'];
    // The server passes its environment to its kernels: this IPYTHONDIR stands for ~/.ipython.
    process.env['IPYTHONDIR'] = ipythonDir;
    const server = await startJupyterServer({ stateDir: join(dir, 'state'), forkKernels }).finally(() => {
      if (saved === undefined) delete process.env['IPYTHONDIR'];
      else process.env['IPYTHONDIR'] = saved;
    });
    const h = await startHarness({ jupyter: { url: server.url, token: server.token } });
    try {
      const path = await h.writeNotebook('history.ipynb', notebook([codeCell('marker_41 = 41'), codeCell('from IPython import get_ipython\nprint(get_ipython().history_manager.hist_file)')]));
      const run = await h.runNotebook(path);
      expect(run.error).toBeUndefined();
      expect(streamText(run.output.cells[1]!)).toBe(':memory:\n');
    } finally {
      await h.close();
      // Stopping the server shuts its kernels down: a history writer would have written by then.
      await server.stop();
    }
    expect((await historyInputs(ipythonDir)).filter((s) => s.includes('marker_41'))).toEqual([]);
    await rm(dir, { recursive: true, force: true });
  });
}
