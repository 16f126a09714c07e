// When a command does not ask `millrace dev` (cli/dev-api.ts) and does the work itself. The
// answering dev is tested end to end (test/e2e/dev-api.test.ts).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Config } from '../../cli/config.js';
import { askDev, devApiSocket } from '../../cli/dev-api.js';

const stateDir = mkdtempSync(join(tmpdir(), 'millrace-dev-api-'));
afterAll(() => rmSync(stateDir, { recursive: true, force: true }));
const config = (more: Partial<Config> = {}): Config => ({ namespace: 'default', taskQueue: 'millrace', stateDir, storeRoot: join(stateDir, 'store'), ...more }) as Config;

describe('askDev', () => {
  it('does not ask when no dev serves the state directory', async () => {
    expect(await askDev(config(), 'runs', {})).toBeUndefined();
  });

  it('does not ask a socket that a killed dev left behind', async () => {
    // A process that listens on the socket and dies without closing it, as `kill -9` of dev.
    const socket = devApiSocket(stateDir);
    spawnSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(socket)}, () => process.kill(process.pid, 'SIGKILL'))`]);
    expect(existsSync(socket)).toBe(true);
    expect(await askDev(config(), 'runs', {})).toBeUndefined();
  });

  it('asks what listens on the socket, unless TEMPORAL_ADDRESS names a cluster, which comes first', async () => {
    // A stand-in for dev's side (cli/dev-server.ts) that answers as dev does.
    const socket = devApiSocket(stateDir);
    rmSync(socket, { force: true });
    const server = createServer((req, res) => {
      const ok = req.url === '/runs';
      res.writeHead(ok ? 200 : 422, { 'content-type': 'application/json' });
      res.end(JSON.stringify(ok ? [{ run_id: 'r1' }] : { error: 'no such run', exitCode: 2 }));
    });
    await new Promise<void>((resolve) => server.listen(socket, resolve));
    try {
      expect(await askDev(config(), 'runs', {})).toEqual([{ run_id: 'r1' }]);
      await expect(askDev(config(), 'show', {})).rejects.toMatchObject({ name: 'UserError', message: 'no such run', exitCode: 2 });
      expect(await askDev(config({ temporalAddress: '127.0.0.1:1' }), 'runs', {})).toBeUndefined();
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
